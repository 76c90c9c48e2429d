package sync

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
)

// httpCheckProtocols are the Marathon checks that become `option httpchk`
// in an http-mode backend (§7.2); HTTPS checks become plain HTTP, as in
// marathon-lb.
var httpCheckProtocols = map[string]bool{
	"HTTP": true, "HTTPS": true, "MESOS_HTTP": true, "MESOS_HTTPS": true, "COMMAND": true,
}

// backendFor builds the backend of one service (§6.9). Backend templates
// the service overrides (HAPROXY_{n}_<TEMPLATE>) replace their part of the
// defaults; an override that cannot be translated is an error naming the
// label, line and directive.
func backendFor(s *service, cfg Config) (*Backend, error) {
	be := dataplane.Backend{
		Name: s.backend, From: cfg.DefaultsName, Mode: s.mode,
		Description: ownerDescription(s.appID),
		Balance: &dataplane.Balance{
			Algorithm: s.lbl.Balance.Algorithm, HdrName: s.lbl.Balance.HdrName, URLParam: s.lbl.Balance.URLParam,
		},
	}
	out := &Backend{AppID: s.appID}
	var vars map[string]string // built for the first override only
	override := func(name string, apply func()) error {
		if _, ok := s.lbl.Templates[name]; !ok {
			apply()
			return nil
		}
		if vars == nil {
			vars = templateVars(s)
		}
		ds, ok, err := overrideDirectives(s, name, vars)
		if err != nil {
			return err
		}
		if !ok {
			apply()
			return nil
		}
		if err := applyBackendDirectives(ds, &be, out); err != nil {
			return templateError(s.appID, s.index, name, s.lbl.Templates[name], fmt.Errorf("%w: %w", labels.ErrInvalidValue, err))
		}
		return nil
	}
	if _, ok := s.lbl.Templates["BACKEND_HEAD"]; ok {
		// The override says the balance; the mode stays the service's
		// unless it says the same (a backend whose mode differs from its
		// frontend's would fail every app's reload).
		be.Balance = nil
		if err := override("BACKEND_HEAD", func() {}); err != nil {
			return nil, err
		}
		if be.Mode != s.mode {
			return nil, templateError(s.appID, s.index, "BACKEND_HEAD", s.lbl.Templates["BACKEND_HEAD"],
				fmt.Errorf("%w: mode %s differs from the service's %s (set HAPROXY_%d_MODE instead)", labels.ErrInvalidValue, be.Mode, s.mode, s.index))
		}
	}
	httpCheck := s.mode == "http" && s.hc != nil && httpCheckProtocols[s.hc.Protocol]
	if s.mode == "http" {
		if err := httpBackendRules(s, &be, out, override); err != nil {
			return nil, err
		}
	}
	if err := networkAllowed(s, &be, out); err != nil {
		return nil, err
	}
	if s.lbl.Sticky {
		// BACKEND_STICKY_OPTIONS: cookie mesosphere_server_id insert indirect nocache.
		if err := override("BACKEND_STICKY_OPTIONS", func() {
			be.Cookie = &dataplane.Cookie{Name: stickyCookieName, Type: "insert", Indirect: true, Nocache: true}
		}); err != nil {
			return nil, err
		}
	}
	switch {
	case httpCheck:
		if err := override("BACKEND_HTTP_HEALTHCHECK_OPTIONS", func() {
			path := s.hc.Path
			if path == "" {
				path = "/"
			}
			be.AdvCheck = "httpchk"
			be.HttpchkParams = &dataplane.HttpchkParams{Method: "GET", URI: path}
			be.CheckTimeout = dataplane.Int64(int64(s.hc.TimeoutSeconds) * 1000)
		}); err != nil {
			return nil, err
		}
	case s.hc != nil:
		if err := override("BACKEND_TCP_HEALTHCHECK_OPTIONS", func() {}); err != nil {
			return nil, err
		}
	}
	reindexACLs(out.ACLs)
	reindexHTTPRequest(out.HTTPRequestRules)
	reindexHTTPResponse(out.HTTPResponseRules)
	reindexTCPRequest(out.TCPRequestRules)
	out.Backend = be

	taken := make(map[int64]bool, len(s.servers))
	out.Servers = make([]dataplane.Server, 0, len(s.servers))
	for _, sv := range s.servers {
		name := ServerName(sv.host, sv.ip, sv.port)
		id := serverID(name, taken)
		taken[id] = true
		srv := dataplane.Server{Name: name, Address: sv.ip, Port: dataplane.Int64(int64(sv.port)), ID: dataplane.Int64(id)}
		if s.hc != nil {
			// Every associated check becomes `check inter I fall F[ port P]`
			// on the server; tcp-mode backends get a connect check (§7.2).
			srv.Check = "enabled"
			srv.Inter = dataplane.Int64(int64(s.hc.IntervalSeconds) * 1000)
			srv.Fall = dataplane.Int64(int64(s.hc.MaxConsecutiveFailures) + 1)
			if s.hc.Port != nil {
				srv.HealthCheckPort = dataplane.Int64(int64(*s.hc.Port))
			}
		}
		if sv.checkPort != 0 && s.hc != nil {
			srv.HealthCheckPort = dataplane.Int64(int64(sv.checkPort)) // §7.3
		}
		if s.lbl.Sticky {
			// ` check cookie <c>`: STICKY turns on checks even without a
			// Marathon health check, as in marathon-lb.
			srv.Check = "enabled"
			srv.Cookie = stickyCookie(name)
		}
		if sv.draining {
			srv.Maintenance = "enabled" // `disabled`: a blue/green task being replaced
		}
		if hasServerTemplates(s) {
			var err error
			if srv, err = serverFromTemplates(s, sv, name, id, httpCheck); err != nil {
				return nil, err
			}
		}
		out.Servers = append(out.Servers, srv)
	}
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Name < out.Servers[j].Name })
	return out, nil
}

