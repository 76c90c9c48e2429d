package sync

import (
	"fmt"
	"path"
	"sort"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// groupedHTTPS builds --group-https-by-vhost (§6.6) into st:
// marathon_https_in becomes a tcp SNI splitter (inspect the ClientHello for
// up to 5s, then `use_backend <sanitize(H)> if { req_ssl_sni -i H }` per
// vhost, sorted); each vhost gets a backend whose one server is a local
// socket with send-proxy-v2, and a TLS frontend on that socket with the
// vhost's certificates (its services' SSL_CERT, or every --ssl-certs
// certificate) and bind options, holding the :443 chunks for that vhost.
// marathon-lb used abstract sockets (abns@); the Data Plane API v2.9 cannot
// read an abns@ bind back (client-native's address parser looks for
// "absn@"), so the sockets are files in cfg.TLSSocketDir. It returns
// warnings.
func groupedHTTPS(services []*service, cfg Config, st *State) []string {
	perHost := map[string][]*service{}
	for _, s := range services {
		if s.mode != "http" {
			continue
		}
		for _, h := range s.lbl.VHosts {
			perHost[h] = append(perHost[h], s)
		}
	}
	hosts := make([]string, 0, len(perHost))
	for h := range perHost {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)

	splitter := withHead(splitterHead, cfg, tmplGroupedSplitHd)
	var warns []string
	builtIn := withoutTemplates(cfg, tmplVhostACL, tmplVhostBackend, tmplVhostFrontend)
	for _, h := range hosts {
		name := sanitize(h)
		// The per-vhost templates were checked at startup
		// (ValidateSharedHeads); one that still does not fit this vhost
		// leaves the built-in objects, with a warning.
		acls, rules, err := vhostRouting(cfg, h, name)
		if err != nil {
			warns = append(warns, fmt.Sprintf("vhost %s: %v; built-in rule used", h, err))
			acls, rules, _ = vhostRouting(builtIn, h, name)
		}
		splitter.ACLs = append(splitter.ACLs, acls...)
		splitter.SwitchingRules = append(splitter.SwitchingRules, rules...)
		be, err := vhostBackend(cfg, name)
		if err != nil {
			warns = append(warns, fmt.Sprintf("vhost %s: %v; built-in backend used", h, err))
			be, _ = vhostBackend(builtIn, name)
		}
		st.Backends[name] = be

		fe, warn, err := vhostFrontend(cfg, h, name, perHost[h])
		if err != nil {
			warns = append(warns, fmt.Sprintf("vhost %s: %v; built-in frontend head used", h, err))
			fe, _, _ = vhostFrontend(builtIn, h, name, perHost[h])
		}
		if warn != "" {
			warns = append(warns, warn)
		}
		addChunks(fe, perHost[h], cfg, mappedOn443, sniMapRule(cfg), func(s *service) chunk {
			return frontendChunk(s, sniPieces(s, []string{h}), func() chunk { return sniChunkFor(s, []string{h}) })
		})
		st.Frontends[name] = fe
	}
	reindexACLs(splitter.ACLs)
	reindexTCPRequest(splitter.TCPRequestRules)
	reindexSwitching(splitter.SwitchingRules)
	st.Frontends[HTTPSFrontend] = splitter
	return warns
}

// vhostBind is the TLS bind of one vhost's frontend: the set of its
// services' SSL_CERT (sorted, where marathon-lb's order was random), or
// every --ssl-certs certificate; and their bind options merged.
func vhostBind(host, name string, services []*service, cfg Config) (dataplane.Bind, string) {
	b := dataplane.Bind{Name: "tls", Address: tlsSocket(cfg, name), AcceptProxy: true, SSL: true}
	set := map[string]bool{}
	var certs []string
	var opts []*service
	for _, s := range services {
		if c := s.lbl.SSLCert; c != "" && !set[c] {
			set[c] = true
			certs = append(certs, c)
		}
		if !s.lbl.BindOptions.Empty() {
			opts = append(opts, s)
		}
	}
	sort.Strings(certs)
	warn := ""
	switch {
	case len(certs) == 0 && len(cfg.SSLCerts) == 1:
		b.SSLCertificate = cfg.SSLCerts[0]
	case len(certs) == 0:
		b.CrtList = cfg.SSLCertList
	default:
		b.SSLCertificate = certs[0]
		if len(certs) > 1 {
			// The Data Plane API's bind takes one certificate or a crt-list
			// file, and this build writes no files.
			warn = fmt.Sprintf("vhost %s: %d different SSL_CERT values; only %s is used", host, len(certs), certs[0])
		}
	}
	for _, s := range opts {
		o := s.lbl.BindOptions
		b.V4v6, b.V6only, b.Transparent, b.DeferAccept, b.Tfo = b.V4v6 || o.V4v6, b.V6only || o.V6only, b.Transparent || o.Transparent, b.DeferAccept || o.DeferAccept, b.Tfo || o.Tfo
		b.Alpn, b.Ciphers, b.SSLMinVer = first(b.Alpn, o.Alpn), first(b.Ciphers, o.Ciphers), first(b.SSLMinVer, o.SSLMinVer)
		b.SSLMaxVer, b.Verify, b.SSLCafile = first(b.SSLMaxVer, o.SSLMaxVer), first(b.Verify, o.Verify), first(b.SSLCafile, o.CAFile)
	}
	return b, warn
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tlsSocket is the socket between the :443 splitter and a vhost's TLS
// frontend.
func tlsSocket(cfg Config, name string) string {
	return path.Join(cfg.TLSSocketDir, name+".sock")
}
