package sync

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
)

// The shared frontends' heads (§5.2 rows 22, 24, 41, 42) are global-only
// templates. An override is read like FRONTEND_HEAD: its bind options,
// logging, timeout, maxconn, ACLs and rules become the frontend's objects,
// placed before the apps' routing as marathon-lb's text placed them; the
// name, the port (a flag) and the mode stay, and the certificates are
// --ssl-certs'.
const (
	tmplHTTPHead       = "HTTP_FRONTEND_HEAD"
	tmplAppIDHead      = "HTTP_FRONTEND_APPID_HEAD"
	tmplHTTPSHead      = "HTTPS_FRONTEND_HEAD"
	tmplGroupedSplitHd = "HTTPS_GROUPED_FRONTEND_HEAD"
)

// sharedHeadTemplates are the global templates this file translates.
var sharedHeadTemplates = map[string]bool{tmplHTTPHead: true, tmplAppIDHead: true, tmplHTTPSHead: true, tmplGroupedSplitHd: true,
	tmplVhostACL: true, tmplVhostBackend: true, tmplVhostFrontend: true}

// applySharedHead applies the global template name, when set, to fe, a
// shared frontend with its built-in bind and no routing yet.
func applySharedHead(cfg Config, name string, fe *Frontend, shape frontendShape, vars map[string]string) error {
	ds, ok, err := readGlobalTemplate(cfg, name, vars)
	if !ok || err != nil {
		return err
	}
	fe.Binds, fe.TCPRequestRules = nil, nil
	if err := applyFrontendShaped(ds, shape, fe); err != nil {
		return fmt.Errorf("HAPROXY_%s: %w", name, err)
	}
	if len(fe.Binds) != 1 {
		return fmt.Errorf("HAPROXY_%s: want exactly one bind on port %d", name, shape.port)
	}
	reindexACLs(fe.ACLs)
	reindexHTTPRequest(fe.HTTPRequestRules)
	reindexTCPRequest(fe.TCPRequestRules)
	return nil
}

// plainShape is :80's and :9091's: http, no TLS.
func plainShape(name string, port int, hint string) frontendShape {
	return frontendShape{
		name: name, port: port, mode: "http", modeHint: name + " serves http",
		bind: func(host string, o labels.BindOptions) (dataplane.Bind, error) {
			if o.SSL || len(o.Crt) > 0 {
				return dataplane.Bind{}, fmt.Errorf("%s takes no TLS (marathon_https_in is the TLS frontend); its port is %s", name, hint)
			}
			return bindFromOptions(host, port, nil, o), nil
		},
	}
}

// sslCertsVar is {sslCerts} of HTTPS_FRONTEND_HEAD: `crt a crt b`.
func sslCertsVar(cfg Config) string {
	var parts []string
	for _, c := range cfg.SSLCerts {
		parts = append(parts, "crt "+c)
	}
	return strings.Join(parts, " ")
}

func httpsShape(cfg Config, builtIn dataplane.Bind) frontendShape {
	return frontendShape{
		name: HTTPSFrontend, port: cfg.HTTPSPort, mode: "http", modeHint: HTTPSFrontend + " serves http over TLS",
		bind: func(host string, o labels.BindOptions) (dataplane.Bind, error) {
			if !o.SSL {
				return dataplane.Bind{}, errors.New("the :443 bind must keep `ssl {sslCerts}`")
			}
			if !slices.Equal(o.Crt, cfg.SSLCerts) {
				return dataplane.Bind{}, fmt.Errorf("the certificates are --ssl-certs' ({sslCerts} = %q); the bind names %q", sslCertsVar(cfg), o.Crt)
			}
			b := bindFromOptions(host, cfg.HTTPSPort, nil, o)
			b.SSL, b.SSLCertificate, b.CrtList = true, builtIn.SSLCertificate, builtIn.CrtList
			return b, nil
		},
	}
}

func splitterShape(cfg Config) frontendShape {
	return frontendShape{
		name: HTTPSFrontend, port: cfg.HTTPSPort, mode: "tcp", modeHint: "with --group-https-by-vhost, :443 reads the SNI in tcp mode",
		bind: func(host string, o labels.BindOptions) (dataplane.Bind, error) {
			if o.SSL || len(o.Crt) > 0 {
				return dataplane.Bind{}, errors.New("with --group-https-by-vhost, :443 passes TLS through to the vhosts' frontends: no ssl here")
			}
			return bindFromOptions(host, cfg.HTTPSPort, nil, o), nil
		},
	}
}