// templateVars are the placeholders of the backend templates (§5.2, §7.2).
func templateVars(s *service) map[string]string {
	v := map[string]string{"backend": s.backend, "balance": s.lbl.Balance.String(), "mode": s.mode,
		"hostname": strings.Join(s.lbl.VHosts, ","), "proxypath": s.lbl.ProxyPassPath, "rootpath": s.lbl.RevProxyPath}
	if hc := s.hc; hc != nil {
		path := hc.Path
		if path == "" {
			path = "/"
		}
		port, idx := "", ""
		if hc.Port != nil {
			port = strconv.Itoa(*hc.Port)
		}
		if hc.PortIndex != nil {
			idx = strconv.Itoa(*hc.PortIndex)
		}
		portOpts := ""
		if port != "" {
			portOpts = " port " + port
		}
		for k, val := range map[string]string{
			"healthCheckProtocol": hc.Protocol, "healthCheckPath": path, "healthCheckPort": port, "healthCheckPortIndex": idx,
			"healthCheckTimeoutSeconds": strconv.Itoa(hc.TimeoutSeconds), "healthCheckIntervalSeconds": strconv.Itoa(hc.IntervalSeconds),
			"healthCheckGracePeriodSeconds": strconv.Itoa(hc.GracePeriodSeconds), "healthCheckMaxConsecutiveFailures": strconv.Itoa(hc.MaxConsecutiveFailures),
			"healthCheckFalls": strconv.Itoa(hc.MaxConsecutiveFailures + 1), "healthCheckPortOptions": portOpts,
		} {
			v[k] = val
		}
	}
	return v
}

// stickyCookieName is the cookie of HAPROXY_{n}_STICKY.
const stickyCookieName = "mesosphere_server_id"

// hstsValue is what USE_HSTS adds to every response.
const hstsValue = "max-age=15768000"

