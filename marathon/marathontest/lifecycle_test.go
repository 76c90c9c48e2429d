package marathontest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// TestCreateAppEventsAndRealTasks: a 3-instance app goes through Marathon's
// events in order and its tasks are real servers answering with their ids.
func TestCreateAppEventsAndRealTasks(t *testing.T) {
	s := Started(t, Options{})
	st := openStream(t, s, "")
	st.waitEvent(t, "event_stream_attached", nil)

	var created map[string]any
	resp, raw := call(t, "POST", s.URL()+"/v2/apps", map[string]any{
		"id": "/shop/web", "instances": 3, "cmd": "serve", "portDefinitions": []any{map[string]any{"port": 0}, map[string]any{"port": 0}},
		"labels": map[string]any{"HAPROXY_GROUP": "external"},
	}, &created)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, raw)
	}
	depID := resp.Header.Get("Marathon-Deployment-Id")
	if depID == "" || resp.Header.Get("Location") == "" {
		t.Fatalf("headers: %v", resp.Header)
	}
	if deps, _ := created["deployments"].([]any); len(deps) != 1 || deps[0].(map[string]any)["id"] != depID {
		t.Fatalf("created app deployments: %v (header %s)", created["deployments"], depID)
	}
	if created["version"] == nil || created["tasksRunning"] != 0.0 {
		t.Fatalf("created app: %s", raw)
	}
	st.waitEvent(t, "deployment_success", func(e event) bool { return e.str("id") == depID })

	// Order: api_post_event, deployment_info, ..., status updates, step
	// success, deployment_success; each task STAGING < STARTING < RUNNING.
	evs := st.all()
	idx := func(typ string, match func(event) bool) int {
		return slices.IndexFunc(evs, func(e event) bool { return e.Type == typ && (match == nil || match(e)) })
	}
	post, info, success := idx("api_post_event", nil), idx("deployment_info", nil), idx("deployment_success", nil)
	if post < 0 || info < 0 || post > info || success != len(evs)-1 && evs[len(evs)-1].Type != "deployment_success" {
		t.Fatalf("event order: %v", types(evs))
	}
	seq := map[string][]string{}
	for i, e := range evs {
		if e.Type == "status_update_event" {
			if i < info || i > success {
				t.Fatalf("status update outside the deployment: %v", types(evs))
			}
			seq[e.str("taskId")] = append(seq[e.str("taskId")], e.str("taskStatus"))
		}
	}
	if len(seq) != 3 {
		t.Fatalf("want 3 tasks in status updates, got %v", seq)
	}
	for id, states := range seq {
		if !slices.Equal(states, []string{"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"}) {
			t.Fatalf("task %s states %v", id, states)
		}
		if !strings.HasPrefix(id, "shop_web.") {
			t.Fatalf("task id %s: want shop_web.<uuid>", id)
		}
	}
	var steps []string
	for _, e := range evs {
		if e.Type == "deployment_info" || e.Type == "deployment_step_success" {
			acts := e.Data["currentStep"].(map[string]any)["actions"].([]any)
			steps = append(steps, e.Type+":"+acts[0].(map[string]any)["action"].(string))
		}
	}
	want := []string{"deployment_info:StartApplication", "deployment_step_success:StartApplication",
		"deployment_info:ScaleApplication", "deployment_step_success:ScaleApplication"}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}

	// Really dial every port of every task.
	var app struct{ App marathon.App }
	getJSON(t, s.URL()+"/v2/apps/shop/web", &app)
	if len(app.App.Tasks) != 3 || app.App.TasksRunning != 3 {
		t.Fatalf("tasks: %+v", app.App.Tasks)
	}
	for _, task := range app.App.Tasks {
		if task.Host != "127.0.0.1" || len(task.Ports) != 2 {
			t.Fatalf("task %+v", task)
		}
		for i, p := range task.Ports {
			code, body := dialTask(t, task.Host, p, "/hello")
			if code != 200 || !strings.Contains(body, fmt.Sprintf("app=/shop/web task=%s port=%d\n", task.ID, i)) ||
				!strings.Contains(body, "path=/hello") {
				t.Fatalf("task %s port %d: %d %q", task.ID, p, code, body)
			}
		}
	}
}

func types(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
		if e.Type == "status_update_event" {
			out[i] += ":" + e.str("taskStatus")
		}
	}
	return out
}

// TestScale: 3 -> 5 -> 2, youngest killed first, lastScalingAt moves alone.
func TestScale(t *testing.T) {
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/web", 3))
	waitDeployments(t, s)
	before, _ := s.App("/web")
	first := map[string]bool{}
	for _, task := range before.Tasks {
		first[task.ID] = true
	}

	if _, err := s.ScaleApp("/web", 5, false); err != nil {
		t.Fatal(err)
	}
	waitDeployments(t, s)
	if n := len(runningTasks(s, "/web")); n != 5 {
		t.Fatalf("after scale to 5: %d running", n)
	}
	if _, err := s.ScaleApp("/web", 2, false); err != nil {
		t.Fatal(err)
	}
	waitDeployments(t, s)
	after, _ := s.App("/web")
	if len(after.Tasks) != 2 || after.Instances != 2 {
		t.Fatalf("after scale to 2: %d tasks, instances %d", len(after.Tasks), after.Instances)
	}
	for _, task := range after.Tasks {
		if !first[task.ID] {
			t.Fatalf("scale down kept a young task %s (YOUNGEST_FIRST)", task.ID)
		}
	}
	if after.Version == before.Version || after.VersionInfo.LastScalingAt != after.Version ||
		after.VersionInfo.LastConfigChangeAt != before.VersionInfo.LastConfigChangeAt {
		t.Fatalf("versions: before %s %+v, after %s %+v", before.Version, before.VersionInfo, after.Version, after.VersionInfo)
	}
}

