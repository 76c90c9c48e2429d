package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

func deploy(t *testing.T, s *env, apps ...marathon.App) {
	t.Helper()
	for _, a := range apps {
		if _, err := s.sim.CreateApp(a); err != nil {
			t.Fatal(err)
		}
	}
	waitDeployments(t, s)
}

func waitDeployments(t *testing.T, s *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.sim.WaitDeployments(ctx); err != nil {
		t.Fatal(err)
	}
}

func servicePort(t *testing.T, s *env, id string) int {
	t.Helper()
	a, ok := s.sim.App(id)
	if !ok || len(a.PortDefinitions) == 0 {
		t.Fatalf("app %s has no service port", id)
	}
	return a.PortDefinitions[0].Port
}

func taskIDs(s *env, id string) map[string]bool {
	a, _ := s.sim.App(id)
	out := map[string]bool{}
	for _, t := range a.Tasks {
		if t.State == marathon.TaskRunning {
			out[t.ID] = true
		}
	}
	return out
}

// TestOneShotSync is issue 2's whole-stack scenario: real HAProxy, real
// Data Plane API, the simulator, and the CLI as users run it.
func TestOneShotSync(t *testing.T) {
	s := newStack(t)
	web := marathon.App{ID: "/web", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example.com"}}
	api := marathon.App{ID: "/shop/api", Instances: 2, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example.com", "HAPROXY_0_PATH": "/api"}}
	db := marathon.App{ID: "/db", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_GROUP": "external"}}
	deploy(t, s, web, api, db)

	out := s.mustSync()
	t.Logf("first sync: %s", strings.TrimSpace(out))

	t.Run("service-port frontend", func(t *testing.T) {
		seen := tasksAnswering(t, servicePort(t, s, "/web"), "", "/", 5)
		if len(seen) != 1 {
			t.Fatalf("want 1 task, got %v", seen)
		}
	})
	t.Run("vhost routing", func(t *testing.T) {
		code, body, err := get(s.httpPort, "web.example.com", "/")
		if err != nil || code != 200 || !strings.Contains(body, "app=/web ") {
			t.Fatalf("got %d %v %q", code, err, body)
		}
	})
	t.Run("path routing wins over the plain vhost", func(t *testing.T) {
		code, body, err := get(s.httpPort, "web.example.com", "/api/items")
		if err != nil || code != 200 || !strings.Contains(body, "app=/shop/api ") {
			t.Fatalf("got %d %v %q", code, err, body)
		}
	})
	t.Run("unknown host gets 503 as in marathon-lb", func(t *testing.T) {
		code, _, err := get(s.httpPort, "nope.example.com", "/")
		if err != nil || code != 503 {
			t.Fatalf("got %d %v", code, err)
		}
	})
	t.Run("app id frontend", func(t *testing.T) {
		req := func() (int, string) {
			code, body, _ := getWithHeader(s.appIDPort, "X-Marathon-App-Id", "/shop/api")
			return code, body
		}
		if code, body := req(); code != 200 || !strings.Contains(body, "app=/shop/api ") {
			t.Fatalf("got %d %q", code, body)
		}
	})
	t.Run("tcp service", func(t *testing.T) {
		line, err := tcpBanner(servicePort(t, s, "/db"))
		if err != nil || !strings.Contains(line, "app=/db ") {
			t.Fatalf("banner %q %v", line, err)
		}
	})

	t.Run("second sync writes nothing and does not reload", func(t *testing.T) {
		v, r := s.version(), s.reloadCounter()
		out := s.mustSync()
		if !strings.Contains(out, "0 full, 0 transaction, 0 runtime steps") {
			t.Fatalf("second sync was not a no-op:\n%s", out)
		}
		if s.version() != v || s.reloadCounter() != r {
			t.Fatalf("version %d→%d, reloads %d→%d", v, s.version(), r, s.reloadCounter())
		}
		code, planOut := s.cli("plan")
		if code != 0 || !strings.Contains(planOut, "No changes") {
			t.Fatalf("plan: %d\n%s", code, planOut)
		}
	})

	t.Run("scale 1→5→2: traffic follows", func(t *testing.T) {
		port := servicePort(t, s, "/web")
		for _, n := range []int{5, 2} {
			if _, err := s.sim.ScaleApp("/web", n, false); err != nil {
				t.Fatal(err)
			}
			waitDeployments(t, s)
			s.mustSync()
			want := taskIDs(s, "/web")
			if len(want) != n {
				t.Fatalf("simulator has %d tasks, want %d", len(want), n)
			}
			seen := tasksAnswering(t, port, "", "/", 10*n)
			if len(seen) != n {
				t.Fatalf("scaled to %d: %d tasks answered: %v", n, len(seen), seen)
			}
			for id := range seen {
				if !want[id] {
					t.Fatalf("task %s answered but is not running", id)
				}
			}
		}
	})

	t.Run("a killed task leaves the backend", func(t *testing.T) {
		before := taskIDs(s, "/shop/api")
		var victim string
		for id := range before {
			victim = id
			break
		}
		if err := s.sim.KillTask(victim, true); err != nil {
			t.Fatal(err)
		}
		waitDeployments(t, s)
		s.mustSync()
		seen := tasksAnswering(t, s.httpPort, "web.example.com", "/api/x", 20)
		if seen[victim] > 0 || len(seen) != 1 {
			t.Fatalf("after killing %s: %v", victim, seen)
		}
	})

	t.Run("objects the tool does not own are untouched", func(t *testing.T) {
		var be struct {
			Data map[string]any `json:"data"`
		}
		s.dp("/services/haproxy/configuration/backends/operator_backend", &be)
		if be.Data["name"] != "operator_backend" {
			t.Fatalf("operator backend: %v", be.Data)
		}
		code, _, err := get(s.statsPort, "", "/_haproxy_health_check")
		if err != nil || code != 200 {
			t.Fatalf("stats frontend: %d %v", code, err)
		}
	})

	t.Run("a bad app is rejected and the others are synced", func(t *testing.T) {
		deploy(t, s, marathon.App{ID: "/bad", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
			Labels: map[string]string{"HAPROXY_0_BALANCE": "fastest"}},
			marathon.App{ID: "/good", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}}})
		code, out := s.cli("sync")
		if code != 2 || !strings.Contains(out, "app /bad port index 0: label HAPROXY_0_BALANCE") {
			t.Fatalf("want exit 2 naming the app, port and label, got %d:\n%s", code, out)
		}
		if line, err := tcpBanner(servicePort(t, s, "/good")); err != nil || !strings.Contains(line, "app=/good ") {
			t.Fatalf("good app not synced: %q %v", line, err)
		}
	})

	t.Run("an unreachable Marathon never empties the load balancer", func(t *testing.T) {
		s.sim.SetUnavailable(503)
		defer s.sim.SetUnavailable(0)
		v := s.version()
		code, out := s.cli("sync")
		if code != 1 {
			t.Fatalf("want exit 1, got %d:\n%s", code, out)
		}
		if s.version() != v {
			t.Fatal("configuration changed although Marathon was unreachable")
		}
		if _, body, err := get(s.httpPort, "web.example.com", "/"); err != nil || !strings.Contains(body, "app=/web ") {
			t.Fatalf("routing lost: %q %v", body, err)
		}
	})
}
