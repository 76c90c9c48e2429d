package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// faultProxy stands between the daemon and a real service: it passes
// requests on, delays them, or refuses connections.
type faultProxy struct {
	url   string
	delay atomic.Int64 // nanoseconds
	down  atomic.Bool
	srv   *http.Server
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{url: "http://" + ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // event streams pass through at once
	p.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			// As a host that is gone: the connection drops.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if d := time.Duration(p.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

// faultResult is one row of the summary table.
type faultResult struct {
	name      string
	converged bool
	took      time.Duration
	failed    int64
	lost      int
}

// TestFaultSuite runs the daemon through one fault after another against
// real HAProxy and Data Plane API, each with a Marathon change made while
// the fault lasts, under a bounded loopback load on an app that never
// changes. After each, the state must equal Marathon's again (a fresh
// plan has nothing to do and the changed app is served by exactly its
// tasks) with no request failed and no object lost. It prints a summary.
func TestFaultSuite(t *testing.T) {
	s := newStack(t)
	steady := marathon.App{ID: "/steady", Instances: 2, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "steady.example.com"}}
	web := marathon.App{ID: "/web", Instances: 2, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example.com"}}
	deploy(t, s, steady, web)

	// The daemon reaches Marathon through two URLs (the first one can
	// go away) and the Data Plane API through a proxy (slow, down).
	m1, m2 := newFaultProxy(t, s.sim.URL()), newFaultProxy(t, s.sim.URL())
	dp := newFaultProxy(t, s.dpURL)
	m1.down.Store(true) // Marathon unreachable when the daemon starts
	s.sim.SetUnavailable(503)
	s.startDaemon(t, m1.url+","+m2.url, dp.url, "--dataplane-timeout", "3s", "--reconcile-interval", "500ms",
		"--stream-watchdog", "1s", "--max-backoff", "1s", "--poll-interval", "5s")

	// served is the set of tasks answering for host.
	served := func(host string, n int) map[string]bool {
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			code, body, err := get(s.httpPort, host, "/")
			if err != nil || code != 200 {
				return nil
			}
			seen[taskOf(body)] = true
		}
		return seen
	}
	converged := func(id, host string) bool {
		want := taskIDs(s, id)
		got := served(host, 8*len(want)+8)
		if len(got) != len(want) {
			return false
		}
		for task := range got {
			if !want[task] {
				return false
			}
		}
		_, planOut := s.cli("plan")
		return strings.Contains(planOut, "No changes")
	}
	operatorObjects := func() int {
		var be map[string]any
		s.dp("/services/haproxy/configuration/backends/operator_backend", &be)
		if be["data"] == nil {
			return 0
		}
		return 1
	}
	scale := func(id string, n int) {
		t.Helper()
		if _, err := s.sim.ScaleApp(id, n, true); err != nil {
			t.Fatal(err)
		}
	}

	var results []faultResult
	var load *loadGen
	// run injects a fault, changes /web in Marathon while it lasts (1.5 s),
	// recovers, and waits until HAProxy serves Marathon's state again:
	// "to converge" runs from the change. A fault that takes HAProxy itself
	// down (dataPlaneDown) counts failed requests from when it is back.
	run := func(name string, dataPlaneDown bool, inject func(), change func(), recover func()) {
		t.Helper()
		r := faultResult{name: name}
		failedBefore := int64(0)
		if load != nil {
			failedBefore = load.failed.Load()
		}
		inject()
		start := time.Now()
		change()
		if dataPlaneDown && load != nil {
			failedBefore = load.failed.Load()
		}
		check := func() bool {
			waitDeployments(t, s)
			return converged("/web", "web.example.com")
		}
		faultEnds := start.Add(1500 * time.Millisecond)
		for time.Now().Before(faultEnds) && !r.converged {
			if r.converged = check(); r.converged {
				r.took = time.Since(start)
			}
		}
		time.Sleep(time.Until(faultEnds))
		recover()
		if !r.converged {
			r.converged = eventually(20*time.Second, check)
			r.took = time.Since(start)
		}
		if load != nil {
			r.failed = load.failed.Load() - failedBefore
		}
		r.lost = 1 - operatorObjects()
		results = append(results, r)
		if !r.converged {
			t.Errorf("%s: did not converge within 20s", name)
		}
	}

	run("marathon down at start", false, func() {}, func() { scale("/web", 3) }, func() {
		s.sim.SetUnavailable(0)
	})
	// From here on /steady is under load all the time.
	load = startLoad(s.httpPort, "steady.example.com", 2, 200_000)
	defer load.Stop()

	run("marathon down mid-stream", false, func() { s.sim.SetUnavailable(503) }, func() { scale("/web", 1) }, func() {
		s.sim.SetUnavailable(0)
	})
	run("leader change across --marathon URLs", false, func() { m2.down.Store(true); m1.down.Store(false) }, func() { scale("/web", 2) }, func() {
		// The first URL answers again and the second goes away.
		m2.down.Store(true)
	})
	m2.down.Store(false)
	run("SSE stream cut", false, func() { s.sim.CloseEventStreams() }, func() { scale("/web", 4) }, func() {})
	run("silent SSE stream", false, func() { s.sim.SetSilentStreams(true) }, func() { scale("/web", 2) }, func() {
		s.sim.SetSilentStreams(false)
	})
	run("dataplaneapi stopped and restarted", false, func() { s.hap.StopDataplaneAPI() }, func() { scale("/web", 3) }, func() {
		if err := s.hap.StartDataplaneAPI(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	run("slow dataplaneapi (5s per request, 3s timeout)", false, func() { dp.delay.Store(int64(5 * time.Second)) }, func() { scale("/web", 1) }, func() {
		dp.delay.Store(0)
	})
	run("haproxy restarted (runtime state lost)*", true, func() { scale("/web", 4) }, func() {
		time.Sleep(100 * time.Millisecond)
		if err := s.hap.RestartHAProxy(context.Background()); err != nil {
			t.Fatal(err)
		}
	}, func() {})
	stopRace := make(chan struct{})
	run("another writer moving the version (409 races)", false, func() {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stopRace:
					return
				case <-time.After(150 * time.Millisecond):
				}
				var raw struct {
					Data    string `json:"data"`
					Version int64  `json:"_version"`
				}
				s.dp("/services/haproxy/configuration/raw", &raw)
				text := strings.Replace(raw.Data, "description not managed by marathon-dataplane", fmt.Sprintf("description not managed by marathon-dataplane (edit %d)", i), 1)
				req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v2/services/haproxy/configuration/raw?version=%d&skip_reload=true", s.dpURL, raw.Version), strings.NewReader(stripHeader(text)))
				req.SetBasicAuth("admin", "adminpwd")
				req.Header.Set("Content-Type", "text/plain")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}, func() { scale("/web", 2) }, func() { close(stopRace) })

	load.Stop()
	t.Logf("load on the unchanged app: %d requests, %d failed", load.sent.Load(), load.failed.Load())
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-50s %-9s %11s %8s %6s\n", "fault", "converged", "to converge", "failed", "lost")
	for _, r := range results {
		fmt.Fprintf(&b, "%-50s %-9v %11s %8d %6d\n", r.name, r.converged, r.took.Round(10*time.Millisecond), r.failed, r.lost)
		if r.failed != 0 {
			t.Errorf("%s: %d requests failed", r.name, r.failed)
		}
		if r.lost != 0 {
			t.Errorf("%s: the operator's backend was lost", r.name)
		}
	}
	counted := int64(0)
	for _, r := range results {
		counted += r.failed
	}
	fmt.Fprintf(&b, "* requests sent while HAProxy itself was down are not counted: %d of %d requests failed in all, %d of them then\n",
		load.failed.Load(), load.sent.Load(), load.failed.Load()-counted)
	fmt.Print(b.String())
	t.Log(b.String())
}

// stripHeader drops the API's header comment lines from a raw text.
func stripHeader(text string) string {
	var keep []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "# _") || strings.HasPrefix(l, "# Dataplaneapi") || strings.HasPrefix(l, "# changing file") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