// httpBackendRules adds an http backend's rules in marathon-lb's order
// (§6.9): HSTS, BACKEND_HTTP_OPTIONS, proxypass, revproxy, root redirect.
// HAProxy 2.6 has no reqirep/rspirep/rspadd: their equivalents are
// replace-path, replace-header and add-header rules (§5.3).
func httpBackendRules(s *service, be *dataplane.Backend, out *Backend, override func(string, func()) error) error {
	vhost := strings.Join(s.lbl.VHosts, ",") // {hostname}: the whole label value
	if s.lbl.UseHSTS {
		if err := override("BACKEND_HSTS_OPTIONS", func() {
			out.HTTPResponseRules = append(out.HTTPResponseRules,
				dataplane.HTTPResponseRule{Type: "add-header", HdrName: "Strict-Transport-Security", HdrFormat: hstsValue})
		}); err != nil {
			return err
		}
	}
	if err := override("BACKEND_HTTP_OPTIONS", func() {
		be.Forwardfor = &dataplane.Forwardfor{Enabled: "enabled"}
		out.HTTPRequestRules = append(out.HTTPRequestRules,
			dataplane.HTTPRequestRule{Type: "set-header", HdrName: "X-Forwarded-Port", HdrFormat: "%[dst_port]"},
			dataplane.HTTPRequestRule{Type: "add-header", HdrName: "X-Forwarded-Proto", HdrFormat: "https", Cond: "if", CondTest: "{ ssl_fc }"},
		)
	}); err != nil {
		return err
	}
	if p := s.lbl.ProxyPassPath; p != "" {
		// reqirep "^([^ :]*)\ <prefix>/?(.*)" "\1\ /\2": the first <prefix>
		// and one optional "/" are removed, case-insensitively. The prefix
		// is quoted: a regex fragment in a label must not be able to
		// break the configuration of every app.
		if err := override("HTTP_BACKEND_PROXYPASS_GLUE", func() {
			if vhost != "" {
				out.HTTPRequestRules = append(out.HTTPRequestRules,
					dataplane.HTTPRequestRule{Type: "set-header", HdrName: "Host", HdrFormat: vhost})
			}
			out.HTTPRequestRules = append(out.HTTPRequestRules,
				dataplane.HTTPRequestRule{Type: "replace-path", PathMatch: "(?i)^" + regexp.QuoteMeta(p) + "/?(.*)", PathFmt: "/\\1"})
		}); err != nil {
			return err
		}
	}
	if root := s.lbl.RevProxyPath; root != "" {
		// rspirep "^Location: (https?://<H>(:[0-9]+)?)?(/.*)" "Location:   <root>"
		if err := override("HTTP_BACKEND_REVPROXY_GLUE", func() {
			out.ACLs = append(out.ACLs, dataplane.ACL{ACLName: "hdr_location", Criterion: "res.hdr(Location)", Value: "-m found"})
			out.HTTPResponseRules = append(out.HTTPResponseRules, dataplane.HTTPResponseRule{
				Type: "replace-header", HdrName: "Location", HdrMatch: "^(https?://" + regexp.QuoteMeta(vhost) + "(:[0-9]+)?)?(/.*)",
				HdrFormat: root, Cond: "if", CondTest: "hdr_location"})
		}); err != nil {
			return err
		}
	}
	if redir := s.lbl.HTTPRedirect; redir != "" && vhost != "" {
		out.ACLs = append(out.ACLs,
			dataplane.ACL{ACLName: "is_root", Criterion: "path", Value: "-i /"},
			dataplane.ACL{ACLName: "is_domain", Criterion: "hdr(host)", Value: "-i " + vhost})
		out.HTTPRequestRules = append(out.HTTPRequestRules, dataplane.HTTPRequestRule{
			Type: "redirect", RedirType: "location", RedirValue: redir, RedirCode: dataplane.Int64(301),
			Cond: "if", CondTest: "is_domain is_root"})
	}
	return nil
}

