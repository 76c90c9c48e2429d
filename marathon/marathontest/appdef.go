package marathontest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// An app definition is kept as the JSON object Marathon would store and
// echo: what the client sent (unknown fields included) plus Marathon 1.5's
// defaults and assigned service ports. Runtime fields (version, counts,
// tasks, deployments) are never part of it; render.go adds them.
type appDef = map[string]any

// runtimeKeys are AppInfo fields a client may send back but that are not
// part of a definition.
var runtimeKeys = []string{"version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy",
	"tasksUnhealthy", "deployments", "tasks", "lastTaskFailure", "readinessCheckResults", "taskStats", "tasksStats"}

// pathIDPattern is stringTypes.raml PathId; Marathon checks it while
// reading the JSON, so a mismatch is an "Invalid JSON" 422 with error.pattern.
var pathIDPattern = regexp.MustCompile(`^(\/?((\.\.)|(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9]))?($|\/))+$`)

var reservedKeywords = []string{"restart", "tasks", "versions"}

// canonicalID is PathId(in).canonicalPath(): absolute, no empty segments.
func canonicalID(id string) string {
	var segs []string
	for _, p := range strings.Split(id, "/") {
		switch p {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, p)
		}
	}
	return "/" + strings.Join(segs, "/")
}

// safeID is PathId.safePath: "/group/app" -> "group_app", used in task ids.
func safeID(id string) string {
	return strings.ReplaceAll(strings.TrimPrefix(id, "/"), "/", "_")
}

// decodeObject parses a request body as one JSON object; a syntax error is
// Marathon's 400 "Invalid JSON".
func decodeObject(raw []byte) (map[string]any, *APIError) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, &APIError{Status: 400, Body: map[string]any{"message": "Invalid JSON", "details": err.Error()}}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalidJSON("", "error.expected.jsobject")
	}
	return normalizeNumbers(obj).(map[string]any), nil
}

// normalizeNumbers turns json.Number into int64 or float64, so definitions
// compare and re-encode the way they were written.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}

// invalidJSON is the 422 Marathon answers when reading the JSON into its
// RAML types fails a constraint: {"message":"Invalid JSON","details":[...]}.
func invalidJSON(path, msg string) *APIError {
	if path == "" {
		path = "/"
	}
	return &APIError{Status: 422, Body: map[string]any{"message": "Invalid JSON",
		"details": []any{map[string]any{"path": path, "errors": []any{msg}}}}}
}

// notValid is the 422 of Marathon's model validation (accord).
func notValid(path, msg string) *APIError {
	return &APIError{Status: 422, Body: map[string]any{"message": "Object is not valid",
		"details": []any{map[string]any{"path": path, "errors": []any{msg}}}}}
}

// defFromApp turns a typed app from the direct-control API into a
// definition. marathon.App cannot tell an absent number from zero, so zero
// cpus/mem/disk/gpus and zero health-check interval/timeout take
// Marathon's defaults; zero instances stays zero.
func defFromApp(app marathon.App) appDef {
	raw, _ := json.Marshal(app)
	def, _ := decodeObject(raw)
	for _, k := range runtimeKeys {
		delete(def, k)
	}
	for _, k := range []string{"cpus", "mem", "disk", "gpus"} {
		if n, ok := num(def[k]); ok && n == 0 {
			delete(def, k)
		}
	}
	if hcs, ok := def["healthChecks"].([]any); ok {
		for _, h := range hcs {
			if hc, ok := h.(map[string]any); ok {
				for _, k := range []string{"intervalSeconds", "timeoutSeconds"} {
					if n, ok := num(hc[k]); ok && n == 0 {
						delete(hc, k)
					}
				}
			}
		}
	}
	return def
}

