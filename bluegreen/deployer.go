package bluegreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/internal/pause"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Marathon is what the Deployer calls; *marathon.Client satisfies it.
type Marathon interface {
	Apps(ctx context.Context) ([]marathon.App, error)
	App(ctx context.Context, id string) (marathon.App, error)
	CreateAppJSON(ctx context.Context, def json.RawMessage) (marathon.App, error)
	ScaleApp(ctx context.Context, id string, instances int, force bool) (marathon.DeploymentResult, error)
	DeleteApp(ctx context.Context, id string, force bool) (marathon.DeploymentResult, error)
	KillTasks(ctx context.Context, taskIDs []string, scale bool) error
}

// Config configures a Deployer. Zero durations take marathon-lb's defaults.
type Config struct {
	Marathon Marathon
	Drain    DrainObserver
	// Confirm asks the operator a yes/no question; nil answers yes (--force).
	Confirm func(ctx context.Context, question string) (bool, error)
	// PreKillHook is run before each kill as `hook <old app JSON>
	// <task ids JSON> <new app JSON>`; a non-zero exit stops (exit 2).
	PreKillHook string
	// StepDelay is the poll period (--step-delay, default 5s).
	StepDelay time.Duration
	// MaxWait bounds each wait (--max-wait, default 300s): for the draining
	// servers to reach zero sessions (then MAINT servers are killed anyway,
	// the grace period), and for the new colour to become healthy (then the
	// deployment is rolled back).
	MaxWait time.Duration
	// InitialInstances, NewInstances and LinearIncrease are the flags of the
	// same names.
	InitialInstances, NewInstances, LinearIncrease int
	Resume, CompleteCur, CompletePrev, DryRun      bool
	// NoRollback keeps both colours when the new one fails (marathon-lb's
	// behaviour); by default the old colour is restored and the new deleted.
	NoRollback bool
	// Out receives the prepared app JSON.
	Out io.Writer
	Log *zap.Logger
	// LookupHost resolves a task host to its IP (nil: the system resolver).
	LookupHost func(ctx context.Context, host string) (string, error)
	Now        func() time.Time
}

// Result says how a run ended.
type Result struct {
	// Outcome: "dry-run", "created" (first deployment), "complete" (old
	// colour deleted), "split" (traffic split reached), "rolled-back".
	Outcome        string
	NewApp, OldApp string
	Killed         int
	Duration       time.Duration
}

// Deployer runs one zdd.
type Deployer struct {
	cfg Config
	log *zap.Logger
}

