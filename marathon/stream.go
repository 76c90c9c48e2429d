package marathon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

const (
	// eventBuffer absorbs a burst (one deployment emits dozens of events)
	// so the socket is read on while the consumer handles the first one.
	eventBuffer = 64
	// maxStreamErrorBody bounds the body read from a refused stream.
	maxStreamErrorBody = 64 << 10
)

// EventStream is one open GET /v2/events. Events arrive on Events() until
// the context given to Stream ends, Close is called, the server ends the
// stream or an error happens; then the channel is closed and Err says why.
// It never reconnects: reconnect, backoff and URL rotation are the
// caller's policy.
type EventStream struct {
	url    string
	events chan Event
	cancel context.CancelFunc
	done   chan struct{}

	// start carries a monotonic clock reading; activity is the time since
	// start of the last byte read, so LastActivity stays monotonic too.
	start      time.Time
	activity   atomic.Int64
	delivering atomic.Bool // blocked handing an event to a slow consumer

	mu  sync.Mutex
	err error
}

// Stream opens the event stream of ONE Marathon, baseURL (usually one of
// URLs()), with the client's auth and TLS settings. eventTypes filters on
// Marathon's side (one event_type= parameter each; none means all);
// plan-format=light keeps deployment events small. It returns once the
// response headers arrived: a status other than 200 is an *APIError, a
// connection failure wraps ErrUnreachable.
func (c *Client) Stream(ctx context.Context, baseURL string, eventTypes []string) (*EventStream, error) {
	bases, _, err := cleanURLs([]string{baseURL})
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, t := range eventTypes {
		if t != "" {
			q.Add("event_type", t)
		}
	}
	q.Set("plan-format", "light")
	target := bases[0] + "/v2/events?" + q.Encode()

	sctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, target, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("marathon event stream %s: %w", target, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", c.userAgent)
	c.authorize(req.Header)
	resp, err := c.stream.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("marathon event stream %s: %w", target, ctx.Err())
		}
		return nil, fmt.Errorf("marathon event stream %s: %w: %w", target, ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxStreamErrorBody))
		resp.Body.Close()
		cancel()
		return nil, newAPIError(http.MethodGet, target, resp.StatusCode, body)
	}
	// A proxy's 200 HTML page would otherwise look like a silent stream.
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/event-stream" {
			resp.Body.Close()
			cancel()
			return nil, fmt.Errorf("marathon event stream %s: %w: Content-Type %q, want text/event-stream", target, ErrInvalidResponse, ct)
		}
	}
	s := &EventStream{
		url:    target,
		events: make(chan Event, eventBuffer),
		cancel: cancel,
		done:   make(chan struct{}),
		start:  time.Now(),
	}
	c.log.Debug("marathon event stream open", zap.String("url", target))
	go s.run(sctx, resp.Body, c.log)
	return s, nil
}

// Events delivers the events; it is closed when the stream ends.
func (s *EventStream) Events() <-chan Event { return s.events }

// Err says why the stream ended, once Events() is closed: nil when the
// context was cancelled or Close was called; an error wrapping io.EOF when
// Marathon closed the stream; ErrInvalidResponse for an unparsable event;
// otherwise the read error.
func (s *EventStream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// LastActivity is when the stream last received any byte: events and
// keepalives (blank lines, comments) alike, so a caller's watchdog can
// tell a silent stream from a quiet cluster. While the consumer is slow to
// take events it is "now": the stream is busy, not silent.
func (s *EventStream) LastActivity() time.Time {
	if s.delivering.Load() {
		return time.Now()
	}
	return s.start.Add(time.Duration(s.activity.Load()))
}

// Close ends the stream and waits until its reader stopped; safe to call
// more than once and concurrently.
func (s *EventStream) Close() {
	s.cancel()
	<-s.done
}

func (s *EventStream) run(ctx context.Context, body io.ReadCloser, log *zap.Logger) {
	defer close(s.done)
	defer close(s.events)
	defer s.cancel() // releases the context when the server ended the stream
	defer body.Close()
	dec := newSSEDecoder(activityReader{r: body, s: s}, maxSSELine)
	for {
		m, err := dec.next()
		var evs []Event
		if err == nil {
			evs, err = marathonEvents(m, time.Now())
		}
		if err != nil {
			s.finish(ctx, err, log)
			return
		}
		for _, e := range evs {
			s.delivering.Store(true)
			select {
			case s.events <- e:
				s.delivering.Store(false)
			case <-ctx.Done():
				s.delivering.Store(false)
				s.finish(ctx, ctx.Err(), log)
				return
			}
		}
	}
}

// finish records why the stream ended; the caller's own cancellation is
// not an error.
func (s *EventStream) finish(ctx context.Context, err error, log *zap.Logger) {
	if ctx.Err() != nil {
		log.Debug("marathon event stream closed", zap.String("url", s.url))
		return
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("marathon event stream %s: server ended the stream: %w", s.url, err)
	} else {
		err = fmt.Errorf("marathon event stream %s: %w", s.url, err)
	}
	log.Debug("marathon event stream ended", zap.String("url", s.url), zap.Error(err))
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// activityReader records when bytes arrive, whatever they carry.
type activityReader struct {
	r io.Reader
	s *EventStream
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.s.activity.Store(int64(time.Since(a.s.start)))
	}
	return n, err
}
