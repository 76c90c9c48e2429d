package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

type fakeDaemon struct {
	status      sync.Status
	full, repsh []string
}

func (f *fakeDaemon) Status() sync.Status            { return f.status }
func (f *fakeDaemon) TriggerFull(reason string)      { f.full = append(f.full, reason) }
func (f *fakeDaemon) TriggerReconcile(reason string) { f.repsh = append(f.repsh, reason) }

func TestMarathonLBEndpoints(t *testing.T) {
	d := &fakeDaemon{status: sync.Status{Services: []sync.ServiceInfo{
		{AppID: "/web", Backend: "web_10000", Mode: "http", VHosts: []string{"a.example.com", "b.example.com"}},
		{AppID: "/web", Backend: "web_10001", Mode: "http", VHosts: []string{"c.example.com"}},
		{AppID: "/api", Backend: "api_10002", Mode: "http", VHosts: []string{"a.example.com"}, Path: "/api"},
		{AppID: "/db", Backend: "db_10003", Mode: "tcp"},
	}}}
	e := mlbEndpoints{daemon: d,
		config: func(context.Context) (string, error) { return "global\n  master-worker\n", nil },
		pids:   func(context.Context) ([]string, error) { return []string{"42"}, nil }}
	mux := http.NewServeMux()
	token := "s3cret"
	e.register(mux, func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string, auth bool) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path string
		auth bool
		code int
		body string
	}{
		{"/_haproxy_getconfig", false, 200, "global\n  master-worker\n"},
		{"/_haproxy_getvhostmap", false, 200, "a.example.com web_10000\nb.example.com web_10000\nc.example.com web_10001\n"},
		{"/_haproxy_getappmap", false, 200, "/api api_10002\n/web web_10000\n"},
		{"/_haproxy_getpids", false, 200, "42"},
		{"/_mlb_signal/hup", false, 401, "unauthorized\n"},
		{"/_mlb_signal/hup", true, 200, "Sent SIGHUP signal to marathon-dataplane\n"},
		{"/_mlb_signal/usr1", true, 200, "Sent SIGUSR1 signal to marathon-dataplane\n"},
	} {
		if code, body := get(tc.path, tc.auth); code != tc.code || body != tc.body {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
	if len(d.full) != 1 || len(d.repsh) != 1 {
		t.Errorf("signals: full %v, re-push %v", d.full, d.repsh)
	}
}
