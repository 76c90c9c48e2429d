package marathontest

import (
	"bufio"
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

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// TestHealthChecks: the real HTTP check passes, SetTaskHealthy(false)
// flips it (health_status_changed_event, alive=false in the results,
// tasksUnhealthy), and past maxConsecutiveFailures Marathon kills the task
// (unhealthy_instance_kill_event) and starts a healthy replacement.
func TestHealthChecks(t *testing.T) {
	s := Started(t, Options{})
	st := openStream(t, s, "")
	app := hostApp("/checked", 1)
	app.HealthChecks = []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: ptr(0),
		IntervalSeconds: 5, GracePeriodSeconds: 0, MaxConsecutiveFailures: 3}}
	res := mustCreate(t, s, app)
	waitDeployments(t, s) // a deployment of an app with checks waits for healthy tasks
	st.waitEvent(t, "deployment_success", func(e event) bool { return e.str("id") == res.DeploymentID })
	a, _ := s.App("/checked")
	task := a.Tasks[0]
	if len(task.HealthCheckResults) != 1 || !task.HealthCheckResults[0].Alive || a.TasksHealthy != 1 {
		t.Fatalf("after deployment: %+v healthy=%d", task.HealthCheckResults, a.TasksHealthy)
	}
	up := st.waitEvent(t, "health_status_changed_event", nil)
	if up.Data["alive"] != true || up.str("appId") != "/checked" || !strings.HasPrefix(up.str("instanceId"), "checked.marathon-") {
		t.Fatalf("first health event %s", up.Raw)
	}

	if err := s.SetTaskHealthy(task.ID, false); err != nil {
		t.Fatal(err)
	}
	if code, _ := dialTask(t, task.Host, task.Ports[0], "/health"); code != 503 {
		t.Fatalf("unhealthy task answers %d on its health path", code)
	}
	if code, _ := dialTask(t, task.Host, task.Ports[0], "/other"); code != 200 {
		t.Fatalf("unhealthy task answers %d off its health path", code)
	}
	st.waitEvent(t, "health_status_changed_event", func(e event) bool { return e.Data["alive"] == false })
	waitFor(t, "alive=false in the results", func() bool {
		var body struct{ App marathon.App }
		getJSON(t, s.URL()+"/v2/apps/checked", &body)
		for _, tk := range body.App.Tasks {
			if tk.ID == task.ID && len(tk.HealthCheckResults) == 1 && !tk.HealthCheckResults[0].Alive {
				r := tk.HealthCheckResults[0]
				return body.App.TasksUnhealthy == 1 && r.ConsecutiveFailures >= 1 && r.LastFailureCause == "503 Service Unavailable"
			}
		}
		return false
	})
	kill := st.waitEvent(t, "unhealthy_instance_kill_event", nil)
	if kill.str("taskId") != task.ID || kill.str("reason") != "503 Service Unavailable" {
		t.Fatalf("kill event %s", kill.Raw)
	}
	st.waitEvent(t, "status_update_event", func(e event) bool {
		return e.str("taskId") == task.ID && e.str("taskStatus") == "TASK_KILLED"
	})
	waitFor(t, "a healthy replacement", func() bool {
		a, _ := s.App("/checked")
		return len(a.Tasks) == 1 && a.Tasks[0].ID != task.ID && a.TasksHealthy == 1
	})
}

// TestHealthResultsOnlyAfterFirstCheck: no healthCheckResults before the
// first check, and a failing task inside its grace period has none either.
func TestHealthResultsOnlyAfterFirstCheck(t *testing.T) {
	s := Started(t, Options{})
	app := hostApp("/slowcheck", 1)
	app.HealthChecks = []marathon.HealthCheck{{Protocol: "TCP", PortIndex: ptr(0), IntervalSeconds: 100, GracePeriodSeconds: 300}}
	mustCreate(t, s, app)
	waitFor(t, "running", func() bool { return len(runningTasks(s, "/slowcheck")) == 1 })
	if r := runningTasks(s, "/slowcheck")[0].HealthCheckResults; len(r) != 0 {
		t.Fatalf("results before the first check: %+v", r)
	}
	waitDeployments(t, s) // first TCP check after min(interval, 5s) = 50ms
	if r := runningTasks(s, "/slowcheck")[0].HealthCheckResults; len(r) != 1 || !r[0].Alive || r[0].FirstSuccess == "" {
		t.Fatalf("results after the first check: %+v", r)
	}
}