// networkAllowed adds BACKEND_NETWORK_ALLOWED_ACL: one `acl network_allowed
// src <net>` per entry, then allow/deny (http) or accept/reject (tcp).
func networkAllowed(s *service, be *dataplane.Backend, out *Backend) error {
	if len(s.lbl.NetworkAllowed) == 0 {
		return nil
	}
	name := "TCP_BACKEND_NETWORK_ALLOWED_ACL"
	if s.mode == "http" {
		name = "HTTP_BACKEND_NETWORK_ALLOWED_ACL"
	}
	for _, n := range s.lbl.NetworkAllowed {
		if _, ok := s.lbl.Templates[name]; !ok {
			out.ACLs = append(out.ACLs, dataplane.ACL{ACLName: "network_allowed", Criterion: "src", Value: n})
			continue
		}
		// The template is filled once per network ({network_allowed}).
		vars := templateVars(s)
		vars["network_allowed"] = n
		ds, _, err := overrideDirectives(s, name, vars)
		if err != nil {
			return err
		}
		if err := applyBackendDirectives(ds, be, out); err != nil {
			return templateError(s.appID, s.index, name, s.lbl.Templates[name], fmt.Errorf("%w: %w", labels.ErrInvalidValue, err))
		}
	}
	allowDeny := "TCP_BACKEND_ACL_ALLOW_DENY"
	if s.mode == "http" {
		allowDeny = "HTTP_BACKEND_ACL_ALLOW_DENY"
	}
	if ds, ok, err := overrideDirectives(s, allowDeny, nil); ok {
		// A global override (§5.2 rows 29, 47): its rules replace the
		// built-in allow/deny pair.
		if err == nil {
			err = applyBackendDirectives(ds, be, out)
		}
		if err != nil {
			return templateError(s.appID, s.index, allowDeny, s.lbl.Templates[allowDeny], fmt.Errorf("%w: %w", labels.ErrInvalidValue, err))
		}
		return nil
	}
	if s.mode == "http" {
		out.HTTPRequestRules = append(out.HTTPRequestRules,
			dataplane.HTTPRequestRule{Type: "allow", Cond: "if", CondTest: "network_allowed"},
			dataplane.HTTPRequestRule{Type: "deny"})
		return nil
	}
	out.TCPRequestRules = append(out.TCPRequestRules,
		dataplane.TCPRequestRule{Type: "content", Action: "accept", Cond: "if", CondTest: "network_allowed"},
		dataplane.TCPRequestRule{Type: "content", Action: "reject"})
	return nil
}

// serviceFrontend is the per-service frontend (§6.8); `default_backend`
// is the structured form of marathon-lb's unconditional `use_backend`.
// FRONTEND_HEAD and FRONTEND_BACKEND_GLUE overrides are translated
// directive by directive.
func serviceFrontend(s *service, cfg Config) (*Frontend, error) {
	addr := s.lbl.BindAddr
	if addr == "" {
		addr = cfg.DefaultBindAddr
	}
	fe := &Frontend{
		AppID: s.appID,
		Frontend: dataplane.Frontend{
			Name: s.backend, From: cfg.DefaultsName, Mode: s.mode,
			Description: ownerDescription(s.appID), DefaultBackend: s.backend,
		},
		Binds: []dataplane.Bind{bindFromOptions(addr, s.bindPort, serviceCerts(s.lbl), s.lbl.BindOptions)},
	}
	if text, ok := s.lbl.Templates["FRONTEND_HEAD"]; ok {
		sslCert := ""
		if s.lbl.SSLCert != "" {
			sslCert = " ssl crt " + s.lbl.SSLCert
		}
		bindOpts := ""
		if v := s.lbl.BindOptionsText; v != "" {
			bindOpts = " " + v
		}
		vars := map[string]string{"backend": s.backend, "bindAddr": addr, "servicePort": strconv.Itoa(s.bindPort), "mode": s.mode,
			"sslCert": sslCert, "bindOptions": bindOpts}
		ds, _, err := overrideDirectives(s, "FRONTEND_HEAD", vars)
		if err != nil {
			return nil, err
		}
		fe.Binds = nil
		if err := applyFrontendDirectives(ds, s, fe); err != nil {
			return nil, templateError(s.appID, s.index, "FRONTEND_HEAD", text, fmt.Errorf("%w: %w", labels.ErrInvalidValue, err))
		}
		if len(fe.Binds) != 1 {
			return nil, templateError(s.appID, s.index, "FRONTEND_HEAD", text, fmt.Errorf("%w: want exactly one bind on port %d", labels.ErrInvalidValue, s.bindPort))
		}
	}
	if text, ok := s.lbl.Templates["FRONTEND_BACKEND_GLUE"]; ok {
		ds, _, err := overrideDirectives(s, "FRONTEND_BACKEND_GLUE", map[string]string{"backend": s.backend})
		if err != nil {
			return nil, err
		}
		fe.Frontend.DefaultBackend = ""
		if err := applyFrontendDirectives(ds, s, fe); err != nil {
			return nil, templateError(s.appID, s.index, "FRONTEND_BACKEND_GLUE", text, fmt.Errorf("%w: %w", labels.ErrInvalidValue, err))
		}
	}
	reindexACLs(fe.ACLs)
	reindexHTTPRequest(fe.HTTPRequestRules)
	reindexTCPRequest(fe.TCPRequestRules)
	reindexSwitching(fe.SwitchingRules)
	return fe, nil
}

