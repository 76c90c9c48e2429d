// Package labels turns an app's HAPROXY_* labels into typed settings with
// marathon-lb's semantics (marathon-lb-behaviour.md §3.3, §3.4, §4). It is
// pure: no I/O, no logging. An invalid value becomes an *Error naming the
// app, the port index and the label, so that one bad app never blocks the
// others.
package labels

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Label names (app level) and suffixes (per port: HAPROXY_{n}_<suffix>).
const (
	Group                     = "HAPROXY_GROUP"
	DeploymentGroup           = "HAPROXY_DEPLOYMENT_GROUP"
	DeploymentStartedAt       = "HAPROXY_DEPLOYMENT_STARTED_AT"
	DeploymentTargetInstances = "HAPROXY_DEPLOYMENT_TARGET_INSTANCES"
	DeploymentNewInstances    = "HAPROXY_DEPLOYMENT_NEW_INSTANCES"
	DeploymentAltPort         = "HAPROXY_DEPLOYMENT_ALT_PORT"
	DeploymentColour          = "HAPROXY_DEPLOYMENT_COLOUR"
	AppID                     = "HAPROXY_APP_ID"
	SuffixGroup               = "GROUP"
	SuffixEnabled             = "ENABLED"
	SuffixPort                = "PORT"
	SuffixMode                = "MODE"
	SuffixBalance             = "BALANCE"
	SuffixVHost               = "VHOST"
	SuffixPath                = "PATH"
	SuffixBindAddr            = "BIND_ADDR"
	SuffixBackendWeight       = "BACKEND_WEIGHT"
	SuffixAuth                = "AUTH"
	SuffixRedirectToHTTPS     = "REDIRECT_TO_HTTPS"
	SuffixUseHSTS             = "USE_HSTS"
	SuffixSticky              = "STICKY"
	SuffixSSLCert             = "SSL_CERT"
	SuffixBindOptions         = "BIND_OPTIONS"
	SuffixNetworkAllowedACL   = "BACKEND_NETWORK_ALLOWED_ACL"
	SuffixHealthCheckPortIdx  = "BACKEND_HEALTHCHECK_PORT_INDEX"
	SuffixProxyPassPath       = "HTTP_BACKEND_PROXYPASS_PATH"
	SuffixRevProxyPath        = "HTTP_BACKEND_REVPROXY_PATH"
	SuffixHTTPBackendRedir    = "HTTP_BACKEND_REDIR"
	labelPrefix               = "HAPROXY_"
	maxLabelValueLen          = 4096
)

// Sentinel errors, wrapped by *Error so callers can use errors.Is.
var (
	ErrInvalidValue = errors.New("invalid label value")
	ErrUnsafeValue  = errors.New("label value contains characters that could inject HAProxy configuration")
)

// Error is one invalid label of one app. Port is -1 for app-level labels.
type Error struct {
	AppID string
	Port  int
	Label string
	Value string
	Err   error
}