// TestRollingRestart: a config change replaces every task with one of the
// new version, never dropping below minimumHealthCapacity (default 1).
func TestRollingRestart(t *testing.T) {
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/roll", 3))
	waitDeployments(t, s)
	before, _ := s.App("/roll")
	st := openStream(t, s, "?event_type=status_update_event&event_type=deployment_success&event_type=deployment_info")

	var res marathon.DeploymentResult
	resp, raw := call(t, "PATCH", s.URL()+"/v2/apps/roll", map[string]any{"labels": map[string]any{"HAPROXY_GROUP": "internal"}}, &res)
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, raw)
	}
	info := st.waitEvent(t, "deployment_info", nil)
	if a := info.Data["currentStep"].(map[string]any)["actions"].([]any)[0].(map[string]any)["action"]; a != "RestartApplication" {
		t.Fatalf("action %v", a)
	}
	st.waitEvent(t, "deployment_success", func(e event) bool { return e.str("id") == res.DeploymentID })
	after, _ := s.App("/roll")
	if after.VersionInfo.LastConfigChangeAt != after.Version || after.Labels["HAPROXY_GROUP"] != "internal" {
		t.Fatalf("after restart: %+v %v", after.VersionInfo, after.Labels)
	}
	old := map[string]bool{}
	for _, tk := range before.Tasks {
		old[tk.ID] = true
	}
	if len(after.Tasks) != 3 {
		t.Fatalf("tasks after restart: %d", len(after.Tasks))
	}
	for _, tk := range after.Tasks {
		if old[tk.ID] || tk.Version != after.Version {
			t.Fatalf("task %s version %s survived the restart (app %s)", tk.ID, tk.Version, after.Version)
		}
	}
	running := 3
	for _, e := range st.all() {
		if e.Type != "status_update_event" {
			if e.Type != "deployment_success" && e.Type != "deployment_info" {
				t.Fatalf("the event_type filter let %s through", e.Type)
			}
			continue
		}
		switch e.str("taskStatus") {
		case "TASK_RUNNING":
			running++
		case "TASK_KILLING":
			running--
		}
		if running < 3 {
			t.Fatalf("capacity fell to %d during the restart: %v", running, types(st.all()))
		}
	}
}

// TestRestartAllAtOnce: minimumHealthCapacity 0 kills every old task first.
func TestRestartAllAtOnce(t *testing.T) {
	s := Started(t, Options{})
	app := hostApp("/fast", 2)
	app.UpgradeStrategy = &marathon.UpgradeStrategy{MinimumHealthCapacity: 0, MaximumOverCapacity: 0}
	mustCreate(t, s, app)
	waitDeployments(t, s)
	st := openStream(t, s, "?event_type=status_update_event")
	app.Cmd = "changed"
	if _, err := s.UpdateApp("/fast", app, false); err != nil {
		t.Fatal(err)
	}
	waitDeployments(t, s)
	evs := st.all()
	lastKilling, firstStaging := -1, -1
	for i, e := range evs {
		if e.str("taskStatus") == "TASK_KILLING" {
			lastKilling = i
		}
		if e.str("taskStatus") == "TASK_STAGING" && firstStaging < 0 {
			firstStaging = i
		}
	}
	if lastKilling < 0 || firstStaging < 0 || lastKilling > firstStaging {
		t.Fatalf("want both old tasks killed before a new one starts: %v", types(evs))
	}
}

