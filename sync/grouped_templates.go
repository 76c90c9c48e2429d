package sync

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/templates"
)

// The three per-vhost templates of --group-https-by-vhost (§5.2 rows
// 25-27) are global-only. marathon-lb's abns@{name} addresses are kept in
// the templates and become this tool's socket files (grouped.go says why).
const (
	tmplVhostBackend  = "HTTPS_GROUPED_VHOST_BACKEND_HEAD"
	tmplVhostACL      = "HTTPS_GROUPED_VHOST_FRONTEND_ACL"
	tmplVhostFrontend = "HTTPS_GROUPED_VHOST_FRONTEND_HEAD"
)

// exampleVhost checks the per-vhost templates at startup.
const exampleVhost = "www.example.com"

// readGlobalTemplate reads the global override of template name, filled
// with vars (nil: a template marathon-lb does not format); ok is false
// without one.
func readGlobalTemplate(cfg Config, name string, vars map[string]string) (ds []templates.Directive, ok bool, err error) {
	text, ok := cfg.Templates[name]
	if !ok {
		return nil, false, nil
	}
	filled := text
	if vars != nil {
		filled, err = templates.Fill(text, vars)
	}
	if err == nil {
		if ds, err = templates.Parse(filled); err == nil {
			return ds, true, nil
		}
	}
	return nil, true, fmt.Errorf("HAPROXY_%s: %w", name, err)
}

