package marathon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitLimit = 2 * time.Second

// sseServer is a Marathon /v2/events that writes (and flushes) each frame
// sent on frames; closing frames ends the stream.
type sseServer struct {
	*httptest.Server
	frames chan string
	mu     sync.Mutex
	reqs   []*http.Request
}

func newSSEServer(t *testing.T) *sseServer {
	t.Helper()
	s := &sseServer{frames: make(chan string, 256)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case f, ok := <-s.frames:
				if !ok {
					return
				}
				io.WriteString(w, f)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sseServer) request(t *testing.T) *http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(s.reqs))
	}
	return s.reqs[0]
}

func openStream(t *testing.T, ctx context.Context, c *Client, base string, types []string) *EventStream {
	t.Helper()
	s, err := c.Stream(ctx, base, types)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func recv(t *testing.T, s *EventStream) Event {
	t.Helper()
	select {
	case e, ok := <-s.Events():
		if !ok {
			t.Fatalf("stream closed early: %v", s.Err())
		}
		return e
	case <-time.After(waitLimit):
		t.Fatal("no event within the time limit")
	}
	return Event{}
}

// drainClosed reads until the channel closes and returns what it read.
func drainClosed(t *testing.T, s *EventStream) []Event {
	t.Helper()
	var got []Event
	deadline := time.After(waitLimit)
	for {
		select {
		case e, ok := <-s.Events():
			if !ok {
				return got
			}
			got = append(got, e)
		case <-deadline:
			t.Fatal("stream not closed within the time limit")
		}
	}
}

func TestStreamLive(t *testing.T) {
	srv := newSSEServer(t)
	c := newClient(t, Config{URLs: []string{srv.URL}, User: "alice", Password: "pw"})
	s := openStream(t, context.Background(), c, srv.URL+"/", []string{EventStatusUpdate, EventAPIPost, ""})

	r := srv.request(t)
	if r.URL.Path != "/v2/events" || r.URL.RawQuery != "event_type=status_update_event&event_type=api_post_event&plan-format=light" {
		t.Errorf("request = %s?%s", r.URL.Path, r.URL.RawQuery)
	}
	if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Cache-Control") != "no-cache" ||
		r.Header.Get("User-Agent") != DefaultUserAgent || r.Header.Get("Authorization") != "Basic YWxpY2U6cHc=" {
		t.Errorf("headers = %v", r.Header)
	}

	srv.frames <- "event: event_stream_attached\r\ndata: {\"remoteAddress\":\"127.0.0.1\",\"eventType\":\"event_stream_attached\",\"timestamp\":\"t0\"}\r\n\r\n"
	if e := recv(t, s); e.Type != EventStreamAttached {
		t.Errorf("first event = %+v", e)
	}

	// Keepalives (a comment, a bare line break) move LastActivity and
	// deliver nothing.
	for _, keepalive := range []string{": keepalive\n", "\r\n"} {
		before := s.LastActivity()
		time.Sleep(5 * time.Millisecond)
		srv.frames <- keepalive
		deadline := time.Now().Add(waitLimit)
		for !s.LastActivity().After(before) {
			if time.Now().After(deadline) {
				t.Fatalf("keepalive %q did not move LastActivity", keepalive)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	select {
	case e := <-s.Events():
		t.Fatalf("keepalive delivered an event: %+v", e)
	default:
	}

	// One event written in pieces, flushed separately.
	srv.frames <- "event: status_update_event\n"
	srv.frames <- `data: {"eventType":"status_update_event","taskId":"web.1","taskStatus":"TASK_RUNNING","appId":"/web"`
	srv.frames <- ",\"ports\":[31000]}\n\n"
	e := recv(t, s)
	var su StatusUpdateEvent
	if err := e.Decode(&su); err != nil || e.Type != EventStatusUpdate || su.TaskID != "web.1" || su.Ports[0] != 31000 {
		t.Errorf("event = %+v, decoded %+v, %v", e, su, err)
	}
	if time.Since(e.ReceivedAt) > waitLimit || e.ReceivedAt.After(time.Now()) {
		t.Errorf("ReceivedAt = %v", e.ReceivedAt)
	}
	if s.Err() != nil {
		t.Errorf("Err() = %v while open", s.Err())
	}
}

func TestStreamEnds(t *testing.T) {
	tests := []struct {
		name       string
		frames     []string
		end        func(cancel context.CancelFunc, s *EventStream, srv *sseServer)
		wantEvents int
		wantErr    func(error) bool
	}{
		{
			name:       "context cancelled",
			frames:     []string{"data: {\"eventType\":\"a\"}\n\n"},
			end:        func(cancel context.CancelFunc, _ *EventStream, _ *sseServer) { cancel() },
			wantEvents: 1,
			wantErr:    func(err error) bool { return err == nil },
		},
		{
			name:       "Close",
			frames:     []string{"data: {\"eventType\":\"a\"}\n\n"},
			end:        func(_ context.CancelFunc, s *EventStream, _ *sseServer) { s.Close(); s.Close() },
			wantEvents: 1,
			wantErr:    func(err error) bool { return err == nil },
		},
		{
			name:       "server ends the stream",
			frames:     []string{"data: {\"eventType\":\"a\"}\n\n", "data: {\"eventType\":\"b\"}\n\n"},
			end:        func(_ context.CancelFunc, _ *EventStream, srv *sseServer) { close(srv.frames) },
			wantEvents: 2,
			wantErr:    func(err error) bool { return errors.Is(err, io.EOF) },
		},
		{
			name:       "invalid JSON",
			frames:     []string{"data: {\"eventType\":\"a\"}\n\n", "event: status_update_event\ndata: {\"eventType\": nope}\n\n", "data: {\"eventType\":\"c\"}\n\n"},
			end:        func(context.CancelFunc, *EventStream, *sseServer) {},
			wantEvents: 1,
			wantErr: func(err error) bool {
				return errors.Is(err, ErrInvalidResponse) && strings.Contains(err.Error(), `{\"eventType\": nope}`)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSSEServer(t)
			c := newClient(t, Config{URLs: []string{srv.URL}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := openStream(t, ctx, c, srv.URL, nil)
			for _, f := range tt.frames {
				srv.frames <- f
			}
			// Let the frames arrive before ending, so the count is exact.
			for range tt.wantEvents {
				if e := recv(t, s); e.Type == "" {
					t.Fatalf("event without type: %+v", e)
				}
			}
			tt.end(cancel, s, srv)
			if rest := drainClosed(t, s); len(rest) != 0 {
				t.Errorf("extra events after the end: %+v", rest)
			}
			if err := s.Err(); !tt.wantErr(err) {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

func TestStreamRefused(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(error) bool
	}{
		{
			name:    "401",
			handler: answer(http.StatusUnauthorized, `{"message":"Invalid username or password."}`),
			check: func(err error) bool {
				var apiErr *APIError
				return errors.As(err, &apiErr) && errors.Is(err, ErrUnauthorized) && apiErr.Message == "Invalid username or password."
			},
		},
		{
			name:    "503",
			handler: answer(http.StatusServiceUnavailable, `{"message":"no leader"}`),
			check: func(err error) bool {
				var apiErr *APIError
				return errors.As(err, &apiErr) && apiErr.Status == 503
			},
		},
		{
			name: "not an event stream",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				io.WriteString(w, "<html>")
			},
			check: func(err error) bool { return errors.Is(err, ErrInvalidResponse) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.handler)
			c := newClient(t, Config{URLs: []string{f.URL}})
			s, err := c.Stream(context.Background(), f.URL, nil)
			if s != nil || !tt.check(err) {
				t.Errorf("Stream() = %v, %v", s, err)
			}
		})
	}

	dead := deadURL(t)
	c := newClient(t, Config{URLs: []string{dead}})
	if _, err := c.Stream(context.Background(), dead, nil); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), dead) {
		t.Errorf("unreachable: err = %v", err)
	}
	if _, err := c.Stream(context.Background(), "not a url", nil); err == nil {
		t.Error("bad base URL: want an error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Stream(ctx, dead, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// A consumer that falls behind must not look like a silent stream to the
// caller's watchdog.
func TestStreamSlowConsumerIsActivity(t *testing.T) {
	srv := newSSEServer(t)
	c := newClient(t, Config{URLs: []string{srv.URL}})
	s := openStream(t, context.Background(), c, srv.URL, nil)
	n := eventBuffer + 10
	for i := range n {
		srv.frames <- fmt.Sprintf("data: {\"eventType\":\"e%d\"}\n\n", i)
	}
	// Wait until the reader is stuck on the full channel.
	deadline := time.Now().Add(waitLimit)
	for len(s.Events()) < eventBuffer {
		if time.Now().After(deadline) {
			t.Fatalf("only %d events buffered", len(s.Events()))
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if idle := time.Since(s.LastActivity()); idle > 50*time.Millisecond {
		t.Errorf("LastActivity is %v old while events wait for the consumer", idle)
	}
	for i := range n {
		if e := recv(t, s); e.Type != fmt.Sprintf("e%d", i) {
			t.Fatalf("event %d = %+v", i, e)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if idle := time.Since(s.LastActivity()); idle < 80*time.Millisecond {
		t.Errorf("LastActivity is %v old after the stream went quiet, want about 100ms", idle)
	}
}
