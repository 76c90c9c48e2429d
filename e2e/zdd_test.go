package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// zdd runs `marathon-dataplane zdd` against the stack and returns its exit
// code and output.
func (s *env) zdd(t *testing.T, def map[string]any, extra ...string) (int, string) {
	t.Helper()
	raw, _ := json.Marshal(def)
	path := filepath.Join(t.TempDir(), "app.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"zdd", "--json", path, "--marathon", s.sim.URL(), "--haproxy-socket", s.hap.Socket,
		"--force", "--step-delay", "200ms", "--max-wait", "20s", "--log-level", "info"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("zdd: %v", err)
	}
	return code, string(out)
}

// TestZDD is issue #6's scenario through real HAProxy and Data Plane API,
// the daemon (with --health-check) and the simulator: a 10-task app with
// two service ports (a task is drained when both its servers are) moves
// blue → green under a bounded load with no failed request; a traffic
// split 8:2 holds over 1,000 requests; --complete-prev goes back; a
// version whose health checks never pass is rolled back automatically,
// again with no failed request.
func TestZDD(t *testing.T) {
	s := newStack(t)
	s.daemon(t, "--health-check")
	port, alt := s.simPorts[1]-1, s.simPorts[1]
	def := func(version string, env map[string]any) map[string]any {
		e := map[string]any{"VERSION": version}
		for k, v := range env {
			e[k] = v
		}
		return map[string]any{
			"id": "/bg", "instances": 10, "cmd": "serve", "cpus": 0.1, "mem": 32,
			"env":             e,
			"portDefinitions": []any{map[string]any{"port": port, "protocol": "tcp"}, map[string]any{"port": 0, "protocol": "tcp"}},
			"healthChecks": []any{map[string]any{"protocol": "HTTP", "path": "/health", "portIndex": 0,
				"gracePeriodSeconds": 5, "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 30}},
			"labels": map[string]any{"HAPROXY_GROUP": "external", "HAPROXY_DEPLOYMENT_GROUP": "bg",
				"HAPROXY_DEPLOYMENT_ALT_PORT": fmt.Sprint(alt), "HAPROXY_0_MODE": "http"},
		}
	}
	appsServing := func(n int) map[string]int {
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			_, body, err := get(port, "bg.example.com", "/")
			if err != nil {
				seen["error"]++
				continue
			}
			for _, f := range strings.Fields(body) {
				if strings.HasPrefix(f, "app=") {
					seen[strings.TrimPrefix(f, "app=")]++
				}
			}
		}
		return seen
	}
	instances := func(id string) int {
		a, ok := s.sim.App(id)
		if !ok {
			return -1
		}
		return a.Instances
	}

	// The first deployment: blue with all 10 instances.
	if code, out := s.zdd(t, def("v1", nil), "--initial-instances", "10"); code != 0 {
		t.Fatalf("first deployment: exit %d\n%s", code, out)
	}
	waitDeployments(t, s)
	waitUntil(t, "blue serving on the service port", 30*time.Second, func() bool {
		seen := appsServing(20)
		return seen["/bg-blue"] == 20
	})

	load := startLoad(port, "bg.example.com", 2, 100_000)
	t.Cleanup(load.Stop)
	parent := t
	failed := func() int64 { return load.failed.Load() }

	t.Run("blue to green under load", func(t *testing.T) {
		start, before := time.Now(), failed()
		code, out := s.zdd(t, def("v2", nil))
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if instances("/bg-green") != 10 || instances("/bg-blue") != -1 {
			t.Fatalf("green %d instances, blue %d (want 10 and deleted)\n%s", instances("/bg-green"), instances("/bg-blue"), out)
		}
		if n := failed() - before; n != 0 {
			t.Fatalf("%d requests failed during the deployment", n)
		}
		t.Logf("blue → green: %s, %d requests sent so far, 0 failed", time.Since(start).Round(100*time.Millisecond), load.sent.Load())
	})

	t.Run("traffic split 8:2", func(t *testing.T) {
		before := failed()
		code, out := s.zdd(t, def("v3", nil), "--new-instances", "2")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if instances("/bg-blue") != 2 || instances("/bg-green") != 8 {
			t.Fatalf("blue %d, green %d instances, want 2 and 8\n%s", instances("/bg-blue"), instances("/bg-green"), out)
		}
		if n := failed() - before; n != 0 {
			t.Fatalf("%d requests failed", n)
		}
		// Measured without the background load, which shares the
		// round-robin counter.
		load.Stop()
		waitDeployments(t, s)
		waitUntil(t, "the split in place", 20*time.Second, func() bool {
			seen := appsServing(50)
			return seen["/bg-blue"] == 10 && seen["/bg-green"] == 40
		})
		seen := appsServing(1000)
		share := float64(seen["/bg-blue"]) / 1000
		if seen["error"] != 0 || share < 0.18 || share > 0.22 {
			t.Fatalf("over 1,000 requests: %v (new share %.3f, want 0.2 ± 10%%)", seen, share)
		}
		t.Logf("split over 1,000 requests: %v", seen)
		load = startLoad(port, "bg.example.com", 2, 100_000)
		parent.Cleanup(load.Stop)
	})

	t.Run("complete-prev rolls the split back", func(t *testing.T) {
		before := failed()
		code, out := s.zdd(t, def("v3", nil), "--complete-prev")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if instances("/bg-green") != 10 || instances("/bg-blue") != -1 {
			t.Fatalf("green %d, blue %d instances, want 10 and deleted\n%s", instances("/bg-green"), instances("/bg-blue"), out)
		}
		if n := failed() - before; n != 0 {
			t.Fatalf("%d requests failed", n)
		}
	})

	t.Run("a version that never turns healthy is rolled back", func(t *testing.T) {
		before := failed()
		code, out := s.zdd(t, def("v4", map[string]any{"MARATHONTEST_UNHEALTHY": "true"}), "--max-wait", "6s")
		if code != 2 || !strings.Contains(out, "rolled back") {
			t.Fatalf("exit %d, want 2 and a rollback\n%s", code, out)
		}
		if instances("/bg-green") != 10 || instances("/bg-blue") != -1 {
			t.Fatalf("green %d, blue %d instances after the rollback", instances("/bg-green"), instances("/bg-blue"))
		}
		if n := failed() - before; n != 0 {
			t.Fatalf("%d requests failed", n)
		}
		t.Logf("rolled back: %d requests during it, 0 failed", load.sent.Load())
	})
	load.Stop()
	t.Logf("load: %d requests, %d failed", load.sent.Load(), load.failed.Load())
}