func (e *Error) Error() string {
	where := fmt.Sprintf("app %s", e.AppID)
	if e.Port >= 0 {
		where += fmt.Sprintf(" port index %d", e.Port)
	}
	return fmt.Sprintf("%s: label %s=%q: %v", where, e.Label, truncate(e.Value, 80), e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Options are the process-wide settings that change label semantics.
type Options struct {
	// StrictMode exposes a port only when HAPROXY_{n}_ENABLED is true.
	StrictMode bool
}

// App is the parsed label set of one Marathon app.
type App struct {
	// Groups is HAPROXY_GROUP split on ",", untrimmed (marathon-lb §3.3).
	Groups []string
	// DeploymentGroup is HAPROXY_DEPLOYMENT_GROUP (blue/green pairing).
	DeploymentGroup string
	// Ports holds one entry per service-port index, in index order.
	Ports []Port
	// Ignored lists HAPROXY_* labels that were understood as belonging to a
	// later feature and not applied; callers log them.
	Ignored []string
}

// Port is the parsed HAPROXY_{n}_* label set of one service port.
type Port struct {
	Index int
	// Groups replaces App.Groups for this port when HasGroups.
	Groups    []string
	HasGroups bool
	Enabled   bool
	// Port overrides the service port (bind port and names) when non-zero.
	Port int
	// Mode is "http", "tcp", or "" when it must be derived (§3.11).
	Mode    string
	Balance Balance
	// VHosts are lowercased host names (comma list in the label).
	VHosts []string
	Path   string
	// BindAddr is HAPROXY_{n}_BIND_ADDR; "" means the process default ("*").
	BindAddr string
	// BackendWeight orders this port's routing chunk in shared frontends.
	BackendWeight int

	// Auth is HAPROXY_{n}_AUTH (nil when unset): HTTP basic auth on the
	// shared vhost frontends, through userlist user_<backend>.
	Auth *Auth
	// RedirectToHTTPS redirects plain-HTTP vhost requests to https (301).
	RedirectToHTTPS bool
	// UseHSTS adds Strict-Transport-Security: max-age=15768000 to every
	// response of an http backend.
	UseHSTS bool
	// Sticky turns on cookie persistence (cookie mesosphere_server_id).
	Sticky bool
	// SSLCert is a PEM path for the service-port bind (" ssl crt <path>").
	SSLCert string
	// BindOptions are HAPROXY_{n}_BIND_OPTIONS, parsed into known bind
	// keywords (nothing is passed through as raw text).
	BindOptions BindOptions
	// BindOptionsText is the label's text, the {bindOptions} placeholder
	// of FRONTEND_HEAD.
	BindOptionsText string
	// NetworkAllowed lists the IPs and CIDRs allowed to reach the backend
	// (HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL); empty means everyone.
	NetworkAllowed []string
	// HealthCheckPortIndex takes the health check and its port from another
	// port index of the same app; nil when unset.
	HealthCheckPortIndex *int
	// ProxyPassPath is a path prefix stripped from requests (the backend
	// also sets Host to the vhost).
	ProxyPassPath string
	// RevProxyPath replaces a Location response header for the vhost.
	RevProxyPath string
	// HTTPRedirect answers "301 location <path>" for "/" on the vhost.
	HTTPRedirect string
	// Templates are the HAPROXY_{n}_<TEMPLATE> overrides by template name
	// (raw text; package templates reads it).
	Templates map[string]string
}

// TemplateNames are the templates a HAPROXY_{n}_<NAME> label may override
// (§4.3): 35 used, and the four MAP_* names marathon-lb accepted but never
// read.
var TemplateNames = map[string]bool{
	"BACKEND_HEAD": true, "BACKEND_HSTS_OPTIONS": true, "BACKEND_HTTP_HEALTHCHECK_OPTIONS": true,
	"BACKEND_HTTP_OPTIONS": true, "BACKEND_REDIRECT_HTTP_TO_HTTPS": true, "BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH": true,
	"BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS": true, "BACKEND_SERVER_OPTIONS": true, "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS": true,
	"BACKEND_STICKY_OPTIONS": true, "BACKEND_TCP_HEALTHCHECK_OPTIONS": true, "FRONTEND_BACKEND_GLUE": true, "FRONTEND_HEAD": true,
	"HTTPS_FRONTEND_ACL": true, "HTTPS_FRONTEND_ACL_ONLY_WITH_PATH": true, "HTTPS_FRONTEND_ACL_WITH_AUTH": true,
	"HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH": true, "HTTPS_FRONTEND_ACL_WITH_PATH": true, "HTTP_BACKEND_NETWORK_ALLOWED_ACL": true,
	"HTTP_BACKEND_PROXYPASS_GLUE": true, "HTTP_BACKEND_REVPROXY_GLUE": true, "HTTP_FRONTEND_ACL": true, "HTTP_FRONTEND_ACL_ONLY": true,
	"HTTP_FRONTEND_ACL_ONLY_WITH_PATH": true, "HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH": true, "HTTP_FRONTEND_ACL_WITH_AUTH": true,
	"HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH": true, "HTTP_FRONTEND_ACL_WITH_PATH": true, "HTTP_FRONTEND_APPID_ACL": true,
	"HTTP_FRONTEND_ROUTING_ONLY": true, "HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH": true, "HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH": true,
	"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH": true, "TCP_BACKEND_NETWORK_ALLOWED_ACL": true, "USERLIST_HEAD": true,
	"MAP_HTTPS_FRONTEND_ACL": true, "MAP_HTTP_FRONTEND_ACL": true, "MAP_HTTP_FRONTEND_ACL_ONLY": true, "MAP_HTTP_FRONTEND_APPID_ACL": true,
}

// Auth is a parsed HAPROXY_{n}_AUTH value, realm:user:password-hash.
type Auth struct {
	Realm, User, PasswordHash string
}

// BindOptions are the bind keywords HAPROXY_{n}_BIND_OPTIONS may use.
// Flags are set when the keyword is present; valued keywords hold their
// argument.
type BindOptions struct {
	AcceptProxy, V4v6, V6only, Transparent, DeferAccept, Tfo, SSL bool
	// Crt are certificate paths ("crt <path>", repeatable).
	Crt       []string
	Alpn      string
	Ciphers   string
	SSLMinVer string
	SSLMaxVer string
	// Verify is none, optional or required; CAFile its "ca-file".
	Verify    string
	CAFile    string
	Maxconn   int
	Interface string
}

// Empty reports whether no option was given.
func (b BindOptions) Empty() bool {
	return !b.AcceptProxy && !b.V4v6 && !b.V6only && !b.Transparent && !b.DeferAccept && !b.Tfo && !b.SSL &&
		len(b.Crt) == 0 && b.Alpn == "" && b.Ciphers == "" && b.SSLMinVer == "" && b.SSLMaxVer == "" &&
		b.Verify == "" && b.CAFile == "" && b.Maxconn == 0 && b.Interface == ""
}

// Balance is a parsed HAProxy balance algorithm.
type Balance struct {
	Algorithm string
	HdrName   string
	URLParam  string
}

// String renders the algorithm as marathon-lb users write it.
func (b Balance) String() string {
	switch {
	case b.HdrName != "":
		return "hdr(" + b.HdrName + ")"
	case b.URLParam != "":
		return "url_param " + b.URLParam
	}
	return b.Algorithm
}

// EffectiveGroups is the group list that applies to this port (§3.3).
func (p Port) EffectiveGroups(app App) []string {
	if p.HasGroups {
		return p.Groups
	}
	return app.Groups
}

var perPortLabel = regexp.MustCompile(`^HAPROXY_([0-9]+)_(.+)$`)

// Parse reads the labels of app appID that has portCount service ports.
// It returns every invalid label as an *Error; when any error is returned
// the App must not be exposed.
func Parse(appID string, lbls map[string]string, portCount int, opt Options) (App, []error) {
	var app App
	var errs []error
	bad := func(port int, label, value string, err error) {
		errs = append(errs, &Error{AppID: appID, Port: port, Label: label, Value: value, Err: err})
	}

	app.Ports = make([]Port, portCount)
	for i := range app.Ports {
		app.Ports[i] = Port{Index: i, Enabled: !opt.StrictMode, Balance: Balance{Algorithm: "roundrobin"}}
	}

	// marathon-lb applies labels in alphabetical order (§4.2): sort the keys
	// so that the PATH weight rule sees BACKEND_WEIGHT first, deterministically.
	keys := make([]string, 0, len(lbls))
	for k := range lbls {
		if strings.HasPrefix(k, labelPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)

	for _, key := range keys {
		value := lbls[key]
		if m := perPortLabel.FindStringSubmatch(key); m != nil && TemplateNames[m[2]] {
			// Template text is multi-line by nature; package templates
			// checks it when it is used.
			if idx, err := strconv.Atoi(m[1]); err == nil && idx < portCount {
				if len(value) > maxLabelValueLen {
					bad(idx, key, value, fmt.Errorf("%w: longer than %d bytes", ErrUnsafeValue, maxLabelValueLen))
					continue
				}
				if app.Ports[idx].Templates == nil {
					app.Ports[idx].Templates = map[string]string{}
				}
				app.Ports[idx].Templates[m[2]] = value
			}
			continue
		}
		if err := checkSafe(value); err != nil {
			bad(portOf(key), key, value, err)
			continue
		}
		switch key {
		case Group:
			app.Groups = strings.Split(value, ",")
			continue
		case DeploymentGroup:
			app.DeploymentGroup = value
			continue
		case DeploymentStartedAt, DeploymentTargetInstances, DeploymentNewInstances,
			DeploymentAltPort, DeploymentColour, AppID:
			continue // read by package bluegreen
		}
		m := perPortLabel.FindStringSubmatch(key)
		if m == nil {
			app.Ignored = append(app.Ignored, key)
			continue
		}
		idx, err := strconv.Atoi(m[1])
		if err != nil || idx >= portCount {
			// Labels for ports the app does not have are ignored, as in marathon-lb.
			continue
		}
		p := &app.Ports[idx]
		if err := applyPortLabel(p, m[2], value); err != nil {
			bad(idx, key, value, err)
		} else if !isKnownSuffix(m[2]) {
			app.Ignored = append(app.Ignored, key)
		}
	}
	return app, errs
}

func applyPortLabel(p *Port, suffix, value string) error {
	switch suffix {
	case SuffixGroup:
		if value != "" {
			p.Groups = strings.Split(value, ",")
			p.HasGroups = true
		}
	case SuffixEnabled:
		p.Enabled = ParseBool(value)
	case SuffixPort:
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: want a port number 1-65535", ErrInvalidValue)
		}
		p.Port = n
	case SuffixMode:
		mode := strings.ToLower(value)
		if mode != "http" && mode != "tcp" {
			// marathon-lb passes other values through to HAProxy, which then
			// rejects the whole config; we reject the app instead.
			return fmt.Errorf("%w: want http or tcp", ErrInvalidValue)
		}
		p.Mode = mode
	case SuffixBalance:
		b, err := ParseBalance(value)
		if err != nil {
			return err
		}
		p.Balance = b
	case SuffixVHost:
		hosts, err := parseVHosts(value)
		if err != nil {
			return err
		}
		p.VHosts = hosts
	case SuffixPath:
		if strings.TrimSpace(value) == "" {
			return fmt.Errorf("%w: empty path", ErrInvalidValue)
		}
		p.Path = value
		if p.BackendWeight == 0 {
			p.BackendWeight = 1
		}
	case SuffixBindAddr:
		if value != "*" && net.ParseIP(strings.Trim(value, "[]")) == nil {
			return fmt.Errorf("%w: want an IP address or *", ErrInvalidValue)
		}
		p.BindAddr = value
	case SuffixBackendWeight:
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%w: want an integer", ErrInvalidValue)
		}
		p.BackendWeight = n
	case SuffixAuth:
		a, err := parseAuth(value)
		if err != nil {
			return err
		}
		p.Auth = &a
	case SuffixRedirectToHTTPS:
		p.RedirectToHTTPS = ParseBool(value)
	case SuffixUseHSTS:
		p.UseHSTS = ParseBool(value)
	case SuffixSticky:
		p.Sticky = ParseBool(value)
	case SuffixSSLCert:
		if err := checkPath(value, true); err != nil {
			return err
		}
		p.SSLCert = value
	case SuffixBindOptions:
		o, err := ParseBindOptions(value)
		if err != nil {
			return err
		}
		p.BindOptions, p.BindOptionsText = o, strings.TrimSpace(value)
	case SuffixNetworkAllowedACL:
		nets := strings.Fields(value)
		if len(nets) == 0 {
			return fmt.Errorf("%w: want IP addresses or CIDRs separated by spaces", ErrInvalidValue)
		}
		for _, n := range nets {
			if _, _, err := net.ParseCIDR(n); err != nil && net.ParseIP(n) == nil {
				return fmt.Errorf("%w: %q is neither an IP address nor a CIDR", ErrInvalidValue, n)
			}
		}
		p.NetworkAllowed = nets
	case SuffixHealthCheckPortIdx:
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			// marathon-lb took Python indexes, negative ones counting from
			// the end; an explicit index is clearer.
			return fmt.Errorf("%w: want a port index, 0 or more", ErrInvalidValue)
		}
		p.HealthCheckPortIndex = &n
	case SuffixProxyPassPath:
		if !strings.HasPrefix(value, "/") {
			return fmt.Errorf("%w: want a path starting with /", ErrInvalidValue)
		}
		if err := checkPath(value, false); err != nil {
			return err
		}
		p.ProxyPassPath = value
	case SuffixRevProxyPath:
		if err := checkPath(value, false); err != nil {
			return err
		}
		p.RevProxyPath = value
	case SuffixHTTPBackendRedir:
		if err := checkPath(value, false); err != nil {
			return err
		}
		p.HTTPRedirect = value
	}
	return nil
}