// prepareDef validates a definition for id and fills Marathon's defaults;
// it returns the typed view of the result.
func prepareDef(def appDef, id string) (marathon.App, *APIError) {
	for _, k := range runtimeKeys {
		delete(def, k)
	}
	rawID, ok := def["id"].(string)
	if id == "" {
		if !ok || rawID == "" {
			if _, present := def["id"]; present {
				return marathon.App{}, invalidJSON("/id", "error.expected.jsstring")
			}
			return marathon.App{}, invalidJSON("/id", "error.path.missing")
		}
		id = rawID
	}
	if !pathIDPattern.MatchString(id) {
		return marathon.App{}, invalidJSON("/id", "error.pattern")
	}
	id = canonicalID(id)
	if id == "/" {
		return marathon.App{}, notValid("/id", "Path must contain at least one path element")
	}
	last := id[strings.LastIndex(id, "/")+1:]
	for _, k := range reservedKeywords {
		if last == k {
			return marathon.App{}, notValid("/id", "must not end with any of the following reserved keywords: "+strings.Join(reservedKeywords, ", "))
		}
	}
	def["id"] = id
	if n, ok := num(def["instances"]); ok && n < 0 {
		return marathon.App{}, invalidJSON("/instances", "error.min")
	}
	applyDefaults(def)
	view, err := viewOf(def)
	if err != nil {
		return marathon.App{}, err
	}
	return view, validateView(view)
}

// viewOf decodes a definition into the typed App the simulator acts on; a
// field of the wrong JSON type is Marathon's "Invalid JSON" 422.
func viewOf(def appDef) (marathon.App, *APIError) {
	raw, _ := json.Marshal(def)
	var app marathon.App
	if err := json.Unmarshal(raw, &app); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return app, invalidJSON("/"+strings.ReplaceAll(te.Field, ".", "/"), "error.expected.js"+jsKind(te.Type))
		}
		return app, invalidJSON("", err.Error())
	}
	return app, nil
}

func jsKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return "number"
	}
}

// validateView is the part of Marathon's app validation that matters here.
func validateView(app marathon.App) *APIError {
	nPorts := len(portsOf(app))
	for i, hc := range app.HealthChecks {
		switch strings.ToUpper(hc.Protocol) {
		case "HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP", "MESOS_CMD":
		default:
			return invalidJSON(fmt.Sprintf("/healthChecks(%d)/protocol", i), "error.unknown.enum.literal")
		}
		if hc.PortIndex != nil && hc.Port == nil && (*hc.PortIndex < 0 || *hc.PortIndex >= nPorts) {
			return notValid(fmt.Sprintf("/healthChecks(%d)", i),
				"Health check port indices must address an element of the ports array or container port mappings.")
		}
	}
	if us := app.UpgradeStrategy; us != nil {
		if us.MinimumHealthCapacity < 0 || us.MinimumHealthCapacity > 1 {
			return notValid("/upgradeStrategy/minimumHealthCapacity", "got "+fmt.Sprint(us.MinimumHealthCapacity)+", expected between 0.0 and 1.0")
		}
		if us.MaximumOverCapacity < 0 || us.MaximumOverCapacity > 1 {
			return notValid("/upgradeStrategy/maximumOverCapacity", "got "+fmt.Sprint(us.MaximumOverCapacity)+", expected between 0.0 and 1.0")
		}
	}
	return nil
}

