package sync

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/templates"
)

// Backend templates a HAPROXY_{n}_<NAME> label can override now (§5.2). The
// other template labels are rejected with a clear error until they are
// translated too.
var translatedTemplates = map[string]bool{
	"BACKEND_HEAD": true, "BACKEND_HTTP_OPTIONS": true, "BACKEND_HSTS_OPTIONS": true,
	"BACKEND_STICKY_OPTIONS": true, "BACKEND_HTTP_HEALTHCHECK_OPTIONS": true, "BACKEND_TCP_HEALTHCHECK_OPTIONS": true,
	"BACKEND_SERVER_OPTIONS": true, "BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS": true, "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS": true,
	"FRONTEND_HEAD": true, "FRONTEND_BACKEND_GLUE": true,
	"HTTP_BACKEND_PROXYPASS_GLUE": true, "HTTP_BACKEND_REVPROXY_GLUE": true,
	"HTTP_BACKEND_NETWORK_ALLOWED_ACL": true, "TCP_BACKEND_NETWORK_ALLOWED_ACL": true,
	"HTTP_BACKEND_ACL_ALLOW_DENY": true, "TCP_BACKEND_ACL_ALLOW_DENY": true,
	"USERLIST_HEAD": true, "HTTP_FRONTEND_APPID_ACL": true,
	// The shared-frontend routing templates (frontend_templates.go).
	"HTTP_FRONTEND_ACL": true, "HTTP_FRONTEND_ACL_ONLY": true, "HTTP_FRONTEND_ACL_ONLY_WITH_PATH": true,
	"HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH": true, "HTTP_FRONTEND_ACL_WITH_AUTH": true, "HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH": true,
	"HTTP_FRONTEND_ACL_WITH_PATH": true, "HTTP_FRONTEND_ROUTING_ONLY": true, "HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH": true,
	"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH": true, "HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH": true,
	"BACKEND_REDIRECT_HTTP_TO_HTTPS": true, "BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH": true,
	"HTTPS_FRONTEND_ACL": true, "HTTPS_FRONTEND_ACL_ONLY_WITH_PATH": true, "HTTPS_FRONTEND_ACL_WITH_AUTH": true,
	"HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH": true, "HTTPS_FRONTEND_ACL_WITH_PATH": true,
}

// Server template defaults (§5.2 rows 7-9).
const (
	defaultServerOptions       = "server {serverName} {host_ipv4}:{port} id {serverId}{cookieOptions}{healthCheckOptions}{otherOptions}"
	defaultServerCheckTemplate = "check inter {healthCheckIntervalSeconds}s fall {healthCheckFalls}{healthCheckPortOptions}"
)

func hasServerTemplates(s *service) bool {
	for _, n := range []string{"BACKEND_SERVER_OPTIONS", "BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS", "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS"} {
		if _, ok := s.lbl.Templates[n]; ok {
			return true
		}
	}
	return false
}

// serverFromTemplates builds one server the way marathon-lb fills its
// server templates: the health-check template (http or tcp variant),
// stripped and prefixed with a space, goes into {healthCheckOptions} of
// BACKEND_SERVER_OPTIONS, whose one `server` line must keep the server's
// name and address; its options become the server's fields.
func serverFromTemplates(s *service, sv serverSpec, name string, id int64, httpCheck bool) (dataplane.Server, error) {
	vars := templateVars(s)
	checkName := "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS"
	if httpCheck {
		checkName = "BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS"
	}
	checkOpts := ""
	if s.hc != nil {
		if sv.checkPort != 0 {
			vars["healthCheckPortOptions"] = " port " + strconv.Itoa(sv.checkPort)
		}
		text, ok := s.lbl.Templates[checkName]
		if !ok {
			text = defaultServerCheckTemplate
		}
		filled, err := templates.Fill(text, vars)
		if err != nil {
			return dataplane.Server{}, templateMisfit(s, checkName, text, err)
		}
		if filled = strings.TrimSpace(filled); filled != "" {
			checkOpts = " " + filled
		}
	}
	cookie := ""
	if s.lbl.Sticky {
		cookie = " check cookie " + stickyCookie(name)
	}
	for k, v := range map[string]string{"serverName": name, "host": sv.host, "host_ipv4": sv.ip, "port": strconv.Itoa(sv.port),
		"serverId": strconv.FormatInt(id, 10), "cookieOptions": cookie, "healthCheckOptions": checkOpts, "otherOptions": otherOptions(sv)} {
		vars[k] = v
	}
	const tmplName = "BACKEND_SERVER_OPTIONS"
	text, ok := s.lbl.Templates[tmplName]
	if !ok {
		text = defaultServerOptions
	}
	bad := func(err error) (dataplane.Server, error) {
		return dataplane.Server{}, templateMisfit(s, tmplName, text, err)
	}
	ds, err := readTemplate(s, tmplName, text, vars)
	if err != nil {
		return dataplane.Server{}, err
	}
	if len(ds) != 1 || ds[0].Keyword != "server" || len(ds[0].Args) < 2 {
		return bad(errors.New("want exactly one line: server {serverName} {host_ipv4}:{port} [options]"))
	}
	d := ds[0]
	if d.Args[0] != name || d.Args[1] != sv.ip+":"+strconv.Itoa(sv.port) {
		return bad(fmt.Errorf("line %d: the server must keep its name %s and address %s:%d", d.Line, name, sv.ip, sv.port))
	}
	srv := dataplane.Server{Name: name, Address: sv.ip, Port: dataplane.Int64(int64(sv.port))}
	if err := applyServerOptions(d.Args[2:], &srv); err != nil {
		return bad(fmt.Errorf("line %d %q: %w", d.Line, d.String(), err))
	}
	return srv, nil
}