// checkPath accepts one word that HAProxy can take unquoted: no spaces or
// quotes; absolute requires a leading "/".
func checkPath(v string, absolute bool) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty", ErrInvalidValue)
	case strings.ContainsAny(v, " \t\"'\\"):
		return fmt.Errorf("%w: spaces, quotes and backslashes are not allowed", ErrInvalidValue)
	case absolute && !strings.HasPrefix(v, "/"):
		return fmt.Errorf("%w: want an absolute path", ErrInvalidValue)
	}
	return nil
}

// parseAuth reads realm:user:password-hash, with exactly two colons as
// marathon-lb requires (it aborted the whole regeneration otherwise).
func parseAuth(v string) (Auth, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return Auth{}, fmt.Errorf("%w: want realm:user:password-hash with exactly two colons, got %d", ErrInvalidValue, len(parts)-1)
	}
	a := Auth{Realm: parts[0], User: parts[1], PasswordHash: parts[2]}
	switch {
	case a.Realm == "" || a.User == "" || a.PasswordHash == "":
		return Auth{}, fmt.Errorf("%w: realm, user and password hash must all be set", ErrInvalidValue)
	case strings.ContainsAny(a.Realm, "\"\\"):
		return Auth{}, fmt.Errorf("%w: the realm must not contain quotes or backslashes", ErrInvalidValue)
	case strings.ContainsAny(a.User+a.PasswordHash, " \t\"'\\"):
		return Auth{}, fmt.Errorf("%w: user and password hash must not contain spaces, quotes or backslashes", ErrInvalidValue)
	}
	return a, nil
}