// TestKillTask: without scale a replacement starts; with scale instances
// drop and a ScaleApplication deployment runs.
func TestKillTask(t *testing.T) {
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/web", 2))
	waitDeployments(t, s)
	victim := runningTasks(s, "/web")[0]

	var one map[string]any
	resp, raw := call(t, "DELETE", s.URL()+"/v2/apps/web/tasks/"+victim.ID, nil, &one)
	if resp.StatusCode != 200 || one["task"].(map[string]any)["id"] != victim.ID {
		t.Fatalf("kill: %d %s", resp.StatusCode, raw)
	}
	waitFor(t, "a replacement", func() bool {
		ts := runningTasks(s, "/web")
		return len(ts) == 2 && ts[0].ID != victim.ID && ts[1].ID != victim.ID
	})
	a, _ := s.App("/web")
	if a.Instances != 2 {
		t.Fatalf("instances %d", a.Instances)
	}

	victim = runningTasks(s, "/web")[1]
	var res marathon.DeploymentResult
	resp, raw = call(t, "DELETE", s.URL()+"/v2/apps/web/tasks/"+victim.ID+"?scale=true", nil, &res)
	if resp.StatusCode != 200 || res.DeploymentID == "" || resp.Header.Get("Marathon-Deployment-Id") != res.DeploymentID {
		t.Fatalf("kill and scale: %d %s", resp.StatusCode, raw)
	}
	waitDeployments(t, s)
	a, _ = s.App("/web")
	if a.Instances != 1 || len(a.Tasks) != 1 || a.Tasks[0].ID == victim.ID {
		t.Fatalf("after kill and scale: instances %d tasks %+v", a.Instances, a.Tasks)
	}

	if err := s.KillTask("nope.123", false); err == nil {
		t.Fatal("unknown task killed")
	}
}

// TestCrashTask: the process dies (port closed), TASK_FAILED, a new task.
func TestCrashTask(t *testing.T) {
	s := Started(t, Options{})
	st := openStream(t, s, "?event_type=status_update_event")
	mustCreate(t, s, hostApp("/web", 1))
	waitDeployments(t, s)
	victim := runningTasks(s, "/web")[0]
	if err := s.CrashTask(victim.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := testClient.Get(fmt.Sprintf("http://127.0.0.1:%d/", victim.Ports[0])); err == nil {
		t.Fatal("a crashed task still answers")
	}
	st.waitEvent(t, "status_update_event", func(e event) bool {
		return e.str("taskId") == victim.ID && e.str("taskStatus") == "TASK_FAILED"
	})
	waitFor(t, "a replacement", func() bool {
		ts := runningTasks(s, "/web")
		return len(ts) == 1 && ts[0].ID != victim.ID
	})
	var app struct{ App map[string]any }
	getJSON(t, s.URL()+"/v2/apps/web", &app)
	ltf, _ := app.App["lastTaskFailure"].(map[string]any)
	if ltf["taskId"] != victim.ID || ltf["state"] != "TASK_FAILED" {
		t.Fatalf("lastTaskFailure %v", ltf)
	}
}

// TestLockAndForce: a second change during a deployment is 409 with
// Marathon's message; force=true cancels the first (deployment_failed).
func TestLockAndForce(t *testing.T) {
	s := Started(t, Options{})
	st := openStream(t, s, "?event_type=deployment_failed")
	// A health check that fails keeps the deployment running.
	app := hostApp("/locked", 1)
	app.HealthChecks = []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: ptr(0), IntervalSeconds: 1, GracePeriodSeconds: 300}}
	res := mustCreate(t, s, app)
	waitFor(t, "a running task", func() bool { return len(runningTasks(s, "/locked")) == 1 })
	_ = s.SetTaskHealthy(runningTasks(s, "/locked")[0].ID, false)

	var body map[string]any
	resp, raw := call(t, "PATCH", s.URL()+"/v2/apps/locked", map[string]any{"instances": 2}, &body)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("PATCH during deployment: %d %s", resp.StatusCode, raw)
	}
	want := "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'."
	deps, _ := body["deployments"].([]any)
	if body["message"] != want || len(deps) != 1 || deps[0].(map[string]any)["id"] != res.DeploymentID {
		t.Fatalf("409 body %s", raw)
	}
	_, err := s.ScaleApp("/locked", 2, false)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("direct ScaleApp while locked: %v", err)
	}

	var dr marathon.DeploymentResult
	resp, raw = call(t, "PATCH", s.URL()+"/v2/apps/locked?force=true", map[string]any{"instances": 0}, &dr)
	if resp.StatusCode != 200 || dr.DeploymentID == "" || dr.DeploymentID == res.DeploymentID {
		t.Fatalf("forced PATCH: %d %s", resp.StatusCode, raw)
	}
	st.waitEvent(t, "deployment_failed", func(e event) bool { return e.str("id") == res.DeploymentID })
	waitDeployments(t, s)
	if a, _ := s.App("/locked"); a.Instances != 0 || len(a.Tasks) != 0 {
		t.Fatalf("after forced scale to 0: %+v", a)
	}
}
