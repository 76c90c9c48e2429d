package marathontest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// These tests hold the simulator's JSON against answers of a real Marathon
// (the reference pack's examples): every key the reference has must be
// there, with the same JSON type.

func checkShape(t *testing.T, what string, ref, got any) {
	t.Helper()
	if diff := shapeDiff(what, ref, got); len(diff) > 0 {
		sort.Strings(diff)
		raw, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("%s differs from the reference:\n  %s\ngot: %s", what, strings.Join(diff, "\n  "), raw)
	}
}

// TestAppsEmbedTasksShape: the Marathon 1.5 app (bridge networking, Docker)
// created from its own definition reads back in the same shape.
func TestAppsEmbedTasksShape(t *testing.T) {
	ref := refJSON(t, "examples/marathon-1.5-apps-embed-tasks.json")
	refApp := ref.(map[string]any)["apps"].([]any)[0].(map[string]any)
	def := map[string]any{}
	for k, v := range refApp {
		def[k] = v
	}
	for _, k := range runtimeKeys {
		delete(def, k)
	}
	s := Started(t, Options{})
	resp, raw := call(t, "POST", s.URL()+"/v2/apps", def, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("POST the reference app: %d %s", resp.StatusCode, raw)
	}
	waitDeployments(t, s)
	var got map[string]any
	getJSON(t, s.URL()+"/v2/apps?embed=apps.tasks", &got)
	checkShape(t, "apps", ref, got)
	app := got["apps"].([]any)[0].(map[string]any)
	pm := app["container"].(map[string]any)["portMappings"].([]any)[0].(map[string]any)
	if pm["servicePort"] != 10101.0 || app["tasksRunning"] != 1.0 {
		t.Fatalf("servicePort %v tasksRunning %v", pm["servicePort"], app["tasksRunning"])
	}
	// and GET /v2/apps/{id} is {"app": ...} with the tasks
	var single map[string]any
	getJSON(t, s.URL()+"/v2/apps/pywebserver", &single)
	checkShape(t, "app", refApp, single["app"])
}

func TestTasksShape(t *testing.T) {
	ref := refJSON(t, "examples/tasks.json")
	s := Started(t, Options{})
	mustCreate(t, s, hostApp("/frontend-foosball", 1))
	mustCreate(t, s, hostApp("/tools/docker/registry", 1))
	waitDeployments(t, s)
	var got map[string]any
	getJSON(t, s.URL()+"/v2/tasks", &got)
	checkShape(t, "tasks", ref, got)
	for _, tk := range got["tasks"].([]any) {
		checkShape(t, "task", ref.(map[string]any)["tasks"].([]any)[1], tk)
	}

	// app_tasks.json and app_task.json: GET and DELETE on one app's tasks
	var appTasks map[string]any
	getJSON(t, s.URL()+"/v2/apps/tools/docker/registry/tasks", &appTasks)
	checkShape(t, "app tasks", refJSON(t, "examples/app_tasks.json"), appTasks)
	id := appTasks["tasks"].([]any)[0].(map[string]any)["id"].(string)
	var killed map[string]any
	call(t, "DELETE", s.URL()+"/v2/apps/tools/docker/registry/tasks/"+id, nil, &killed)
	checkShape(t, "killed task", refJSON(t, "examples/app_task.json"), killed)
}

func TestDeploymentsShape(t *testing.T) {
	ref := refJSON(t, "examples/deployments.json")
	s := Started(t, Options{StateDelay: time.Second}) // keep the deployment running
	var res map[string]any
	resp, raw := call(t, "PUT", s.URL()+"/v2/apps/foo", map[string]any{"instances": 1}, &res)
	if resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, raw)
	}
	checkShape(t, "deployment result", refJSON(t, "examples/deployments_result.json"), res)
	var got []any
	getJSON(t, s.URL()+"/v2/deployments", &got)
	checkShape(t, "deployments", ref, got)
	d := got[0].(map[string]any)
	if d["id"] != res["deploymentId"] || d["totalSteps"] != 2.0 || d["currentStep"] != 2.0 ||
		!slices.Equal(d["affectedApps"].([]any), []any{"/foo"}) {
		t.Fatalf("deployment %v", d)
	}
	var app struct{ App marathon.App }
	getJSON(t, s.URL()+"/v2/apps/foo", &app)
	if len(app.App.Deployments) != 1 || app.App.Deployments[0].ID != res["deploymentId"] {
		t.Fatalf("app.deployments %v", app.App.Deployments)
	}
}

func TestInfoShape(t *testing.T) {
	ref := refJSON(t, "examples/info.json")
	s := Started(t, Options{})
	var got map[string]any
	getJSON(t, s.URL()+"/v2/info", &got)
	checkShape(t, "info", ref, got)
}

var timestampRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// eventKeys are the fields Marathon writes per event type (MarathonEvent.scala
// and Formats.scala's EventFormats, Marathon 1.5).
var eventKeys = map[string][]string{
	"event_stream_attached":         {"remoteAddress"},
	"event_stream_detached":         {"remoteAddress"},
	"api_post_event":                {"clientIp", "uri", "appDefinition"},
	"deployment_info":               {"plan", "currentStep"},
	"deployment_step_success":       {"plan", "currentStep"},
	"deployment_success":            {"id", "plan"},
	"deployment_failed":             {"id", "plan"},
	"status_update_event":           {"slaveId", "taskId", "taskStatus", "message", "appId", "host", "ipAddresses", "ports", "version"},
	"instance_changed_event":        {"instanceId", "condition", "runSpecId", "agentId", "host", "runSpecVersion"},
	"health_status_changed_event":   {"appId", "instanceId", "version", "alive"},
	"failed_health_check_event":     {"appId", "taskId", "healthCheck"},
	"unhealthy_instance_kill_event": {"appId", "taskId", "instanceId", "version", "reason", "host", "slaveId"},
	"app_terminated_event":          {"appId"},
}

// TestEventShapes: every event a lifecycle produces has exactly Marathon's
// fields, ISO-8601 millisecond timestamps, and the examples' shapes.
func TestEventShapes(t *testing.T) {
	refEvents := map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(readRef(t, "examples/events.txt")))
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var v map[string]any
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatal(err)
			}
			refEvents[v["eventType"].(string)] = v
		}
	}

	s := Started(t, Options{})
	watch := openStream(t, s, "")
	st := openStream(t, s, "")
	app := hostApp("/shape", 1)
	app.HealthChecks = []marathon.HealthCheck{{Protocol: "HTTP", Path: "/h", PortIndex: ptr(0), IntervalSeconds: 2, MaxConsecutiveFailures: 1}}
	mustCreate(t, s, app)
	waitDeployments(t, s)
	victim := runningTasks(s, "/shape")[0]
	_ = s.SetTaskHealthy(victim.ID, false)
	st.waitEvent(t, "unhealthy_instance_kill_event", nil)
	waitDeployments(t, s)
	waitFor(t, "a healthy replacement", func() bool { a, _ := s.App("/shape"); return a.TasksHealthy == 1 })
	if _, err := s.ScaleApp("/shape", 3, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ScaleApp("/shape", 1, true); err != nil { // cancels the scale to 3
		t.Fatal(err)
	}
	waitDeployments(t, s)
	if _, err := s.DeleteApp("/shape", false); err != nil {
		t.Fatal(err)
	}
	st.waitEvent(t, "app_terminated_event", nil)
	watch.close()
	st.waitEvent(t, "event_stream_detached", nil)

	seen := map[string]bool{}
	for _, e := range st.all() {
		keys, known := eventKeys[e.Type]
		if !known {
			t.Fatalf("unexpected event type %s", e.Type)
		}
		seen[e.Type] = true
		want := append([]string{"eventType", "timestamp"}, keys...)
		var got []string
		for k := range e.Data {
			got = append(got, k)
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s fields %v, want %v", e.Type, got, want)
		}
		if e.str("eventType") != e.Type || !timestampRe.MatchString(e.str("timestamp")) {
			t.Fatalf("%s: eventType %q timestamp %q", e.Type, e.str("eventType"), e.str("timestamp"))
		}
		if ref, ok := refEvents[e.Type]; ok {
			checkShape(t, e.Type, ref, e.Data)
		}
		switch e.Type {
		case "deployment_info", "deployment_step_success":
			plan := e.Data["plan"].(map[string]any)
			for _, k := range []string{"id", "original", "target", "steps", "version"} {
				if plan[k] == nil {
					t.Fatalf("%s plan lacks %s", e.Type, k)
				}
			}
			if _, ok := e.Data["currentStep"].(map[string]any)["actions"].([]any); !ok {
				t.Fatalf("%s currentStep %v", e.Type, e.Data["currentStep"])
			}
		case "api_post_event":
			if def := e.Data["appDefinition"].(map[string]any); def["id"] != "/shape" || def["version"] == nil {
				t.Fatalf("appDefinition %v", def)
			}
		}
	}
	for typ := range eventKeys {
		if !seen[typ] {
			t.Errorf("the lifecycle produced no %s", typ)
		}
	}
}

// TestLightPlanFormat: with ?plan-format=light (what marathon-lb and
// marathon-dataplane ask for) a deployment event's plan has no original
// and target groups (every app, twice); without it, it has both.
func TestLightPlanFormat(t *testing.T) {
	s := Started(t, Options{})
	light := openStream(t, s, "?plan-format=light&event_type=deployment_success")
	full := openStream(t, s, "?event_type=deployment_success")
	waitFor(t, "two subscribers", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.bus.subs) == 2
	})
	mustCreate(t, s, hostApp("/light", 1))
	for name, st := range map[string]*stream{"light": light, "full": full} {
		e := st.waitEvent(t, "deployment_success", nil)
		plan := e.Data["plan"].(map[string]any)
		_, hasOriginal := plan["original"]
		_, hasTarget := plan["target"]
		if hasOriginal != (name == "full") || hasTarget != (name == "full") || plan["steps"] == nil || plan["id"] == nil {
			t.Fatalf("%s plan keys: original %v target %v steps %v id %v", name, hasOriginal, hasTarget, plan["steps"] != nil, plan["id"])
		}
	}
}
