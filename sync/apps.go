package sync

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Networking modes (marathon-lb-behaviour.md §3.6).
const (
	netHost      = "host"
	netBridge    = "container/bridge"
	netContainer = "container"
)

// excludedStates are the task states marathon-lb never routes to (§3.5).
// TASK_LOST and TASK_UNREACHABLE are kept on purpose, to be optimistic.
var excludedStates = map[string]bool{
	marathon.TaskStaging: true, marathon.TaskStarting: true, marathon.TaskKilling: true,
	marathon.TaskFinished: true, marathon.TaskFailed: true, marathon.TaskKilled: true,
	marathon.TaskError: true, marathon.TaskDropped: true, marathon.TaskGone: true,
	marathon.TaskGoneByOperator: true, marathon.TaskUnknown: true,
}

// appBuild is what one app turned into.
type appBuild struct {
	svcs    []*service
	errs    []error
	warns   []string
	skipped []SkippedService
	// health holds the health answers this app's tasks gave (Build.Health).
	health map[string]bool
	// usesExisting is set when the outcome depended on which backends
	// HAProxy has now (an empty service kept), which an app's content
	// alone does not say: such a result is not cached.
	usesExisting bool
}

// buildApp turns one app into its services (§3.1 step 4–6).
func buildApp(app *marathon.App, cfg Config, res Resolver, assigner *portAssigner, existing Existing, draining map[string]bool) (out appBuild) {
	var warns []string
	var skipped []SkippedService
	skip := func(n int, why string) {
		skipped = append(skipped, SkippedService{AppID: app.ID, PortIndex: n, Reason: why})
	}
	defer func() { out.warns, out.skipped = warns, skipped }()
	mode := networkingMode(app)
	ports := servicePorts(app, mode)

	type taskAddr struct {
		host, ip string
		ports    []int
		draining bool
	}
	var tasks []taskAddr
	var unroutable []string
	for _, t := range app.Tasks {
		if t.Host == "" || excludedStates[t.State] {
			continue
		}
		if cfg.HealthCheck && len(app.HealthChecks) > 0 {
			// §3.5 step 3: a task Marathon reports without results (a
			// leader change, a check not yet run again) keeps its last
			// known answer; never seen means not healthy.
			ok, known := existing.Health[t.ID]
			if len(t.HealthCheckResults) > 0 {
				ok, known = alive(t), true
			}
			if known {
				if out.health == nil {
					out.health = map[string]bool{}
				}
				out.health[t.ID] = ok
			}
			if !ok {
				continue
			}
		}
		ip, tports, err := taskIPAndPorts(app, &t, mode, res)
		if err != nil {
			warns = append(warns, fmt.Sprintf("app %s task %s skipped: %v", app.ID, t.ID, err))
			unroutable = append(unroutable, err.Error())
			continue
		}
		tasks = append(tasks, taskAddr{host: t.Host, ip: ip, ports: tports, draining: draining[t.ID]})
	}

	if len(ports) == 0 && mode == netContainer && assigner.enabled() && len(tasks) > 0 {
		for _, tp := range tasks[0].ports {
			p, ok := assigner.assign(app.ID, tp)
			if !ok {
				warns = append(warns, fmt.Sprintf("app %s task port %d: no free service port left in the IP-per-task range", app.ID, tp))
				continue
			}
			ports = append(ports, p)
		}
	}

	parsed, errs := labels.Parse(app.ID, app.Labels, len(ports), labels.Options{StrictMode: cfg.StrictMode})
	for i := range parsed.Ports {
		withGlobalTemplates(&parsed.Ports[i], cfg.Templates)
	}
	errs = append(errs, combinedLabelErrors(app, parsed)...)
	for _, p := range parsed.Ports {
		errs = append(errs, checkTemplates(app.ID, p)...)
	}
	if len(errs) > 0 {
		skipped = nil
		out.errs = errs
		return out
	}
	if len(ports) == 0 {
		skip(-1, "the app has no service ports")
	}
	for _, l := range parsed.Ignored {
		warns = append(warns, fmt.Sprintf("app %s: label %s is not supported yet and was ignored", app.ID, l))
	}

	for n, sp := range ports {
		lp := parsed.Ports[n]
		if !lp.Enabled {
			skip(n, "disabled (HAPROXY_{n}_ENABLED is false, or --strict-mode without it)")
			continue
		}
		if !groupMatch(cfg.Groups, lp.EffectiveGroups(parsed)) {
			skip(n, fmt.Sprintf("groups %q do not match --group %q", lp.EffectiveGroups(parsed), cfg.Groups))
			continue
		}
		if sp <= 0 {
			warns = append(warns, fmt.Sprintf("app %s port index %d has no service port; skipped", app.ID, n))
			skip(n, "no service port")
			continue
		}
		bindPort := sp
		if lp.Port != 0 {
			bindPort = lp.Port
		}
		s := &service{
			appID: app.ID, index: n, servicePort: sp, bindPort: bindPort,
			backend: BackendName(app.ID, bindPort), lbl: lp, hc: healthCheckFor(app, n),
		}
		checkIdx := lp.HealthCheckPortIndex
		if checkIdx != nil && s.hc == nil {
			// §7.3: a port without a check of its own borrows port k's.
			s.hc = healthCheckFor(app, *checkIdx)
			s.borrowedCheck = s.hc != nil
		}
		s.mode = serviceMode(s)
		for _, t := range tasks {
			// Task ports pair with service ports by position (§3.10).
			if n >= len(t.ports) {
				continue
			}
			spec := serverSpec{host: t.host, ip: t.ip, port: t.ports[n], draining: t.draining}
			if checkIdx != nil {
				// The check goes to the same task's port k, or to the
				// server's own port when the task has no port k.
				spec.checkPort = t.ports[n]
				if *checkIdx < len(t.ports) {
					spec.checkPort = t.ports[*checkIdx]
				}
			}
			s.servers = append(s.servers, spec)
		}
		if len(s.servers) == 0 {
			out.usesExisting = true
		}
		if len(s.servers) == 0 && existing.Backends[s.backend] == nil {
			// §3.1 step 6: a service without servers is left out. One that
			// is already in HAProxy keeps its empty backend and frontend
			// instead (requests get 503 either way): scaling to zero or
			// every task failing its health check at once must not reload
			// HAProxy, nor the way back.
			why := "no task is running"
			switch {
			case len(unroutable) > 0:
				why = "no running task can be routed to: " + unroutable[0]
			case cfg.HealthCheck && len(app.HealthChecks) > 0:
				why = "no running task is healthy yet (--health-check)"
			}
			skip(n, why)
			continue
		}
		sort.Slice(s.servers, func(i, j int) bool {
			if s.servers[i].host != s.servers[j].host {
				return s.servers[i].host < s.servers[j].host
			}
			return s.servers[i].port < s.servers[j].port
		})
		be, err := backendFor(s, cfg)
		if err != nil {
			out.errs = []error{err}
			return out
		}
		fe, err := serviceFrontend(s, cfg)
		if err != nil {
			out.errs = []error{err}
			return out
		}
		if err := checkFrontendTemplates(s); err != nil {
			out.errs = []error{err}
			return out
		}
		if _, _, err := appIDChunk(s); err != nil {
			out.errs = []error{err}
			return out
		}
		if s.lbl.Auth != nil {
			if s.userlist, err = userlistFor(s); err != nil {
				out.errs = []error{err}
				return out
			}
		}
		// The specs are in the backend now; the build cache keeps the
		// service for the passes to come (50,000 specs at 10,000 apps).
		s.built, s.builtFrontend, s.servers = be, fe, nil
		out.svcs = append(out.svcs, s)
	}
	return out
}

