package runtimeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
)

// upstream is a local HTTP server answering its name; GET /slow blocks
// until release is called (or the client goes away).
type upstream struct {
	name    string
	srv     *httptest.Server
	ip      string
	port    int
	once    sync.Once
	release chan struct{}
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{name: name, release: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-u.release:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, u.name)
	}))
	t.Cleanup(func() {
		u.Release()
		u.srv.Close()
	})
	addr := u.srv.Listener.Addr().(*net.TCPAddr)
	u.ip, u.port = addr.IP.String(), addr.Port
	return u
}

// Release lets every pending and future /slow request finish.
func (u *upstream) Release() { u.once.Do(func() { close(u.release) }) }

func (u *upstream) addr() string { return net.JoinHostPort(u.ip, strconv.Itoa(u.port)) }

// fixture is a real HAProxy with a frontend on a free loopback port and a
// Client on its admin stats socket.
type fixture struct {
	t    *testing.T
	h    *haproxytest.HAProxy
	c    *Client
	port int
	http *http.Client
}

// start runs HAProxy with BaseConfig + a frontend "fe" on a free port
// (defaulting to be_app, plus extraFrontend lines) + proxies.
func start(t *testing.T, extraFrontend, proxies string) *fixture {
	t.Helper()
	haproxytest.Require(t)
	port := haproxytest.FreePort(t)
	cfg := haproxytest.BaseConfig() + fmt.Sprintf(`
frontend fe
    bind 127.0.0.1:%d
%s
    default_backend be_app
%s`, port, extraFrontend, proxies)
	h := haproxytest.Start(t, cfg)
	c, err := New(h.Socket, WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, h: h, c: c, port: port, http: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
}

// get sends one request through HAProxy and returns the upstream's name,
// or "<status>" for a non-200 answer.
func (f *fixture) get(host, path string) string {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", f.port, path), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatalf("GET %s through haproxy: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return strconv.Itoa(resp.StatusCode)
	}
	return string(b)
}

// hits sends n requests and counts the answers by upstream name.
func (f *fixture) hits(host string, n int) map[string]int {
	f.t.Helper()
	got := map[string]int{}
	for range n {
		got[f.get(host, "/")]++
	}
	return got
}

func (f *fixture) wantOnly(host string, n int, name string) {
	f.t.Helper()
	if got := f.hits(host, n); got[name] != n {
		f.t.Fatalf("%d requests (host %q): want all on %s, got %v", n, host, name, got)
	}
}

func (f *fixture) state(backend, server string) ServerState {
	f.t.Helper()
	s, err := f.c.ServerState(context.Background(), backend, server)
	if err != nil {
		f.t.Fatalf("server state %s/%s: %v", backend, server, err)
	}
	return s
}

func (f *fixture) statRow(proxy, server string) StatRow {
	f.t.Helper()
	rows, err := f.c.ShowStat(context.Background(), proxy)
	if err != nil {
		f.t.Fatalf("show stat %s: %v", proxy, err)
	}
	for _, r := range rows {
		if r.Server == server {
			return r
		}
	}
	f.t.Fatalf("show stat %s: no row for %s", proxy, server)
	return StatRow{}
}

// eventually retries cond every 20ms for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("want %v, got %v", target, err)
	}
}

func wantCommandError(t *testing.T, err, target error) *CommandError {
	t.Helper()
	wantErr(t, err, target)
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *CommandError, got %T: %v", err, err)
	}
	return ce
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