// TestDeleteApp: the app is gone at once, its tasks go KILLING then
// KILLED and close, then app_terminated_event and deployment_success.
func TestDeleteApp(t *testing.T) {
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/gone", 2))
	waitDeployments(t, s)
	tasks := runningTasks(s, "/gone")
	st := openStream(t, s, "")
	var res marathon.DeploymentResult
	resp, raw := call(t, "DELETE", s.URL()+"/v2/apps/gone", nil, &res)
	if resp.StatusCode != 200 || res.DeploymentID == "" {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, raw)
	}
	var notFound map[string]any
	if resp, _ := call(t, "GET", s.URL()+"/v2/apps/gone", nil, &notFound); resp.StatusCode != 404 ||
		notFound["message"] != "App '/gone' does not exist" {
		t.Fatalf("GET deleted app: %d %v", resp.StatusCode, notFound)
	}
	st.waitEvent(t, "deployment_success", func(e event) bool { return e.str("id") == res.DeploymentID })
	var seq []string
	for _, e := range st.all() {
		switch e.Type {
		case "status_update_event":
			seq = append(seq, e.str("taskStatus"))
		case "app_terminated_event", "deployment_success", "deployment_info", "deployment_step_success":
			seq = append(seq, e.Type)
		}
	}
	want := "deployment_info TASK_KILLING TASK_KILLING TASK_KILLED TASK_KILLED app_terminated_event deployment_step_success deployment_success"
	if strings.Join(seq, " ") != want {
		t.Fatalf("events %v\nwant %s", seq, want)
	}
	for _, tk := range tasks {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tk.Ports[0]), time.Second); err == nil {
			c.Close()
			t.Fatalf("killed task port %d still open", tk.Ports[0])
		}
	}
	if apps := s.Apps(); len(apps) != 0 {
		t.Fatalf("apps left: %+v", apps)
	}
}

