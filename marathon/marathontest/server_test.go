package marathontest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

func TestPingLeaderInfo(t *testing.T) {
	s := Started(t, Options{Leader: "marathon-1:8080"})
	resp, raw := call(t, "GET", s.URL()+"/ping", nil, nil)
	if resp.StatusCode != 200 || string(raw) != "pong" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("ping: %d %q %v", resp.StatusCode, raw, resp.Header)
	}
	var leader marathon.Leader
	getJSON(t, s.URL()+"/v2/leader", &leader)
	var info marathon.Info
	getJSON(t, s.URL()+"/v2/info", &info)
	if leader.Leader != "marathon-1:8080" || info.Leader != "marathon-1:8080" || !info.Elected || info.Name != "marathon" {
		t.Fatalf("leader %+v info %+v", leader, info)
	}
	d := Started(t, Options{})
	getJSON(t, d.URL()+"/v2/leader", &leader)
	if "http://"+leader.Leader != d.URL() {
		t.Fatalf("default leader %s, server %s", leader.Leader, d.URL())
	}
}

// TestUnavailable: like a Marathon without leader, every call is 503 and
// open event streams close; 0 restores service.
func TestUnavailable(t *testing.T) {
	s := Started(t, Options{})
	st := openStream(t, s, "")
	st.waitEvent(t, "event_stream_attached", nil)
	s.SetUnavailable(http.StatusServiceUnavailable)
	for _, p := range []string{"/v2/apps", "/ping", "/v2/info"} {
		var body map[string]any
		resp, _ := call(t, "GET", s.URL()+p, nil, &body)
		if resp.StatusCode != 503 || body["message"] != "Could not determine the current leader" {
			t.Fatalf("%s while unavailable: %d %v", p, resp.StatusCode, body)
		}
	}
	waitFor(t, "the stream to close", st.closed.Load)
	s.SetUnavailable(0)
	getJSON(t, s.URL()+"/v2/apps", &map[string]any{})
}

func TestBasicAuth(t *testing.T) {
	s := Started(t, Options{User: "ops", Password: "s3cret"})
	resp, _ := call(t, "GET", s.URL()+"/v2/apps", nil, nil)
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	for _, cred := range []struct {
		user, pass string
		want       int
	}{{"ops", "wrong", 401}, {"ops", "s3cret", 200}} {
		req, _ := http.NewRequest("GET", s.URL()+"/v2/apps", nil)
		req.SetBasicAuth(cred.user, cred.pass)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != cred.want {
			t.Fatalf("%s/%s: %d, want %d", cred.user, cred.pass, resp.StatusCode, cred.want)
		}
	}
}

// TestAppsQuery: embed, label selectors, id filter, sorting, no tasks key
// without embed, /v2/tasks with servicePorts and status filter.
func TestAppsQuery(t *testing.T) {
	s := Started(t, Options{})
	a := hostApp("/b/web", 1)
	a.Labels = map[string]string{"HAPROXY_GROUP": "external", "tier": "front"}
	c := hostApp("/a/db", 1)
	c.Labels = map[string]string{"tier": "back"}
	mustCreate(t, s, a)
	mustCreate(t, s, c)
	waitDeployments(t, s)

	var list struct{ Apps []map[string]any }
	getJSON(t, s.URL()+"/v2/apps", &list)
	if len(list.Apps) != 2 || list.Apps[0]["id"] != "/a/db" || list.Apps[1]["id"] != "/b/web" {
		t.Fatalf("apps not sorted: %v", list.Apps)
	}
	for _, app := range list.Apps {
		if _, ok := app["tasks"]; ok {
			t.Fatal("tasks without embed")
		}
		if deps, ok := app["deployments"].([]any); !ok || len(deps) != 0 || app["tasksRunning"] != 1.0 {
			t.Fatalf("counts/deployments: %v", app)
		}
	}
	for q, want := range map[string]string{
		"?label=HAPROXY_GROUP==external": "/b/web", "?label=tier%20in%20(back,middle)": "/a/db",
		"?label=tier!=front": "/a/db", "?label=HAPROXY_GROUP": "/b/web", "?id=WEB": "/b/web",
	} {
		getJSON(t, s.URL()+"/v2/apps"+q, &list)
		if len(list.Apps) != 1 || list.Apps[0]["id"] != want {
			t.Fatalf("%s: %v", q, list.Apps)
		}
	}
	getJSON(t, s.URL()+"/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure&embed=apps.taskStats&embed=apps.readiness", &list)
	for _, app := range list.Apps {
		tasks, _ := app["tasks"].([]any)
		if len(tasks) != 1 || app["taskStats"] == nil || app["readinessCheckResults"] == nil {
			t.Fatalf("embeds: %v", app)
		}
		if _, ok := tasks[0].(map[string]any)["servicePorts"]; ok {
			t.Fatal("servicePorts in embedded tasks (Marathon puts them in /v2/tasks only)")
		}
	}
	var tasks struct{ Tasks []marathon.Task }
	getJSON(t, s.URL()+"/v2/tasks?status=running", &tasks)
	if len(tasks.Tasks) != 2 || tasks.Tasks[0].Details == nil || len(tasks.Tasks[0].Details.ServicePorts) != 1 {
		t.Fatalf("/v2/tasks %+v", tasks.Tasks)
	}
	getJSON(t, s.URL()+"/v2/tasks?status=staging", &tasks)
	if len(tasks.Tasks) != 0 {
		t.Fatalf("staging tasks %+v", tasks.Tasks)
	}
	var versions struct{ Versions []string }
	getJSON(t, s.URL()+"/v2/apps/b/web/versions", &versions)
	if len(versions.Versions) != 1 {
		t.Fatalf("versions %v", versions)
	}
}