// New applies defaults.
func New(cfg Config) *Deployer {
	if cfg.StepDelay <= 0 {
		cfg.StepDelay = 5 * time.Second
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 300 * time.Second
	}
	if cfg.InitialInstances < 1 {
		cfg.InitialInstances = 1
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LookupHost == nil {
		cfg.LookupHost = func(ctx context.Context, host string) (string, error) {
			if net.ParseIP(host) != nil {
				return host, nil
			}
			addrs, err := net.DefaultResolver.LookupHost(ctx, host)
			if err != nil || len(addrs) == 0 {
				return "", fmt.Errorf("resolve task host %s: %w", host, err)
			}
			return addrs[0], nil
		}
	}
	return &Deployer{cfg: cfg, log: cfg.Log}
}

// Deploy runs zdd for an app definition (the --json file's content).
func (d *Deployer) Deploy(ctx context.Context, def []byte) (Result, error) {
	start := d.cfg.Now()
	res, err := d.deploy(ctx, def)
	res.Duration = d.cfg.Now().Sub(start)
	return res, err
}

func (d *Deployer) deploy(ctx context.Context, def []byte) (Result, error) {
	app, err := LoadApp(def)
	if err != nil {
		return Result{}, err
	}
	if d.cfg.CompleteCur && d.cfg.CompletePrev {
		return Result{}, fmt.Errorf("%w: --complete-cur and --complete-prev exclude each other", ErrInvalidArgs)
	}
	group := Group(app)
	apps, err := d.cfg.Marathon.Apps(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("%w: list apps: %w", ErrMarathonQuery, err)
	}
	prev := Previous(apps, group)
	d.log.Info("found previous deployments", zap.String("group", group), zap.Int("count", len(prev)), zap.Strings("apps", ids(prev)))
	if len(prev) > 1 {
		// A stuck or traffic-split deployment (§9.2 step 3).
		latest, before := prev[len(prev)-1], prev[len(prev)-2]
		if d.cfg.DryRun && (d.cfg.CompleteCur || d.cfg.CompletePrev || d.cfg.Resume) {
			// marathon-lb ignored --dry-run here (§12); we stop before any change.
			d.log.Info("dry run: would continue the deployment in progress", zap.String("latest", latest.ID), zap.String("previous", before.ID))
			return Result{Outcome: "dry-run", NewApp: latest.ID, OldApp: before.ID}, nil
		}
		switch {
		case d.cfg.CompleteCur:
			d.log.Info("completing towards the current colour", zap.String("new", latest.ID), zap.String("old", before.ID))
			return d.swap(ctx, latest, before, modeComplete)
		case d.cfg.CompletePrev:
			d.log.Info("rolling back to the previous colour", zap.String("new", before.ID), zap.String("old", latest.ID))
			return d.swap(ctx, before, latest, modeComplete)
		case d.cfg.Resume:
			d.log.Info("resuming", zap.String("new", latest.ID), zap.String("old", before.ID))
			return d.swap(ctx, latest, before, modeResume)
		}
		return Result{}, fmt.Errorf("%w: group %s has %d apps (%v): use --resume, --complete-cur or --complete-prev", ErrInProgress, group, len(prev), ids(prev))
	}
	if d.cfg.CompleteCur || d.cfg.CompletePrev {
		return Result{}, fmt.Errorf("%w: --complete-cur and --complete-prev need a deployment in progress (group %s has %d app)", ErrInvalidArgs, group, len(prev))
	}
	var last *marathon.App
	if len(prev) == 1 {
		last = &prev[0]
	}
	newApp, err := Prepare(app, last, PrepareOptions{InitialInstances: d.cfg.InitialInstances, NewInstances: d.cfg.NewInstances, Now: d.cfg.Now()})
	if err != nil {
		return Result{}, err
	}
	raw, err := PrepareJSON(def, newApp)
	if err != nil {
		return Result{}, err
	}
	if _, err := fmt.Fprintf(d.cfg.Out, "%s\n", raw); err != nil {
		return Result{}, err
	}
	if d.cfg.DryRun {
		return Result{Outcome: "dry-run", NewApp: newApp.ID}, nil
	}
	if err := d.confirm(ctx, "Continue with deployment?"); err != nil {
		return Result{}, err
	}
	if _, err := d.cfg.Marathon.CreateAppJSON(ctx, raw); err != nil {
		return Result{}, fmt.Errorf("%w: create %s: %w", ErrCreate, newApp.ID, err)
	}
	d.log.Info("created new colour", zap.String("app", newApp.ID), zap.String("colour", newApp.Labels["HAPROXY_DEPLOYMENT_COLOUR"]),
		zap.Int("instances", newApp.Instances), zap.Int("target", Target(newApp)))
	if last == nil {
		return Result{Outcome: "created", NewApp: newApp.ID}, nil
	}
	return d.swap(ctx, newApp, *last, modeDeploy)
}

type swapMode int

const (
	modeDeploy   swapMode = iota // a new deployment: rolled back on failure
	modeResume                   // --resume: continues a split as a split
	modeComplete                 // --complete-cur/--complete-prev: all the way, no split
)

// errNoProgress: within MaxWait the new colour did not become healthy, or
// the LB took no old server out of rotation.
var errNoProgress = errors.New("the deployment made no progress")

// swap moves traffic from old to nu (§9.2 step 7).
func (d *Deployer) swap(ctx context.Context, nu, old marathon.App, mode swapMode) (Result, error) {
	res := Result{NewApp: nu.ID, OldApp: old.ID}
	target := Target(nu)
	split := 0
	if mode != modeComplete {
		split = NewInstances(nu)
	}
	goal := target
	if split > 0 {
		goal = split
	}
	group := Group(nu)
	waitSince := d.cfg.Now()
	for {
		var err error
		if nu, err = d.cfg.Marathon.App(ctx, nu.ID); err != nil {
			return res, fmt.Errorf("%w: read %s: %w", ErrMarathonQuery, nu.ID, err)
		}
		if old, err = d.cfg.Marathon.App(ctx, old.ID); err != nil {
			return res, fmt.Errorf("%w: read %s: %w", ErrMarathonQuery, old.ID, err)
		}
		// Marathon answers 409 to a kill or scale of a locked app: wait for
		// both colours' deployments (the old one's are earlier kills).
		if len(nu.Deployments) > 0 || len(old.Deployments) > 0 {
			if d.cfg.Now().Sub(waitSince) > d.cfg.MaxWait {
				if len(nu.Deployments) > 0 {
					return d.failed(ctx, res, nu, old, target, mode, fmt.Errorf("%w: %s still deploying after %s (%d of %d tasks healthy)",
						errNoProgress, nu.ID, d.cfg.MaxWait, healthyCount(nu), nu.Instances))
				}
				return res, fmt.Errorf("%w: %s still deploying after %s", ErrScale, old.ID, d.cfg.MaxWait)
			}
			d.log.Info("waiting for deployments", zap.String("app", nu.ID), zap.Int("instances", nu.Instances),
				zap.Int("healthy", healthyCount(nu)), zap.Int("old_deployments", len(old.Deployments)))
			if err := pause.For(ctx, d.cfg.StepDelay); err != nil {
				return res, err
			}
			continue
		}
		kills, err := d.findKills(ctx, group, nu, old, target)
		if err != nil {
			if errors.Is(err, errNoProgress) {
				return d.failed(ctx, res, nu, old, target, mode, err)
			}
			return res, err
		}
		if Deletable(nu, old, target, split, kills) {
			if split > 0 {
				d.log.Info("traffic split reached; both colours stay (complete it with --complete-cur or --complete-prev)",
					zap.String("new", nu.ID), zap.Int("new_instances", nu.Instances), zap.String("old", old.ID), zap.Int("old_instances", old.Instances))
				res.Outcome = "split"
				return res, nil
			}
			if err := d.confirm(ctx, fmt.Sprintf("Delete the old app %s?", old.ID)); err != nil {
				return res, err
			}
			if _, err := d.cfg.Marathon.DeleteApp(ctx, old.ID, true); err != nil {
				return res, fmt.Errorf("%w: delete %s: %w", ErrDelete, old.ID, err)
			}
			d.log.Info("deleted the old colour", zap.String("app", old.ID))
			res.Outcome = "complete"
			return res, nil
		}
		if len(kills) > 0 {
			if err := d.runHook(ctx, old, kills, nu); err != nil {
				return res, err
			}
			if err := d.confirm(ctx, fmt.Sprintf("Kill %d drained tasks of %s?", len(kills), old.ID)); err != nil {
				return res, err
			}
			if err := d.cfg.Marathon.KillTasks(ctx, kills, true); err != nil {
				return res, fmt.Errorf("%w: kill %d tasks of %s: %w", ErrScale, len(kills), old.ID, err)
			}
			res.Killed += len(kills)
			waitSince = d.cfg.Now()
			d.log.Info("killed drained old tasks", zap.String("app", old.ID), zap.Strings("tasks", kills), zap.Int("old_instances", old.Instances-len(kills)))
		}
		if nu.Instances < goal {
			n := NextSize(nu.Instances, target, old.Instances, split, d.cfg.LinearIncrease)
			if _, err := d.cfg.Marathon.ScaleApp(ctx, nu.ID, n, false); err != nil {
				return res, fmt.Errorf("%w: scale %s to %d: %w", ErrScale, nu.ID, n, err)
			}
			d.log.Info("scaled the new colour", zap.String("app", nu.ID), zap.Int("from", nu.Instances), zap.Int("to", n), zap.Int("target", goal))
			waitSince = d.cfg.Now()
		}
		if len(kills) == 0 && nu.Instances >= goal && d.cfg.Now().Sub(waitSince) > d.cfg.MaxWait {
			// Nothing to kill and nothing to grow for a whole wait: a new
			// task that stopped passing its checks outside any deployment.
			return d.failed(ctx, res, nu, old, target, mode, fmt.Errorf("%w: nothing drained and nothing to grow for %s (%d of %d new tasks healthy)",
				errNoProgress, d.cfg.MaxWait, healthyCount(nu), nu.Instances))
		}
		if err := pause.For(ctx, d.cfg.StepDelay); err != nil {
			return res, err
		}
	}
}

// findKills waits for drained old servers (§9.2 step 7.2). It returns at
// once with nothing when the LB cannot drain anything yet (the new colour
// must grow first), the idle disabled tasks as soon as there are some, and
// after MaxWait the disabled ones whatever their sessions.
func (d *Deployer) findKills(ctx context.Context, group string, nu, old marathon.App, target int) ([]string, error) {
	healthy := healthyCount(nu)
	// The LB side (§3.2) disables min(healthy new, healthy new + old − target) old tasks.
	limit := min(len(old.Tasks), healthy, max(0, healthy+old.Instances-target))
	if limit == 0 {
		return nil, nil
	}
	proxies := Proxies(group, old)
	servers := map[string][]taskServer{}
	for _, t := range old.Tasks {
		ip, err := d.cfg.LookupHost(ctx, t.Host)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMarathonQuery, err)
		}
		servers[t.ID] = serversOf(t, ip, proxies)
	}
	deadline := d.cfg.Now().Add(d.cfg.MaxWait)
	var lastErr error
	var lbs [][]ServerStat
	for d.cfg.Now().Before(deadline) {
		if err := pause.For(ctx, d.cfg.StepDelay); err != nil {
			return nil, err
		}
		var err error
		lbs, err = d.cfg.Drain.Stats(ctx, proxies)
		if err != nil {
			lastErr = err
			d.log.Warn("cannot read the load balancer's stats", zap.Error(err))
			continue
		}
		lastErr = nil
		if ok, why := lbReady(lbs, proxies[0], nu.Instances+old.Instances, target); !ok {
			d.log.Info("waiting for the load balancer", zap.String("reason", why))
			continue
		}
		if kills := SelectKills(servers, lbs, true, limit); len(kills) > 0 {
			return kills, nil
		}
		d.log.Info("waiting for old servers to drain", zap.Strings("proxies", proxies), zap.Int("expected", limit))
	}
	if lastErr != nil && lbs == nil {
		return nil, lastErr
	}
	kills := SelectKills(servers, lbs, false, limit)
	if len(kills) == 0 {
		return nil, fmt.Errorf("%w: no old server of %s was taken out of rotation within %s (is the load balancer syncing this group?)", errNoProgress, old.ID, d.cfg.MaxWait)
	}
	d.log.Warn("drain wait over; killing disabled tasks with sessions left", zap.Duration("max_wait", d.cfg.MaxWait), zap.Strings("tasks", kills))
	return kills, nil
}