// applyServerOptions sets the server fields the options name.
func applyServerOptions(a []string, srv *dataplane.Server) error {
	num := func(i int) (int64, error) {
		if i+1 >= len(a) {
			return 0, fmt.Errorf("%s needs a value", a[i])
		}
		return strconv.ParseInt(a[i+1], 10, 64)
	}
	for i := 0; i < len(a); i++ {
		switch w := a[i]; w {
		case "check":
			srv.Check = "enabled"
		case "disabled":
			srv.Maintenance = "enabled"
		case "backup":
			srv.SetOpts().Backup = "enabled"
		case "ssl":
			srv.SetOpts().SSL = "enabled"
		case "check-ssl":
			srv.SetOpts().CheckSSL = "enabled"
		case "send-proxy":
			srv.SetOpts().SendProxy = "enabled"
		case "send-proxy-v2":
			srv.SetOpts().SendProxyV2 = "enabled"
		case "verify", "cookie":
			if i+1 >= len(a) {
				return fmt.Errorf("%s needs a value", w)
			}
			if w == "verify" {
				if a[i+1] != "none" && a[i+1] != "required" {
					return errors.New("verify none|required")
				}
				srv.SetOpts().Verify = a[i+1]
			} else {
				srv.Cookie = a[i+1]
			}
			i++
		case "inter":
			if i+1 >= len(a) {
				return errors.New("inter needs a value")
			}
			ms, err := haproxyMillis(a[i+1])
			if err != nil {
				return err
			}
			srv.Inter = dataplane.Int64(ms)
			i++
		case "id", "fall", "rise", "port", "weight", "maxconn":
			n, err := num(i)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: want a number", w)
			}
			v := dataplane.Int64(n)
			switch w {
			case "id":
				srv.ID = v
			case "fall":
				srv.Fall = v
			case "rise":
				srv.Rise = v
			case "port":
				srv.HealthCheckPort = v
			case "weight":
				srv.Weight = v
			case "maxconn":
				srv.SetOpts().Maxconn = v
			}
			i++
		default:
			return fmt.Errorf("unsupported server option %q (supported: backup, check, check-ssl, cookie, disabled, fall, id, inter, maxconn, port, rise, send-proxy, send-proxy-v2, ssl, verify, weight)", w)
		}
	}
	return nil
}

// unformatted templates are copied as they are: "{x}" stays literal (§5.1).
var unformatted = map[string]bool{"BACKEND_HTTP_OPTIONS": true, "BACKEND_HSTS_OPTIONS": true, "BACKEND_STICKY_OPTIONS": true,
	"HTTP_BACKEND_ACL_ALLOW_DENY": true, "TCP_BACKEND_ACL_ALLOW_DENY": true}

