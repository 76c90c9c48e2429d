// Package bluegreen runs zero-downtime blue/green deployments of Marathon
// apps behind marathon-dataplane: marathon-lb's zdd (marathon-lb-behaviour.md
// §9), without reloads, pid counting or iptables. The load balancer side
// (old tasks drained as new ones turn healthy) is package sync's; this
// package drives Marathon and watches the drain through HAProxy's stats.
//
// The rules (colour, port, labels, sizes, what may be killed or deleted)
// are pure functions of the app definitions; Deployer does the I/O.
package bluegreen

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Exit codes, marathon-lb's zdd's (§9.4).
const (
	ExitOK            = 0
	ExitDeclined      = 1
	ExitFailed        = 2
	ExitInvalidArgs   = 3
	ExitMissingField  = 4
	ExitLBError       = 5
	ExitMarathonError = 6
	ExitCreateFailed  = 7
	ExitDeleteFailed  = 8
	ExitScaleFailed   = 9
)

// Error is a deployment failure with its exit code.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Definition is an app definition as the user wrote it: a JSON object
// kept whole, so that fields this package does not know go to Marathon
// unchanged.
type Definition map[string]any

// ParseDefinition reads an app definition and drops null values (zdd's
// remove-nulls).
func ParseDefinition(raw []byte) (Definition, error) {
	var d Definition
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fail(ExitInvalidArgs, "app definition: %w", err)
	}
	return Definition(dropNulls(map[string]any(d)).(map[string]any)), nil
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNulls(e)
		}
	}
	return v
}

// ID is the definition's id with a leading slash.
func (d Definition) ID() string {
	id, _ := d["id"].(string)
	if id != "" && !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return id
}

// Labels returns the definition's labels (never nil), as strings.
func (d Definition) Labels() map[string]string {
	out := map[string]string{}
	if m, ok := d["labels"].(map[string]any); ok {
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			} else {
				out[k] = fmt.Sprint(v)
			}
		}
	}
	return out
}

func (d Definition) setLabel(k, v string) {
	m, ok := d["labels"].(map[string]any)
	if !ok {
		m = map[string]any{}
		d["labels"] = m
	}
	m[k] = v
}

// Instances is the definition's instance count (1 when absent, as in
// Marathon).
func (d Definition) Instances() int {
	switch n := d["instances"].(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return 1
}

// portLists are where a first service port can be, in zdd's order.
func (d Definition) portLists() []func() ([]any, string) {
	nested := func(path ...string) func() ([]any, string) {
		return func() ([]any, string) {
			var cur any = map[string]any(d)
			for _, p := range path[:len(path)-1] {
				m, ok := cur.(map[string]any)
				if !ok {
					return nil, ""
				}
				cur = m[p]
			}
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, ""
			}
			l, _ := m[path[len(path)-1]].([]any)
			return l, strings.Join(path, ".")
		}
	}
	return []func() ([]any, string){
		nested("container", "docker", "portMappings"),
		nested("container", "portMappings"),
		nested("portDefinitions"),
		nested("ports"),
	}
}

// servicePortOf reads the service port of one port entry.
func servicePortOf(e any) (int, bool) {
	switch x := e.(type) {
	case float64:
		return int(x), true
	case map[string]any:
		for _, k := range []string{"servicePort", "port"} {
			if v, ok := x[k].(float64); ok {
				return int(v), true
			}
		}
	}
	return 0, false
}

// FirstServicePort is the app's first service port and where it is.
func (d Definition) FirstServicePort() (int, string, bool) {
	for _, l := range d.portLists() {
		list, where := l()
		if len(list) == 0 {
			continue
		}
		p, ok := servicePortOf(list[0])
		return p, where, ok
	}
	return 0, "", false
}

// setFirstServicePort replaces the first service port where it is.
func (d Definition) setFirstServicePort(port int) bool {
	for _, l := range d.portLists() {
		list, _ := l()
		if len(list) == 0 {
			continue
		}
		switch x := list[0].(type) {
		case float64:
			list[0] = float64(port)
		case map[string]any:
			if _, ok := x["servicePort"]; ok {
				x["servicePort"] = float64(port)
			} else {
				x["port"] = float64(port)
			}
		default:
			return false
		}
		return true
	}
	return false
}

