package bluegreen

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Colours a deployment alternates between.
const (
	Blue  = "blue"
	Green = "green"
)

// LabelPort0 is HAPROXY_0_PORT: the public service port the LB keeps for
// the group whatever colour's Marathon service port is.
const LabelPort0 = "HAPROXY_0_PORT"

// LoadApp reads an app definition (the --json file). A missing
// "instances" is Marathon's default, 1.
func LoadApp(raw []byte) (marathon.App, error) {
	var app marathon.App
	if err := json.Unmarshal(raw, &app); err != nil {
		return app, fmt.Errorf("%w: app definition: %w", ErrInvalidArgs, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return app, fmt.Errorf("%w: app definition: %w", ErrInvalidArgs, err)
	}
	if _, ok := fields["instances"]; !ok {
		app.Instances = 1
	}
	return app, Validate(app)
}

// Validate checks what zdd needs before anything is called (§9.2 step 1):
// an id, HAPROXY_DEPLOYMENT_GROUP, HAPROXY_DEPLOYMENT_ALT_PORT (a port
// number) and a first service port.
func Validate(app marathon.App) error {
	if strings.Trim(app.ID, "/") == "" {
		return fmt.Errorf("%w: app definition has no id", ErrMissingField)
	}
	if app.Labels[labels.DeploymentGroup] == "" {
		return fmt.Errorf("%w: app %s has no %s label", ErrMissingField, app.ID, labels.DeploymentGroup)
	}
	raw, ok := app.Labels[labels.DeploymentAltPort]
	if !ok {
		return fmt.Errorf("%w: app %s has no %s label", ErrMissingField, app.ID, labels.DeploymentAltPort)
	}
	if p, err := strconv.Atoi(raw); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: app %s: %s=%q is not a port", ErrInvalidArgs, app.ID, labels.DeploymentAltPort, raw)
	}
	if _, ok := FirstServicePort(app); !ok {
		// marathon-lb crashed here on apps with portDefinitions only (§12);
		// we read every kind of port list, and refuse an app with none.
		return fmt.Errorf("%w: app %s has no service port", ErrMissingField, app.ID)
	}
	return nil
}

// ServicePorts are the app's service ports in marathon-lb's order of
// precedence (§9.2 step 5): docker portMappings, container portMappings,
// portDefinitions, then the legacy ports.
func ServicePorts(app marathon.App) []int {
	var out []int
	if pms := app.PortMappings(); len(pms) > 0 {
		for _, pm := range pms {
			p := 0
			if pm.ServicePort != nil {
				p = *pm.ServicePort
			}
			out = append(out, p)
		}
		return out
	}
	if len(app.PortDefinitions) > 0 {
		for _, pd := range app.PortDefinitions {
			out = append(out, pd.Port)
		}
		return out
	}
	return append(out, app.Ports...)
}

// FirstServicePort is ServicePorts(app)[0].
func FirstServicePort(app marathon.App) (int, bool) {
	ps := ServicePorts(app)
	if len(ps) == 0 {
		return 0, false
	}
	return ps[0], true
}

// setFirstServicePort replaces the first service port where it exists,
// on copies of the port lists (the caller's app is not modified).
func setFirstServicePort(app *marathon.App, port int) {
	if c := app.Container; c != nil {
		if c.Docker != nil && len(c.Docker.PortMappings) > 0 {
			cc, d := *c, *c.Docker
			d.PortMappings = append([]marathon.PortMapping(nil), d.PortMappings...)
			d.PortMappings[0].ServicePort = &port
			cc.Docker = &d
			app.Container = &cc
			return
		}
		if len(c.PortMappings) > 0 {
			cc := *c
			cc.PortMappings = append([]marathon.PortMapping(nil), c.PortMappings...)
			cc.PortMappings[0].ServicePort = &port
			app.Container = &cc
			return
		}
	}
	if len(app.PortDefinitions) > 0 {
		app.PortDefinitions = append([]marathon.PortDefinition(nil), app.PortDefinitions...)
		app.PortDefinitions[0].Port = port
		return
	}
	if len(app.Ports) > 0 {
		app.Ports = append([]int(nil), app.Ports...)
		app.Ports[0] = port
	}
}

// Group is the app's HAPROXY_DEPLOYMENT_GROUP.
func Group(app marathon.App) string { return app.Labels[labels.DeploymentGroup] }