// SupportedDirectives are the backend directives a template may use, and
// what each becomes.
var SupportedDirectives = map[string]string{
	"backend":       "the backend line of BACKEND_HEAD; its name must be {backend}",
	"balance":       "backend balance (as HAPROXY_{n}_BALANCE)",
	"mode":          "backend mode (http or tcp)",
	"option":        "option forwardfor [except N] [header H] [if-none], option httpchk [METHOD] [URI] [VERSION]",
	"timeout":       "timeout check|server|connect|queue|tunnel|http-request|http-keep-alive <time>",
	"http-request":  "http_request_rules: set-header, add-header, del-header, replace-header, replace-path, set-path, redirect, allow, deny [deny_status N], with if/unless conditions",
	"http-response": "http_response_rules: set-header, add-header, del-header, replace-header, with if/unless conditions",
	"rspadd":        "http-response add-header (HAProxy 2.6 has no rspadd)",
	"acl":           "backend acls",
	"cookie":        "backend cookie <name> [insert|rewrite|prefix] [indirect] [nocache] [httponly] [secure] [preserve]",
	"tcp-request":   "tcp_request_rules: content accept|reject, inspect-delay <time>",
}

// templateError names app, port, label and line.
func templateError(appID string, port int, name string, value string, err error) error {
	return &labels.Error{AppID: appID, Port: port, Label: fmt.Sprintf("HAPROXY_%d_%s", port, name), Value: value, Err: err}
}

// checkTemplates rejects template labels that cannot be translated yet.
func checkTemplates(appID string, p labels.Port) []error {
	var errs []error
	names := make([]string, 0, len(p.Templates))
	for n := range p.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch {
		case translatedTemplates[n]:
		case strings.HasPrefix(n, "MAP_"):
			// marathon-lb accepted these and never read them (§4.3).
		default:
			errs = append(errs, templateError(appID, p.Index, n, p.Templates[n],
				fmt.Errorf("%w: overriding template %s is not supported yet (supported: %s)", labels.ErrInvalidValue, n, strings.Join(sortedKeys(translatedTemplates), ", "))))
		}
	}
	return errs
}

// overrideDirectives returns the directives of template name when the
// service overrides it (nil, false otherwise).
func overrideDirectives(s *service, name string, vars map[string]string) ([]templates.Directive, bool, error) {
	text, ok := s.lbl.Templates[name]
	if !ok {
		return nil, false, nil
	}
	ds, err := readTemplate(s, name, text, vars)
	return ds, true, err
}

// readTemplate fills (unless the template is unformatted) and splits text,
// the service's template name; an error names the app, port and label.
func readTemplate(s *service, name, text string, vars map[string]string) ([]templates.Directive, error) {
	filled := text
	if !unformatted[name] {
		var err error
		if filled, err = templates.Fill(text, vars); err != nil {
			return nil, templateMisfit(s, name, text, err)
		}
	}
	ds, err := templates.Parse(filled)
	if err != nil {
		return nil, templateMisfit(s, name, text, err)
	}
	return ds, nil
}

// templateMisfit is an invalid-value error for the service's template.
func templateMisfit(s *service, name, text string, err error) error {
	return templateError(s.appID, s.index, name, text, fmt.Errorf("%w: %w", labels.ErrInvalidValue, err))
}

// applyBackendDirectives translates a backend template's directives into
// the backend's objects. Anything not understood is an error naming the
// line and the directive: nothing is dropped.
func applyBackendDirectives(ds []templates.Directive, be *dataplane.Backend, out *Backend) error {
	for _, d := range ds {
		if err := applyBackendDirective(d, be, out); err != nil {
			return fmt.Errorf("line %d %q: %w", d.Line, d.String(), err)
		}
	}
	return nil
}