// TestTasksDelete is POST /v2/tasks/delete, with and without scale.
func TestTasksDelete(t *testing.T) {
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/x", 2))
	mustCreate(t, s, hostApp("/y", 2))
	waitDeployments(t, s)
	ids := []string{runningTasks(s, "/x")[0].ID, runningTasks(s, "/y")[0].ID}
	var res marathon.DeploymentResult
	resp, raw := call(t, "POST", s.URL()+"/v2/tasks/delete?scale=true", map[string]any{"ids": ids}, &res)
	if resp.StatusCode != 200 || res.DeploymentID == "" {
		t.Fatalf("delete with scale: %d %s", resp.StatusCode, raw)
	}
	waitDeployments(t, s)
	for _, id := range []string{"/x", "/y"} {
		if a, _ := s.App(id); a.Instances != 1 || len(a.Tasks) != 1 {
			t.Fatalf("%s after kill and scale: %d instances %d tasks", id, a.Instances, len(a.Tasks))
		}
	}
	var killed struct{ Tasks []marathon.Task }
	resp, raw = call(t, "POST", s.URL()+"/v2/tasks/delete", map[string]any{"ids": []string{runningTasks(s, "/x")[0].ID}}, &killed)
	if resp.StatusCode != 200 || len(killed.Tasks) != 1 {
		t.Fatalf("delete: %d %s", resp.StatusCode, raw)
	}
	resp, _ = call(t, "POST", s.URL()+"/v2/tasks/delete", map[string]any{"ids": []string{"garbage"}}, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("invalid id: %d", resp.StatusCode)
	}
}

// TestCloseReleasesEverything: after Close no task port answers and the
// goroutines the simulator started are gone.
func TestCloseReleasesEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	s := New(Options{KeepaliveInterval: 20 * time.Millisecond})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	app := hostApp("/a", 3)
	app.HealthChecks = []marathon.HealthCheck{{Protocol: "HTTP", Path: "/", PortIndex: ptr(0), IntervalSeconds: 1}}
	mustCreate(t, s, app)
	mustCreate(t, s, marathon.App{ID: "/c", Instances: 2, Networks: []marathon.Network{{Mode: "container"}},
		Container: &marathon.Container{PortMappings: []marathon.PortMapping{{ContainerPort: 7070}}}})
	waitDeployments(t, s)
	st := openStream(t, s, "")
	st.waitEvent(t, "event_stream_attached", nil)
	var addrs []string
	for _, a := range s.Apps() {
		for _, tk := range a.Tasks {
			for _, p := range tk.Ports {
				addrs = append(addrs, fmt.Sprintf("%s:%d", tk.Host, p))
			}
			if len(tk.Ports) == 0 {
				addrs = append(addrs, tk.IPAddresses[0].IPAddress+":7070")
			}
		}
	}
	if len(addrs) != 5 {
		t.Fatalf("addresses %v", addrs)
	}
	// a kill in flight and a slow request must not hold Close up
	go func() { _, _ = testClient.Get("http://" + addrs[1] + "/slow?ms=5000") }()
	_ = s.KillTask(s.Apps()[0].Tasks[0].ID, false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still accepts connections after Close", addr)
		}
	}
	if _, err := testClient.Get(s.URL() + "/ping"); err == nil {
		t.Fatal("API still answers after Close")
	}
	st.close()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base+2 })
	if _, err := s.CreateApp(hostApp("/late", 1)); err == nil {
		t.Fatal("CreateApp after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLoadApps(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"wrapped.json": `{"apps":[{"id":"/a","instances":2},{"id":"/b","healthChecks":[{"protocol":"TCP"}]}]}`,
		"list.json":    `[{"id":"/a","instances":2},{"id":"/b","healthChecks":[{"protocol":"TCP"}]}]`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		apps, err := LoadApps(p)
		if err != nil || len(apps) != 2 || apps[0].ID != "/a" || apps[0].Instances != 2 || apps[1].Instances != 1 ||
			apps[1].HealthChecks[0].GracePeriodSeconds != 300 || apps[1].HealthChecks[0].MaxConsecutiveFailures != 3 {
			t.Fatalf("%s: %+v %v", name, apps, err)
		}
	}
	p := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(p, []byte(`{"apps":`), 0o600)
	if _, err := LoadApps(p); err == nil {
		t.Fatal("bad file loaded")
	}
}
