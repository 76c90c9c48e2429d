package sync

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Config holds the settings that shape the desired state, named after the
// marathon-lb flags they replace.
type Config struct {
	// Groups are the --group values; "*" matches every app.
	Groups []string
	// StrictMode is --strict-mode.
	StrictMode bool
	// HealthCheck is --health-check: keep only tasks Marathon reports alive.
	HealthCheck bool
	// DefaultsName is the named defaults section every created proxy uses
	// ("from"), so HAProxy 2.6 never warns about implicit defaults.
	DefaultsName string
	// Head is a HAPROXY_HEAD override (HeadSections): these sections of
	// the configuration are kept equal to it through the full commit.
	Head []Section
	// DefaultOptions is HAPROXY_GLOBAL_DEFAULT_OPTIONS, sorted, when set
	// and Head is not: the defaults section's `option X` lines.
	DefaultOptions []string
	// BindHTTP is false with --dont-bind-http-https.
	BindHTTP bool
	// HTTPBindAddr/HTTPPort is marathon_http_in's bind (marathon-lb: *:80).
	HTTPBindAddr string
	HTTPPort     int
	// HTTPSBindAddr/HTTPSPort is marathon_https_in's bind (*:443); port 0
	// leaves the frontend out.
	HTTPSBindAddr string
	HTTPSPort     int
	// SSLCerts are marathon_https_in's certificates, the first the default
	// (--ssl-certs); none leaves the frontend out.
	SSLCerts []string
	// SSLCertList is a crt-list file naming SSLCerts, for more than one.
	SSLCertList string
	// Templates are global template overrides by name ($HAPROXY_<NAME> or
	// --templates-dir/HAPROXY_<NAME>): they apply to every service that
	// has no HAPROXY_{n}_<NAME> label of its own (see ValidateTemplates).
	Templates map[string]string
	// GroupHTTPSByVhost is --group-https-by-vhost: :443 splits TLS by SNI
	// (tcp) into one TLS frontend per vhost, with the vhost's certificates.
	GroupHTTPSByVhost bool
	// TLSSocketDir holds the sockets between the :443 splitter and the
	// vhost frontends (HAProxy must be able to create files there).
	TLSSocketDir string
	// HaproxyMap is --haproxy-map: vhost and app-id routing through map
	// files, whose entries change through the Runtime API without a
	// reload; DomainMapFile and AppMapFile are their paths as HAProxy sees
	// them (from the Data Plane API's map storage).
	HaproxyMap                bool
	DomainMapFile, AppMapFile string
	// AppIDBindAddr/AppIDPort is marathon_http_appid_in's bind (*:9091).
	AppIDBindAddr string
	AppIDPort     int
	// DefaultBindAddr is the service-port bind address when
	// HAPROXY_{n}_BIND_ADDR is not set (marathon-lb: *).
	DefaultBindAddr string
	// FrameworkName skips the app whose id (without '/') equals it.
	FrameworkName string
	// MinServPortIPPerTask/MaxServPortIPPerTask is the auto-assignment range
	// for IP-per-task apps without service ports; 0/0 turns it off.
	MinServPortIPPerTask int
	MaxServPortIPPerTask int
}

// DefaultConfig returns marathon-lb's defaults.
func DefaultConfig() Config {
	return Config{
		DefaultsName: "marathon_defaults", BindHTTP: true,
		HTTPBindAddr: "*", HTTPPort: 80, AppIDBindAddr: "*", AppIDPort: 9091,
		DefaultBindAddr: "*", MinServPortIPPerTask: 10050, MaxServPortIPPerTask: 10100,
		TLSSocketDir: "/var/run/haproxy",
	}
}

// Resolver turns an agent host name into an IP address (marathon-lb does a
// DNS A lookup of task.host). Implementations cache; the builder stays pure
// given a deterministic Resolver.
type Resolver interface {
	LookupHost(host string) (string, error)
}

// ErrConflict marks an app rejected because it collides with another app or
// with an object this tool does not own.
var ErrConflict = errors.New("conflict")

// AppError is one reason an app (or one of its ports) is not exposed.
type AppError struct {
	AppID string
	Port  int // service-port index, -1 for the whole app
	Err   error
}

func (e *AppError) Error() string {
	if e.Port >= 0 {
		return fmt.Sprintf("app %s port index %d: %v", e.AppID, e.Port, e.Err)
	}
	return fmt.Sprintf("app %s: %v", e.AppID, e.Err)
}

func (e *AppError) Unwrap() error { return e.Err }

