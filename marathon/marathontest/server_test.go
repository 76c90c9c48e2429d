package marathontest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

const refDir = "../../../shared/reference/marathon/examples"

func start(t *testing.T) *Server {
	t.Helper()
	s := New(Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// shapeDiff lists the keys of ref (recursively) that got lacks or holds
// with another JSON type.
func shapeDiff(path string, ref, got any) []string {
	var out []string
	switch r := ref.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": not an object"}
		}
		for k, v := range r {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k+": missing")
				continue
			}
			out = append(out, shapeDiff(path+"."+k, v, gv)...)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{path + ": not an array"}
		}
		if len(r) > 0 && len(g) > 0 {
			out = append(out, shapeDiff(path+"[0]", r[0], g[0])...)
		}
	case nil:
	default:
		if fmt.Sprintf("%T", ref) != fmt.Sprintf("%T", got) {
			out = append(out, fmt.Sprintf("%s: %T vs %T", path, ref, got))
		}
	}
	return out
}

func readRef(t *testing.T, name string) any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(refDir, name))
	if err != nil {
		t.Skipf("reference pack not found (%v)", err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAppsMatchReferenceShapes(t *testing.T) {
	s := start(t)
	ref := readRef(t, "marathon-1.5-apps-embed-tasks.json")
	raw, _ := json.Marshal(ref.(map[string]any)["apps"].([]any)[0])
	var app marathon.App
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatal(err)
	}
	app.Tasks, app.Networks = nil, nil // host networking so tasks listen on 127.0.0.1
	if _, err := s.CreateApp(app); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDeployments(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got any
	getJSON(t, s.URL()+"/v2/apps?embed=apps.tasks", &got)
	refApp := ref.(map[string]any)["apps"].([]any)[0].(map[string]any)
	delete(refApp, "networks") // changed above on purpose
	gotApp := got.(map[string]any)["apps"].([]any)[0]
	if d := shapeDiff("app", refApp, gotApp); len(d) > 0 {
		t.Errorf("shape differs from the reference:\n%s", strings.Join(d, "\n"))
	}
	var tasks any
	getJSON(t, s.URL()+"/v2/tasks", &tasks)
	refTasks := readRef(t, "tasks.json")
	if d := shapeDiff("tasks", refTasks, tasks); len(d) > 0 {
		// region/zone/role and servicePorts are in both; the rest must match.
		t.Errorf("tasks shape differs:\n%s", strings.Join(d, "\n"))
	}
	var info any
	getJSON(t, s.URL()+"/v2/info", &info)
	for _, k := range []string{"name", "version", "elected", "leader", "frameworkId", "marathon_config", "zookeeper_config", "http_config"} {
		if _, ok := info.(map[string]any)[k]; !ok {
			t.Errorf("/v2/info lacks %s", k)
		}
	}
}

func dialBody(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestTasksAreRealServersAndFollowScaling(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	events := subscribe(t, s, "status_update_event", "deployment_success")
	if _, err := s.CreateApp(marathon.App{ID: "/web", Instances: 3, PortDefinitions: []marathon.PortDefinition{{Port: 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDeployments(ctx); err != nil {
		t.Fatal(err)
	}
	app, _ := s.App("/web")
	if len(app.Tasks) != 3 || app.PortDefinitions[0].Port < 10000 {
		t.Fatalf("tasks %d service port %d", len(app.Tasks), app.PortDefinitions[0].Port)
	}
	for _, task := range app.Tasks {
		if task.State != marathon.TaskRunning || !strings.HasPrefix(task.ID, "web.") {
			t.Fatalf("task %+v", task)
		}
		if body := dialBody(t, task.Ports[0]); !strings.Contains(body, "task="+task.ID) {
			t.Fatalf("task %s answered %q", task.ID, body)
		}
	}
	// Event order for one task: STAGING, STARTING, RUNNING, then success.
	var seen []string
	waitFor(t, "deployment_success", func() bool {
		for {
			select {
			case e := <-events:
				seen = append(seen, e)
				if strings.HasPrefix(e, "deployment_success") {
					return true
				}
			default:
				return false
			}
		}
	})
	if !strings.Contains(strings.Join(seen, ","), "TASK_STAGING") || !strings.Contains(strings.Join(seen, ","), "TASK_RUNNING") {
		t.Fatalf("events %v", seen)
	}

	if _, err := s.ScaleApp("/web", 5, false); err != nil {
		t.Fatal(err)
	}
	// A second change while the deployment runs is refused, unless forced.
	if _, err := s.ScaleApp("/web", 6, false); err == nil || err.(*apiErr).status != 409 {
		t.Fatalf("want 409, got %v", err)
	}
	if _, err := s.ScaleApp("/web", 2, true); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDeployments(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 tasks", func() bool { a, _ := s.App("/web"); return len(a.Tasks) == 2 })

	app, _ = s.App("/web")
	victim := app.Tasks[0]
	if err := s.KillTask(victim.ID, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 task", func() bool { a, _ := s.App("/web"); return len(a.Tasks) == 1 && a.Instances == 1 })
	if _, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", victim.Ports[0]), 200*time.Millisecond); err == nil {
		t.Fatal("killed task still listening")
	}
}

func TestTCPBannerAndHealthChecks(t *testing.T) {
	s := start(t)
	zero := 0
	_, err := s.CreateApp(marathon.App{ID: "/checked", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		HealthChecks: []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: &zero, IntervalSeconds: 1, TimeoutSeconds: 1, MaxConsecutiveFailures: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDeployments(context.Background()); err != nil {
		t.Fatal(err)
	}
	app, _ := s.App("/checked")
	task := app.Tasks[0]
	if len(task.HealthCheckResults) == 0 || !task.HealthCheckResults[0].Alive {
		t.Fatalf("results %+v", task.HealthCheckResults)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", task.Ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.Contains(line, "task="+task.ID) {
		t.Fatalf("banner %q", line)
	}
	if err := s.SetTaskHealthy(task.ID, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unhealthy", func() bool {
		a, _ := s.App("/checked")
		return len(a.Tasks) > 0 && len(a.Tasks[0].HealthCheckResults) > 0 && !a.Tasks[0].HealthCheckResults[0].Alive
	})
}

func TestErrorsAndAvailability(t *testing.T) {
	s := start(t)
	resp, _ := http.Get(s.URL() + "/v2/apps/nope")
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = http.Post(s.URL()+"/v2/apps", "application/json", strings.NewReader(`{"id":"/Bad_ID"}`))
	if resp.StatusCode != 422 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp.Body.Close()
	s.SetUnavailable(503)
	resp, _ = http.Get(s.URL() + "/v2/apps")
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// subscribe opens /v2/events and returns "type[:taskStatus]" strings.
func subscribe(t *testing.T, s *Server, types ...string) <-chan string {
	t.Helper()
	q := ""
	for _, ty := range types {
		q += "&event_type=" + ty
	}
	req, _ := http.NewRequest("GET", s.URL()+"/v2/events?"+strings.TrimPrefix(q, "&"), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "data: ") {
				continue
			}
			var e map[string]any
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e) != nil {
				continue
			}
			desc := fmt.Sprint(e["eventType"])
			if st, ok := e["taskStatus"]; ok {
				desc += ":" + fmt.Sprint(st)
			}
			out <- desc
		}
	}()
	return out
}

func TestEventsTxtFieldsPresent(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(refDir, "events.txt"))
	if err != nil {
		t.Skip("reference pack not found")
	}
	var refStatus map[string]any
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, "status_update_event") {
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &refStatus)
			break
		}
	}
	s := start(t)
	req, _ := http.NewRequest("GET", s.URL()+"/v2/events?event_type=status_update_event", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := s.CreateApp(marathon.App{ID: "/e", Instances: 1}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			var got map[string]any
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &got)
			var missing []string
			for k := range refStatus {
				if _, ok := got[k]; !ok {
					missing = append(missing, k)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Fatalf("status_update_event lacks %v", missing)
			}
			return
		}
	}
}
