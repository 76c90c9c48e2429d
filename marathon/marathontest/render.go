package marathontest

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// embeds selects the optional parts of AppInfo (InfoEmbedResolver).
type embeds struct {
	tasks, lastTaskFailure, readiness, taskStats bool
}

// singleAppEmbed is what GET /v2/apps/{id} always embeds.
var singleAppEmbed = embeds{tasks: true, lastTaskFailure: true}

func parseEmbeds(values []string) embeds {
	var e embeds
	for _, v := range values {
		for _, x := range strings.Split(v, ",") {
			switch strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(x), "apps."), "app.") {
			case "tasks":
				e.tasks = true
			case "lastTaskFailure":
				e.lastTaskFailure = true
			case "failures": // deprecated: tasks and the last failure
				e.tasks, e.lastTaskFailure = true, true
			case "readiness":
				e.readiness = true
			case "taskStats":
				e.taskStats = true
			}
		}
	}
	return e
}

// appDefJSON is the app definition as Marathon writes it (raml.App):
// the stored definition with version and versionInfo.
func appDefJSON(a *simApp) map[string]any {
	out := make(map[string]any, len(a.def)+2)
	for k, v := range a.def {
		out[k] = v
	}
	out["version"] = a.version
	out["versionInfo"] = map[string]any{
		"lastScalingAt":      a.versionInfo.LastScalingAt,
		"lastConfigChangeAt": a.versionInfo.LastConfigChangeAt,
	}
	return out
}

// appInfoJSONLocked is AppInfo: the definition, task counts, running
// deployments and the embedded parts.
func (s *Server) appInfoJSONLocked(a *simApp, e embeds) map[string]any {
	out := appDefJSON(a)
	var staged, running, healthy, unhealthy int
	for _, t := range a.tasks {
		switch t.state {
		case marathon.TaskStaging:
			staged++
		case marathon.TaskRunning:
			running++
		}
		has, allAlive := false, true
		for _, h := range t.health {
			if h.has {
				has = true
				allAlive = allAlive && h.alive()
			}
		}
		if has && allAlive {
			healthy++
		} else if has {
			unhealthy++
		}
	}
	out["tasksStaged"], out["tasksRunning"] = staged, running
	out["tasksHealthy"], out["tasksUnhealthy"] = healthy, unhealthy
	deps := []any{}
	for _, d := range s.deployments {
		for _, c := range d.changes {
			if c.app == a {
				deps = append(deps, map[string]any{"id": d.id})
				break
			}
		}
	}
	out["deployments"] = deps
	if e.tasks {
		tasks := make([]any, 0, len(a.tasks))
		for _, t := range a.tasks {
			tasks = append(tasks, s.taskJSON(t, false))
		}
		out["tasks"] = tasks
	}
	if e.lastTaskFailure && a.lastFailure != nil {
		out["lastTaskFailure"] = a.lastFailure
	}
	if e.readiness {
		out["readinessCheckResults"] = []any{}
	}
	if e.taskStats {
		out["taskStats"] = taskStatsJSON(a)
	}
	return out
}

// taskJSON is EnrichedTask: the task, its app, agent and health results;
// servicePorts only where Marathon adds them (GET /v2/tasks).
func (s *Server) taskJSON(t *simTask, withServicePorts bool) map[string]any {
	out := map[string]any{
		"id":          t.id,
		"appId":       t.app.id,
		"host":        s.opts.TaskHost,
		"state":       t.state,
		"stagedAt":    fmtTime(t.stagedAt),
		"ports":       t.ports,
		"version":     t.version,
		"slaveId":     s.agentID,
		"ipAddresses": ipAddressesJSON(t),
		"region":      "primary",
		"zone":        "a",
		"role":        "*",
	}
	if !t.startedAt.IsZero() {
		out["startedAt"] = fmtTime(t.startedAt)
	}
	if withServicePorts {
		if sp := servicePortsOf(t.app.def); len(sp) > 0 {
			out["servicePorts"] = sp
		}
	}
	var results []any
	for _, h := range t.health {
		if h.has {
			results = append(results, healthJSON(t, h))
		}
	}
	if len(results) > 0 {
		out["healthCheckResults"] = results
	}
	return out
}

func ipAddressesJSON(t *simTask) []any {
	return []any{map[string]any{"ipAddress": t.ip, "protocol": "IPv4"}}
}

// healthJSON is Formats.HealthWrites: absent times are null.
func healthJSON(t *simTask, h *healthState) map[string]any {
	orNull := func(at time.Time) any {
		if at.IsZero() {
			return nil
		}
		return fmtTime(at)
	}
	var cause any
	if h.lastFailureCause != "" {
		cause = h.lastFailureCause
	}
	return map[string]any{
		"alive":               h.alive(),
		"consecutiveFailures": h.consecutiveFailures,
		"firstSuccess":        orNull(h.firstSuccess),
		"lastFailure":         orNull(h.lastFailure),
		"lastSuccess":         orNull(h.lastSuccess),
		"lastFailureCause":    cause,
		"instanceId":          t.instanceID,
	}
}