// TestDeploymentRollbackAndCancel: DELETE /v2/deployments/{id} deploys the
// app back to its version; ?force=true only stops the deployment (202).
func TestDeploymentRollbackAndCancel(t *testing.T) {
	s := Started(t, Options{StateDelay: 150 * time.Millisecond})
	mustCreate(t, s, hostApp("/rb", 1))
	waitDeployments(t, s)
	orig, _ := s.App("/rb")
	st := openStream(t, s, "?event_type=deployment_failed&event_type=deployment_success")

	res, err := s.ScaleApp("/rb", 3, false)
	if err != nil {
		t.Fatal(err)
	}
	var deps []map[string]any
	getJSON(t, s.URL()+"/v2/deployments", &deps)
	if len(deps) != 1 || deps[0]["id"] != res.DeploymentID {
		t.Fatalf("deployments %v", deps)
	}
	var rb marathon.DeploymentResult
	resp, raw := call(t, "DELETE", s.URL()+"/v2/deployments/"+res.DeploymentID, nil, &rb)
	if resp.StatusCode != 200 || rb.DeploymentID == "" || rb.DeploymentID == res.DeploymentID {
		t.Fatalf("rollback: %d %s", resp.StatusCode, raw)
	}
	st.waitEvent(t, "deployment_failed", func(e event) bool { return e.str("id") == res.DeploymentID })
	st.waitEvent(t, "deployment_success", func(e event) bool { return e.str("id") == rb.DeploymentID })
	a, _ := s.App("/rb")
	if a.Instances != 1 || a.Version != orig.Version || len(a.Tasks) != 1 {
		t.Fatalf("after rollback: instances %d version %s (want %s) tasks %d", a.Instances, a.Version, orig.Version, len(a.Tasks))
	}

	res, err = s.ScaleApp("/rb", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	resp, raw = call(t, "DELETE", s.URL()+"/v2/deployments/"+res.DeploymentID+"?force=true", nil, nil)
	if resp.StatusCode != http.StatusAccepted || len(raw) != 0 {
		t.Fatalf("cancel: %d %s", resp.StatusCode, raw)
	}
	st.waitEvent(t, "deployment_failed", func(e event) bool { return e.str("id") == res.DeploymentID })
	getJSON(t, s.URL()+"/v2/deployments", &deps)
	if len(deps) != 0 {
		t.Fatalf("deployments after cancel %v", deps)
	}
	resp, raw = call(t, "DELETE", s.URL()+"/v2/deployments/nope", nil, nil)
	if resp.StatusCode != 404 || !strings.Contains(string(raw), "DeploymentPlan nope does not exist") {
		t.Fatalf("unknown deployment: %d %s", resp.StatusCode, raw)
	}
}

// TestValidationAndErrors: Marathon's statuses and bodies for bad input.
func TestValidationAndErrors(t *testing.T) {
	s := Started(t, Options{})
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"syntax", "POST", "/v2/apps", `{"id":`, 400, `"message":"Invalid JSON"`},
		{"bad id", "POST", "/v2/apps", `{"id":"/Bad_Id","cmd":"x"}`, 422, `{"details":[{"errors":["error.pattern"],"path":"/id"}],"message":"Invalid JSON"}`},
		{"no id", "POST", "/v2/apps", `{"cmd":"x"}`, 422, `"path":"/id"`},
		{"negative instances", "POST", "/v2/apps", `{"id":"/a","instances":-1}`, 422, `"errors":["error.min"],"path":"/instances"`},
		{"wrong type", "POST", "/v2/apps", `{"id":"/a","instances":"3"}`, 422, `"errors":["error.expected.jsnumber"],"path":"/instances"`},
		{"reserved", "POST", "/v2/apps", `{"id":"/a/tasks"}`, 422, `"message":"Object is not valid"`},
		{"bad port index", "POST", "/v2/apps", `{"id":"/a","healthChecks":[{"portIndex":3}]}`, 422, `"path":"/healthChecks(0)"`},
		{"unknown app", "GET", "/v2/apps/nope", ``, 404, `{"message":"App '/nope' does not exist"}`},
		{"patch unknown", "PATCH", "/v2/apps/nope", `{"instances":1}`, 404, `{"message":"App '/nope' does not exist"}`},
		{"create", "POST", "/v2/apps", `{"id":"dup","instances":0}`, 201, `"id":"/dup"`},
		{"duplicate", "POST", "/v2/apps", `{"id":"/dup"}`, 409, `{"message":"An app with id [/dup] already exists."}`},
		{"put creates", "PUT", "/v2/apps/made", `{"instances":0,"cmd":"x"}`, 201, `"deploymentId"`},
		{"put updates", "PUT", "/v2/apps/made?force=true", `{"instances":0}`, 200, `"deploymentId"`},
		{"label selector", "GET", "/v2/apps?label=a%20in%20(", ``, 422, `Can not parse label selector`},
		{"events need Accept", "GET", "/v2/events", ``, 405, `not supported`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			resp, raw := call(t, c.method, s.URL()+c.path, body, nil)
			if resp.StatusCode != c.status || !strings.Contains(string(raw), c.want) {
				t.Fatalf("%s %s: %d %s, want %d with %s", c.method, c.path, resp.StatusCode, raw, c.status, c.want)
			}
		})
	}
	if a, ok := s.App("made"); !ok || a.Cmd != "x" {
		t.Fatalf("partial PUT lost cmd: %+v", a)
	}
	if _, err := s.CreateApp(marathon.App{ID: "/Bad"}); err == nil {
		t.Fatal("direct CreateApp accepted a bad id")
	}
}

