package bluegreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Marathon is what a deployment needs from Marathon (*marathon.Client).
type Marathon interface {
	Apps(ctx context.Context) ([]marathon.App, error)
	App(ctx context.Context, id string) (marathon.App, error)
	CreateAppDefinition(ctx context.Context, def map[string]any) (marathon.App, error)
	ScaleApp(ctx context.Context, id string, instances int, force bool) (marathon.DeploymentResult, error)
	KillTasks(ctx context.Context, taskIDs []string, scale bool) error
	DeleteApp(ctx context.Context, id string, force bool) (marathon.DeploymentResult, error)
	Deployments(ctx context.Context) ([]marathon.Deployment, error)
}

// Stats reads HAProxy's server rows from every load balancer instance:
// one slice per instance.
type Stats interface {
	Rows(ctx context.Context) ([][]runtimeapi.StatRow, error)
}

// Deployer runs a deployment. Zero durations take zdd's defaults.
type Deployer struct {
	Marathon Marathon
	Stats    Stats
	Log      *zap.Logger
	Options
	// StepDelay is the pause between checks (zdd: 5s); MaxWait bounds the
	// wait for drained servers in one round, and for the new app's tasks
	// to turn healthy (zdd: 300s).
	StepDelay, MaxWait time.Duration
	// LinearIncrease grows the new app by this many instances a step
	// (0: ×1.5, zdd's default).
	LinearIncrease int
	Force, DryRun  bool
	// PreKillHook runs before each kill as `hook <old app JSON> <task ids
	// JSON> <new app JSON>`; non-zero stops the deployment (exit 2).
	PreKillHook string
	// Confirm asks a yes/no question (nil, or Force: yes).
	Confirm func(question string) (bool, error)
	// Out receives the prepared app definition (JSON).
	Out io.Writer
	// Now and Resolve default to time.Now and the system resolver.
	Now     func() time.Time
	Resolve func(ctx context.Context, host string) (string, error)
}

// Summary is what a deployment did.
type Summary struct {
	Group, OldID, NewID string
	Created, Deleted    bool
	Killed              int
	RolledBack          bool
	Duration            time.Duration
}