// applyDefaults fills what Marathon 1.5 fills when it normalizes an app.
// Legacy fields (ports, ipAddress, docker.network/portMappings) are kept as
// sent, so clients can be tested on those shapes too.
func applyDefaults(def appDef) {
	setDefault(def, "instances", int64(1))
	setDefault(def, "cpus", 1.0)
	setDefault(def, "mem", 128.0)
	setDefault(def, "disk", 0.0)
	setDefault(def, "gpus", int64(0))
	setDefault(def, "executor", "")
	setDefault(def, "backoffSeconds", int64(1))
	setDefault(def, "backoffFactor", 1.15)
	setDefault(def, "maxLaunchDelaySeconds", int64(3600))
	setDefault(def, "requirePorts", false)
	setDefault(def, "killSelection", "YOUNGEST_FIRST")
	setDefault(def, "labels", map[string]any{})
	setDefault(def, "unreachableStrategy", map[string]any{"inactiveAfterSeconds": int64(300), "expungeAfterSeconds": int64(600)})
	us, ok := def["upgradeStrategy"].(map[string]any)
	if !ok {
		us = map[string]any{}
		def["upgradeStrategy"] = us
	}
	setDefault(us, "minimumHealthCapacity", 1.0)
	setDefault(us, "maximumOverCapacity", 1.0)

	if c, ok := def["container"].(map[string]any); ok {
		setDefault(c, "volumes", []any{})
		if d, ok := c["docker"].(map[string]any); ok {
			setDefault(d, "privileged", false)
			setDefault(d, "forcePullImage", false)
			setDefault(d, "parameters", []any{})
		}
	}
	if nets, ok := def["networks"].([]any); ok {
		for _, n := range nets {
			if m, ok := n.(map[string]any); ok {
				setDefault(m, "mode", "container")
			}
		}
	}
	mode := modeOf(def)
	if _, ok := def["networks"]; !ok && def["ipAddress"] == nil && dockerNetwork(def) == "" {
		def["networks"] = []any{map[string]any{"mode": "host"}}
	}
	switch mode {
	case modeHost:
		if _, ok := def["portDefinitions"]; !ok {
			if legacy, ok := def["ports"].([]any); ok {
				pds := make([]any, 0, len(legacy))
				for _, p := range legacy {
					pds = append(pds, map[string]any{"port": p, "protocol": "tcp"})
				}
				def["portDefinitions"] = pds
			} else {
				def["portDefinitions"] = []any{map[string]any{"port": int64(0), "protocol": "tcp", "name": "default"}}
			}
		}
		for _, pd := range objects(def["portDefinitions"]) {
			setDefault(pd, "port", int64(0))
			setDefault(pd, "protocol", "tcp")
			setDefault(pd, "labels", map[string]any{})
		}
	default:
		for _, pm := range portMappingObjects(def) {
			setDefault(pm, "containerPort", int64(0))
			setDefault(pm, "protocol", "tcp")
			setDefault(pm, "labels", map[string]any{})
			if mode == modeBridge {
				setDefault(pm, "hostPort", int64(0))
			}
		}
	}
	for _, hc := range objects(def["healthChecks"]) {
		setDefault(hc, "protocol", "HTTP")
		setDefault(hc, "gracePeriodSeconds", int64(300))
		setDefault(hc, "intervalSeconds", int64(60))
		setDefault(hc, "timeoutSeconds", int64(20))
		setDefault(hc, "maxConsecutiveFailures", int64(3))
		setDefault(hc, "delaySeconds", int64(15))
		switch p, _ := hc["protocol"].(string); strings.ToUpper(p) {
		case "HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS":
			setDefault(hc, "path", "/")
			setDefault(hc, "ignoreHttp1xx", false)
			setDefault(hc, "ipProtocol", "IPv4")
			fallthrough
		case "TCP", "MESOS_TCP":
			if hc["port"] == nil && hc["portIndex"] == nil {
				hc["portIndex"] = int64(0)
			}
		}
	}
}

func setDefault(m map[string]any, k string, v any) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