// Validate is zdd's step 1: an id, labels, HAPROXY_DEPLOYMENT_GROUP and
// HAPROXY_DEPLOYMENT_ALT_PORT (exit 4 otherwise).
func (d Definition) Validate() error {
	l := d.Labels()
	switch {
	case d.ID() == "":
		return fail(ExitMissingField, "app definition: no id")
	case d["labels"] == nil:
		return fail(ExitMissingField, "app %s: no labels", d.ID())
	case l[labels.DeploymentGroup] == "":
		return fail(ExitMissingField, "app %s: label %s is required", d.ID(), labels.DeploymentGroup)
	case l[labels.DeploymentAltPort] == "":
		return fail(ExitMissingField, "app %s: label %s is required", d.ID(), labels.DeploymentAltPort)
	}
	if _, err := strconv.Atoi(l[labels.DeploymentAltPort]); err != nil {
		return fail(ExitMissingField, "app %s: label %s=%q is not a port", d.ID(), labels.DeploymentAltPort, l[labels.DeploymentAltPort])
	}
	if _, _, ok := d.FirstServicePort(); !ok {
		return fail(ExitMissingField, "app %s: no service port (portDefinitions, ports or portMappings)", d.ID())
	}
	return nil
}

// Group is an app's HAPROXY_DEPLOYMENT_GROUP.
func Group(a marathon.App) string { return a.Labels[labels.DeploymentGroup] }

// StartedAt is an app's HAPROXY_DEPLOYMENT_STARTED_AT (zero when absent).
func StartedAt(a marathon.App) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, a.Labels[labels.DeploymentStartedAt])
	return t
}

// Previous returns the apps of group, oldest first (by STARTED_AT).
func Previous(apps []marathon.App, group string) []marathon.App {
	var out []marathon.App
	for _, a := range apps {
		if Group(a) == group {
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return StartedAt(out[i]).Before(StartedAt(out[j])) })
	return out
}

// Plan is what a deployment is about: the app to create (nil when an
// earlier deployment is resumed or completed) and the old and new apps'
// ids with the numbers the swap works towards.
type Plan struct {
	New *Definition
	// OldID and NewID are the colours' app ids ("" when there is none).
	OldID, NewID string
	// Target is the instance count the deployment ends with; NewInstances
	// is a traffic split's share of the new app (0: the whole target).
	Target, NewInstances int
}

// Options are zdd's flags that shape the plan.
type Options struct {
	InitialInstances int
	NewInstances     int
	CompleteCur      bool
	CompletePrev     bool
	Resume           bool
}