// failed handles a deployment that makes no progress within MaxWait (the
// new colour never healthy, or no old server ever out of rotation): on a new
// deployment the old colour is scaled back to the target and the new one
// deleted (unless NoRollback); otherwise both stay for the operator.
func (d *Deployer) failed(ctx context.Context, res Result, nu, old marathon.App, target int, mode swapMode, cause error) (Result, error) {
	d.log.Error("deployment failed", zap.String("app", nu.ID), zap.Error(cause))
	if mode != modeDeploy || d.cfg.NoRollback {
		return res, fmt.Errorf("%w; both colours stay: finish with --resume, --complete-cur or --complete-prev", cause)
	}
	d.log.Warn("rolling back", zap.String("restore", old.ID), zap.Int("instances", target), zap.String("delete", nu.ID))
	if old.Instances < target {
		if _, err := d.cfg.Marathon.ScaleApp(ctx, old.ID, target, true); err != nil {
			return res, fmt.Errorf("%w: rollback: scale %s to %d: %w (%w)", ErrScale, old.ID, target, err, cause)
		}
	}
	// The old colour serves at full size before the new one goes.
	deadline := d.cfg.Now().Add(d.cfg.MaxWait)
	for {
		o, err := d.cfg.Marathon.App(ctx, old.ID)
		if err != nil {
			return res, fmt.Errorf("%w: rollback: read %s: %w", ErrMarathonQuery, old.ID, err)
		}
		if len(o.Deployments) == 0 {
			break
		}
		if d.cfg.Now().After(deadline) {
			return res, fmt.Errorf("%w: rollback: %s did not come back within %s (%w)", ErrScale, old.ID, d.cfg.MaxWait, cause)
		}
		if err := pause.For(ctx, d.cfg.StepDelay); err != nil {
			return res, err
		}
	}
	if _, err := d.cfg.Marathon.DeleteApp(ctx, nu.ID, true); err != nil {
		return res, fmt.Errorf("%w: rollback: delete %s: %w (%w)", ErrDelete, nu.ID, err, cause)
	}
	d.log.Warn("rolled back", zap.String("restored", old.ID), zap.String("deleted", nu.ID))
	res.Outcome = "rolled-back"
	return res, fmt.Errorf("%w: %w", ErrRolledBack, cause)
}