func applyBackendDirective(d templates.Directive, be *dataplane.Backend, out *Backend) error {
	a := d.Args
	switch d.Keyword {
	case "backend":
		if len(a) != 1 || a[0] != be.Name {
			return fmt.Errorf("the backend must keep its name %s", be.Name)
		}
	case "balance":
		b, err := labels.ParseBalance(strings.Join(a, " "))
		if err != nil {
			return err
		}
		be.Balance = &dataplane.Balance{Algorithm: b.Algorithm, HdrName: b.HdrName, URLParam: b.URLParam}
	case "mode":
		if len(a) != 1 || (a[0] != "http" && a[0] != "tcp") {
			return errors.New("want mode http or mode tcp")
		}
		be.Mode = a[0]
	case "option":
		return applyOption(a, be)
	case "timeout":
		return applyTimeout(a, be)
	case "http-request":
		r, err := httpRequestRule(a)
		if err != nil {
			return err
		}
		out.HTTPRequestRules = append(out.HTTPRequestRules, r)
	case "http-response":
		r, err := httpResponseRule(a)
		if err != nil {
			return err
		}
		out.HTTPResponseRules = append(out.HTTPResponseRules, r)
	case "rspadd":
		name, value, ok := strings.Cut(strings.Join(a, " "), ":")
		if !ok || name == "" {
			return errors.New("want rspadd Name:\\ value")
		}
		out.HTTPResponseRules = append(out.HTTPResponseRules,
			dataplane.HTTPResponseRule{Type: "add-header", HdrName: name, HdrFormat: strings.TrimSpace(value)})
	case "acl":
		if len(a) < 2 {
			return errors.New("want acl <name> <criterion> [values]")
		}
		out.ACLs = append(out.ACLs, dataplane.ACL{ACLName: a[0], Criterion: a[1], Value: strings.Join(a[2:], " ")})
	case "cookie":
		return applyCookie(a, be)
	case "tcp-request":
		r, err := tcpRequestRule(a)
		if err != nil {
			return err
		}
		out.TCPRequestRules = append(out.TCPRequestRules, r)
	case "reqirep", "reqrep", "rspirep", "rsprep", "reqadd", "reqdel", "rspdel":
		return fmt.Errorf("%s was removed in HAProxy 2.1; write the http-request or http-response rule instead (replace-path, replace-uri, replace-header, set-header, del-header)", d.Keyword)
	default:
		return fmt.Errorf("unsupported directive %q in a backend template (supported: %s)", d.Keyword, strings.Join(sortedKeys(SupportedDirectives), ", "))
	}
	return nil
}

func applyOption(a []string, be *dataplane.Backend) error {
	if len(a) == 0 {
		return errors.New("option needs a name")
	}
	switch a[0] {
	case "forwardfor":
		f := &dataplane.Forwardfor{Enabled: "enabled"}
		for i := 1; i < len(a); i++ {
			switch {
			case a[i] == "if-none":
				f.Ifnone = true
			case (a[i] == "except" || a[i] == "header") && i+1 < len(a):
				if a[i] == "except" {
					f.Except = a[i+1]
				} else {
					f.Header = a[i+1]
				}
				i++
			default:
				return fmt.Errorf("option forwardfor: unexpected %q", a[i])
			}
		}
		be.Forwardfor = f
	case "httpchk":
		p := &dataplane.HttpchkParams{}
		switch len(a) {
		case 1:
		case 2:
			p.URI = a[1]
		case 3, 4:
			p.Method, p.URI = a[1], a[2]
			if len(a) == 4 {
				p.Version = a[3]
			}
		default:
			return errors.New("want option httpchk [METHOD] [URI] [VERSION]")
		}
		be.AdvCheck, be.HttpchkParams = "httpchk", p
	default:
		return fmt.Errorf("unsupported option %q (supported: forwardfor, httpchk)", a[0])
	}
	return nil
}

func applyTimeout(a []string, be *dataplane.Backend) error {
	if len(a) != 2 {
		return errors.New("want timeout <kind> <time>")
	}
	ms, err := haproxyMillis(a[1])
	if err != nil {
		return err
	}
	v := dataplane.Int64(ms)
	switch a[0] {
	case "check":
		be.CheckTimeout = v
	case "server":
		be.ServerTimeout = v
	case "connect":
		be.ConnectTimeout = v
	case "queue":
		be.QueueTimeout = v
	case "tunnel":
		be.TunnelTimeout = v
	case "http-request":
		be.HTTPRequestTimeout = v
	case "http-keep-alive":
		be.HTTPKeepAliveTimeout = v
	default:
		return fmt.Errorf("unsupported timeout %q", a[0])
	}
	return nil
}

// haproxyMillis reads an HAProxy time ("5s", "300ms", "1m", plain ms).
func haproxyMillis(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}} {
		if n, err := strconv.ParseInt(strings.TrimSuffix(s, u.suffix), 10, 64); strings.HasSuffix(s, u.suffix) && err == nil && n >= 0 {
			return int64(time.Duration(n) * u.d / time.Millisecond), nil
		}
	}
	return 0, fmt.Errorf("%q is not an HAProxy time", s)
}

