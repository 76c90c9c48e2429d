package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

// zdd runs `marathon-dataplane zdd` against the stack with a short step
// delay and returns its exit code and output.
func (s *env) zdd(t *testing.T, app marathon.App, extra ...string) (int, string) {
	t.Helper()
	raw, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "app.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"zdd", "--marathon", s.sim.URL(), "--json", file, "--force", "--step-delay", "0.2", "--log-level", "info"}, extra...)
	code, out := run(t, 120*time.Second, args...)
	for _, line := range strings.Split(out, "\n") {
		// One line per step: what zdd decided, for the -v log.
		for _, step := range []string{"created", "scaled", "killed", "deleted", "split", "rolling", "rolled", "drain wait", "zdd done", "zdd failed"} {
			if strings.Contains(line, step) {
				t.Log(line)
				break
			}
		}
	}
	return code, out
}

// appOf extracts the app id a simulated task answered with.
func appOf(body string) string {
	for _, f := range strings.Fields(body) {
		if v, ok := strings.CutPrefix(f, "app="); ok {
			return v
		}
	}
	return ""
}

// groupApps lists the simulator's apps of a deployment group.
func groupApps(s *env, group string) map[string]int {
	out := map[string]int{}
	for _, id := range []string{"/web-blue", "/web-green"} {
		if a, ok := s.sim.App(id); ok && a.Labels["HAPROXY_DEPLOYMENT_GROUP"] == group {
			out[id] = a.Instances
		}
	}
	return out
}

// answering sends n requests and counts the answering apps (failing on any
// error or non-200).
func answering(t *testing.T, port int, host string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		code, body, err := get(port, host, "/")
		if err != nil || code != 200 {
			t.Fatalf("request %d: %d %v %q", i, code, err, body)
		}
		seen[appOf(body)]++
	}
	return seen
}

// TestZDD is issue 6's whole-stack scenario, on one stack and one daemon:
// a first deployment, a blue→green deployment of 10 tasks under load, a
// traffic split 8:2, --complete-prev rolling it back, and a version whose
// health checks never pass rolled back automatically; no request fails.
func TestZDD(t *testing.T) {
	s := newStack(t)
	port, alt := haproxytest.FreePort(t), haproxytest.FreePort(t)
	zero, grace := 0, 100 // 1 s at the simulator's TimeScale
	app := marathon.App{ID: "/web", Instances: 10, PortDefinitions: []marathon.PortDefinition{{Port: port}}, TaskKillGracePeriod: &grace,
		Env: map[string]any{"VERSION": "1"},
		Labels: map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": fmt.Sprint(alt),
			"HAPROXY_0_VHOST": "web.example.com"},
		HealthChecks: []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: &zero, IntervalSeconds: 1,
			TimeoutSeconds: 15, MaxConsecutiveFailures: 3, GracePeriodSeconds: 1}}}
	_, _ = s.daemon(t, "--health-check")
	const host = "web.example.com"

	code, out := s.zdd(t, app, "--haproxy-socket", s.hap.Socket)
	if code != 0 || !strings.Contains(out, `"outcome": "created"`) {
		t.Fatalf("first zdd exited %d:\n%s", code, out)
	}
	waitDeployments(t, s)
	routable(t, s, host, taskIDs(s, "/web-blue"))

	reloads := s.reloadCounter()
	// The load runs through every deployment; it pauses only while the
	// split is measured, so that round robin is not shared with it.
	var loads []*loadGen
	load := startLoad(s.httpPort, host, 4, 200000)
	loads = append(loads, load)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	check := func(t *testing.T, phase string) {
		t.Helper()
		var sent, failed int64
		var failures []string
		for _, l := range loads {
			sent, failed = sent+min(l.sent.Load(), 200000), failed+l.failed.Load()
			l.mu.Lock()
			failures = append(failures, l.failures...)
			l.mu.Unlock()
		}
		t.Logf("%s: %d requests so far, %d failed", phase, sent, failed)
		if failed != 0 {
			t.Fatalf("%d of %d requests failed, e.g.:\n%s", failed, sent, strings.Join(failures, "\n"))
		}
	}
	// onlyGreen checks that the group is /web-green's 10 tasks alone, all
	// routed, and that no request failed.
	onlyGreen := func(t *testing.T, phase string) {
		t.Helper()
		if got := groupApps(s, "web"); len(got) != 1 || got["/web-green"] != 10 {
			t.Fatalf("apps after %s: %v", phase, got)
		}
		waitDeployments(t, s)
		routable(t, s, host, taskIDs(s, "/web-green"))
		check(t, phase)
	}

	t.Run("blue to green under load", func(t *testing.T) {
		v2 := app
		v2.Env = map[string]any{"VERSION": "2"}
		// Long requests on the old tasks: their servers are drained, not
		// killed, until these end.
		slow := slowRequests(s.httpPort, host, 1500, 10)
		start := time.Now()
		code, out := s.zdd(t, v2, "--haproxy-socket", s.hap.Socket, "--max-wait", "20")
		if code != 0 {
			t.Fatalf("zdd exited %d:\n%s", code, out)
		}
		t.Logf("blue→green took %s", time.Since(start).Round(time.Millisecond))
		slow(t, "a 1.5 s request on an old task")
		onlyGreen(t, "blue→green")
	})

	t.Run("traffic split 8:2", func(t *testing.T) {
		v3 := app
		v3.Env = map[string]any{"VERSION": "3"}
		// The stats page this time, as marathon-lb's --marathon-lb.
		code, out := s.zdd(t, v3, "--marathon-lb", fmt.Sprintf("http://127.0.0.1:%d", s.statsPort), "--new-instances", "2", "--max-wait", "20")
		if code != 0 {
			t.Fatalf("zdd exited %d:\n%s", code, out)
		}
		if got := groupApps(s, "web"); got["/web-green"] != 8 || got["/web-blue"] != 2 {
			t.Fatalf("apps after the split: %v", got)
		}
		waitDeployments(t, s)
		want := taskIDs(s, "/web-green")
		for id := range taskIDs(s, "/web-blue") {
			want[id] = true
		}
		routable(t, s, host, want)
		check(t, "split")
		load.Stop()
		seen := answering(t, s.httpPort, host, 1000)
		load = startLoad(s.httpPort, host, 4, 200000)
		loads = append(loads, load)
		t.Logf("1000 requests: %v", seen)
		if n := seen["/web-blue"]; n < 180 || n > 220 {
			t.Fatalf("new colour answered %d of 1000, want 200 ±10%%: %v", n, seen)
		}
		if n := seen["/web-green"]; n < 720 || n > 880 {
			t.Fatalf("old colour answered %d of 1000, want 800 ±10%%: %v", n, seen)
		}
	})

	t.Run("complete-prev rolls the split back", func(t *testing.T) {
		code, out := s.zdd(t, app, "--haproxy-socket", s.hap.Socket, "--complete-prev", "--max-wait", "20")
		if code != 0 {
			t.Fatalf("zdd --complete-prev exited %d:\n%s", code, out)
		}
		onlyGreen(t, "complete-prev")
	})

	t.Run("a version that never gets healthy is rolled back", func(t *testing.T) {
		bad := app
		bad.Env = map[string]any{"VERSION": "4", marathontest.EnvUnhealthy: "true"}
		code, out := s.zdd(t, bad, "--haproxy-socket", s.hap.Socket, "--max-wait", "3")
		if code != 2 || !strings.Contains(out, "rolled back") {
			t.Fatalf("zdd of a failing version exited %d, want 2 and a rollback:\n%s", code, out)
		}
		onlyGreen(t, "failed version")
	})
	load.Stop()
	stopped = true
	check(t, "end")
	if n := s.reloadCounter() - reloads; n != 0 {
		t.Errorf("the deployments reloaded HAProxy %d times, want 0", n)
	}
}