func (d *Deployer) confirm(ctx context.Context, q string) error {
	if d.cfg.Confirm == nil {
		return nil
	}
	ok, err := d.cfg.Confirm(ctx, q)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrDeclined, q)
	}
	return nil
}

func (d *Deployer) runHook(ctx context.Context, old marathon.App, kills []string, nu marathon.App) error {
	if d.cfg.PreKillHook == "" {
		return nil
	}
	o, err := AppJSON(old)
	if err != nil {
		return err
	}
	n, err := AppJSON(nu)
	if err != nil {
		return err
	}
	k, _ := json.Marshal(kills)
	out, err := exec.CommandContext(ctx, d.cfg.PreKillHook, string(o), string(k), string(n)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s: %w: %s", ErrHook, d.cfg.PreKillHook, err, out)
	}
	d.log.Info("pre-kill hook passed", zap.String("hook", d.cfg.PreKillHook), zap.Strings("tasks", kills))
	return nil
}

// healthyCount is the new colour's tasks that serve: alive on every check
// (running when the app has none).
func healthyCount(app marathon.App) int {
	n := 0
	for _, t := range app.Tasks {
		if t.State != "" && t.State != marathon.TaskRunning {
			continue
		}
		if len(app.HealthChecks) == 0 {
			n++
			continue
		}
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

// readOnly are the fields Marathon computes: left out of printed JSON.
var readOnly = []string{"version", "versionInfo", "tasks", "deployments", "tasksStaged", "tasksRunning", "tasksHealthy",
	"tasksUnhealthy", "lastTaskFailure", "readinessCheckResults", "taskStats"}

// AppJSON prints an app definition as marathon-lb did: sorted keys,
// indent 2, without Marathon's computed fields.
func AppJSON(app marathon.App) ([]byte, error) {
	raw, err := json.Marshal(app)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, k := range readOnly {
		delete(m, k)
	}
	return json.MarshalIndent(m, "", "  ")
}

func ids(apps []marathon.App) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.ID
	}
	sort.Strings(out)
	return out
}