// bindFromOptions is a service-port bind: `bind <addr>:<port>[ ssl crt
// <cert>][ <options>]`, every option a structured field.
func bindFromOptions(addr string, port int, certs []string, o labels.BindOptions) dataplane.Bind {
	b := bindFor(addr, port)
	if len(certs) > 0 {
		b.SSL, b.SSLCertificate = true, certs[0] // more than one is rejected by buildApp
	}
	b.SSL = b.SSL || o.SSL
	b.AcceptProxy, b.V4v6, b.V6only, b.Transparent, b.DeferAccept, b.Tfo = o.AcceptProxy, o.V4v6, o.V6only, o.Transparent, o.DeferAccept, o.Tfo
	b.Alpn, b.Ciphers, b.SSLMinVer, b.SSLMaxVer, b.Verify, b.SSLCafile, b.Interface = o.Alpn, o.Ciphers, o.SSLMinVer, o.SSLMaxVer, o.Verify, o.CAFile, o.Interface
	if o.Maxconn > 0 {
		b.Maxconn = dataplane.Int64(int64(o.Maxconn))
	}
	return b
}

// serviceCerts are the certificates of a service-port bind: SSL_CERT, then
// the crt options of BIND_OPTIONS.
func serviceCerts(p labels.Port) []string {
	var certs []string
	if p.SSLCert != "" {
		certs = append(certs, p.SSLCert)
	}
	return append(certs, p.BindOptions.Crt...)
}

func bindFor(addr string, port int) dataplane.Bind {
	return dataplane.Bind{Name: "port_" + strconv.Itoa(port), Address: addr, Port: dataplane.Int64(int64(port))}
}

// chunk is one service's contribution to a shared frontend (§6.4).
type chunk struct {
	weight   int
	acls     []dataplane.ACL
	requests []dataplane.HTTPRequestRule
	rules    []dataplane.BackendSwitchingRule
}

// httpFrontend builds marathon_http_in with vhost and path routing, auth
// and redirects (§6.3), chunks ordered by weight (§6.4).
func httpFrontend(services []*service, cfg Config) *Frontend {
	fe := withHead(httpFrontendHead, cfg, tmplHTTPHead)
	addChunks(fe, services, cfg, mappedOn80, "%[req.hdr(host),lower,regsub(:.*$,,),map("+cfg.DomainMapFile+")]",
		func(s *service) chunk { return frontendChunk(s, vhostPieces(s), func() chunk { return vhostChunk(s) }) })
	return fe
}

// addChunks fills a shared frontend with its services' chunks, sorted by
// weight, largest first and stable (§6.4). With --haproxy-map, the services
// mapped selects route through mapRule instead: one catch-all at weight
// -1, after every chunk of weight 0 or more; a miss ends in 503.
func addChunks(fe *Frontend, services []*service, cfg Config, mapped func(*service) bool, mapRule string, chunkOf func(*service) chunk) {
	var chunks []chunk
	anyMapped := false
	for _, s := range services {
		if s.mode != "http" || len(s.lbl.VHosts) == 0 {
			continue
		}
		if cfg.HaproxyMap && mapped(s) {
			anyMapped = true
			continue
		}
		chunks = append(chunks, chunkOf(s))
	}
	if anyMapped {
		chunks = append(chunks, chunk{weight: -1, rules: []dataplane.BackendSwitchingRule{{Name: mapRule}}})
	}
	sort.SliceStable(chunks, func(i, j int) bool { return chunks[i].weight > chunks[j].weight })
	for _, c := range chunks {
		fe.ACLs = append(fe.ACLs, c.acls...)
		fe.HTTPRequestRules = append(fe.HTTPRequestRules, c.requests...)
		fe.SwitchingRules = append(fe.SwitchingRules, c.rules...)
	}
	reindexACLs(fe.ACLs)
	reindexHTTPRequest(fe.HTTPRequestRules)
	reindexSwitching(fe.SwitchingRules)
}