// Build is the result of BuildDesired.
type Build struct {
	State *State
	// Rejected maps each app that must not be changed to why. Objects that
	// HAProxy already has for these apps are kept as they are.
	Rejected map[string][]error
	// Services lists every exposed service, for /status and plan output.
	Services []ServiceInfo
	// Warnings are non-fatal notes (skipped tasks, ignored labels).
	Warnings []string
	// AppCount is the number of Marathon apps considered.
	AppCount int
	// Skipped says why each service port that is not exposed is not.
	Skipped []SkippedService
	// Maps are the --haproxy-map files' entries by storage name (nil
	// without --haproxy-map).
	Maps map[string][]MapEntry
	// Health is the last known health answer of every task of an app
	// with health checks (--health-check), for the next build's Existing.
	Health map[string]bool
	// Base and Changed are set by an incremental build (BuildCache): the
	// result is Base with only the Changed backends replaced (sorted), so
	// a diff against Base needs to look at those only.
	Base    *State
	Changed []string
}

// SkippedService is a service port that is not exposed, and why.
type SkippedService struct {
	AppID     string `json:"app"`
	PortIndex int    `json:"port_index"`
	Reason    string `json:"reason"`
}

// ServiceInfo says what one (app, service port) became.
type ServiceInfo struct {
	AppID       string   `json:"app"`
	PortIndex   int      `json:"port_index"`
	ServicePort int      `json:"service_port"`
	Backend     string   `json:"backend"`
	Mode        string   `json:"mode"`
	VHosts      []string `json:"vhosts,omitempty"`
	Path        string   `json:"path,omitempty"`
	// Servers is filled in by Build.ServicesWithServers: a task event
	// changes a backend's servers, not the list of services, which
	// passes share.
	Servers int `json:"servers"`
}

// ServicesWithServers returns b.Services with each one's server count.
func (b Build) ServicesWithServers() []ServiceInfo {
	return withServerCounts(b.Services, b.State)
}

func withServerCounts(services []ServiceInfo, st *State) []ServiceInfo {
	out := slices.Clone(services)
	for i := range out {
		if st != nil && st.Backends[out[i].Backend] != nil {
			out[i].Servers = len(st.Backends[out[i].Backend].Servers)
		}
	}
	return out
}

// service is one (app, service port index) on its way to HAProxy objects.
type service struct {
	appID       string
	index       int
	servicePort int
	bindPort    int
	backend     string
	mode        string
	lbl         labels.Port
	hc          *marathon.HealthCheck
	// borrowedCheck is set when hc is another port's check (§7.3).
	borrowedCheck bool
	servers       []serverSpec
	// built is the service's backend, built with buildApp so that a
	// template error rejects the app before anything else is decided.
	built         *Backend
	builtFrontend *Frontend
	userlist      *Userlist // HAPROXY_{n}_AUTH
}

type serverSpec struct {
	host, ip string
	port     int
	// checkPort is the health-check port when
	// HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX sets one (0: none).
	checkPort int
	// draining marks an old blue/green task the new ones replace: its
	// server is disabled (§3.2).
	draining bool
}

// Existing is what HAProxy already runs that the desired state depends on.
type Existing struct {
	// ForeignPorts are ports bound by frontends this tool does not own
	// (port → frontend name): a service that would bind one is rejected
	// instead of breaking the reload.
	ForeignPorts map[int]string
	// Backends are the backends this tool owns now (current's map, not
	// copied: read only). A service among them whose servers all went
	// away stays, empty, so that no reload happens until its app is
	// deleted or the port disabled.
	Backends map[string]*Backend
	// Health is the last known health answer per task id (Build.Health of
	// the previous pass).
	Health map[string]bool
}

// ExistingIn lists what current, HAProxy's owned objects, means for a build.
func ExistingIn(current *State, foreignPorts map[int]string) Existing {
	e := Existing{ForeignPorts: foreignPorts}
	if current != nil {
		e.Backends = current.Backends
	}
	return e
}

// BuildDesired computes the HAProxy objects for apps given what HAProxy
// already runs (the zero Existing for an empty HAProxy).
func BuildDesired(apps []marathon.App, cfg Config, res Resolver, existing Existing) Build {
	return buildDesired(apps, cfg, res, existing, nil)
}

