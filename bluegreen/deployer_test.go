package bluegreen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

// fakeLB plays the load balancer's side (§3.2, package sync's merge) on
// the simulator's apps: one server per running task that passes its
// checks, the old colour's replaced tasks in MAINT; busy holds sessions.
type fakeLB struct {
	mc   *marathon.Client
	mu   sync.Mutex
	busy map[string]int64 // task id → scur
	// stuck proxies never take the old servers out of rotation.
	stuck map[string]bool
}

func (f *fakeLB) Stats(ctx context.Context, proxies []string) ([][]ServerStat, error) {
	apps, err := f.mc.Apps(ctx)
	if err != nil {
		return nil, err
	}
	group := Previous(apps, "web")
	if len(group) == 0 {
		return [][]ServerStat{nil}, nil
	}
	drain := map[string]bool{}
	if len(group) == 2 {
		old, nu := group[0], group[1]
		if _, ok := nu.Labels["HAPROXY_DEPLOYMENT_NEW_INSTANCES"]; ok && scaledAt(old).After(scaledAt(nu)) {
			old, nu = nu, old
		}
		healthy := healthyCount(nu)
		n := min(len(old.Tasks), healthy, max(0, healthy+old.Instances-Target(nu)))
		tasks := append([]marathon.Task(nil), old.Tasks...)
		sort.Slice(tasks, func(i, j int) bool { return tasks[i].ID < tasks[j].ID })
		for _, t := range tasks[:n] {
			drain[t.ID] = true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var rows []ServerStat
	for _, a := range group {
		for _, t := range a.Tasks {
			if t.State != marathon.TaskRunning || healthyCount(marathon.App{HealthChecks: a.HealthChecks, Tasks: []marathon.Task{t}}) == 0 {
				continue
			}
			for n, proxy := range proxies {
				st := ServerStat{Proxy: proxy, Server: labels.ServerName(t.Host, t.Host, t.Ports[n]), Status: "UP", Scur: f.busy[t.ID]}
				if drain[t.ID] && !f.stuck[proxy] {
					st.Status = "MAINT"
				}
				rows = append(rows, st)
			}
		}
	}
	return [][]ServerStat{rows}, nil
}

func scaledAt(a marathon.App) time.Time {
	if a.VersionInfo == nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, a.VersionInfo.LastScalingAt)
	return t
}

type rig struct {
	sim *marathontest.Server
	mc  *marathon.Client
	lb  *fakeLB
}

func newRig(t *testing.T) *rig {
	t.Helper()
	sim := marathontest.Started(t, marathontest.Options{})
	mc, err := marathon.New(marathon.Config{URLs: []string{sim.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{sim: sim, mc: mc, lb: &fakeLB{mc: mc, busy: map[string]int64{}, stuck: map[string]bool{}}}
}

func (r *rig) deployer(cfg Config) *Deployer {
	cfg.Marathon, cfg.Drain = r.mc, r.lb
	if cfg.StepDelay == 0 {
		cfg.StepDelay = 20 * time.Millisecond
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 5 * time.Second
	}
	return New(cfg)
}

func (r *rig) waitDeployments(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.sim.WaitDeployments(ctx); err != nil {
		t.Fatal(err)
	}
}

// instances maps the group's apps to their instance counts.
func (r *rig) instances(t *testing.T) map[string]int {
	t.Helper()
	apps, err := r.mc.Apps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range Previous(apps, "web") {
		out[a.ID] = a.Instances
	}
	return out
}

func definition(t *testing.T, instances int, env map[string]any) []byte {
	return definitionPorts(t, instances, env, 20000)
}

func definitionPorts(t *testing.T, instances int, env map[string]any, ports ...int) []byte {
	t.Helper()
	zero := 0
	var pds []map[string]any
	for _, p := range ports {
		pds = append(pds, map[string]any{"port": p})
	}
	app := map[string]any{"id": "/web", "instances": instances, "cmd": "serve", "env": env,
		"portDefinitions": pds,
		"labels":          map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "20001"},
		"healthChecks": []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: &zero, IntervalSeconds: 1,
			TimeoutSeconds: 15, MaxConsecutiveFailures: 0, GracePeriodSeconds: 1}}}
	raw, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestDeployBlueGreen: a first deployment creates blue at full size; the
// next one grows green while killing drained blue tasks, then deletes blue.
func TestDeployBlueGreen(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	res, err := r.deployer(Config{}).Deploy(ctx, definition(t, 4, nil))
	if err != nil || res.Outcome != "created" {
		t.Fatalf("first deployment: %+v %v", res, err)
	}
	r.waitDeployments(t)
	if got := r.instances(t); !equal(got, map[string]int{"/web-blue": 4}) {
		t.Fatalf("after the first deployment: %v", got)
	}
	res, err = r.deployer(Config{}).Deploy(ctx, definition(t, 4, map[string]any{"V": "2"}))
	if err != nil || res.Outcome != "complete" || res.NewApp != "/web-green" || res.OldApp != "/web-blue" {
		t.Fatalf("blue→green: %+v %v", res, err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-green": 4}) {
		t.Fatalf("after blue→green: %v", got)
	}
	green, _ := r.sim.App("/web-green")
	if green.PortDefinitions[0].Port != 20001 || green.Labels["HAPROXY_0_PORT"] != "20000" || green.Labels["HAPROXY_APP_ID"] != "/web" {
		t.Fatalf("green's port %d, labels %v", green.PortDefinitions[0].Port, green.Labels)
	}
}

// TestDeploySplitThenComplete: --new-instances stops with both colours;
// a plain deployment then refuses (exit 2), --complete-prev without a
// deployment in progress is misuse (exit 3), --complete-cur finishes.
func TestDeploySplitThenComplete(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 4, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	if _, err := r.deployer(Config{CompletePrev: true}).Deploy(ctx, definition(t, 4, nil)); ExitCode(err) != ExitInvalidArgs {
		t.Fatalf("--complete-prev with one app: %v (exit %d), want exit 3", err, ExitCode(err))
	}
	res, err := r.deployer(Config{NewInstances: 1}).Deploy(ctx, definition(t, 4, map[string]any{"V": "2"}))
	if err != nil || res.Outcome != "split" {
		t.Fatalf("split: %+v %v", res, err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-blue": 3, "/web-green": 1}) {
		t.Fatalf("after the split: %v", got)
	}
	r.waitDeployments(t)
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 4, nil)); !errors.Is(err, ErrInProgress) || ExitCode(err) != ExitFailed {
		t.Fatalf("a deployment during a split: %v, want ErrInProgress (exit 2)", err)
	}
	res, err = r.deployer(Config{CompleteCur: true}).Deploy(ctx, definition(t, 4, nil))
	if err != nil || res.Outcome != "complete" || res.NewApp != "/web-green" {
		t.Fatalf("--complete-cur: %+v %v", res, err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-green": 4}) {
		t.Fatalf("after --complete-cur: %v", got)
	}
}

// TestDeployRollback: a new colour that never passes its checks is
// deleted after MaxWait and the old one is back at its target.
func TestDeployRollback(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 3, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	res, err := r.deployer(Config{MaxWait: 500 * time.Millisecond}).Deploy(ctx, definition(t, 3, map[string]any{marathontest.EnvUnhealthy: "true"}))
	if !errors.Is(err, ErrRolledBack) || ExitCode(err) != ExitFailed || res.Outcome != "rolled-back" {
		t.Fatalf("failing version: %+v %v (exit %d)", res, err, ExitCode(err))
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-blue": 3}) {
		t.Fatalf("after the rollback: %v", got)
	}
}

// TestDeployNoRollback keeps both colours (marathon-lb's behaviour).
func TestDeployNoRollback(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 2, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	_, err := r.deployer(Config{MaxWait: 300 * time.Millisecond, NoRollback: true}).Deploy(ctx, definition(t, 2, map[string]any{marathontest.EnvUnhealthy: "true"}))
	if err == nil || errors.Is(err, ErrRolledBack) {
		t.Fatalf("--no-rollback: %v", err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-blue": 2, "/web-green": 1}) {
		t.Fatalf("after a failure without rollback: %v", got)
	}
}

// TestDeployBusyServers: a drained server with sessions is not killed
// until they end, or until MaxWait (the grace period) is over.
func TestDeployBusyServers(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 2, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	blue, _ := r.sim.App("/web-blue")
	r.lb.mu.Lock()
	for _, task := range blue.Tasks {
		r.lb.busy[task.ID] = 3
	}
	r.lb.mu.Unlock()
	start := time.Now()
	res, err := r.deployer(Config{MaxWait: 700 * time.Millisecond}).Deploy(ctx, definition(t, 2, map[string]any{"V": "2"}))
	if err != nil || res.Outcome != "complete" {
		t.Fatalf("busy: %+v %v", res, err)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("busy servers killed after %s, before the grace period", d)
	}
}

// TestDeployPrompts: no is exit 1 and nothing is created; a dry run
// creates nothing and prints the definition.
func TestDeployPrompts(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	var asked []string
	no := func(_ context.Context, q string) (bool, error) { asked = append(asked, q); return false, nil }
	if _, err := r.deployer(Config{Confirm: no}).Deploy(ctx, definition(t, 2, nil)); ExitCode(err) != ExitDeclined || len(asked) != 1 {
		t.Fatalf("declined: %v (exit %d), asked %v", err, ExitCode(err), asked)
	}
	var out jsonBuffer
	res, err := r.deployer(Config{DryRun: true, Out: &out}).Deploy(ctx, definition(t, 2, nil))
	if err != nil || res.Outcome != "dry-run" || out.app().ID != "/web-blue" {
		t.Fatalf("dry run: %+v %v %s", res, err, out.b)
	}
	if got := r.instances(t); len(got) != 0 {
		t.Fatalf("apps after a refusal and a dry run: %v", got)
	}
}

// TestDeployHookFails: a failing pre-kill hook stops before the kill (exit 2).
func TestDeployHookFails(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 2, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	_, err := r.deployer(Config{PreKillHook: "false"}).Deploy(ctx, definition(t, 2, map[string]any{"V": "2"}))
	if !errors.Is(err, ErrHook) || ExitCode(err) != ExitFailed {
		t.Fatalf("failing hook: %v", err)
	}
	if got := r.instances(t); got["/web-blue"] != 2 {
		t.Fatalf("old app after a failed hook: %v", got)
	}
}

type jsonBuffer struct{ b []byte }

func (j *jsonBuffer) Write(p []byte) (int, error) { j.b = append(j.b, p...); return len(p), nil }
func (j *jsonBuffer) app() marathon.App {
	var a marathon.App
	_ = json.Unmarshal(j.b, &a)
	return a
}

// TestDeployResume: a deployment interrupted after its first kill is
// continued by --resume (the newest app is the new colour).
func TestDeployResume(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 4, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	cctx, cancel := context.WithCancel(ctx)
	d := r.deployer(Config{})
	d.cfg.Marathon = &cancelAfterKill{Marathon: r.mc, cancel: cancel}
	if _, err := d.Deploy(cctx, definition(t, 4, map[string]any{"V": "2"})); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted deployment: %v", err)
	}
	if got := r.instances(t); got["/web-blue"] != 3 || got["/web-green"] < 1 {
		t.Fatalf("after the interruption: %v", got)
	}
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 4, nil)); !errors.Is(err, ErrInProgress) {
		t.Fatalf("without --resume: %v", err)
	}
	res, err := r.deployer(Config{Resume: true}).Deploy(ctx, definition(t, 4, nil))
	if err != nil || res.Outcome != "complete" || res.NewApp != "/web-green" {
		t.Fatalf("--resume: %+v %v", res, err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-green": 4}) {
		t.Fatalf("after --resume: %v", got)
	}
}

// cancelAfterKill interrupts the run right after its first kill.
type cancelAfterKill struct {
	Marathon
	cancel func()
}

func (c *cancelAfterKill) KillTasks(ctx context.Context, ids []string, scale bool) error {
	err := c.Marathon.KillTasks(ctx, ids, scale)
	c.cancel()
	return err
}

// TestDeploySeveralPorts: an old task is killed only when its server is
// drained in every service port's backend.
func TestDeploySeveralPorts(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definitionPorts(t, 2, nil, 20000, 20002)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	r.lb.stuck["web_20002"] = true
	_, err := r.deployer(Config{MaxWait: 400 * time.Millisecond}).Deploy(ctx, definitionPorts(t, 2, map[string]any{"V": "2"}, 20000, 20002))
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("old servers never drained on the second port: %v, want a rollback", err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-blue": 2}) {
		t.Fatalf("old colour after the second port never drained: %v", got)
	}
	r2 := newRig(t)
	if _, err := r2.deployer(Config{}).Deploy(ctx, definitionPorts(t, 2, nil, 20000, 20002)); err != nil {
		t.Fatal(err)
	}
	r2.waitDeployments(t)
	res, err := r2.deployer(Config{}).Deploy(ctx, definitionPorts(t, 2, map[string]any{"V": "2"}, 20000, 20002))
	if err != nil || res.Outcome != "complete" {
		t.Fatalf("two ports: %+v %v", res, err)
	}
}

// TestDeployHookArgs: the hook gets the old app, the task ids and the new
// app as JSON arguments before each kill.
func TestDeployHookArgs(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 2, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	script := "#!/bin/sh\nprintf '%s\\n' \"$1\" > " + dir + "/old.json\nprintf '%s\\n' \"$2\" >> " + dir + "/ids\nprintf '%s\\n' \"$3\" > " + dir + "/new.json\n"
	if err := os.WriteFile(hook, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := r.deployer(Config{PreKillHook: hook}).Deploy(ctx, definition(t, 2, map[string]any{"V": "2"}))
	if err != nil || res.Outcome != "complete" {
		t.Fatalf("with a hook: %+v %v", res, err)
	}
	var old, nu marathon.App
	for f, v := range map[string]*marathon.App{"old.json": &old, "new.json": &nu} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	ids, _ := os.ReadFile(filepath.Join(dir, "ids"))
	var first []string
	if err := json.Unmarshal(bytes.SplitN(ids, []byte("\n"), 2)[0], &first); err != nil || len(first) != 1 {
		t.Fatalf("task ids %q: %v", ids, err)
	}
	if old.ID != "/web-blue" || nu.ID != "/web-green" {
		t.Fatalf("hook saw old %s, new %s", old.ID, nu.ID)
	}
}

// TestRollbackRestoresShrunkOldColour: a failure after some old tasks were
// killed scales the old colour back to the target before the new one goes.
func TestRollbackRestoresShrunkOldColour(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 4, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	d := r.deployer(Config{DryRun: true})
	d.cfg.Out = &jsonBuffer{}
	if _, err := d.Deploy(ctx, definition(t, 4, map[string]any{"V": "2"})); err != nil {
		t.Fatal(err)
	}
	green := d.cfg.Out.(*jsonBuffer).app()
	green.Instances = 2
	raw, _ := json.Marshal(green)
	if _, err := r.mc.CreateAppJSON(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := r.mc.ScaleApp(ctx, "/web-blue", 2, false); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	blue, _ := r.mc.App(ctx, "/web-blue")
	greenApp, _ := r.mc.App(ctx, "/web-green")
	res, err := r.deployer(Config{}).failed(ctx, Result{}, greenApp, blue, 4, modeDeploy, errNoProgress)
	if !errors.Is(err, ErrRolledBack) || res.Outcome != "rolled-back" {
		t.Fatalf("failed: %+v %v", res, err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-blue": 4}) {
		t.Fatalf("after the rollback: %v", got)
	}
	if b, _ := r.sim.App("/web-blue"); b.TasksHealthy != 4 {
		t.Fatalf("old colour has %d healthy tasks when the new one is deleted, want 4", b.TasksHealthy)
	}
}

// TestDeployStalls: a new task that stops passing its checks outside any
// Marathon deployment stalls the swap; after MaxWait it is rolled back
// instead of polling forever.
func TestDeployStalls(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.deployer(Config{}).Deploy(ctx, definition(t, 2, nil)); err != nil {
		t.Fatal(err)
	}
	r.waitDeployments(t)
	d := r.deployer(Config{MaxWait: 500 * time.Millisecond, InitialInstances: 2})
	d.cfg.Marathon = &sickenNew{Marathon: r.mc, sim: r.sim}
	_, err := d.Deploy(ctx, definition(t, 2, map[string]any{"V": "2"}))
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("stalled deployment: %v, want a rollback", err)
	}
	if got := r.instances(t); !equal(got, map[string]int{"/web-blue": 2}) {
		t.Fatalf("after the rollback: %v", got)
	}
}

// sickenNew makes the new colour's tasks fail their checks once its
// deployment is over (reads of it after it became healthy).
type sickenNew struct {
	Marathon
	sim  *marathontest.Server
	done bool
}

func (s *sickenNew) App(ctx context.Context, id string) (marathon.App, error) {
	a, err := s.Marathon.App(ctx, id)
	if err == nil && id == "/web-green" && !s.done && len(a.Deployments) == 0 && a.TasksHealthy == a.Instances {
		s.done = true
		for _, t := range a.Tasks {
			_ = s.sim.SetTaskHealthy(t.ID, false)
		}
		time.Sleep(100 * time.Millisecond) // several check intervals
		return s.Marathon.App(ctx, id)
	}
	return a, err
}