// vhostChunk is one service's :80 rules, in marathon-lb's emission order
// for every combination of several hosts, PATH, AUTH and
// REDIRECT_TO_HTTPS (§6.3). HAProxy runs http-request rules (auth,
// redirect) before any use_backend, so a host-only auth or redirect also
// covers other apps' paths on that host, as in marathon-lb (§12).
func vhostChunk(s *service) chunk {
	suffix := hostACLName(s.lbl.VHosts[0], s.appID)[len("host_"):]
	x := "host_" + suffix
	c := chunk{weight: s.lbl.BackendWeight}
	var hostACLs []dataplane.ACL
	for _, h := range s.lbl.VHosts {
		hostACLs = append(hostACLs, dataplane.ACL{ACLName: x, Criterion: "hdr(host)", Value: "-i " + h})
	}
	cond := x
	var pathACL, authACL []dataplane.ACL
	if s.lbl.Path != "" {
		p := dataplane.ACL{ACLName: pathACLName(s.backend), Criterion: "path_beg", Value: s.lbl.Path}
		pathACL = []dataplane.ACL{p}
		cond = x + " " + p.ACLName
	}
	auth := s.lbl.Auth != nil
	authName := "auth_" + suffix
	if auth {
		authACL = []dataplane.ACL{{ACLName: authName, Criterion: "http_auth(" + userlistName(s.backend) + ")"}}
	}
	single := len(s.lbl.VHosts) == 1
	redirect := s.lbl.RedirectToHTTPS
	switch {
	case single && redirect && s.lbl.Path == "":
		c.acls = hostACLs
	case single && redirect:
		c.acls = concat(hostACLs, pathACL)
	case single:
		c.acls = concat(hostACLs, authACL, pathACL)
	case redirect:
		c.acls = concat(pathACL, authACL, hostACLs)
		if s.lbl.Path == "" {
			c.acls = hostACLs
		}
	case s.lbl.Path == "":
		c.acls = concat(hostACLs, authACL)
	default:
		c.acls = concat(pathACL, authACL, hostACLs)
	}
	switch {
	case redirect:
		c.requests = []dataplane.HTTPRequestRule{{Type: "redirect", RedirType: "scheme", RedirValue: "https",
			RedirCode: dataplane.Int64(301), Cond: "if", CondTest: "!{ ssl_fc } " + cond}}
	case auth:
		c.requests = []dataplane.HTTPRequestRule{{Type: "auth", AuthRealm: s.lbl.Auth.Realm, Cond: "if", CondTest: cond + " !" + authName}}
	}
	// With a redirect every request on :80 is redirected: marathon-lb
	// still emits the use_backend for one host without a path.
	if !redirect || (single && s.lbl.Path == "") {
		c.rules = []dataplane.BackendSwitchingRule{{Name: s.backend, Cond: "if", CondTest: cond}}
	}
	return c
}

// httpsFrontend builds marathon_https_in: TLS with --ssl-certs (HAProxy
// picks the certificate by SNI, the first is the default) and the same
// chunks routed on the SNI, exact and case-sensitive as in marathon-lb
// (§6.3, §6.6). A service's SSL_CERT is not added here.
func httpsFrontend(services []*service, cfg Config) *Frontend {
	fe := withHead(httpsFrontendHead, cfg, tmplHTTPSHead)
	addChunks(fe, services, cfg, mappedOn443, sniMapRule(cfg),
		func(s *service) chunk {
			return frontendChunk(s, sniPieces(s, s.lbl.VHosts), func() chunk { return sniChunk(s) })
		})
	return fe
}