func buildDesired(apps []marathon.App, cfg Config, res Resolver, existing Existing, cache *BuildCache) Build {
	b := Build{State: NewState(), Rejected: map[string][]error{}, AppCount: len(apps), Health: map[string]bool{}}
	assigner := newPortAssigner(cfg.MinServPortIPPerTask, cfg.MaxServPortIPPerTask)

	apps, draining, groupErrs := mergeDeploymentGroups(apps, cfg.HealthCheck)
	for g, errs := range groupErrs {
		b.Rejected[g] = errs
	}
	cache.begin(cfg)
	var perApp [][]*service
	var changed []rebuilt
	for i := range apps {
		app := &apps[i]
		if cfg.FrameworkName != "" && appIDName(app.ID) == cfg.FrameworkName {
			b.Skipped = append(b.Skipped, SkippedService{AppID: app.ID, PortIndex: -1, Reason: "the app is this load balancer (FRAMEWORK_NAME)"})
			continue
		}
		key := cache.key(app, cfg, res, existing, draining)
		ab, hit := cache.get(app.ID, key)
		if !hit {
			ab = buildApp(app, cfg, res, assigner, existing, draining)
			cache.put(app, key, ab)
		}
		if cache.changedIn(app.ID, ab, hit) {
			changed = append(changed, rebuilt{app.ID, ab})
		}
		for id, ok := range ab.health {
			b.Health[id] = ok
		}
		b.Warnings = append(b.Warnings, ab.warns...)
		b.Skipped = append(b.Skipped, ab.skipped...)
		if len(ab.errs) > 0 {
			b.Rejected[app.ID] = ab.errs
			continue
		}
		perApp = append(perApp, ab.svcs)
	}
	removed := cache.end()
	if cache.incremental(&b, changed, removed, existing) {
		return b
	}

	// Conflicts are settled in (app id) order so the outcome does not depend
	// on Marathon's ordering: the first app keeps the port or name.
	sort.SliceStable(perApp, func(i, j int) bool { return firstApp(perApp[i]) < firstApp(perApp[j]) })
	takenPorts := map[int]string{}
	for p, fe := range existing.ForeignPorts {
		takenPorts[p] = "frontend " + fe + " (not managed by marathon-dataplane)"
	}
	if cfg.BindHTTP {
		takenPorts[cfg.HTTPPort] = "frontend " + HTTPFrontend
	}
	takenPorts[cfg.AppIDPort] = "frontend " + AppIDFrontend
	takenBackends := map[string]string{}
	var services []*service
	for _, svcs := range perApp {
		if len(svcs) == 0 {
			continue
		}
		if err := claim(svcs, takenPorts, takenBackends); err != nil {
			b.Rejected[svcs[0].appID] = []error{err}
			continue
		}
		services = append(services, svcs...)
	}
	sort.SliceStable(services, func(i, j int) bool {
		if services[i].appID != services[j].appID {
			return services[i].appID < services[j].appID
		}
		return services[i].servicePort < services[j].servicePort
	})

	for _, s := range services {
		b.State.Backends[s.backend] = s.built
		b.State.Frontends[s.backend] = s.builtFrontend
		if s.userlist != nil {
			b.State.Userlists[userlistName(s.backend)] = s.userlist
		}
		b.Services = append(b.Services, ServiceInfo{
			AppID: s.appID, PortIndex: s.index, ServicePort: s.bindPort, Backend: s.backend,
			Mode: s.mode, VHosts: s.lbl.VHosts, Path: s.lbl.Path,
		})
	}
	appWarnings := len(b.Warnings)
	if err := ValidateSharedHeads(cfg); err != nil {
		b.Warnings = append(b.Warnings, fmt.Sprintf("built-in frontend heads used: %v", err))
	}
	if cfg.BindHTTP {
		b.State.Frontends[HTTPFrontend] = httpFrontend(services, cfg)
	}
	switch {
	case !cfg.BindHTTP || cfg.HTTPSPort == 0 || len(cfg.SSLCerts) == 0:
	case cfg.GroupHTTPSByVhost:
		b.Warnings = append(b.Warnings, groupedHTTPS(services, cfg, b.State)...)
	default:
		b.State.Frontends[HTTPSFrontend] = httpsFrontend(services, cfg)
	}
	b.State.Frontends[AppIDFrontend] = appIDFrontend(services, cfg)
	if cfg.HaproxyMap {
		b.Maps = mapContents(services, cfg)
	}
	cache.remember(b, appWarnings, existing)
	return b
}

func firstApp(s []*service) string {
	if len(s) == 0 {
		return ""
	}
	return s[0].appID
}

// claim registers the app's bind ports and backend names, or explains the
// clash without registering anything.
func claim(svcs []*service, ports map[int]string, backends map[string]string) error {
	for i, s := range svcs {
		seen := slices.ContainsFunc(svcs[:i], func(o *service) bool { return o.bindPort == s.bindPort })
		if owner, ok := ports[s.bindPort]; ok || seen {
			if !ok {
				owner = "another port of the same app"
			}
			return &AppError{AppID: s.appID, Port: s.index, Err: fmt.Errorf("%w: service port %d is already bound by %s", ErrConflict, s.bindPort, owner)}
		}
		if owner, ok := backends[s.backend]; ok {
			return &AppError{AppID: s.appID, Port: s.index, Err: fmt.Errorf("%w: backend name %s is already used by app %s", ErrConflict, s.backend, owner)}
		}
	}
	for _, s := range svcs {
		ports[s.bindPort] = "app " + s.appID
		backends[s.backend] = s.appID
	}
	return nil
}
