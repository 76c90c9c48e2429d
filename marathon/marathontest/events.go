package marathontest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// subscriber is one open /v2/events stream. Its buffer is bounded: a
// subscriber that falls behind is dropped instead of blocking Marathon.
type subscriber struct {
	filter map[string]bool
	ch     chan []byte
	done   chan struct{}
}

const subscriberBuffer = 1024

// emit sends an event to every matching subscriber; callers hold s.mu.
func (s *Server) emit(eventType string, payload map[string]any) {
	payload["eventType"] = eventType
	payload["timestamp"] = now()
	data, err := json.Marshal(payload)
	if err != nil {
		s.log.Error("event not serialisable: " + err.Error())
		return
	}
	frame := []byte(fmt.Sprintf("event: %s\ndata: %s\n\n", eventType, data))
	for sub := range s.subs {
		if len(sub.filter) > 0 && !sub.filter[eventType] {
			continue
		}
		select {
		case sub.ch <- frame:
		default:
			delete(s.subs, sub)
			close(sub.done)
		}
	}
}

// emitStatus sends a status_update_event for t (fields as in events.txt).
func (s *Server) emitStatus(t *simTask) {
	s.emit("status_update_event", map[string]any{
		"slaveId": t.task.SlaveID, "taskId": t.task.ID, "taskStatus": t.task.State, "message": "",
		"appId": t.task.AppID, "host": t.task.Host, "ports": t.task.Ports, "ipAddresses": t.task.IPAddresses,
		"version": t.task.Version,
	})
}

// CloseEventStreams cuts every open event stream.
func (s *Server) CloseEventStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		delete(s.subs, sub)
		close(sub.done)
	}
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		writeJSON(w, http.StatusNotAcceptable, map[string]string{"message": "Accept: text/event-stream is required"})
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
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	s.mu.Lock()
	s.subs[sub] = true
	host := r.RemoteAddr
	if i := strings.LastIndex(host, ":"); i > 0 {
		host = host[:i]
	}
	attached, _ := json.Marshal(map[string]any{"remoteAddress": host, "eventType": "event_stream_attached", "timestamp": now()})
	s.mu.Unlock()
	if len(sub.filter) == 0 || sub.filter["event_stream_attached"] {
		fmt.Fprintf(w, "event: event_stream_attached\ndata: %s\n\n", attached)
	}
	fl.Flush()

	keepalive := time.NewTicker(s.opts.KeepaliveInterval)
	defer keepalive.Stop()
	defer func() {
		s.mu.Lock()
		if s.subs[sub] {
			delete(s.subs, sub)
			close(sub.done)
		}
		s.mu.Unlock()
	}()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-sub.done:
			return
		case frame := <-sub.ch:
			if s.isSilent() {
				continue
			}
			if _, err := w.Write(frame); err != nil {
				return
			}
			fl.Flush()
		case <-keepalive.C:
			if s.isSilent() {
				continue
			}
			// Marathon's keepalive is a bare line break.
			if _, err := w.Write([]byte("\r\n")); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (s *Server) isSilent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.silent
}