// TestNetworking: bridge tasks report their host ports; IP-per-task tasks
// get their own loopback IP and listen on the container port; health checks
// reach them there.
func TestNetworking(t *testing.T) {
	s := Started(t, Options{ServicePortMin: 30000, ServicePortMax: 30100})
	bridge := marathon.App{ID: "/bridge", Instances: 1, Networks: []marathon.Network{{Mode: "container/bridge"}},
		Container: &marathon.Container{Type: "DOCKER", Docker: &marathon.Docker{Image: "nginx"},
			PortMappings: []marathon.PortMapping{{ContainerPort: 80, HostPort: ptr(0)}}}}
	container := marathon.App{ID: "/ippt", Instances: 2, Networks: []marathon.Network{{Mode: "container", Name: "dcos"}},
		Container:    &marathon.Container{Type: "MESOS", PortMappings: []marathon.PortMapping{{ContainerPort: 8080, Name: "http"}}},
		HealthChecks: []marathon.HealthCheck{{Protocol: "MESOS_HTTP", Path: "/", PortIndex: ptr(0), IntervalSeconds: 1, DelaySeconds: 1}}}
	legacy := marathon.App{ID: "/legacy", Instances: 1, IPAddress: &marathon.IPAddress{NetworkName: "dcos",
		Discovery: &marathon.IPDiscovery{Ports: []marathon.IPDiscoveryPort{{Number: 9090, Name: "http", Protocol: "tcp"}}}}}
	for _, a := range []marathon.App{bridge, container, legacy} {
		mustCreate(t, s, a)
	}
	waitDeployments(t, s)

	b, _ := s.App("/bridge")
	sp := b.Container.PortMappings[0].ServicePort
	if sp == nil || *sp < 30000 || *sp >= 30100 || len(b.Tasks[0].Ports) != 1 {
		t.Fatalf("bridge app: servicePort %v task %+v", sp, b.Tasks[0])
	}
	if code, body := dialTask(t, b.Tasks[0].Host, b.Tasks[0].Ports[0], "/"); code != 200 || !strings.Contains(body, "app=/bridge ") {
		t.Fatalf("bridge task: %d %q", code, body)
	}

	c, _ := s.App("/ippt")
	ips := map[string]bool{}
	for _, tk := range c.Tasks {
		ip := tk.IPAddresses[0].IPAddress
		if !strings.HasPrefix(ip, "127.0.1.") || tk.Host != "127.0.0.1" || len(tk.Ports) != 0 || ips[ip] {
			t.Fatalf("IP-per-task task %+v", tk)
		}
		ips[ip] = true
		if code, body := dialTask(t, ip, 8080, "/"); code != 200 || !strings.Contains(body, "task="+tk.ID) {
			t.Fatalf("task %s on %s:8080: %d %q", tk.ID, ip, code, body)
		}
		if len(tk.HealthCheckResults) != 1 || !tk.HealthCheckResults[0].Alive {
			t.Fatalf("IP-per-task health %+v", tk.HealthCheckResults)
		}
	}

	l, _ := s.App("/legacy")
	ip := l.Tasks[0].IPAddresses[0].IPAddress
	if code, _ := dialTask(t, ip, 9090, "/"); code != 200 {
		t.Fatalf("legacy ipAddress task on %s:9090: %d", ip, code)
	}
}

// TestTCPBanner: a client that sends nothing gets the task's banner line.
func TestTCPBanner(t *testing.T) {
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/tcp", 1))
	waitDeployments(t, s)
	tk := runningTasks(s, "/tcp")[0]
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tk.Ports[0]), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != fmt.Sprintf("app=/tcp task=%s port=0\n", tk.ID) {
		t.Fatalf("banner %q %v", line, err)
	}
}

// TestKillDrainsInFlight: a killed task refuses new connections but lets
// an in-flight /slow request finish within its kill grace period.
func TestKillDrainsInFlight(t *testing.T) {
	s := Started(t, Options{})
	app := hostApp("/drain", 1)
	app.TaskKillGracePeriod = ptr(200) // 2s at the default TimeScale
	mustCreate(t, s, app)
	waitDeployments(t, s)
	tk := runningTasks(s, "/drain")[0]
	url := fmt.Sprintf("http://127.0.0.1:%d/slow?ms=300", tk.Ports[0])
	var wg sync.WaitGroup
	var code int
	var body string
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := testClient.Get(url)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		code, body = resp.StatusCode, string(raw)
	}()
	time.Sleep(50 * time.Millisecond) // let the request reach the task
	if err := s.KillTask(tk.ID, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tk.Ports[0]), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	wg.Wait()
	if code != 200 || !strings.Contains(body, "path=/slow") {
		t.Fatalf("in-flight request: %d %q", code, body)
	}
	waitDeployments(t, s)
}

