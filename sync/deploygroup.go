package sync

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// mergeDeploymentGroups is the load balancer's side of a blue/green
// deployment (marathon-lb behaviour spec §3.2): the apps of one
// HAPROXY_DEPLOYMENT_GROUP=G become one app /G whose backend holds both
// colours' tasks, the old app's labels, ports and checks, and the old
// tasks that the new healthy ones replace marked draining (their servers
// are disabled, as marathon-lb's `disabled`). Apps without the label pass
// through in order. It returns the apps, the draining task ids, and the
// errors of groups that cannot be merged (keyed by the group's app id).
func mergeDeploymentGroups(apps []marathon.App, healthCheck bool) ([]marathon.App, map[string]bool, map[string][]error) {
	draining := map[string]bool{}
	grouped := false
	for i := range apps {
		if apps[i].Labels[labels.DeploymentGroup] != "" {
			grouped = true
			break
		}
	}
	if !grouped {
		// The common case copies nothing: an App is large, and this runs
		// for every event.
		return apps, draining, nil
	}
	var out []marathon.App
	errs := map[string][]error{}
	at := map[string]int{} // group id → index in out
	for _, app := range apps {
		g := app.Labels[labels.DeploymentGroup]
		if g == "" {
			out = append(out, app)
			continue
		}
		if !strings.HasPrefix(g, "/") {
			g = "/" + g
		}
		i, seen := at[g]
		if !seen {
			app.ID = g
			at[g] = len(out)
			out = append(out, app)
			continue
		}
		merged, drain, err := mergePair(out[i], app, healthCheck)
		if err != nil {
			errs[g] = append(errs[g], err)
			continue
		}
		merged.ID = g
		out[i] = merged
		for _, id := range drain {
			draining[id] = true
		}
	}
	return out, draining, errs
}

// mergePair merges app into the group's app seen before it.
func mergePair(prev, app marathon.App, healthCheck bool) (marathon.App, []string, error) {
	// Smaller HAPROXY_DEPLOYMENT_STARTED_AT is old; on a tie the app seen
	// before counts as new.
	old, nu := app, prev
	if startedAt(prev).Before(startedAt(app)) {
		old, nu = prev, app
	}
	target := 1
	if _, ok := nu.Labels[labels.DeploymentNewInstances]; ok {
		// marathon-lb compares a string with 0 here, so the swap runs
		// whenever the label is present.
		if scaledAt(old).After(scaledAt(nu)) {
			old, nu = nu, old
		}
		raw, ok := nu.Labels[labels.DeploymentTargetInstances]
		n, err := strconv.Atoi(raw)
		if !ok || err != nil {
			return marathon.App{}, nil, &labels.Error{AppID: nu.ID, Port: -1, Label: labels.DeploymentTargetInstances, Value: raw,
				Err: fmt.Errorf("%w: a traffic-split deployment (HAPROXY_DEPLOYMENT_NEW_INSTANCES) needs the target instance count", labels.ErrInvalidValue)}
		}
		target = n
	}
	healthyNew := nu.Instances
	if healthCheck && len(app.HealthChecks) > 0 {
		healthyNew = 0
		for _, t := range nu.Tasks {
			if alive(t) {
				healthyNew++
			}
		}
	}
	drainable := max(0, healthyNew+old.Instances-target)
	oldTasks := append([]marathon.Task(nil), old.Tasks...)
	sort.Slice(oldTasks, func(i, j int) bool { return oldTasks[i].ID < oldTasks[j].ID })
	var drain []string
	for _, t := range oldTasks[:min(len(oldTasks), healthyNew, drainable)] {
		drain = append(drain, t.ID)
	}
	merged := old
	merged.Tasks = append(append([]marathon.Task(nil), old.Tasks...), nu.Tasks...)
	return merged, drain, nil
}

func startedAt(a marathon.App) time.Time {
	t, err := time.Parse(time.RFC3339Nano, a.Labels[labels.DeploymentStartedAt])
	if err != nil {
		return time.Time{} // missing or unreadable: the minimum date
	}
	return t
}

func scaledAt(a marathon.App) time.Time {
	if a.VersionInfo == nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, a.VersionInfo.LastScalingAt)
	return t
}