// Previous returns the apps of the same deployment group, oldest first
// by HAPROXY_DEPLOYMENT_STARTED_AT (missing = the minimum date), then id.
func Previous(apps []marathon.App, group string) []marathon.App {
	var out []marathon.App
	for _, a := range apps {
		if a.Labels[labels.DeploymentGroup] == group {
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := StartedAt(out[i]), StartedAt(out[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// StartedAt is HAPROXY_DEPLOYMENT_STARTED_AT (zero when missing or
// unreadable, as the LB side reads it).
func StartedAt(app marathon.App) time.Time {
	t, err := time.Parse(time.RFC3339Nano, app.Labels[labels.DeploymentStartedAt])
	if err != nil {
		return time.Time{}
	}
	return t
}

// Target is HAPROXY_DEPLOYMENT_TARGET_INSTANCES, or the app's instances.
func Target(app marathon.App) int {
	if n, err := strconv.Atoi(app.Labels[labels.DeploymentTargetInstances]); err == nil {
		return n
	}
	return app.Instances
}

// NewInstances is HAPROXY_DEPLOYMENT_NEW_INSTANCES (0: not a traffic split).
func NewInstances(app marathon.App) int {
	n, _ := strconv.Atoi(app.Labels[labels.DeploymentNewInstances])
	return n
}

// PrepareOptions are the flags that shape the new app.
type PrepareOptions struct {
	// InitialInstances is the new colour's first size (--initial-instances,
	// default 1), capped by the target or by NewInstances.
	InitialInstances int
	// NewInstances > 0 makes a traffic-split (hybrid) deployment that stops
	// with this many new tasks (--new-instances), capped by the target.
	NewInstances int
	// Now stamps HAPROXY_DEPLOYMENT_STARTED_AT.
	Now time.Time
}

// Prepare builds the new colour of app (§9.2 step 5) given the group's
// previous deployment (nil for the first one). The input is not modified.
func Prepare(app marathon.App, previous *marathon.App, o PrepareOptions) (marathon.App, error) {
	if err := Validate(app); err != nil {
		return marathon.App{}, err
	}
	if o.InitialInstances < 1 {
		o.InitialInstances = 1
	}
	out := app
	out.Labels = make(map[string]string, len(app.Labels)+6)
	for k, v := range app.Labels {
		out.Labels[k] = v
	}
	original, _ := FirstServicePort(app)
	alt, _ := strconv.Atoi(app.Labels[labels.DeploymentAltPort])
	colour, port, target, newInstances := Blue, original, app.Instances, 0
	if previous != nil {
		colour = Blue
		if previous.Labels[labels.DeploymentColour] == Blue {
			colour = Green
		}
		port = alt
		if p, ok := FirstServicePort(*previous); ok && p == alt {
			// The previous colour runs on the alternate port: go back to
			// the public one it was keeping.
			if p0, err := strconv.Atoi(previous.Labels[LabelPort0]); err == nil {
				port = p0
			} else {
				port = original
			}
		}
		pinPorts(&out, app, *previous)
		target = previous.Instances
		newInstances = min(max(o.NewInstances, 0), target)
		if newInstances > 0 {
			out.Instances = min(o.InitialInstances, newInstances)
		} else {
			out.Instances = min(o.InitialInstances, target)
		}
	}
	out.Labels[labels.DeploymentNewInstances] = strconv.Itoa(newInstances)
	out.Labels[labels.AppID] = app.ID
	out.ID = "/" + strings.Trim(app.ID, "/") + "-" + colour
	out.Labels[LabelPort0] = strconv.Itoa(original)
	setFirstServicePort(&out, port)
	out.Labels[labels.DeploymentTargetInstances] = strconv.Itoa(target)
	out.Labels[labels.DeploymentColour] = colour
	// RFC 3339 with a zone, not marathon-lb's local time without one: the
	// LB side parses RFC 3339 and would read a zoneless date as the minimum.
	out.Labels[labels.DeploymentStartedAt] = o.Now.UTC().Format(time.RFC3339Nano)
	out.Tasks, out.Deployments, out.Version, out.VersionInfo = nil, nil, "", nil
	return out, nil
}

// NextSize is the new colour's next instance count (§9.2 step 7.5): grow
// by linear when > 0, else by half again (at least one); a traffic split
// stops at newInstances; without --linear-increase, reaching the old
// colour's size jumps to the target. Never above the target.
func NextSize(current, target, oldInstances, newInstances, linear int) int {
	var n int
	if linear > 0 {
		n = current + linear
	} else {
		n = max(current+(current+1)/2, current+1)
	}
	switch {
	case newInstances > 0:
		n = min(n, newInstances)
	case linear > 0:
		n = min(n, target)
	case n >= oldInstances:
		n = target
	}
	return min(n, target)
}

// Deletable reports whether the old colour can go (§9.2 step 7.3): the new
// one has reached the target and every old task is being killed. In a
// traffic split (newInstances > 0) the old colour stays, and the split is
// complete when the new one has newInstances and the old one the rest.
func Deletable(newApp, oldApp marathon.App, target, newInstances int, killing []string) bool {
	if newInstances > 0 {
		return newApp.Instances == newInstances && oldApp.Instances == target-newInstances
	}
	if newApp.Instances != target {
		return false
	}
	k := make(map[string]bool, len(killing))
	for _, id := range killing {
		k[id] = true
	}
	for _, t := range oldApp.Tasks {
		if !k[t.ID] {
			return false
		}
	}
	return true
}

// pinPorts keeps the public port of every service port after the first
// (beyond marathon-lb, which pinned only port 0): HAPROXY_{n}_PORT is set
// to the previous colour's public port n (its label, else its service
// port) unless the definition sets it. The LB names the group's backends
// and frontends by the old colour while both run and by the new one after,
// so without it an auto-assigned port n would move when the old colour is
// deleted: a new frontend, a reload, and clients of the old port refused.
func pinPorts(out *marathon.App, app, previous marathon.App) {
	for n, p := range ServicePorts(previous) {
		if n == 0 {
			continue
		}
		key := "HAPROXY_" + strconv.Itoa(n) + "_PORT"
		if _, set := app.Labels[key]; set {
			continue
		}
		if v, ok := previous.Labels[key]; ok {
			out.Labels[key] = v
		} else if p != 0 {
			out.Labels[key] = strconv.Itoa(p)
		}
	}
}
