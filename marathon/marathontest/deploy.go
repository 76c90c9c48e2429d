package marathontest

import (
	"math"
	"sort"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Deployment action names (DeploymentAction.actionName).
const (
	actStart   = "StartApplication"
	actScale   = "ScaleApplication"
	actRestart = "RestartApplication"
	actStop    = "StopApplication"
)

// deployment is one running deployment plan, as Marathon's DeploymentPlan:
// ordered steps of actions, the root group before and after, and for
// rollback each app as it was.
type deployment struct {
	id, version string
	steps       [][]*action
	cur         int // index of the running step
	original    *groupSnapshot
	target      *groupSnapshot
	changes     []*appChange
}

// action drives one app during one step. Scale and restart actions are
// re-evaluated on every change of their app's tasks until done.
type action struct {
	kind     string
	app      *simApp
	toKill   map[*simTask]bool // kill-and-scale victims
	launched map[*simTask]bool // tasks this action started (they must become ready)
	version  string            // restart: the version every task must run
	started  bool
	done     bool
	// restart bounds (TaskReplaceActor)
	minHealthy, maxCapacity int
}

func (d *deployment) affects(id string) bool {
	for _, c := range d.changes {
		if c.id == id {
			return true
		}
	}
	return false
}

func (d *deployment) affectedApps() []string {
	out := make([]string, 0, len(d.changes))
	for _, c := range d.changes {
		out = append(out, c.id)
	}
	sort.Strings(out)
	return out
}

// newDeploymentLocked builds the plan as DeploymentPlan.apply does: stop
// removed apps, start new ones with 0 instances, then scale new and
// scale-only apps and restart changed ones. Empty steps are dropped.
func (s *Server) newDeploymentLocked(changes []*appChange, version string, original, target *groupSnapshot) *deployment {
	d := &deployment{id: uuid(), version: version, original: original, target: target, changes: changes}
	var stops, starts, scales []*action
	for _, c := range changes {
		if c.app == nil {
			continue
		}
		newAction := func(kind string) *action {
			return &action{kind: kind, app: c.app, toKill: map[*simTask]bool{}, launched: map[*simTask]bool{}, version: c.app.version}
		}
		switch {
		case c.def == nil:
			stops = append(stops, newAction(actStop))
		case c.created:
			starts = append(starts, newAction(actStart))
			scales = append(scales, newAction(actScale))
		case c.changed && c.app.view.Instances > 0: // isScaledToZero is a scale
			scales = append(scales, newAction(actRestart))
		default:
			a := newAction(actScale)
			for _, t := range c.toKill {
				a.toKill[t] = true
			}
			scales = append(scales, a)
		}
	}
	for _, step := range [][]*action{stops, starts, scales} {
		if len(step) > 0 {
			sort.Slice(step, func(i, j int) bool { return step[i].app.id < step[j].app.id })
			d.steps = append(d.steps, step)
		}
	}
	s.deployments = append(s.deployments, d)
	return d
}

// runLocked starts a deployment: deployment_info for its first step, then
// as much progress as the tasks allow.
func (s *Server) runLocked(d *deployment) {
	if len(d.steps) > 0 {
		s.emitLocked("deployment_info", map[string]any{"plan": planJSON(d), "currentStep": stepJSON(d.steps[0])})
	}
	s.progressLocked(d)
}

// progressLocked drives the current step's actions; when all are done it
// posts deployment_step_success and moves on, and after the last step
// deployment_success.
func (s *Server) progressLocked(d *deployment) {
	if !s.running(d) {
		return
	}
	for d.cur < len(d.steps) {
		step := d.steps[d.cur]
		done := true
		for _, a := range step {
			if !a.done {
				s.driveLocked(a)
			}
			done = done && a.done
		}
		if !done {
			return
		}
		for _, a := range step {
			if a.kind == actStop {
				s.terminatedLocked(a.app) // SchedulerActions.stopRunSpec, before the step ends
			}
		}
		s.emitLocked("deployment_step_success", map[string]any{"plan": planJSON(d), "currentStep": stepJSON(step)})
		d.cur++
		if d.cur < len(d.steps) {
			s.emitLocked("deployment_info", map[string]any{"plan": planJSON(d), "currentStep": stepJSON(d.steps[d.cur])})
		}
	}
	s.removeDeploymentLocked(d)
	s.emitLocked("deployment_success", map[string]any{"id": d.id, "plan": planJSON(d)})
}

func (s *Server) running(d *deployment) bool {
	for _, x := range s.deployments {
		if x == d {
			return true
		}
	}
	return false
}

func (s *Server) removeDeploymentLocked(d *deployment) {
	for i, x := range s.deployments {
		if x == d {
			s.deployments = append(s.deployments[:i], s.deployments[i+1:]...)
			return
		}
	}
}

// cancelLocked stops a deployment where it is (force, or DELETE
// /v2/deployments/{id}?force=true): deployment_failed, tasks stay as they are.
func (s *Server) cancelLocked(d *deployment) {
	if !s.running(d) {
		return
	}
	s.removeDeploymentLocked(d)
	s.emitLocked("deployment_failed", map[string]any{"id": d.id, "plan": planJSON(d)})
	for _, c := range d.changes {
		if c.app != nil && c.app.dead {
			s.reconcileLocked(c.app)
		}
	}
}

// rollbackLocked is DELETE /v2/deployments/{id}: cancel it and deploy every
// affected app back to what it was (DeploymentPlan.revert, forced).
func (s *Server) rollbackLocked(d *deployment) (*deployment, *APIError) {
	s.cancelLocked(d)
	var changes []*appChange
	for _, c := range d.changes {
		if c.before == nil { // created: remove
			if s.apps[c.id] != nil {
				changes = append(changes, &appChange{id: c.id})
			}
			continue
		}
		// updated or deleted: restore
		changes = append(changes, &appChange{id: c.id, def: cloneDef(c.before.def), restore: c.before})
	}
	nd, err := s.applyLocked(changes, true)
	if err != nil {
		return nil, err
	}
	s.runLocked(nd)
	return nd, nil
}

// driverLocked is the running deployment whose current step drives app.
func (s *Server) driverLocked(app *simApp) *deployment {
	for _, d := range s.deployments {
		if d.cur < len(d.steps) {
			for _, a := range d.steps[d.cur] {
				if a.app == app && !a.done {
					return d
				}
			}
		}
	}
	return nil
}

// touchLocked reacts to a change of app's tasks (state or health): the
// deployment driving it progresses, or Marathon's launch queue replaces
// lost instances.
func (s *Server) touchLocked(app *simApp) {
	if s.closed {
		return
	}
	if d := s.driverLocked(app); d != nil {
		s.progressLocked(d)
		return
	}
	s.reconcileLocked(app)
}

// reconcileLocked keeps an app without deployment at its instance count
// (replacing failed and killed tasks); a deleted app's tasks are killed and
// the app goes once they are gone.
func (s *Server) reconcileLocked(app *simApp) {
	if app.dead {
		for _, t := range app.active() {
			s.killLocked(t)
		}
		if len(app.tasks) == 0 {
			s.terminatedLocked(app)
		}
		return
	}
	// A killing instance is still active for Marathon: its replacement
	// comes once it is terminal.
	for n := len(app.tasks); n < app.view.Instances; n++ {
		s.launchLocked(app)
	}
}

// terminatedLocked forgets a deleted app: app_terminated_event.
func (s *Server) terminatedLocked(app *simApp) {
	if !s.dying[app] {
		return
	}
	delete(s.dying, app)
	s.emitLocked("app_terminated_event", map[string]any{"appId": app.id})
}

// ready is what a deployment waits for: running, and healthy in every
// health check when the app has some.
func (t *simTask) ready() bool {
	if t.state != marathon.TaskRunning {
		return false
	}
	for _, h := range t.health {
		if !h.has || !h.alive() {
			return false
		}
	}
	return true
}

func (s *Server) driveLocked(a *action) {
	switch a.kind {
	case actStart:
		a.done = true
	case actScale:
		s.driveScaleLocked(a)
	case actRestart:
		s.driveRestartLocked(a)
	case actStop:
		for _, t := range a.app.active() {
			s.killLocked(t)
		}
		a.done = len(a.app.tasks) == 0
	}
}

// driveScaleLocked kills the victims and the surplus (ScalingProposition:
// least advanced first, then by killSelection) or launches what is missing;
// it is done when the count is right, nothing is still being killed and
// every task it started is ready.
func (s *Server) driveScaleLocked(a *action) {
	app := a.app
	for t := range a.toKill {
		if t.state != marathon.TaskKilling && !t.terminal() {
			s.killLocked(t)
		}
	}
	active := app.active()
	target := app.view.Instances
	if len(active) > target {
		for _, t := range killOrder(active, app.view.KillSelection)[:len(active)-target] {
			s.killLocked(t)
		}
	}
	for n := len(active); n < target; n++ {
		a.launched[s.launchLocked(app)] = true
	}
	if len(app.active()) != target || app.hasKilling() {
		return
	}
	for t := range a.launched {
		if !t.terminal() && !t.ready() {
			return
		}
	}
	a.done = true
}

// driveRestartLocked is TaskReplaceActor: keep at least minimumHealthCapacity
// of the instances healthy, run at most maximumOverCapacity extra, kill an
// old task for each new one that is ready.
func (s *Server) driveRestartLocked(a *action) {
	app := a.app
	instances := app.view.Instances
	var old, fresh []*simTask
	for _, t := range app.active() {
		if t.version == a.version {
			fresh = append(fresh, t)
		} else {
			old = append(old, t)
		}
	}
	readyNew := 0
	for _, t := range fresh {
		if t.ready() {
			readyNew++
		}
	}
	if !a.started {
		a.started = true
		us := app.view.UpgradeStrategy
		minHC, maxOC := 1.0, 1.0
		if us != nil {
			minHC, maxOC = us.MinimumHealthCapacity, us.MaximumOverCapacity
		}
		a.minHealthy = int(math.Ceil(float64(instances) * minHC))
		a.maxCapacity = int(float64(instances) * (1 + maxOC))
		if a.minHealthy == a.maxCapacity && a.maxCapacity <= len(old)+len(fresh) {
			a.maxCapacity++ // make sure at least one can be started
		}
	}
	if keep := max(0, a.minHealthy-readyNew); len(old) > keep {
		for _, t := range killOrder(old, app.view.KillSelection)[:len(old)-keep] {
			s.killLocked(t)
		}
		old = old[:0]
		for _, t := range app.active() {
			if t.version != a.version {
				old = append(old, t)
			}
		}
	}
	for n := min(instances-len(fresh), a.maxCapacity-len(old)-len(fresh)); n > 0; n-- {
		s.launchLocked(app)
	}
	if len(old) > 0 || app.hasKilling() || readyNew != instances || len(fresh) != instances {
		return
	}
	a.done = true
}

// killOrder sorts tasks the way Marathon picks them to kill: staging
// before starting before running, then youngest (or oldest) first.
func killOrder(tasks []*simTask, selection string) []*simTask {
	weight := func(t *simTask) int {
		switch t.state {
		case marathon.TaskStaging:
			return 0
		case marathon.TaskStarting:
			return 1
		}
		return 2
	}
	out := append([]*simTask(nil), tasks...)
	sort.SliceStable(out, func(i, j int) bool {
		if wi, wj := weight(out[i]), weight(out[j]); wi != wj {
			return wi < wj
		}
		if selection == "OLDEST_FIRST" {
			return out[i].stagedAt.Before(out[j].stagedAt)
		}
		return out[i].stagedAt.After(out[j].stagedAt)
	})
	return out
}
