package marathontest

import (
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// subscriberBuffer bounds the events queued for one /v2/events stream.
// Marathon fails a stream whose buffer overflows ("Buffer is full - slow
// receiver. Close connection"); so does the simulator, instead of blocking.
const subscriberBuffer = 256

// bus is Marathon's event bus: every event goes to every subscribed stream
// whose event_type filter admits it. Its maps are guarded by Server.mu, so
// events are queued in the order the state changed.
type bus struct {
	subs   map[*subscriber]bool
	silent atomic.Bool
}

// subscriber is one open /v2/events stream.
type subscriber struct {
	filter map[string]bool // empty: every event
	// light is ?plan-format=light: deployment events' plans come without
	// the original and target groups (every app, twice).
	light bool
	ch    chan []byte   // SSE frames
	done  chan struct{} // closed when the stream must end
	once  sync.Once
}

func (sub *subscriber) end() { sub.once.Do(func() { close(sub.done) }) }

func (b *bus) closeAll() {
	for sub := range b.subs {
		delete(b.subs, sub)
		sub.end()
	}
}

// frame is the wire form of one event as Jetty's EventSourceServlet (which
// serves Marathon's /v2/events) writes it: CRLF line ends.
func frame(eventType string, data []byte) []byte {
	b := make([]byte, 0, len(eventType)+len(data)+20)
	b = append(b, "event: "...)
	b = append(b, eventType...)
	b = append(b, "\r\ndata: "...)
	b = append(b, data...)
	return append(b, "\r\n\r\n"...)
}

// emitLocked publishes one event; payload gets eventType and timestamp
// (unless it has one). Callers hold s.mu. A subscriber whose buffer is full
// is dropped and its stream closed.
func (s *Server) emitLocked(eventType string, payload map[string]any) {
	payload["eventType"] = eventType
	if _, ok := payload["timestamp"]; !ok {
		payload["timestamp"] = now()
	}
	wanted := false
	for sub := range s.bus.subs {
		wanted = wanted || len(sub.filter) == 0 || sub.filter[eventType]
	}
	if !wanted || s.bus.silent.Load() {
		// Nobody would receive it (Marathon keeps no event history). A
		// deployment event carries the whole group: at 10,000 apps,
		// encoding it for no one made creating them take hours.
		return
	}
	s.log.Debug("event", zap.String("eventType", eventType))
	// Encoded once per plan format, when a subscriber wants it.
	frames := map[bool][]byte{}
	encode := func(light bool) []byte {
		if f, ok := frames[light]; ok {
			return f
		}
		p := payload
		if plan, ok := payload["plan"].(map[string]any); ok && light {
			p = maps.Clone(payload)
			lp := maps.Clone(plan)
			delete(lp, "original")
			delete(lp, "target")
			p["plan"] = lp
		}
		data, err := json.Marshal(p)
		if err != nil {
			s.log.Error("event not serializable", zap.String("eventType", eventType), zap.Error(err))
		} else {
			frames[light] = frame(eventType, data)
		}
		return frames[light]
	}
	for sub := range s.bus.subs {
		if len(sub.filter) > 0 && !sub.filter[eventType] {
			continue
		}
		f := encode(sub.light)
		if f == nil {
			return
		}
		select {
		case sub.ch <- f:
		default:
			s.log.Warn("event stream buffer full - slow receiver, closing the stream")
			delete(s.bus.subs, sub)
			sub.end()
		}
	}
}

// handleEvents serves GET /v2/events. Like Jetty's EventSourceServlet it
// needs an Accept header equal to text/event-stream (else 405), answers
// with Connection: close and no chunking, and sends a CRLF heartbeat.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	wantsSSE := false
	for _, a := range r.Header.Values("Accept") {
		if strings.TrimSpace(a) == "text/event-stream" {
			wantsSSE = true
		}
	}
	if !wantsSSE {
		w.Header().Set("Content-Type", "text/plain;charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte("HTTP method GET is not supported by this URL\n"))
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	sub := &subscriber{filter: map[string]bool{}, ch: make(chan []byte, subscriberBuffer), done: make(chan struct{})}
	for _, t := range r.URL.Query()["event_type"] {
		sub.filter[t] = true
	}
	sub.light = r.URL.Query().Get("plan-format") == "light"
	remote := r.RemoteAddr
	if h, _, err := net.SplitHostPort(remote); err == nil {
		remote = h
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "simulator closed"})
		return
	}
	s.bus.subs[sub] = true
	// Marathon publishes the attach on the bus: every stream sees it, this
	// one first of all (it is queued before anything else can be).
	s.emitLocked("event_stream_attached", map[string]any{"remoteAddress": remote})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream;charset=utf-8")
	w.Header().Set("Connection", "close")
	w.Header().Set("Transfer-Encoding", "identity") // net/http: no chunking, close after reply
	w.WriteHeader(http.StatusOK)
	fl.Flush()

	defer func() {
		s.mu.Lock()
		if s.bus.subs[sub] {
			delete(s.bus.subs, sub)
			sub.end()
		}
		if !s.closed {
			s.emitLocked("event_stream_detached", map[string]any{"remoteAddress": remote})
		}
		s.mu.Unlock()
	}()

	// A client that stops reading must not hold this goroutine for ever.
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		if s.bus.silent.Load() {
			return true
		}
		_ = rc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	heartbeat := time.NewTicker(s.opts.KeepaliveInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-sub.done:
			return
		case f := <-sub.ch:
			if !write(f) {
				return
			}
		case <-heartbeat.C:
			// Jetty's heartbeat: a bare CRLF.
			if !write([]byte("\r\n")) {
				return
			}
		}
	}
}