// TestZDDSeveralPorts: an app with two service ports, the second one
// auto-assigned by Marathon, goes blue→green under load on both public
// ports: the old tasks are killed once drained in both backends, the
// second public port stays where it was (HAPROXY_1_PORT pinned), and
// HAProxy is not reloaded.
func TestZDDSeveralPorts(t *testing.T) {
	s := newStack(t)
	port, alt := haproxytest.FreePort(t), haproxytest.FreePort(t)
	zero, grace := 0, 100
	app := marathon.App{ID: "/api", Instances: 3, PortDefinitions: []marathon.PortDefinition{{Port: port}, {Port: 0}}, TaskKillGracePeriod: &grace,
		Labels: map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "api", "HAPROXY_DEPLOYMENT_ALT_PORT": fmt.Sprint(alt)},
		HealthChecks: []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: &zero, IntervalSeconds: 1,
			TimeoutSeconds: 15, MaxConsecutiveFailures: 3, GracePeriodSeconds: 1}}}
	_, _ = s.daemon(t, "--health-check")
	if code, out := s.zdd(t, app, "--haproxy-socket", s.hap.Socket); code != 0 {
		t.Fatalf("first zdd exited %d:\n%s", code, out)
	}
	waitDeployments(t, s)
	blue, _ := s.sim.App("/api-blue")
	second := blue.PortDefinitions[1].Port
	for _, p := range []int{port, second} {
		waitUntil(t, fmt.Sprintf("port %d routable", p), 20*time.Second, func() bool {
			code, _, err := get(p, "", "/")
			return err == nil && code == 200
		})
	}
	reloads := s.reloadCounter()
	loads := []*loadGen{startLoad(port, "", 2, 100000), startLoad(second, "", 2, 100000)}
	v2 := app
	v2.Env = map[string]any{"VERSION": "2"}
	code, out := s.zdd(t, v2, "--haproxy-socket", s.hap.Socket, "--max-wait", "20")
	if code != 0 {
		for _, l := range loads {
			l.Stop()
		}
		t.Fatalf("zdd exited %d:\n%s", code, out)
	}
	waitDeployments(t, s)
	time.Sleep(500 * time.Millisecond) // the LB's last passes, under load
	for _, l := range loads {
		l.Stop()
	}
	for i, l := range loads {
		if n := l.failed.Load(); n != 0 {
			t.Errorf("port index %d: %d of %d requests failed, e.g. %v", i, n, l.sent.Load(), l.failures)
		}
	}
	for i, p := range []int{port, second} {
		seen := tasksAnswering(t, p, "", "/", 20)
		for task := range seen {
			if !strings.HasPrefix(task, "api-green.") {
				t.Fatalf("port %d (index %d) answered by %s after the deployment", p, i, task)
			}
		}
	}
	t.Logf("load: %d and %d requests on the two ports, 0 failed", min(loads[0].sent.Load(), 100000), min(loads[1].sent.Load(), 100000))
	if n := s.reloadCounter() - reloads; n != 0 {
		t.Errorf("the deployment reloaded HAProxy %d times, want 0", n)
	}
	green, ok := s.sim.App("/api-green")
	if _, blueLeft := s.sim.App("/api-blue"); !ok || blueLeft || green.Labels["HAPROXY_1_PORT"] != fmt.Sprint(second) {
		t.Fatalf("after blue→green: green %v (labels %v), blue left %v", ok, green.Labels, blueLeft)
	}
}