// taskStatsJSON is TaskStatsByVersion, only the parts that have tasks.
func taskStatsJSON(a *simApp) map[string]any {
	stats := func(tasks []*simTask) map[string]any {
		var staged, running, healthy, unhealthy int
		var lifes []float64
		for _, t := range tasks {
			switch t.state {
			case marathon.TaskStaging:
				staged++
			case marathon.TaskRunning:
				running++
				lifes = append(lifes, time.Since(t.startedAt).Seconds())
			}
			for _, h := range t.health {
				if h.has && h.alive() {
					healthy++
				} else if h.has {
					unhealthy++
				}
			}
		}
		st := map[string]any{"counts": map[string]any{"staged": staged, "running": running, "healthy": healthy, "unhealthy": unhealthy}}
		if len(lifes) > 0 {
			sort.Float64s(lifes)
			sum := 0.0
			for _, l := range lifes {
				sum += l
			}
			st["lifeTime"] = map[string]any{"averageSeconds": sum / float64(len(lifes)), "medianSeconds": lifes[len(lifes)/2]}
		}
		return map[string]any{"stats": st}
	}
	out := map[string]any{}
	if len(a.tasks) == 0 {
		return out
	}
	out["totalSummary"] = stats(a.tasks)
	var latest, outdated, afterScaling []*simTask
	for _, t := range a.tasks {
		if t.version >= a.versionInfo.LastConfigChangeAt {
			latest = append(latest, t)
		} else {
			outdated = append(outdated, t)
		}
		if fmtTime(t.stagedAt) >= a.versionInfo.LastScalingAt {
			afterScaling = append(afterScaling, t)
		}
	}
	for k, ts := range map[string][]*simTask{"withLatestConfig": latest, "withOutdatedConfig": outdated, "startedAfterLastScaling": afterScaling} {
		if len(ts) > 0 {
			out[k] = stats(ts)
		}
	}
	return out
}

// groupSnapshot is the root group (raml.Group) at one moment, for a
// deployment plan's original and target: each live app's definition as it
// was (definitions are replaced on a change, never modified). It is
// rendered only when a plan is encoded whole: at 10,000 apps building it
// for every deployment, under the server's lock, took longer than the
// deployment, and plan-format=light subscribers never need it.
type groupSnapshot struct {
	apps    []simApp // id, def, version and versionInfo only
	version string
	once    sync.Once
	json    []byte
	err     error
}

// snapshotLocked takes the root group as it is now.
func (s *Server) snapshotLocked() *groupSnapshot {
	g := &groupSnapshot{version: s.rootVersion}
	if g.version == "" {
		g.version = now()
	}
	for _, a := range s.sortedAppsLocked() {
		g.apps = append(g.apps, simApp{id: a.id, def: a.def, version: a.version, versionInfo: a.versionInfo})
	}
	return g
}

// MarshalJSON renders the group, nested by path, once.
func (g *groupSnapshot) MarshalJSON() ([]byte, error) {
	g.once.Do(func() { g.json, g.err = json.Marshal(g.render()) })
	return g.json, g.err
}

func (g *groupSnapshot) render() map[string]any {
	type group struct {
		apps   []any
		groups map[string]*group
	}
	root := &group{groups: map[string]*group{}}
	for i := range g.apps {
		a := &g.apps[i]
		node, path := root, ""
		segs := strings.Split(strings.TrimPrefix(a.id, "/"), "/")
		for _, seg := range segs[:len(segs)-1] {
			path += "/" + seg
			child := node.groups[path]
			if child == nil {
				child = &group{groups: map[string]*group{}}
				node.groups[path] = child
			}
			node = child
		}
		node.apps = append(node.apps, appDefJSON(a))
	}
	version := g.version
	var render func(id string, n *group) map[string]any
	render = func(id string, n *group) map[string]any {
		ids := make([]string, 0, len(n.groups))
		for k := range n.groups {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		groups := make([]any, 0, len(ids))
		for _, k := range ids {
			groups = append(groups, render(k, n.groups[k]))
		}
		apps := n.apps
		if apps == nil {
			apps = []any{}
		}
		return map[string]any{"id": id, "apps": apps, "groups": groups, "pods": []any{},
			"dependencies": []any{}, "version": version}
	}
	return render("/", root)
}

// stepJSON is a DeploymentStep: {"actions":[{"action","app"}]}.
func stepJSON(step []*action) map[string]any {
	actions := make([]any, 0, len(step))
	for _, a := range step {
		actions = append(actions, map[string]any{"action": a.kind, "app": a.app.id})
	}
	return map[string]any{"actions": actions}
}

// planJSON is Formats.DeploymentPlanWrites.
func planJSON(d *deployment) map[string]any {
	steps := make([]any, 0, len(d.steps))
	for _, st := range d.steps {
		steps = append(steps, stepJSON(st))
	}
	return map[string]any{"id": d.id, "original": d.original, "target": d.target, "steps": steps, "version": d.version}
}

// deploymentJSON is DeploymentStepInfo, one entry of GET /v2/deployments.
func deploymentJSON(d *deployment) map[string]any {
	steps := make([]any, 0, len(d.steps))
	for _, st := range d.steps {
		steps = append(steps, stepJSON(st))
	}
	current := []any{}
	if d.cur < len(d.steps) {
		for _, a := range d.steps[d.cur] {
			current = append(current, map[string]any{"action": a.kind, "app": a.app.id, "readinessCheckResults": []any{}})
		}
	}
	return map[string]any{
		"id": d.id, "version": d.version, "affectedApps": d.affectedApps(), "affectedPods": []any{},
		"steps": steps, "currentActions": current, "currentStep": min(d.cur+1, len(d.steps)), "totalSteps": len(d.steps),
	}
}