// bindFlags and bindValued are the bind keywords BIND_OPTIONS may use:
// those the Data Plane API's bind model has a field for.
var (
	bindFlags = map[string]func(*BindOptions){
		"accept-proxy": func(o *BindOptions) { o.AcceptProxy = true },
		"v4v6":         func(o *BindOptions) { o.V4v6 = true },
		"v6only":       func(o *BindOptions) { o.V6only = true },
		"transparent":  func(o *BindOptions) { o.Transparent = true },
		"defer-accept": func(o *BindOptions) { o.DeferAccept = true },
		"tfo":          func(o *BindOptions) { o.Tfo = true },
		"ssl":          func(o *BindOptions) { o.SSL = true },
	}
	sslVersions = map[string]bool{"SSLv3": true, "TLSv1.0": true, "TLSv1.1": true, "TLSv1.2": true, "TLSv1.3": true}
	bindValued  = map[string]func(*BindOptions, string) error{
		"crt": func(o *BindOptions, v string) error {
			if err := checkPath(v, true); err != nil {
				return err
			}
			o.Crt = append(o.Crt, v)
			return nil
		},
		"alpn":    func(o *BindOptions, v string) error { o.Alpn = v; return nil },
		"ciphers": func(o *BindOptions, v string) error { o.Ciphers = v; return nil },
		"ssl-min-ver": func(o *BindOptions, v string) error {
			if !sslVersions[v] {
				return fmt.Errorf("%w: want SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3", ErrInvalidValue)
			}
			o.SSLMinVer = v
			return nil
		},
		"ssl-max-ver": func(o *BindOptions, v string) error {
			if !sslVersions[v] {
				return fmt.Errorf("%w: want SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3", ErrInvalidValue)
			}
			o.SSLMaxVer = v
			return nil
		},
		"verify": func(o *BindOptions, v string) error {
			if v != "none" && v != "optional" && v != "required" {
				return fmt.Errorf("%w: want none, optional or required", ErrInvalidValue)
			}
			o.Verify = v
			return nil
		},
		"ca-file": func(o *BindOptions, v string) error {
			if err := checkPath(v, true); err != nil {
				return err
			}
			o.CAFile = v
			return nil
		},
		"maxconn": func(o *BindOptions, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("%w: want a positive integer", ErrInvalidValue)
			}
			o.Maxconn = n
			return nil
		},
		"interface": func(o *BindOptions, v string) error { o.Interface = v; return nil },
	}
)

