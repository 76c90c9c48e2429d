package marathontest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// refDir is the Marathon reference pack (examples from Marathon's repo).
const refDir = "../../../shared/reference/marathon"

var testClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitDeployments(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitDeployments(ctx); err != nil {
		t.Fatal(err)
	}
}

// call does one request and decodes a JSON answer into out (when not nil).
func call(t *testing.T, method, url string, body any, out any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp, raw
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, raw := call(t, "GET", url, nil, out)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
}

func mustCreate(t *testing.T, s *Server, app marathon.App) marathon.DeploymentResult {
	t.Helper()
	res, err := s.CreateApp(app)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func runningTasks(s *Server, id string) []marathon.Task {
	a, _ := s.App(id)
	var out []marathon.Task
	for _, t := range a.Tasks {
		if t.State == marathon.TaskRunning {
			out = append(out, t)
		}
	}
	return out
}

// dialTask GETs path from a task's port and returns the body.
func dialTask(t *testing.T, host string, port int, path string) (int, string) {
	t.Helper()
	resp, err := testClient.Get(fmt.Sprintf("http://%s%s", net.JoinHostPort(host, fmt.Sprint(port)), path))
	if err != nil {
		t.Fatalf("task %s:%d: %v", host, port, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// event is one received SSE event.
type event struct {
	Type string
	Data map[string]any
	Raw  string
}

func (e event) str(k string) string { s, _ := e.Data[k].(string); return s }

// stream is an open /v2/events subscription.
type stream struct {
	resp       *http.Response
	cancel     context.CancelFunc
	mu         sync.Mutex
	events     []event
	keepalives atomic.Int32
	closed     atomic.Bool
	rawHead    []byte // the first bytes, to check the wire format
}

func openStream(t *testing.T, s *Server, query string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/v2/events"+query, nil)
	req.Header.Set("Accept", "text/event-stream")
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("events: %d", resp.StatusCode)
	}
	st := &stream{resp: resp, cancel: cancel}
	t.Cleanup(st.close)
	go st.read()
	return st
}

func (st *stream) close() {
	st.cancel()
	_ = st.resp.Body.Close()
}

func (st *stream) read() {
	defer st.closed.Store(true)
	br := bufio.NewReader(st.resp.Body)
	var typ string
	var data []string
	for {
		line, err := br.ReadString('\n')
		if len(st.rawHead) < 512 {
			st.mu.Lock()
			st.rawHead = append(st.rawHead, line...)
			st.mu.Unlock()
		}
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if typ == "" && data == nil {
				st.keepalives.Add(1)
				continue
			}
			ev := event{Type: typ, Raw: strings.Join(data, "\n")}
			_ = json.Unmarshal([]byte(ev.Raw), &ev.Data)
			st.mu.Lock()
			st.events = append(st.events, ev)
			st.mu.Unlock()
			typ, data = "", nil
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

func (st *stream) all() []event {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]event(nil), st.events...)
}

// waitEvent waits for an event of type typ matching match, and returns it.
func (st *stream) waitEvent(t *testing.T, typ string, match func(event) bool) event {
	t.Helper()
	var found event
	waitFor(t, "event "+typ, func() bool {
		for _, e := range st.all() {
			if e.Type == typ && (match == nil || match(e)) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// shapeDiff lists the keys of ref (recursively, arrays by their first
// element) that got lacks or holds with another JSON type.
func shapeDiff(path string, ref, got any) []string {
	var out []string
	switch r := ref.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want object, got %T", path, got)}
		}
		for k, v := range r {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k+": missing")
				continue
			}
			out = append(out, shapeDiff(path+"."+k, v, gv)...)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want array, got %T", path, got)}
		}
		if len(r) > 0 && len(g) > 0 {
			out = append(out, shapeDiff(path+"[0]", r[0], g[0])...)
		}
	case nil:
	default:
		if fmt.Sprintf("%T", ref) != fmt.Sprintf("%T", got) {
			out = append(out, fmt.Sprintf("%s: want %T, got %T", path, ref, got))
		}
	}
	return out
}

// readRef loads a file of the reference pack, or skips the test.
func readRef(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(refDir, name))
	if err != nil {
		t.Skipf("Marathon reference pack not available (%v): shape comparison skipped", err)
	}
	return raw
}

func refJSON(t *testing.T, name string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(readRef(t, name), &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func hostApp(id string, instances int) marathon.App {
	return marathon.App{ID: id, Instances: instances, PortDefinitions: []marathon.PortDefinition{{Port: 0}}}
}

func ptr[T any](v T) *T { return &v }