// TestRestartVersionsAndReplace: POST /restart restarts every task with a
// new version; PUT {"version": v} rolls back to a stored version;
// partialUpdate=false replaces the whole definition; scaling to zero with a
// config change is a ScaleApplication.
func TestRestartVersionsAndReplace(t *testing.T) {
	s := Started(t, Options{})
	st := openStream(t, s, "?event_type=deployment_info")
	app := hostApp("/v", 1)
	app.Cmd = "one"
	mustCreate(t, s, app)
	waitDeployments(t, s)
	v1, _ := s.App("/v")

	var res marathon.DeploymentResult
	if resp, raw := call(t, "POST", s.URL()+"/v2/apps/v/restart", nil, &res); resp.StatusCode != 200 {
		t.Fatalf("restart: %d %s", resp.StatusCode, raw)
	}
	waitDeployments(t, s)
	v2, _ := s.App("/v")
	if v2.Version == v1.Version || v2.VersionInfo.LastConfigChangeAt != v2.Version || v2.Tasks[0].ID == v1.Tasks[0].ID {
		t.Fatalf("after restart: %s %+v task %s", v2.Version, v2.VersionInfo, v2.Tasks[0].ID)
	}

	if resp, raw := call(t, "PUT", s.URL()+"/v2/apps/v?partialUpdate=false", map[string]any{"cmd": "two", "instances": 2}, &res); resp.StatusCode != 200 {
		t.Fatalf("replace: %d %s", resp.StatusCode, raw)
	}
	waitDeployments(t, s)
	v3, _ := s.App("/v")
	if v3.Cmd != "two" || v3.Instances != 2 || len(v3.Tasks) != 2 || v3.PortDefinitions[0].Port != v1.PortDefinitions[0].Port {
		t.Fatalf("after replace: %+v", v3)
	}

	if resp, raw := call(t, "PUT", s.URL()+"/v2/apps/v", map[string]any{"version": v1.Version}, &res); resp.StatusCode != 200 {
		t.Fatalf("rollback to %s: %d %s", v1.Version, resp.StatusCode, raw)
	}
	waitDeployments(t, s)
	back, _ := s.App("/v")
	if back.Cmd != "one" || back.Instances != 1 || len(back.Tasks) != 1 {
		t.Fatalf("after rollback: %+v", back)
	}
	var versions struct{ Versions []string }
	getJSON(t, s.URL()+"/v2/apps/v/versions", &versions)
	if len(versions.Versions) != 3 || versions.Versions[2] != v1.Version {
		t.Fatalf("versions %v", versions.Versions)
	}
	var old map[string]any
	getJSON(t, s.URL()+"/v2/apps/v/versions/"+v1.Version, &old)
	if old["cmd"] != "one" || old["version"] != v1.Version {
		t.Fatalf("version %s: %v", v1.Version, old)
	}

	if resp, raw := call(t, "PATCH", s.URL()+"/v2/apps/v", map[string]any{"cmd": "three", "instances": 0}, &res); resp.StatusCode != 200 {
		t.Fatalf("patch: %d %s", resp.StatusCode, raw)
	}
	waitDeployments(t, s)
	var actions []string
	for _, e := range st.all() {
		actions = append(actions, e.Data["currentStep"].(map[string]any)["actions"].([]any)[0].(map[string]any)["action"].(string))
	}
	want := []string{"StartApplication", "ScaleApplication", "RestartApplication", "RestartApplication", "RestartApplication", "ScaleApplication"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("actions %v, want %v", actions, want)
	}
}

// TestHandlerWithoutStart: Handler serves on any server (here httptest).
func TestHandlerWithoutStart(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var leader marathon.Leader
	getJSON(t, srv.URL+"/v2/leader", &leader)
	if "http://"+leader.Leader != srv.URL {
		t.Fatalf("leader %q on %s", leader.Leader, srv.URL)
	}
}