// ParseBindOptions reads HAPROXY_{n}_BIND_OPTIONS. marathon-lb appended the
// text to the bind line; here every keyword must map to a field of the
// Data Plane API's bind model, so nothing reaches HAProxy as raw text.
func ParseBindOptions(v string) (BindOptions, error) {
	var o BindOptions
	words := strings.Fields(v)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if set, ok := bindFlags[w]; ok {
			set(&o)
			continue
		}
		set, ok := bindValued[w]
		if !ok {
			return BindOptions{}, fmt.Errorf("%w: unsupported bind option %q (supported: %s)", ErrInvalidValue, w, supportedBindOptions())
		}
		if i+1 >= len(words) {
			return BindOptions{}, fmt.Errorf("%w: bind option %q needs a value", ErrInvalidValue, w)
		}
		i++
		if err := set(&o, words[i]); err != nil {
			return BindOptions{}, fmt.Errorf("bind option %s: %w", w, err)
		}
	}
	return o, nil
}

func supportedBindOptions() string {
	var names []string
	for k := range bindFlags {
		names = append(names, k)
	}
	for k := range bindValued {
		names = append(names, k+" <value>")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func isKnownSuffix(s string) bool {
	switch s {
	case SuffixGroup, SuffixEnabled, SuffixPort, SuffixMode, SuffixBalance, SuffixVHost,
		SuffixPath, SuffixBindAddr, SuffixBackendWeight, SuffixAuth, SuffixRedirectToHTTPS,
		SuffixUseHSTS, SuffixSticky, SuffixSSLCert, SuffixBindOptions, SuffixNetworkAllowedACL,
		SuffixHealthCheckPortIdx, SuffixProxyPassPath, SuffixRevProxyPath, SuffixHTTPBackendRedir:
		return true
	}
	return false
}

// ParseBool is marathon-lb's boolean: true for true/t/yes/y in any case,
// false for anything else (§4.2).
func ParseBool(s string) bool {
	switch strings.ToLower(s) {
	case "true", "t", "yes", "y":
		return true
	}
	return false
}

var (
	balanceHdr = regexp.MustCompile(`^hdr\(([A-Za-z0-9_-]+)\)$`)
	simpleAlgo = map[string]bool{
		"roundrobin": true, "static-rr": true, "leastconn": true, "first": true,
		"source": true, "uri": true, "random": true, "rdp-cookie": true,
	}
)

// ParseBalance parses a HAPROXY_{n}_BALANCE value.
func ParseBalance(s string) (Balance, error) {
	v := strings.TrimSpace(s)
	if simpleAlgo[v] {
		return Balance{Algorithm: v}, nil
	}
	if m := balanceHdr.FindStringSubmatch(v); m != nil {
		return Balance{Algorithm: "hdr", HdrName: m[1]}, nil
	}
	if f := strings.Fields(v); len(f) == 2 && f[0] == "url_param" {
		return Balance{Algorithm: "url_param", URLParam: f[1]}, nil
	}
	return Balance{}, fmt.Errorf("%w: unknown balance algorithm (want roundrobin, static-rr, leastconn, first, source, uri, random, rdp-cookie, hdr(<name>) or url_param <name>)", ErrInvalidValue)
}

var hostPattern = regexp.MustCompile(`^[a-z0-9*_]([a-z0-9*_.-]*[a-z0-9_])?(:[0-9]+)?$`)

func parseVHosts(value string) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(strings.ToLower(value), ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !hostPattern.MatchString(h) {
			return nil, fmt.Errorf("%w: %q is not a host name", ErrInvalidValue, h)
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%w: no host name", ErrInvalidValue)
	}
	return hosts, nil
}

// checkSafe rejects values that could end a directive or start a new one
// when HAProxy (or the Data Plane API) serialises them into haproxy.cfg.
func checkSafe(v string) error {
	if len(v) > maxLabelValueLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrUnsafeValue, maxLabelValueLen)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character %U", ErrUnsafeValue, r)
		}
	}
	if strings.Contains(v, "#") {
		return fmt.Errorf("%w: '#' starts a comment in haproxy.cfg", ErrUnsafeValue)
	}
	return nil
}

func portOf(key string) int {
	if m := perPortLabel.FindStringSubmatch(key); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
	}
	return -1
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