func alive(t marathon.Task) bool {
	for _, r := range t.HealthCheckResults {
		if r.Alive {
			return true
		}
	}
	return false
}

// groupMatch implements §3.3: "*" matches every app, else any shared name.
func groupMatch(lb, svc []string) bool {
	for _, g := range lb {
		if g == "*" {
			return true
		}
		for _, s := range svc {
			if g == s {
				return true
			}
		}
	}
	return false
}

func networkingMode(app *marathon.App) string {
	mode := netHost
	if app.IPAddress != nil {
		mode = netContainer
	}
	if app.Container != nil && app.Container.Docker != nil {
		switch app.Container.Docker.Network {
		case "USER":
			mode = netContainer
		case "BRIDGE":
			mode = netBridge
		}
	}
	for _, n := range app.Networks {
		mode = n.Mode
		if mode == "" {
			mode = netContainer
		}
	}
	return mode
}

// servicePorts implements §3.7 steps 1–2.
func servicePorts(app *marathon.App, mode string) []int {
	var ports []int
	if mode == netContainer || mode == netBridge {
		for _, m := range app.PortMappings() {
			if m.ServicePort != nil {
				ports = append(ports, *m.ServicePort)
			}
		}
		if len(ports) > 0 {
			return ports
		}
	}
	if app.PortDefinitions != nil {
		for _, d := range app.PortDefinitions {
			ports = append(ports, d.Port)
		}
		return ports
	}
	return append(ports, app.Ports...)
}