func (d *Deployer) defaults() {
	if d.StepDelay <= 0 {
		d.StepDelay = 5 * time.Second
	}
	if d.MaxWait <= 0 {
		d.MaxWait = 300 * time.Second
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Resolve == nil {
		d.Resolve = resolveIPv4
	}
	if d.Out == nil {
		d.Out = io.Discard
	}
}

func resolveIPv4(ctx context.Context, host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return host, nil
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	return ips[0].String(), nil
}

func (d *Deployer) confirm(q string) error {
	if d.Force || d.Confirm == nil {
		return nil
	}
	ok, err := d.Confirm(q)
	if err != nil {
		return fail(ExitFailed, "%s: %w", q, err)
	}
	if !ok {
		return fail(ExitDeclined, "%s: no", q)
	}
	return nil
}

// Run deploys def (zdd's algorithm, §9.2, with an automatic rollback when
// the new tasks do not turn healthy).
func (d *Deployer) Run(ctx context.Context, def Definition) (Summary, error) {
	d.defaults()
	start := d.Now()
	var sum Summary
	sum.Group = def.Labels()[labels.DeploymentGroup]
	apps, err := d.Marathon.Apps(ctx)
	if err != nil {
		return sum, fail(ExitMarathonError, "list apps: %w", err)
	}
	plan, err := Prepare(def, apps, d.Options, d.Now())
	if err != nil {
		return sum, err
	}
	sum.OldID, sum.NewID = plan.OldID, plan.NewID
	if plan.New != nil {
		out, _ := json.MarshalIndent(map[string]any(*plan.New), "", "  ") // map keys come sorted
		fmt.Fprintf(d.Out, "%s\n", out)
		if d.DryRun {
			return sum, nil
		}
		if err := d.confirm("Continue with deployment?"); err != nil {
			return sum, err
		}
		if _, err := d.Marathon.CreateAppDefinition(ctx, *plan.New); err != nil {
			return sum, fail(ExitCreateFailed, "create %s: %w", plan.NewID, err)
		}
		sum.Created = true
		d.Log.Info("new colour created", zap.String("app", plan.NewID), zap.Any("instances", (*plan.New)["instances"]))
		if plan.OldID == "" {
			sum.Duration = d.Now().Sub(start)
			return sum, nil
		}
	}
	err = d.swap(ctx, plan, &sum)
	sum.Duration = d.Now().Sub(start)
	return sum, err
}

// swap is zdd's step 7: until done, wait for the new app's deployment,
// kill the old tasks the load balancers drained, grow the new app.
func (d *Deployer) swap(ctx context.Context, plan Plan, sum *Summary) error {
	var drainSince time.Time // when this round started waiting for drained servers
	var unhealthySince time.Time
	for {
		oldApp, err := d.Marathon.App(ctx, plan.OldID)
		if err != nil {
			return fail(ExitMarathonError, "read %s: %w", plan.OldID, err)
		}
		newApp, err := d.Marathon.App(ctx, plan.NewID)
		if err != nil {
			return fail(ExitMarathonError, "read %s: %w", plan.NewID, err)
		}
		// The new tasks must come up healthy; if they do not within
		// MaxWait, the old app takes everything back.
		if healthy(newApp) < newApp.Instances || len(newApp.Deployments) > 0 {
			if unhealthySince.IsZero() {
				unhealthySince = d.Now()
			}
			if d.Now().Sub(unhealthySince) > d.MaxWait {
				return d.rollback(ctx, plan, oldApp, sum, fmt.Errorf("%d of %d tasks of %s healthy after %s", healthy(newApp), newApp.Instances, plan.NewID, d.MaxWait))
			}
			d.Log.Info("waiting for the new tasks", zap.String("app", plan.NewID), zap.Int("healthy", healthy(newApp)), zap.Int("instances", newApp.Instances))
			if err := sleep(ctx, d.StepDelay); err != nil {
				return err
			}
			continue
		}
		unhealthySince = time.Time{}

		drained, err := d.drained(ctx, plan, oldApp)
		if err != nil {
			return err
		}
		if Done(plan, newApp, oldApp, len(oldApp.Tasks)-len(drained)) && (plan.NewInstances > 0 || len(oldApp.Tasks) == len(drained) || len(oldApp.Tasks) == 0) {
			if plan.NewInstances > 0 {
				d.Log.Info("traffic split in place", zap.String("new", plan.NewID), zap.Int("new_instances", newApp.Instances),
					zap.String("old", plan.OldID), zap.Int("old_instances", oldApp.Instances))
				return nil
			}
			return d.deleteOld(ctx, plan, sum)
		}

		// Kill what every load balancer drained, or after MaxWait in
		// this round every old task in maintenance, sessions or not.
		kill := drained
		if drainSince.IsZero() {
			drainSince = d.Now()
		}
		if len(kill) == 0 && d.Now().Sub(drainSince) > d.MaxWait {
			if kill, err = d.inMaintenance(ctx, plan, oldApp); err != nil {
				return err
			}
			if len(kill) > 0 {
				d.Log.Warn("sessions still open after --max-wait; killing the old tasks in maintenance", zap.Int("tasks", len(kill)))
			}
		}
		if len(kill) > 0 {
			if err := d.kill(ctx, plan, oldApp, newApp, kill); err != nil {
				return err
			}
			sum.Killed += len(kill)
			drainSince = time.Time{}
		}

		want := plan.Target
		if plan.NewInstances > 0 {
			want = plan.NewInstances
		}
		if newApp.Instances < want {
			n := NextSize(newApp.Instances, d.LinearIncrease, plan.Target, plan.NewInstances, oldApp.Instances)
			if _, err := d.Marathon.ScaleApp(ctx, plan.NewID, n, false); err != nil {
				return fail(ExitScaleFailed, "scale %s to %d: %w", plan.NewID, n, err)
			}
			d.Log.Info("new colour scaled", zap.String("app", plan.NewID), zap.Int("instances", n))
		}
		if err := sleep(ctx, d.StepDelay); err != nil {
			return err
		}
	}
}

func healthy(a marathon.App) int {
	if len(a.HealthChecks) == 0 {
		n := 0
		for _, t := range a.Tasks {
			if t.State == marathon.TaskRunning {
				n++
			}
		}
		return n
	}
	n := 0
	for _, t := range a.Tasks {
		alive := len(t.HealthCheckResults) > 0
		for _, r := range t.HealthCheckResults {
			alive = alive && r.Alive
		}
		if alive {
			n++
		}
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return fail(ExitFailed, "interrupted: %w (run again with --resume to continue)", ctx.Err())
	case <-time.After(d):
		return nil
	}
}

// BackendName is the group's backend in HAProxy: the group without its
// leading slash, / as _, then _<HAPROXY_0_PORT> (marathon-lb §6.1).
func BackendName(group string, port int) string {
	return strings.ReplaceAll(strings.TrimPrefix(group, "/"), "/", "_") + "_" + strconv.Itoa(port)
}

// server is one of an old task's servers in HAProxy: its backend and its
// address as the stats show it.
type server struct{ backend, addr string }

// oldServers maps each old task to its servers, one per service port: port
// 0's backend is <group>_<HAPROXY_0_PORT> (zdd's); port i's is named after
// HAPROXY_<i>_PORT or the old app's service port i, as the load balancer
// names the merged group's backends.
func (d *Deployer) oldServers(ctx context.Context, old marathon.App) (map[string][]server, error) {
	ports := servicePorts(old)
	backends := make([]string, len(ports))
	for i, p := range ports {
		if v, ok := old.Labels[fmt.Sprintf("HAPROXY_%d_PORT", i)]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fail(ExitLBError, "app %s: label HAPROXY_%d_PORT=%q", old.ID, i, v)
			}
			p = n
		}
		backends[i] = BackendName(Group(old), p)
	}
	out := map[string][]server{}
	for _, t := range old.Tasks {
		if t.Host == "" {
			continue
		}
		ip, err := d.Resolve(ctx, t.Host)
		if err != nil {
			return nil, fail(ExitLBError, "task %s: %w", t.ID, err)
		}
		for i, p := range t.Ports {
			if i < len(backends) {
				out[t.ID] = append(out[t.ID], server{backends[i], net.JoinHostPort(ip, strconv.Itoa(p))})
			}
		}
	}
	return out, nil
}