// TestUpdateAppFromSnapshot: a snapshot from App, changed and given back to
// UpdateApp, deploys the change (its version field is not a rollback).
func TestUpdateAppFromSnapshot(t *testing.T) {
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/snap", 1))
	waitDeployments(t, s)
	a, _ := s.App("/snap")
	a.Labels = map[string]string{"HAPROXY_0_VHOST": "snap.example.com"}
	if _, err := s.UpdateApp("/snap", a, false); err != nil {
		t.Fatal(err)
	}
	waitDeployments(t, s)
	b, _ := s.App("/snap")
	if b.Labels["HAPROXY_0_VHOST"] != "snap.example.com" || b.Version == a.Version || b.PortDefinitions[0].Port != a.PortDefinitions[0].Port {
		t.Fatalf("after UpdateApp: %+v", b)
	}
	resp, raw := call(t, "PATCH", s.URL()+"/v2/apps/snap", map[string]any{"version": a.Version, "cmd": "x"}, nil)
	if resp.StatusCode != 422 || !strings.Contains(string(raw), "may only be combined with the 'id' field") {
		t.Fatalf("version with other fields: %d %s", resp.StatusCode, raw)
	}
}

// TestUnhealthyVersion: an app with MARATHONTEST_UNHEALTHY=true runs tasks
// whose health path answers 503, so the check never passes and the
// deployment stays in progress (what zdd rolls back), while other paths
// still answer.
func TestUnhealthyVersion(t *testing.T) {
	s := Started(t, Options{})
	app := hostApp("/broken", 1)
	app.Env = map[string]any{EnvUnhealthy: "true"}
	app.HealthChecks = []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: ptr(0),
		IntervalSeconds: 1, TimeoutSeconds: 15, MaxConsecutiveFailures: 0, GracePeriodSeconds: 0}}
	mustCreate(t, s, app)
	var task marathon.Task
	waitFor(t, "a running task", func() bool {
		ts := runningTasks(s, "/broken")
		if len(ts) == 0 {
			return false
		}
		task = ts[0]
		return true
	})
	if code, _ := dialTask(t, task.Host, task.Ports[0], "/health"); code != 503 {
		t.Fatalf("health path answered %d, want 503", code)
	}
	if code, _ := dialTask(t, task.Host, task.Ports[0], "/"); code != 200 {
		t.Fatalf("other path answered %d, want 200", code)
	}
	time.Sleep(300 * time.Millisecond) // 30 check intervals
	a, _ := s.App("/broken")
	if len(a.Deployments) != 1 || a.TasksHealthy != 0 {
		t.Fatalf("after 30 failed checks: deployments %v, healthy %d", a.Deployments, a.TasksHealthy)
	}
}

// TestTasksWithoutListeners: MARATHONTEST_NO_LISTENERS=true tasks run
// through the usual states with distinct host ports in 61000-65535, and
// nothing answers on them; the deployment completes.
func TestTasksWithoutListeners(t *testing.T) {
	s := Started(t, Options{})
	app := hostApp("/quiet", 3)
	app.Env = map[string]any{EnvNoListeners: "true"}
	mustCreate(t, s, app)
	waitFor(t, "3 running tasks and no deployment", func() bool {
		a, _ := s.App("/quiet")
		return len(runningTasks(s, "/quiet")) == 3 && len(a.Deployments) == 0
	})
	seen := map[int]bool{}
	for _, task := range runningTasks(s, "/quiet") {
		p := task.Ports[0]
		if p < 61000 || p > 65535 || seen[p] {
			t.Fatalf("task %s port %d: want distinct ports in 61000-65535", task.ID, p)
		}
		seen[p] = true
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(task.Host, strconv.Itoa(p)), time.Second); err == nil {
			c.Close()
			t.Fatalf("task %s: something answers on %d", task.ID, p)
		}
	}
}
