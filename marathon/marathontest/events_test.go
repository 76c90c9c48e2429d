package marathontest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEventStreamWire: Jetty's wire format (CRLF lines, Connection: close,
// no chunking), event_stream_attached first, heartbeats.
func TestEventStreamWire(t *testing.T) {
	s := Started(t, Options{KeepaliveInterval: 30 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /v2/events HTTP/1.1\r\nHost: marathon\r\nAccept: text/event-stream\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream;charset=utf-8" ||
		len(resp.TransferEncoding) != 0 || !resp.Close {
		t.Fatalf("response: %d %v te=%v close=%v", resp.StatusCode, resp.Header, resp.TransferEncoding, resp.Close)
	}
	body := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 5 {
		l, err := body.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if lines[0] != "event: event_stream_attached\r\n" || !strings.HasPrefix(lines[1], `data: {"eventType":"event_stream_attached","remoteAddress":"127.0.0.1","timestamp":"`) ||
		lines[2] != "\r\n" || lines[3] != "\r\n" || lines[4] != "\r\n" {
		t.Fatalf("wire %q", lines)
	}
}

// TestEventStreamFilterAndDetach: event_type filters (repeatable), other
// streams see a stream attach and detach.
func TestEventStreamFilterAndDetach(t *testing.T) {
	s := Started(t, Options{})
	watcher := openStream(t, s, "?event_type=event_stream_attached&event_type=event_stream_detached")
	watcher.waitEvent(t, "event_stream_attached", nil)
	only := openStream(t, s, "?event_type=deployment_success")
	watcher.waitEvent(t, "event_stream_attached", func(e event) bool { return len(watcher.all()) >= 2 })
	res := mustCreate(t, s, hostApp("/f", 1))
	only.waitEvent(t, "deployment_success", func(e event) bool { return e.str("id") == res.DeploymentID })
	for _, e := range only.all() {
		if e.Type != "deployment_success" {
			t.Fatalf("filtered stream got %s", e.Type)
		}
	}
	only.close()
	watcher.waitEvent(t, "event_stream_detached", func(e event) bool { return e.str("remoteAddress") == "127.0.0.1" })
	for _, e := range watcher.all() {
		if e.Type != "event_stream_attached" && e.Type != "event_stream_detached" {
			t.Fatalf("watcher got %s", e.Type)
		}
	}
}

// TestCloseEventStreams cuts every stream; a new one can attach.
func TestCloseEventStreams(t *testing.T) {
	s := Started(t, Options{})
	st := openStream(t, s, "")
	st.waitEvent(t, "event_stream_attached", nil)
	s.CloseEventStreams()
	waitFor(t, "the stream to end", st.closed.Load)
	again := openStream(t, s, "")
	again.waitEvent(t, "event_stream_attached", nil)
}

// TestSilentStreams: open but mute (no events, no heartbeats) until unmuted.
func TestSilentStreams(t *testing.T) {
	s := Started(t, Options{KeepaliveInterval: 20 * time.Millisecond})
	st := openStream(t, s, "")
	st.waitEvent(t, "event_stream_attached", nil)
	waitFor(t, "a heartbeat", func() bool { return st.keepalives.Load() > 0 })
	s.SetSilentStreams(true)
	time.Sleep(30 * time.Millisecond) // a heartbeat being written may still land
	events, beats := len(st.all()), st.keepalives.Load()
	mustCreate(t, s, hostApp("/quiet", 1))
	waitDeployments(t, s)
	time.Sleep(100 * time.Millisecond) // five heartbeat periods of silence
	if len(st.all()) != events || st.keepalives.Load() != beats || st.closed.Load() {
		t.Fatalf("silent stream got %d events, %d heartbeats (closed %v)", len(st.all())-events, st.keepalives.Load()-beats, st.closed.Load())
	}
	s.SetSilentStreams(false)
	if _, err := s.ScaleApp("/quiet", 2, false); err != nil {
		t.Fatal(err)
	}
	st.waitEvent(t, "deployment_success", nil)
}

// TestSlowSubscriberDropped: a full buffer drops the stream, never blocks.
func TestSlowSubscriberDropped(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	sub := &subscriber{filter: map[string]bool{}, ch: make(chan []byte, 2), done: make(chan struct{})}
	s.mu.Lock()
	s.bus.subs[sub] = true
	for i := 0; i < 5; i++ {
		s.emitLocked("status_update_event", map[string]any{"n": i})
	}
	_, still := s.bus.subs[sub]
	s.mu.Unlock()
	select {
	case <-sub.done:
	default:
		t.Fatal("the slow subscriber was not closed")
	}
	if still || len(sub.ch) != 2 {
		t.Fatalf("still subscribed %v, %d queued", still, len(sub.ch))
	}
}