// servicePorts are a running app's service ports.
func servicePorts(a marathon.App) []int {
	var out []int
	switch {
	case a.Container != nil && a.Container.Docker != nil && len(a.Container.Docker.PortMappings) > 0:
		for _, m := range a.Container.Docker.PortMappings {
			out = append(out, deref(m.ServicePort))
		}
	case a.Container != nil && len(a.Container.PortMappings) > 0:
		for _, m := range a.Container.PortMappings {
			out = append(out, deref(m.ServicePort))
		}
	case len(a.PortDefinitions) > 0:
		for _, p := range a.PortDefinitions {
			out = append(out, p.Port)
		}
	default:
		out = a.Ports
	}
	return out
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// serverRows are the server rows of every load balancer, by backend and
// address.
func (d *Deployer) serverRows(ctx context.Context) ([]map[server]runtimeapi.StatRow, error) {
	lbs, err := d.Stats.Rows(ctx)
	if err != nil {
		return nil, fail(ExitLBError, "read the load balancers' stats: %w", err)
	}
	var out []map[server]runtimeapi.StatRow
	for _, rows := range lbs {
		m := map[server]runtimeapi.StatRow{}
		for _, r := range rows {
			if r.Type == runtimeapi.StatTypeServer {
				m[server{r.Proxy, r.Addr}] = r
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// drained are the old tasks whose server is in maintenance (or drain)
// with no session and nothing queued on every load balancer.
func (d *Deployer) drained(ctx context.Context, plan Plan, old marathon.App) ([]string, error) {
	return d.oldWhere(ctx, plan, old, func(r runtimeapi.StatRow) bool {
		return inMaint(r) && r.Scur == 0 && r.Qcur == 0
	})
}

func (d *Deployer) inMaintenance(ctx context.Context, plan Plan, old marathon.App) ([]string, error) {
	return d.oldWhere(ctx, plan, old, inMaint)
}

func inMaint(r runtimeapi.StatRow) bool {
	return strings.HasPrefix(r.Status, "MAINT") || strings.HasPrefix(r.Status, "DRAIN")
}

// oldWhere are the old tasks every server of which, on every load
// balancer, satisfies ok.
func (d *Deployer) oldWhere(ctx context.Context, plan Plan, old marathon.App, ok func(runtimeapi.StatRow) bool) ([]string, error) {
	servers, err := d.oldServers(ctx, old)
	if err != nil {
		return nil, err
	}
	lbs, err := d.serverRows(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for task, svs := range servers {
		all := len(lbs) > 0 && len(svs) > 0
		for _, rows := range lbs {
			for _, sv := range svs {
				r, found := rows[sv]
				if !found || !ok(r) {
					all = false
				}
			}
		}
		if all {
			out = append(out, task)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *Deployer) kill(ctx context.Context, plan Plan, old, nu marathon.App, tasks []string) error {
	if d.PreKillHook != "" {
		oldJSON, _ := json.Marshal(old)
		idsJSON, _ := json.Marshal(tasks)
		newJSON, _ := json.Marshal(nu)
		cmd := exec.CommandContext(ctx, d.PreKillHook, string(oldJSON), string(idsJSON), string(newJSON))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fail(ExitFailed, "pre-kill hook %s: %w: %s", d.PreKillHook, err, strings.TrimSpace(string(out)))
		}
	}
	if err := d.confirm(fmt.Sprintf("Kill %d drained tasks of %s?", len(tasks), plan.OldID)); err != nil {
		return err
	}
	if err := d.Marathon.KillTasks(ctx, tasks, true); err != nil {
		return fail(ExitScaleFailed, "kill %d tasks of %s: %w", len(tasks), plan.OldID, err)
	}
	d.Log.Info("drained old tasks killed", zap.String("app", plan.OldID), zap.Strings("tasks", tasks))
	return nil
}

func (d *Deployer) deleteOld(ctx context.Context, plan Plan, sum *Summary) error {
	if err := d.confirm(fmt.Sprintf("Delete %s?", plan.OldID)); err != nil {
		return err
	}
	if _, err := d.Marathon.DeleteApp(ctx, plan.OldID, false); err != nil {
		return fail(ExitDeleteFailed, "delete %s: %w", plan.OldID, err)
	}
	sum.Deleted = true
	d.Log.Info("old colour deleted", zap.String("app", plan.OldID))
	return d.waitGone(ctx, plan.OldID)
}

// waitGone waits until Marathon no longer has app id: the next
// deployment of the group may create the same colour again, which
// Marathon refuses while the deletion runs.
func (d *Deployer) waitGone(ctx context.Context, id string) error {
	deadline := d.Now().Add(d.MaxWait)
	for {
		_, err := d.Marathon.App(ctx, id)
		if errors.Is(err, marathon.ErrNotFound) {
			// Gone from the app list; the deletion's deployment (its tasks
			// being killed) still locks the id until it ends.
			deps, err := d.Marathon.Deployments(ctx)
			if err != nil {
				return fail(ExitMarathonError, "list deployments: %w", err)
			}
			if !slices.ContainsFunc(deps, func(dep marathon.Deployment) bool { return slices.Contains(dep.AffectedApps, id) }) {
				return nil
			}
		}
		if d.Now().After(deadline) {
			return fail(ExitDeleteFailed, "%s still there %s after its deletion", id, d.MaxWait)
		}
		if err := sleep(ctx, min(d.StepDelay, time.Second)); err != nil {
			return err
		}
	}
}

// rollback gives the old app its target back, waits until its tasks are
// healthy, then deletes the new app: traffic never depended on the new
// tasks (the load balancer drains old tasks only as new ones turn
// healthy).
func (d *Deployer) rollback(ctx context.Context, plan Plan, old marathon.App, sum *Summary, cause error) error {
	d.Log.Error("the new colour does not turn healthy; rolling back", zap.String("new", plan.NewID), zap.String("old", plan.OldID), zap.Error(cause))
	tgt := plan.Target // the old app serves everything again, split or not
	if old.Instances < tgt {
		if _, err := d.Marathon.ScaleApp(ctx, plan.OldID, tgt, false); err != nil {
			return fail(ExitScaleFailed, "rollback: scale %s to %d: %w", plan.OldID, tgt, err)
		}
	}
	deadline := d.Now().Add(d.MaxWait)
	for {
		o, err := d.Marathon.App(ctx, plan.OldID)
		if err != nil {
			return fail(ExitMarathonError, "rollback: read %s: %w", plan.OldID, err)
		}
		if healthy(o) >= tgt && len(o.Deployments) == 0 {
			break
		}
		if d.Now().After(deadline) {
			return fail(ExitFailed, "rollback: %s has %d of %d healthy tasks after %s; both apps kept", plan.OldID, healthy(o), tgt, d.MaxWait)
		}
		if err := sleep(ctx, d.StepDelay); err != nil {
			return err
		}
	}
	if _, err := d.Marathon.DeleteApp(ctx, plan.NewID, true); err != nil {
		return fail(ExitDeleteFailed, "rollback: delete %s: %w", plan.NewID, err)
	}
	sum.RolledBack = true
	if err := d.waitGone(ctx, plan.NewID); err != nil {
		return err
	}
	return &Error{Code: ExitFailed, Err: fmt.Errorf("deployment of %s %w to %s: %w", plan.NewID, ErrRolledBack, plan.OldID, cause)}
}
