package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// TestHAProxyHead: a marathon-lb HAPROXY_HEAD override reaches the running
// HAProxy through one full commit (and an HTTP_FRONTEND_HEAD override the
// shared frontend), and stays in place, without a reload
// of its own, while task churn (runtime path) and backend changes (a
// transaction, after which the Data Plane API re-renders the whole file)
// follow.
func TestHAProxyHead(t *testing.T) {
	s := newStack(t)
	web := marathon.App{ID: "/web", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example.com"}}
	deploy(t, s, web)

	dir := filepath.Dir(s.hap.Socket)
	head := fmt.Sprintf(`global
    stats socket %s mode 600 level admin expose-fd listeners
    server-state-file %s/server-state
    maxconn 4242
defaults
    mode http
    load-server-state-from-file global
    retries 3
    option redispatch 1
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout queue 7s
`, s.hap.Socket, dir)
	// The shared :80 frontend's head, overridden as marathon-lb users do.
	httpHead := fmt.Sprintf("frontend marathon_http_in\n  bind 127.0.0.1:%d\n  mode http\n  http-request set-header X-Shared-Head yes\n", s.httpPort)
	templates := t.TempDir()
	for name, text := range map[string]string{"HAPROXY_HEAD": head, "HAPROXY_HTTP_FRONTEND_HEAD": httpHead} {
		if err := os.WriteFile(filepath.Join(templates, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		code, out := s.cli(append(args, "--templates-dir", templates)...)
		if code != 0 {
			t.Fatalf("%s exited %d:\n%s", args[0], code, out)
		}
		return out
	}
	inSync := func(when string) {
		t.Helper()
		if out := run("plan"); !strings.Contains(out, "No changes") {
			var raw struct{ Data string }
			s.dp("/services/haproxy/configuration/raw", &raw)
			t.Fatalf("%s: the head is planned again:\n%s\nconfiguration:\n%s", when, out, raw.Data)
		}
	}

	run("sync")
	rt, err := runtimeapi.New(s.hap.Socket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rt.Execute(context.Background(), "show info")
	if err != nil || !strings.Contains(info, "\nMaxconn: 4242\n") {
		t.Fatalf("show info after the head was applied (%v):\n%s", err, info)
	}
	if code, body, err := get(s.httpPort, "web.example.com", "/header?name=X-Shared-Head"); err != nil || code != 200 || !strings.Contains(body, "X-Shared-Head=yes") {
		t.Fatalf("through HAProxy, the head's header at the task: %d %v %q", code, err, body)
	}
	inSync("after the head's commit")

	// Task churn: runtime path, no reload, the head untouched.
	reloads := s.reloadCounter()
	if _, err := s.sim.ScaleApp("/web", 3, false); err != nil {
		t.Fatal(err)
	}
	waitDeployments(t, s)
	run("sync")
	if got := s.reloadCounter(); got != reloads {
		t.Fatalf("scaling reloaded HAProxy: reloads %d→%d", reloads, got)
	}
	inSync("after task churn")

	// A backend change is a transaction; its commit re-renders the file.
	a, _ := s.sim.App("/web")
	a.Labels["HAPROXY_0_BALANCE"] = "leastconn"
	if _, err := s.sim.UpdateApp("/web", a, false); err != nil {
		t.Fatal(err)
	}
	waitDeployments(t, s)
	run("sync")
	inSync("after a transaction re-rendered the file")
	if info, _ := rt.Execute(context.Background(), "show info"); !strings.Contains(info, "\nMaxconn: 4242\n") {
		t.Fatalf("head lost after the transaction:\n%s", info)
	}
	t.Logf("head applied once; reloads %d→%d across scale and a backend change", reloads, s.reloadCounter())
}