// vhostRouting is one vhost's routing in the :443 splitter.
func vhostRouting(cfg Config, host, name string) ([]dataplane.ACL, []dataplane.BackendSwitchingRule, error) {
	ds, ok, err := readGlobalTemplate(cfg, tmplVhostACL, map[string]string{"backend": name, "host": host})
	if !ok {
		return nil, []dataplane.BackendSwitchingRule{{Name: name, Cond: "if", CondTest: "{ req_ssl_sni -i " + host + " }"}}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var acls []dataplane.ACL
	var rules []dataplane.BackendSwitchingRule
	for _, d := range ds {
		switch a := d.Args; {
		case d.Keyword == "acl" && len(a) >= 2:
			acls = append(acls, dataplane.ACL{ACLName: a[0], Criterion: a[1], Value: strings.Join(a[2:], " ")})
		case d.Keyword == "use_backend":
			args, cond, test := splitCond(a)
			if len(args) != 1 || args[0] != name || cond == "" {
				return nil, nil, fmt.Errorf("HAPROXY_%s: line %d %q: want use_backend {backend} if|unless <condition> (the vhost's backend is %s)", tmplVhostACL, d.Line, d.String(), name)
			}
			rules = append(rules, dataplane.BackendSwitchingRule{Name: name, Cond: cond, CondTest: test})
		default:
			return nil, nil, fmt.Errorf("HAPROXY_%s: line %d %q: supported: acl, use_backend", tmplVhostACL, d.Line, d.String())
		}
	}
	return acls, rules, nil
}

// vhostBackend is the backend handing a vhost's connections to its TLS
// frontend.
func vhostBackend(cfg Config, name string) (*Backend, error) {
	be := &Backend{Backend: dataplane.Backend{Name: name, From: cfg.DefaultsName, Mode: "tcp", Description: ownerDescription("")},
		Servers: []dataplane.Server{{Name: "loopback-for-tls", Address: tlsSocket(cfg, name), Options: &dataplane.ServerOptions{SendProxyV2: "enabled"}}}}
	ds, ok, err := readGlobalTemplate(cfg, tmplVhostBackend, map[string]string{"name": name})
	if !ok || err != nil {
		return be, err
	}
	be.Servers = nil
	for _, d := range ds {
		if err := vhostBackendDirective(d, cfg, name, be); err != nil {
			return nil, fmt.Errorf("HAPROXY_%s: line %d %q: %w", tmplVhostBackend, d.Line, d.String(), err)
		}
	}
	if len(be.Servers) != 1 {
		return nil, fmt.Errorf("HAPROXY_%s: want exactly one server loopback-for-tls abns@{name}", tmplVhostBackend)
	}
	return be, nil
}

func vhostBackendDirective(d templates.Directive, cfg Config, name string, be *Backend) error {
	a := d.Args
	switch d.Keyword {
	case "backend":
		if len(a) != 1 || a[0] != name {
			return fmt.Errorf("the backend must keep its name %s", name)
		}
	case "mode":
		if len(a) != 1 || a[0] != "tcp" {
			return errors.New("the mode must stay tcp: the connection is still TLS")
		}
	case "server":
		if len(a) < 2 || a[0] != "loopback-for-tls" || a[1] != "abns@"+name {
			return fmt.Errorf("want server loopback-for-tls abns@%s [send-proxy-v2|send-proxy]", name)
		}
		sv := dataplane.Server{Name: "loopback-for-tls", Address: tlsSocket(cfg, name)}
		for _, o := range a[2:] {
			switch o {
			case "send-proxy-v2":
				sv.SetOpts().SendProxyV2 = "enabled"
			case "send-proxy":
				sv.SetOpts().SendProxy = "enabled"
			default:
				return fmt.Errorf("unsupported server option %q (supported: send-proxy-v2, send-proxy)", o)
			}
		}
		if o := sv.Opts(); o.SendProxyV2 == "" && o.SendProxy == "" {
			return errors.New("the server must send the PROXY protocol (send-proxy-v2): the vhost's frontend binds with accept-proxy")
		}
		be.Servers = append(be.Servers, sv)
	default:
		return applyBackendDirective(d, &be.Backend, be)
	}
	return nil
}

// vhostFrontend is a vhost's TLS frontend before its routing: the
// built-in bind (vhostBind), or the override's bind options on it.
func vhostFrontend(cfg Config, host, name string, services []*service) (*Frontend, string, error) {
	bind, warn := vhostBind(host, name, services, cfg)
	fe := &Frontend{
		Frontend: dataplane.Frontend{Name: name, From: cfg.DefaultsName, Mode: "http", Description: ownerDescription("")},
		Binds:    []dataplane.Bind{bind},
	}
	certs := []string{bind.SSLCertificate}
	if bind.SSLCertificate == "" {
		certs = cfg.SSLCerts
	}
	var sslCerts, bindOpts []string
	for _, c := range certs {
		sslCerts = append(sslCerts, "crt "+c)
	}
	for _, s := range services {
		if t := s.lbl.BindOptionsText; t != "" {
			bindOpts = append(bindOpts, " "+t)
		}
	}
	ds, ok, err := readGlobalTemplate(cfg, tmplVhostFrontend, map[string]string{"name": name, "sslCerts": strings.Join(sslCerts, " "), "bindOpts": strings.Join(bindOpts, "")})
	if !ok || err != nil {
		return fe, warn, err
	}
	shape := frontendShape{
		name: name, mode: "http", modeHint: "a vhost's frontend serves http over TLS", socket: "abns@" + name,
		bind: func(_ string, o labels.BindOptions) (dataplane.Bind, error) {
			if !o.SSL || !o.AcceptProxy {
				return dataplane.Bind{}, errors.New("the bind must keep `accept-proxy ssl {sslCerts}`")
			}
			if !slices.Equal(o.Crt, certs) {
				return dataplane.Bind{}, fmt.Errorf("the certificates are {sslCerts} (%q); the bind names %q", strings.Join(sslCerts, " "), o.Crt)
			}
			b := bindFromOptions("", 0, nil, o)
			b.Name, b.Address, b.Port = bind.Name, bind.Address, nil
			b.SSL, b.AcceptProxy, b.SSLCertificate, b.CrtList = true, true, bind.SSLCertificate, bind.CrtList
			return b, nil
		},
	}
	fe.Binds = nil
	if err := applyFrontendShaped(ds, shape, fe); err != nil {
		return nil, warn, fmt.Errorf("HAPROXY_%s: %w", tmplVhostFrontend, err)
	}
	if len(fe.Binds) != 1 {
		return nil, warn, fmt.Errorf("HAPROXY_%s: want exactly one bind abns@{name}", tmplVhostFrontend)
	}
	return fe, warn, nil
}

// validateVhostTemplates builds the per-vhost templates for an example
// vhost, at startup.
func validateVhostTemplates(cfg Config) error {
	name := sanitize(exampleVhost)
	_, _, err1 := vhostRouting(cfg, exampleVhost, name)
	_, err2 := vhostBackend(cfg, name)
	_, _, err3 := vhostFrontend(cfg, exampleVhost, name, nil)
	return errors.Join(err1, err2, err3)
}