// Prepare is zdd's steps 3-5: with the apps of the same group already
// there, choose what to do. now stamps HAPROXY_DEPLOYMENT_STARTED_AT.
func Prepare(d Definition, existing []marathon.App, opt Options, now time.Time) (Plan, error) {
	if err := d.Validate(); err != nil {
		return Plan{}, err
	}
	group := d.Labels()[labels.DeploymentGroup]
	prev := Previous(existing, group)
	switch {
	case len(prev) > 1:
		newest, before := prev[len(prev)-1], prev[len(prev)-2]
		switch {
		case opt.CompleteCur || opt.Resume:
			return Plan{OldID: before.ID, NewID: newest.ID, Target: target(newest), NewInstances: newInstances(newest)}, nil
		case opt.CompletePrev:
			return Plan{OldID: newest.ID, NewID: before.ID, Target: target(before)}, nil
		}
		return Plan{}, fail(ExitFailed, "group %s: a deployment is in progress (%s and %s); use --resume, --complete-cur or --complete-prev", group, before.ID, newest.ID)
	case opt.CompleteCur || opt.CompletePrev:
		return Plan{}, fail(ExitInvalidArgs, "group %s: --complete-cur and --complete-prev need a deployment in progress (two apps), found %d", group, len(prev))
	}

	next := Definition(deepCopy(map[string]any(d)).(map[string]any))
	origID := d.ID()
	origPort, _, _ := d.FirstServicePort()
	altPort, _ := strconv.Atoi(d.Labels()[labels.DeploymentAltPort])
	colour, port, tgt, newInst := "blue", origPort, d.Instances(), 0
	var plan Plan
	if len(prev) == 1 {
		last := prev[0]
		colour = "blue"
		if last.Labels[labels.DeploymentColour] == "blue" {
			colour = "green"
		}
		port = altPort
		if p := firstPort(last); p == altPort {
			if lp, err := strconv.Atoi(last.Labels["HAPROXY_0_PORT"]); err == nil {
				port = lp
			}
		}
		tgt = last.Instances
		newInst = min(opt.NewInstances, tgt)
		plan.OldID = last.ID
	}
	initial := max(opt.InitialInstances, 1)
	instances := min(initial, tgt)
	if newInst > 0 {
		instances = min(initial, newInst)
	}
	next["instances"] = float64(instances)
	next.setLabel(labels.DeploymentNewInstances, strconv.Itoa(newInst))
	next.setLabel(labels.AppID, origID)
	next.setLabel("HAPROXY_0_PORT", strconv.Itoa(origPort))
	next.setLabel(labels.DeploymentTargetInstances, strconv.Itoa(tgt))
	next.setLabel(labels.DeploymentColour, colour)
	next.setLabel(labels.DeploymentStartedAt, now.Format(time.RFC3339Nano))
	next["id"] = origID + "-" + colour
	if !next.setFirstServicePort(port) {
		return Plan{}, fail(ExitMissingField, "app %s: cannot set the service port", origID)
	}
	plan.New, plan.NewID, plan.Target, plan.NewInstances = &next, next.ID(), tgt, newInst
	return plan, nil
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// firstPort is a running app's first service port.
func firstPort(a marathon.App) int {
	switch {
	case a.Container != nil && a.Container.Docker != nil && len(a.Container.Docker.PortMappings) > 0:
		return deref(a.Container.Docker.PortMappings[0].ServicePort)
	case a.Container != nil && len(a.Container.PortMappings) > 0:
		return deref(a.Container.PortMappings[0].ServicePort)
	case len(a.PortDefinitions) > 0:
		return a.PortDefinitions[0].Port
	case len(a.Ports) > 0:
		return a.Ports[0]
	}
	return 0
}

func target(a marathon.App) int {
	if n, err := strconv.Atoi(a.Labels[labels.DeploymentTargetInstances]); err == nil {
		return n
	}
	return a.Instances
}

func newInstances(a marathon.App) int {
	n, _ := strconv.Atoi(a.Labels[labels.DeploymentNewInstances])
	return n
}

// NextSize is zdd's growth step (§9.2 step 7.5) for a new app of n
// instances: n+linear, or floor(n+(n+1)/2); capped at the split's share,
// or with linear at the target, or else jumping to the target once it
// reaches the old app's size.
func NextSize(n, linear, tgt, newInst, oldInstances int) int {
	next := n + (n+1)/2
	if linear > 0 {
		next = n + linear
	}
	switch {
	case newInst > 0:
		next = min(next, newInst)
	case linear > 0:
		next = min(next, tgt)
	case next >= oldInstances:
		next = tgt
	}
	return min(next, tgt)
}

// Done is zdd's step 7.3: whether the swap is over. A full deployment is
// over when the new app has its target and every old task is gone; a
// split when the new app has its share and the old one the rest.
func Done(p Plan, newApp, oldApp marathon.App, oldLeft int) bool {
	if p.NewInstances > 0 {
		return newApp.Instances == p.NewInstances && oldApp.Instances == p.Target-p.NewInstances
	}
	return newApp.Instances == p.Target && oldLeft == 0
}

// ErrRolledBack is wrapped by a deployment that failed and was rolled back.
var ErrRolledBack = errors.New("rolled back")