// sniMapRule is the :443 map catch-all (--haproxy-map).
func sniMapRule(cfg Config) string { return "%[ssl_fc_sni,lower,map(" + cfg.DomainMapFile + ")]" }

// sniChunk is one service's :443 rules (§6.3): per host, [auth ACL, auth
// rule] and a use_backend on `{ ssl_fc_sni H }`, after the path ACL.
// REDIRECT_TO_HTTPS does not apply on :443.
func sniChunk(s *service) chunk { return sniChunkFor(s, s.lbl.VHosts) }

// sniChunkFor is sniChunk for some of the service's hosts: a grouped vhost
// frontend holds the path ACL and that host's rules (§6.6).
func sniChunkFor(s *service, hosts []string) chunk {
	suffix := hostACLName(s.lbl.VHosts[0], s.appID)[len("host_"):]
	authName := "auth_" + suffix
	c := chunk{weight: s.lbl.BackendWeight}
	pathCond := ""
	if s.lbl.Path != "" {
		p := dataplane.ACL{ACLName: pathACLName(s.backend), Criterion: "path_beg", Value: s.lbl.Path}
		c.acls = append(c.acls, p)
		pathCond = " " + p.ACLName
	}
	for _, h := range hosts {
		cond := "{ ssl_fc_sni " + h + " }" + pathCond
		if s.lbl.Auth != nil {
			// Declared again per host, as marathon-lb does: HAProxy ORs
			// ACL lines of the same name.
			c.acls = append(c.acls, dataplane.ACL{ACLName: authName, Criterion: "http_auth(" + userlistName(s.backend) + ")"})
			c.requests = append(c.requests, dataplane.HTTPRequestRule{Type: "auth", AuthRealm: s.lbl.Auth.Realm, Cond: "if", CondTest: cond + " !" + authName})
		}
		c.rules = append(c.rules, dataplane.BackendSwitchingRule{Name: s.backend, Cond: "if", CondTest: cond})
	}
	return c
}