func objects(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

// netMode is how a task's ports are reached.
type netMode int

const (
	modeHost      netMode = iota // task.ports are host ports; service ports from portDefinitions
	modeBridge                   // task.ports are the host ports of container.portMappings
	modeContainer                // IP-per-task: ipAddresses[0] and containerPort
)

func (m netMode) String() string {
	return [...]string{"host", "container/bridge", "container"}[m]
}

func dockerNetwork(def appDef) string {
	c, _ := def["container"].(map[string]any)
	d, _ := c["docker"].(map[string]any)
	n, _ := d["network"].(string)
	return strings.ToUpper(n)
}

// modeOf reads networks (1.5+), then ipAddress, then docker.network.
func modeOf(def appDef) netMode {
	if nets := objects(def["networks"]); len(nets) > 0 {
		switch nets[0]["mode"] {
		case "host":
			return modeHost
		case "container/bridge":
			return modeBridge
		default:
			return modeContainer
		}
	}
	if def["ipAddress"] != nil {
		return modeContainer
	}
	switch dockerNetwork(def) {
	case "BRIDGE":
		return modeBridge
	case "USER":
		return modeContainer
	}
	return modeHost
}

// portMappingObjects are container.portMappings, else the legacy
// container.docker.portMappings.
func portMappingObjects(def appDef) []map[string]any {
	c, _ := def["container"].(map[string]any)
	if pms := objects(c["portMappings"]); len(pms) > 0 {
		return pms
	}
	d, _ := c["docker"].(map[string]any)
	return objects(d["portMappings"])
}

// appPort is one port of an app as the simulator uses it.
type appPort struct {
	containerPort int // bridge/container modes
	servicePort   int // 0 when none
}

// portsOf lists an app's ports in port-index order.
func portsOf(app marathon.App) []appPort {
	var out []appPort
	mappings := func() []marathon.PortMapping {
		if app.Container == nil {
			return nil
		}
		if len(app.Container.PortMappings) > 0 {
			return app.Container.PortMappings
		}
		if app.Container.Docker != nil {
			return app.Container.Docker.PortMappings
		}
		return nil
	}()
	switch modeOfApp(app) {
	case modeHost:
		for _, pd := range app.PortDefinitions {
			out = append(out, appPort{servicePort: pd.Port})
		}
	default:
		for _, pm := range mappings {
			p := appPort{containerPort: pm.ContainerPort}
			if pm.ServicePort != nil {
				p.servicePort = *pm.ServicePort
			}
			out = append(out, p)
		}
		if len(mappings) == 0 && app.IPAddress != nil && app.IPAddress.Discovery != nil {
			for _, d := range app.IPAddress.Discovery.Ports {
				out = append(out, appPort{containerPort: d.Number})
			}
		}
	}
	return out
}

func modeOfApp(app marathon.App) netMode {
	raw, _ := json.Marshal(app)
	var def map[string]any
	_ = json.Unmarshal(raw, &def)
	return modeOf(def)
}

// onlyScaleChange is AppDefinition.isOnlyScaleChange: equal but for instances.
func onlyScaleChange(a, b appDef) bool {
	strip := func(d appDef) string {
		c := make(map[string]any, len(d))
		for k, v := range d {
			if k != "instances" {
				c[k] = v
			}
		}
		raw, _ := json.Marshal(c)
		return string(raw)
	}
	return strip(a) == strip(b)
}

// cloneDef deep-copies a definition.
func cloneDef(d appDef) appDef {
	raw, _ := json.Marshal(d)
	out, _ := decodeObject(raw)
	return out
}

// labelSelector is Marathon's LabelSelectorParsers: comma-separated
// "key", "key==v", "key!=v", "key in (a,b)", "key notin (a,b)"; backslash
// escapes any character.
type labelSelector []func(map[string]string) bool

var (
	termRe     = `(?:\\.|[-A-Za-z0-9_.])+`
	selectorRe = regexp.MustCompile(`^\s*(` + termRe + `)\s*(?:(==|!=)\s*(` + termRe + `)|(in|notin)\s*\(\s*((?:` + termRe + `\s*(?:,\s*` + termRe + `\s*)*)?)\))?\s*$`)
	unescapeRe = regexp.MustCompile(`\\(.)`)
)

func parseLabelSelector(in string) (labelSelector, error) {
	var out labelSelector
	for _, part := range splitSelectors(in) {
		m := selectorRe.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("Can not parse label selector %s", in) //nolint:staticcheck // Marathon's own message
		}
		key := unescapeRe.ReplaceAllString(m[1], "$1")
		switch {
		case m[2] == "==":
			v := unescapeRe.ReplaceAllString(m[3], "$1")
			out = append(out, func(l map[string]string) bool { x, ok := l[key]; return ok && x == v })
		case m[2] == "!=":
			v := unescapeRe.ReplaceAllString(m[3], "$1")
			out = append(out, func(l map[string]string) bool { x, ok := l[key]; return ok && x != v })
		case m[4] != "":
			set := map[string]bool{}
			for _, t := range strings.Split(m[5], ",") {
				if t = strings.TrimSpace(t); t != "" {
					set[unescapeRe.ReplaceAllString(t, "$1")] = true
				}
			}
			in := m[4] == "in"
			out = append(out, func(l map[string]string) bool { x, ok := l[key]; return ok && set[x] == in })
		default:
			out = append(out, func(l map[string]string) bool { _, ok := l[key]; return ok })
		}
	}
	return out, nil
}

// splitSelectors splits on commas outside parentheses and escapes.
func splitSelectors(in string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(in); i++ {
		switch in[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, in[start:i])
				start = i + 1
			}
		}
	}
	return append(out, in[start:])
}

func (ls labelSelector) matches(labels map[string]string) bool {
	for _, f := range ls {
		if !f(labels) {
			return false
		}
	}
	return true
}