func applyCookie(a []string, be *dataplane.Backend) error {
	if len(a) == 0 {
		return errors.New("cookie needs a name")
	}
	c := &dataplane.Cookie{Name: a[0]}
	for _, w := range a[1:] {
		switch w {
		case "insert", "rewrite", "prefix":
			c.Type = w
		case "indirect":
			c.Indirect = true
		case "nocache":
			c.Nocache = true
		case "httponly":
			c.Httponly = true
		case "secure":
			c.Secure = true
		default:
			return fmt.Errorf("unsupported cookie option %q", w)
		}
	}
	be.Cookie = c
	return nil
}

// splitCond separates "... if|unless <cond>".
func splitCond(a []string) ([]string, string, string) {
	for i, w := range a {
		if w == "if" || w == "unless" {
			return a[:i], w, strings.Join(a[i+1:], " ")
		}
	}
	return a, "", ""
}

func httpRequestRule(a []string) (dataplane.HTTPRequestRule, error) {
	args, cond, test := splitCond(a)
	r := dataplane.HTTPRequestRule{Cond: cond, CondTest: test}
	if len(args) == 0 {
		return r, errors.New("http-request needs an action")
	}
	r.Type = args[0]
	rest := args[1:]
	if isHeaderAction(r.Type) {
		var err error
		r.HdrName, r.HdrFormat, r.HdrMatch, err = headerAction("http-request", r.Type, rest)
		return r, err
	}
	switch r.Type {
	case "replace-path":
		if len(rest) != 2 {
			return r, errors.New("want http-request replace-path <regex> <format>")
		}
		r.PathMatch, r.PathFmt = rest[0], rest[1]
	case "set-path":
		if len(rest) != 1 {
			return r, errors.New("want http-request set-path <format>")
		}
		r.PathFmt = rest[0]
	case "redirect":
		if len(rest) < 2 {
			return r, errors.New("want http-request redirect location|prefix|scheme <value> [code N]")
		}
		r.RedirType, r.RedirValue = rest[0], rest[1]
		for i := 2; i < len(rest); i++ {
			if rest[i] == "code" && i+1 < len(rest) {
				n, err := strconv.ParseInt(rest[i+1], 10, 64)
				if err != nil {
					return r, fmt.Errorf("redirect code %q", rest[i+1])
				}
				r.RedirCode = dataplane.Int64(n)
				i++
				continue
			}
			return r, fmt.Errorf("unsupported redirect option %q", rest[i])
		}
	case "auth":
		switch {
		case len(rest) == 0:
		case len(rest) == 2 && rest[0] == "realm":
			r.AuthRealm = rest[1]
		default:
			return r, errors.New("want http-request auth [realm <realm>]")
		}
	case "allow":
		if len(rest) != 0 {
			return r, errors.New("http-request allow takes no arguments")
		}
	case "deny":
		if len(rest) == 2 && rest[0] == "deny_status" {
			n, err := strconv.ParseInt(rest[1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("deny_status %q", rest[1])
			}
			r.DenyStatus = dataplane.Int64(n)
		} else if len(rest) != 0 {
			return r, errors.New("want http-request deny [deny_status N]")
		}
	default:
		return r, fmt.Errorf("unsupported http-request action %q", r.Type)
	}
	return r, nil
}

func httpResponseRule(a []string) (dataplane.HTTPResponseRule, error) {
	args, cond, test := splitCond(a)
	r := dataplane.HTTPResponseRule{Cond: cond, CondTest: test}
	if len(args) == 0 {
		return r, errors.New("http-response needs an action")
	}
	r.Type = args[0]
	if !isHeaderAction(r.Type) {
		return r, fmt.Errorf("unsupported http-response action %q", r.Type)
	}
	var err error
	r.HdrName, r.HdrFormat, r.HdrMatch, err = headerAction("http-response", r.Type, args[1:])
	return r, err
}

func isHeaderAction(t string) bool {
	return t == "set-header" || t == "add-header" || t == "del-header" || t == "replace-header"
}

// headerAction reads the arguments of a header action, shared by
// http-request and http-response.
func headerAction(kw, typ string, rest []string) (name, format, match string, err error) {
	switch typ {
	case "set-header", "add-header":
		if len(rest) < 2 {
			return "", "", "", fmt.Errorf("want %s %s <name> <format>", kw, typ)
		}
		return rest[0], strings.Join(rest[1:], " "), "", nil
	case "del-header":
		if len(rest) != 1 {
			return "", "", "", fmt.Errorf("want %s del-header <name>", kw)
		}
		return rest[0], "", "", nil
	}
	if len(rest) != 3 {
		return "", "", "", fmt.Errorf("want %s replace-header <name> <regex> <format>", kw)
	}
	return rest[0], rest[2], rest[1], nil
}

func tcpRequestRule(a []string) (dataplane.TCPRequestRule, error) {
	args, cond, test := splitCond(a)
	r := dataplane.TCPRequestRule{Cond: cond, CondTest: test}
	switch {
	case len(args) == 2 && args[0] == "content" && (args[1] == "accept" || args[1] == "reject"):
		r.Type, r.Action = "content", args[1]
	case len(args) == 2 && args[0] == "inspect-delay" && cond == "":
		ms, err := haproxyMillis(args[1])
		if err != nil {
			return r, err
		}
		r.Type, r.Timeout = "inspect-delay", dataplane.Int64(ms)
	default:
		return r, errors.New("supported: tcp-request content accept|reject [if|unless cond], tcp-request inspect-delay <time>")
	}
	return r, nil
}

// applyFrontendDirectives translates FRONTEND_HEAD and FRONTEND_BACKEND_GLUE
// directives into the service frontend. The name, the bind port, the mode
// and the backend stay the service's: they are what the rest of the
// configuration and the conflict checks rely on.
func applyFrontendDirectives(ds []templates.Directive, s *service, fe *Frontend) error {
	return applyFrontendShaped(ds, serviceShape(s), fe)
}

// frontendShape is what a frontend template must keep: the name, the
// bind port and the mode the rest of the configuration relies on, and the
// backend it may name ("" for a shared frontend: its routing comes from
// the apps).
type frontendShape struct {
	name     string
	port     int
	mode     string
	modeHint string
	backend  string
	// socket, when set, is the bind's one allowed address (a grouped
	// vhost's abns@<name>, which becomes a socket file).
	socket string
	// bind builds the bind from the template's address and options.
	bind func(host string, o labels.BindOptions) (dataplane.Bind, error)
}

func serviceShape(s *service) frontendShape {
	return frontendShape{
		name: s.backend, port: s.bindPort, mode: s.mode, backend: s.backend,
		modeHint: fmt.Sprintf("set HAPROXY_%d_MODE", s.index),
		bind: func(host string, o labels.BindOptions) (dataplane.Bind, error) {
			if len(o.Crt) > 1 {
				return dataplane.Bind{}, errors.New("one certificate per service-port bind")
			}
			return bindFromOptions(host, s.bindPort, o.Crt, o), nil
		},
	}
}

func applyFrontendShaped(ds []templates.Directive, shape frontendShape, fe *Frontend) error {
	for _, d := range ds {
		if err := applyFrontendDirective(d, shape, fe); err != nil {
			return fmt.Errorf("line %d %q: %w", d.Line, d.String(), err)
		}
	}
	return nil
}

func applyFrontendDirective(d templates.Directive, shape frontendShape, fe *Frontend) error {
	a := d.Args
	switch d.Keyword {
	case "frontend":
		if len(a) != 1 || a[0] != shape.name {
			return fmt.Errorf("the frontend must keep its name %s", shape.name)
		}
	case "bind":
		if len(a) == 0 {
			return errors.New("bind needs an address")
		}
		if shape.socket != "" {
			if a[0] != shape.socket {
				return fmt.Errorf("the bind must stay on %s", shape.socket)
			}
			o, err := labels.ParseBindOptions(strings.Join(a[1:], " "))
			if err != nil {
				return err
			}
			b, err := shape.bind("", o)
			if err != nil {
				return err
			}
			fe.Binds = append(fe.Binds, b)
			return nil
		}
		host, port, err := net.SplitHostPort(a[0])
		if err != nil || port != strconv.Itoa(shape.port) {
			return fmt.Errorf("the bind must stay on port %d", shape.port)
		}
		if host == "" {
			host = "*"
		}
		if host != "*" && net.ParseIP(host) == nil {
			return fmt.Errorf("bind address %q is not an IP address or *", host)
		}
		o, err := labels.ParseBindOptions(strings.Join(a[1:], " "))
		if err != nil {
			return err
		}
		b, err := shape.bind(host, o)
		if err != nil {
			return err
		}
		fe.Binds = append(fe.Binds, b)
	case "mode":
		if len(a) != 1 || a[0] != shape.mode {
			return fmt.Errorf("the mode must stay %s (%s)", shape.mode, shape.modeHint)
		}
	case "use_backend", "default_backend":
		if shape.backend == "" {
			return fmt.Errorf("%s's routing comes from the apps' labels; it names no backend itself", shape.name)
		}
		args, cond, test := splitCond(a)
		if len(args) != 1 || args[0] != shape.backend {
			return fmt.Errorf("a service frontend may only name its own backend %s", shape.backend)
		}
		if cond == "" {
			fe.Frontend.DefaultBackend = shape.backend
		} else if d.Keyword == "use_backend" {
			fe.SwitchingRules = append(fe.SwitchingRules, dataplane.BackendSwitchingRule{Name: shape.backend, Cond: cond, CondTest: test})
		} else {
			return errors.New("default_backend takes no condition")
		}
	case "option":
		if len(a) != 1 {
			return errors.New("supported: option httplog, option tcplog")
		}
		switch a[0] {
		case "httplog":
			fe.Frontend.Httplog = true
		case "tcplog":
			fe.Frontend.Tcplog = true
		default:
			return fmt.Errorf("unsupported frontend option %q (supported: httplog, tcplog)", a[0])
		}
	case "timeout":
		if len(a) != 2 || a[0] != "client" {
			return errors.New("supported: timeout client <time>")
		}
		ms, err := haproxyMillis(a[1])
		if err != nil {
			return err
		}
		fe.Frontend.ClientTimeout = dataplane.Int64(ms)
	case "maxconn":
		if len(a) != 1 {
			return errors.New("want maxconn <n>")
		}
		n, err := strconv.ParseInt(a[0], 10, 64)
		if err != nil || n < 1 {
			return errors.New("want maxconn <n>")
		}
		fe.Frontend.Maxconn = dataplane.Int64(n)
	case "acl":
		if len(a) < 2 {
			return errors.New("want acl <name> <criterion> [values]")
		}
		fe.ACLs = append(fe.ACLs, dataplane.ACL{ACLName: a[0], Criterion: a[1], Value: strings.Join(a[2:], " ")})
	case "http-request":
		r, err := httpRequestRule(a)
		if err != nil {
			return err
		}
		fe.HTTPRequestRules = append(fe.HTTPRequestRules, r)
	case "tcp-request":
		r, err := tcpRequestRule(a)
		if err != nil {
			return err
		}
		fe.TCPRequestRules = append(fe.TCPRequestRules, r)
	default:
		return fmt.Errorf("unsupported directive %q in a frontend template (supported: frontend, bind, mode, use_backend, default_backend, option, timeout, maxconn, acl, http-request, tcp-request)", d.Keyword)
	}
	return nil
}

// withGlobalTemplates adds the global overrides a port does not override
// itself (§5.1: the per-port label wins).
func withGlobalTemplates(p *labels.Port, global map[string]string) {
	if len(global) == 0 {
		return
	}
	merged := make(map[string]string, len(p.Templates)+len(global))
	for n, t := range global {
		if !sharedHeadTemplates[n] {
			merged[n] = t
		}
	}
	for n, t := range p.Templates {
		merged[n] = t
	}
	p.Templates = merged
}

// ValidateTemplates checks global template overrides at startup: a name
// that is not a template, or a template not translated yet, is an error
// (it would otherwise reject every app, or be silently ignored).
func ValidateTemplates(global map[string]string) error {
	var errs []error
	for _, n := range sortedKeys(global) {
		switch {
		case sharedHeadTemplates[n]:
			// Checked against the ports and certificates (ValidateSharedHeads).
		case translatedTemplates[n]:
			// Placeholders are checked per service; quoting errors now.
			if _, err := templates.Parse(global[n]); err != nil {
				errs = append(errs, fmt.Errorf("HAPROXY_%s: %w", n, err))
			}
		case strings.HasPrefix(n, "MAP_"):
		default:
			errs = append(errs, fmt.Errorf("HAPROXY_%s: overriding this template is not supported yet (supported: %s)", n, strings.Join(sortedKeys(translatedTemplates), ", ")))
		}
	}
	return errors.Join(errs...)
}

// otherOptions is {otherOptions}: " disabled" for a draining blue/green task.
func otherOptions(sv serverSpec) string {
	if sv.draining {
		return " disabled"
	}
	return ""
}