func concat(lists ...[]dataplane.ACL) []dataplane.ACL {
	var out []dataplane.ACL
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// userlistFor is the userlist of a service with HAPROXY_{n}_AUTH.
func userlistFor(s *service) (*Userlist, error) {
	a := s.lbl.Auth
	ul := &Userlist{AppID: s.appID, Users: []dataplane.User{{Username: a.User, Password: a.PasswordHash, SecurePassword: true}}}
	const name = "USERLIST_HEAD"
	text, ok := s.lbl.Templates[name]
	if !ok {
		return ul, nil
	}
	bad := func(err error) (*Userlist, error) { return nil, templateMisfit(s, name, text, err) }
	ds, err := readTemplate(s, name, text, map[string]string{"backend": s.backend, "user": a.User, "passwd": a.PasswordHash})
	if err != nil {
		return nil, err
	}
	ul.Users = nil
	for _, d := range ds {
		switch {
		case d.Keyword == "userlist" && len(d.Args) == 1 && d.Args[0] == userlistName(s.backend):
		case d.Keyword == "user" && len(d.Args) == 3 && (d.Args[1] == "password" || d.Args[1] == "insecure-password"):
			ul.Users = append(ul.Users, dataplane.User{Username: d.Args[0], Password: d.Args[2], SecurePassword: d.Args[1] == "password"})
		default:
			return bad(fmt.Errorf("line %d %q: supported: userlist %s, user <name> password|insecure-password <password>", d.Line, d.String(), userlistName(s.backend)))
		}
	}
	if len(ul.Users) == 0 {
		return bad(errors.New("the userlist has no user"))
	}
	return ul, nil
}

// appIDFrontend builds marathon_http_appid_in: the first http-mode service
// of each app is reachable by its X-Marathon-App-Id header (§6.7).
func appIDFrontend(services []*service, cfg Config) *Frontend {
	fe := withHead(appIDFrontendHead, cfg, tmplAppIDHead)
	seen := map[string]bool{}
	for _, s := range services { // sorted by (app id, service port)
		if s.mode != "http" || seen[s.appID] {
			continue
		}
		seen[s.appID] = true
		if cfg.HaproxyMap {
			continue // an app2backend.map entry instead
		}
		if c, ok, err := appIDChunk(s); ok && err == nil {
			// HTTP_FRONTEND_APPID_ACL override (checked in buildApp).
			fe.ACLs = append(fe.ACLs, c.acls...)
			fe.HTTPRequestRules = append(fe.HTTPRequestRules, c.requests...)
			fe.SwitchingRules = append(fe.SwitchingRules, c.rules...)
			continue
		}
		name := appIDACLName(s.appID)
		fe.ACLs = append(fe.ACLs, dataplane.ACL{ACLName: name, Criterion: "hdr(x-marathon-app-id)", Value: "-i " + s.appID})
		fe.SwitchingRules = append(fe.SwitchingRules, dataplane.BackendSwitchingRule{Name: s.backend, Cond: "if", CondTest: name})
	}
	if cfg.HaproxyMap && len(seen) > 0 {
		fe.SwitchingRules = append(fe.SwitchingRules, dataplane.BackendSwitchingRule{
			Name: "%[req.hdr(x-marathon-app-id),lower,map(" + cfg.AppMapFile + ")]"})
	}
	reindexACLs(fe.ACLs)
	reindexHTTPRequest(fe.HTTPRequestRules)
	reindexSwitching(fe.SwitchingRules)
	return fe
}

// appIDChunk is the service's HTTP_FRONTEND_APPID_ACL override, read like
// the other routing templates (ok false without one).
func appIDChunk(s *service) (chunk, bool, error) {
	const name = "HTTP_FRONTEND_APPID_ACL"
	text, ok := s.lbl.Templates[name]
	if !ok {
		return chunk{}, false, nil
	}
	ds, err := readTemplate(s, name, text, map[string]string{"cleanedUpAppId": sanitize(s.appID), "hostname": strings.Join(s.lbl.VHosts, ","), "appId": s.appID, "backend": s.backend})
	if err != nil {
		return chunk{}, true, err
	}
	var c chunk
	for _, d := range ds {
		if err := applyChunkDirective(d, s, &c); err != nil {
			return chunk{}, true, templateMisfit(s, name, text, fmt.Errorf("line %d %q: %w", d.Line, d.String(), err))
		}
	}
	return c, true, nil
}

// Map files of --haproxy-map (§6.5), by their storage names.
const (
	DomainMap = "domain2backend.map"
	AppMap    = "app2backend.map"
)

// MapEntry is one "key value" line of a map file.
type MapEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// mappedOn80 and mappedOn443 say when a vhost service is routed by the map
// instead of ACL rules (§6.5): no PATH and no AUTH, and on :80 no
// REDIRECT_TO_HTTPS.
func mappedOn80(s *service) bool  { return mappedOn443(s) && !s.lbl.RedirectToHTTPS }
func mappedOn443(s *service) bool { return s.lbl.Path == "" && s.lbl.Auth == nil }

// mapContents are the entries of both map files, in service order; an
// exact duplicate is written once.
func mapContents(services []*service, cfg Config) map[string][]MapEntry {
	out := map[string][]MapEntry{DomainMap: {}, AppMap: {}}
	seen := map[MapEntry]bool{}
	add := func(name string, e MapEntry) {
		if !seen[e] {
			seen[e] = true
			out[name] = append(out[name], e)
		}
	}
	apps := map[string]bool{}
	for _, s := range services {
		if s.mode != "http" {
			continue
		}
		if cfg.BindHTTP && len(s.lbl.VHosts) > 0 && mappedOn443(s) {
			for _, h := range s.lbl.VHosts {
				add(DomainMap, MapEntry{h, s.backend})
			}
		}
		if !apps[s.appID] {
			apps[s.appID] = true
			add(AppMap, MapEntry{strings.ToLower(s.appID), s.backend})
		}
	}
	return out
}

// MapText renders entries as a map file.
func MapText(entries []MapEntry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Key + " " + e.Value + "\n")
	}
	return b.String()
}