// ValidateSharedHeads checks the shared frontends' head overrides against
// the configuration (ports, certificates), at startup.
func ValidateSharedHeads(cfg Config) error {
	var errs []error
	vhost := false
	for _, n := range sortedKeys(cfg.Templates) {
		if !sharedHeadTemplates[n] {
			continue
		}
		var err error
		switch n {
		case tmplVhostACL, tmplVhostBackend, tmplVhostFrontend:
			vhost = true
		case tmplHTTPHead:
			_, err = httpFrontendHead(cfg)
		case tmplAppIDHead:
			_, err = appIDFrontendHead(cfg)
		case tmplHTTPSHead:
			_, err = httpsFrontendHead(cfg)
		case tmplGroupedSplitHd:
			_, err = splitterHead(cfg)
		}
		errs = append(errs, err)
	}
	if vhost {
		errs = append(errs, validateVhostTemplates(cfg))
	}
	return errors.Join(errs...)
}

func httpFrontendHead(cfg Config) (*Frontend, error) {
	fe := &Frontend{
		Frontend: dataplane.Frontend{Name: HTTPFrontend, From: cfg.DefaultsName, Mode: "http", Description: ownerDescription("")},
		Binds:    []dataplane.Bind{bindFor(cfg.HTTPBindAddr, cfg.HTTPPort)},
	}
	return fe, applySharedHead(cfg, tmplHTTPHead, fe, plainShape(HTTPFrontend, cfg.HTTPPort, "--http-bind"), nil)
}

func appIDFrontendHead(cfg Config) (*Frontend, error) {
	fe := &Frontend{
		Frontend: dataplane.Frontend{Name: AppIDFrontend, From: cfg.DefaultsName, Mode: "http", Description: ownerDescription("")},
		Binds:    []dataplane.Bind{bindFor(cfg.AppIDBindAddr, cfg.AppIDPort)},
	}
	return fe, applySharedHead(cfg, tmplAppIDHead, fe, plainShape(AppIDFrontend, cfg.AppIDPort, "--appid-bind"), nil)
}

func httpsFrontendHead(cfg Config) (*Frontend, error) {
	bind := bindFor(cfg.HTTPSBindAddr, cfg.HTTPSPort)
	bind.SSL = true
	if len(cfg.SSLCerts) == 1 {
		bind.SSLCertificate = cfg.SSLCerts[0]
	} else {
		bind.CrtList = cfg.SSLCertList
	}
	fe := &Frontend{
		Frontend: dataplane.Frontend{Name: HTTPSFrontend, From: cfg.DefaultsName, Mode: "http", Description: ownerDescription("")},
		Binds:    []dataplane.Bind{bind},
	}
	return fe, applySharedHead(cfg, tmplHTTPSHead, fe, httpsShape(cfg, bind), map[string]string{"sslCerts": sslCertsVar(cfg)})
}

func splitterHead(cfg Config) (*Frontend, error) {
	fe := &Frontend{
		Frontend: dataplane.Frontend{Name: HTTPSFrontend, From: cfg.DefaultsName, Mode: "tcp", Description: ownerDescription("")},
		Binds:    []dataplane.Bind{bindFor(cfg.HTTPSBindAddr, cfg.HTTPSPort)},
		TCPRequestRules: []dataplane.TCPRequestRule{
			{Type: "inspect-delay", Timeout: dataplane.Int64(5000)},
			{Type: "content", Action: "accept", Cond: "if", CondTest: "{ req_ssl_hello_type 1 }"},
		},
	}
	reindexTCPRequest(fe.TCPRequestRules)
	return fe, applySharedHead(cfg, tmplGroupedSplitHd, fe, splitterShape(cfg), nil)
}

// withHead builds a shared frontend's head; an override that does not fit
// (ValidateSharedHeads stops the command at startup before that, and
// BuildDesired warns) leaves the built-in head.
func withHead(build func(Config) (*Frontend, error), cfg Config, name string) *Frontend {
	fe, err := build(cfg)
	if err != nil {
		fe, _ = build(withoutTemplates(cfg, name))
	}
	return fe
}

// withoutTemplates is cfg with the built-in versions of names.
func withoutTemplates(cfg Config, names ...string) Config {
	cfg.Templates = maps.Clone(cfg.Templates)
	for _, n := range names {
		delete(cfg.Templates, n)
	}
	return cfg
}