// taskIPAndPorts implements §3.9.
func taskIPAndPorts(app *marathon.App, t *marathon.Task, mode string, res Resolver) (string, []int, error) {
	var ip string
	var ports []int
	switch mode {
	case netContainer:
		if len(t.IPAddresses) == 0 || t.IPAddresses[0].IPAddress == "" {
			return "", nil, fmt.Errorf("no IP address for an IP-per-task app")
		}
		ip = t.IPAddresses[0].IPAddress
		if app.IPAddress != nil && app.IPAddress.Discovery != nil {
			for _, p := range app.IPAddress.Discovery.Ports {
				ports = append(ports, p.Number)
			}
		}
		if len(ports) == 0 {
			for _, m := range app.PortMappings() {
				ports = append(ports, m.ContainerPort)
			}
		}
	default:
		resolved, err := res.LookupHost(t.Host)
		if err != nil {
			return "", nil, fmt.Errorf("resolve host %s: %w", t.Host, err)
		}
		ip = resolved
		ports = t.Ports
		if len(ports) == 0 {
			for _, d := range app.PortDefinitions {
				ports = append(ports, d.Port)
			}
		}
		if len(ports) == 0 && mode == netBridge {
			for _, m := range app.PortMappings() {
				ports = append(ports, m.ContainerPort)
			}
		}
	}
	if len(ports) == 0 {
		return "", nil, fmt.Errorf("no ports")
	}
	return ip, ports, nil
}

// healthCheckFor implements §7.1: the first check with an explicit port or
// whose portIndex is n.
func healthCheckFor(app *marathon.App, n int) *marathon.HealthCheck {
	for i := range app.HealthChecks {
		hc := &app.HealthChecks[i]
		if hc.Port != nil || (hc.PortIndex != nil && *hc.PortIndex == n) {
			return hc
		}
	}
	return nil
}

// borrowedHTTPChecks force http mode when borrowed through
// HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX (§3.11 step 3).
var borrowedHTTPChecks = map[string]bool{"HTTP": true, "HTTPS": true, "MESOS_HTTP": true, "MESOS_HTTPS": true}

// serviceMode implements §3.11.
func serviceMode(s *service) string {
	mode := ""
	if s.hc != nil && s.hc.Protocol == "HTTP" {
		mode = "http"
	}
	if s.lbl.Mode != "" {
		mode = s.lbl.Mode
	}
	if s.borrowedCheck && borrowedHTTPChecks[s.hc.Protocol] {
		mode = "http" // §3.11 step 3: this one overrides the label
	}
	if mode == "" {
		mode = "tcp"
		if len(s.lbl.VHosts) > 0 {
			mode = "http"
		}
	}
	return mode
}

// portAssigner is marathon-lb's deterministic service-port auto-assignment
// for IP-per-task apps (§3.8), reset for every build.
type portAssigner struct {
	min, max int
	taken    map[int]bool
}

func newPortAssigner(min, max int) *portAssigner {
	return &portAssigner{min: min, max: max, taken: map[int]bool{}}
}

func (a *portAssigner) enabled() bool { return a.min > 0 && a.max >= a.min }

func (a *portAssigner) assign(appID string, taskPort int) (int, bool) {
	size := a.max - a.min + 1
	if len(a.taken) >= size {
		return 0, false
	}
	for i := 0; i < 50; i++ {
		sum := sha1.Sum([]byte(fmt.Sprintf("%s-%d-%d", appID, taskPort, i)))
		v, _ := strconv.ParseUint(hex.EncodeToString(sum[:])[:8], 16, 64)
		p := a.min + int(v%uint64(size))
		if !a.taken[p] {
			a.taken[p] = true
			return p, true
		}
	}
	for p := a.min; p <= a.max; p++ {
		if !a.taken[p] {
			a.taken[p] = true
			return p, true
		}
	}
	return 0, false
}

// combinedLabelErrors checks what single labels cannot: values that are
// each valid but cannot be expressed together, or in HAProxy's models.
func combinedLabelErrors(app *marathon.App, parsed labels.App) []error {
	var errs []error
	bad := func(n int, suffix, why string) {
		label := fmt.Sprintf("HAPROXY_%d_%s", n, suffix)
		errs = append(errs, &labels.Error{AppID: app.ID, Port: n, Label: label, Value: app.Labels[label],
			Err: fmt.Errorf("%w: %s", labels.ErrInvalidValue, why)})
	}
	for n, p := range parsed.Ports {
		if certs := serviceCerts(p); len(certs) > 1 {
			bad(n, labels.SuffixBindOptions, fmt.Sprintf("%d certificates for one service-port bind (SSL_CERT and crt options); one is supported", len(certs)))
		}
		if p.Auth != nil && strings.ContainsAny(p.Auth.Realm, " \t") {
			// The Data Plane API writes the realm unquoted.
			bad(n, labels.SuffixAuth, "the realm must not contain spaces")
		}
	}
	return errs
}
