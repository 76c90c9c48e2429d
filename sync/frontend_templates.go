package sync

import (
	"errors"
	"fmt"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/templates"
)

// frontendDefaults are marathon-lb's defaults of the shared-frontend
// templates (§5.2). A service that overrides none of them gets the same
// objects from vhostChunk and sniChunk directly (TestFrontendTemplate-
// DefaultsMatchTheBuiltInChunks keeps the two in step).
var frontendDefaults = map[string]string{
	"HTTP_FRONTEND_ACL":                             "  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n  use_backend {backend} if host_{cleanedUpHostname}\n",
	"HTTP_FRONTEND_ACL_ONLY":                        "  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n",
	"HTTP_FRONTEND_ACL_ONLY_WITH_PATH":              "  acl path_{backend} path_beg {path}\n",
	"HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH":     "  acl path_{backend} path_beg {path}\n  acl auth_{cleanedUpHostname} http_auth(user_{backend})\n",
	"HTTP_FRONTEND_ACL_WITH_AUTH":                   "  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n  acl auth_{cleanedUpHostname} http_auth(user_{backend})\n  http-request auth realm \"{realm}\" if host_{cleanedUpHostname} !auth_{cleanedUpHostname}\n  use_backend {backend} if host_{cleanedUpHostname}\n",
	"HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH":          "  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n  acl auth_{cleanedUpHostname} http_auth(user_{backend})\n  acl path_{backend} path_beg {path}\n  http-request auth realm \"{realm}\" if host_{cleanedUpHostname} path_{backend} !auth_{cleanedUpHostname}\n  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n",
	"HTTP_FRONTEND_ACL_WITH_PATH":                   "  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n  acl path_{backend} path_beg {path}\n  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n",
	"HTTP_FRONTEND_ROUTING_ONLY":                    "  use_backend {backend} if host_{cleanedUpHostname}\n",
	"HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH":          "  acl auth_{cleanedUpHostname} http_auth(user_{backend})\n  http-request auth realm \"{realm}\" if host_{cleanedUpHostname} !auth_{cleanedUpHostname}\n  use_backend {backend} if host_{cleanedUpHostname}\n",
	"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH":          "  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n",
	"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH": "  http-request auth realm \"{realm}\" if host_{cleanedUpHostname} path_{backend} !auth_{cleanedUpHostname}\n  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n",
	"BACKEND_REDIRECT_HTTP_TO_HTTPS":                "  redirect scheme https code 301 if !{{ ssl_fc }} host_{cleanedUpHostname}\n",
	"BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH":      "  redirect scheme https code 301 if !{{ ssl_fc }} host_{cleanedUpHostname} path_{backend}\n",
	"HTTPS_FRONTEND_ACL":                            "  use_backend {backend} if {{ ssl_fc_sni {hostname} }}\n",
	"HTTPS_FRONTEND_ACL_ONLY_WITH_PATH":             "  acl path_{backend} path_beg {path}\n",
	"HTTPS_FRONTEND_ACL_WITH_AUTH":                  "  acl auth_{cleanedUpHostname} http_auth(user_{backend})\n  http-request auth realm \"{realm}\" if {{ ssl_fc_sni {hostname} }} !auth_{cleanedUpHostname}\n  use_backend {backend} if {{ ssl_fc_sni {hostname} }}\n",
	"HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH":         "  acl auth_{cleanedUpHostname} http_auth(user_{backend})\n  http-request auth realm \"{realm}\" if {{ ssl_fc_sni {hostname} }} path_{backend} !auth_{cleanedUpHostname}\n  use_backend {backend} if {{ ssl_fc_sni {hostname} }} path_{backend}\n",
	"HTTPS_FRONTEND_ACL_WITH_PATH":                  "  use_backend {backend} if {{ ssl_fc_sni {hostname} }} path_{backend}\n",
}

// piece is one template a chunk is made of, with the host it is for.
type piece struct {
	name, host string
}

// vhostPieces is which :80 templates marathon-lb emits, in order, for the
// service's combination of hosts, PATH, AUTH and REDIRECT_TO_HTTPS (§6.3).
func vhostPieces(s *service) []piece {
	hosts, path, auth, redirect := s.lbl.VHosts, s.lbl.Path != "", s.lbl.Auth != nil, s.lbl.RedirectToHTTPS
	if len(hosts) == 1 {
		h := hosts[0]
		switch {
		case redirect && !path:
			return []piece{{"HTTP_FRONTEND_ACL", h}, {"BACKEND_REDIRECT_HTTP_TO_HTTPS", h}}
		case redirect:
			return []piece{{"HTTP_FRONTEND_ACL_ONLY", h}, {"HTTP_FRONTEND_ACL_ONLY_WITH_PATH", h}, {"BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH", h}}
		case path && auth:
			return []piece{{"HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH", h}}
		case path:
			return []piece{{"HTTP_FRONTEND_ACL_WITH_PATH", h}}
		case auth:
			return []piece{{"HTTP_FRONTEND_ACL_WITH_AUTH", h}}
		}
		return []piece{{"HTTP_FRONTEND_ACL", h}}
	}
	var out []piece
	switch {
	case path && auth:
		out = append(out, piece{"HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH", hosts[0]})
	case path:
		out = append(out, piece{"HTTP_FRONTEND_ACL_ONLY_WITH_PATH", hosts[0]})
	}
	for _, h := range hosts {
		out = append(out, piece{"HTTP_FRONTEND_ACL_ONLY", h})
	}
	switch {
	case redirect && path:
		return append(out, piece{"BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH", hosts[0]})
	case redirect:
		return append(out, piece{"BACKEND_REDIRECT_HTTP_TO_HTTPS", hosts[0]})
	case path && auth:
		return append(out, piece{"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH", hosts[0]})
	case path:
		return append(out, piece{"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH", hosts[0]})
	case auth:
		return append(out, piece{"HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH", hosts[0]})
	}
	return append(out, piece{"HTTP_FRONTEND_ROUTING_ONLY", hosts[0]})
}

// sniPieces is the :443 sequence for hosts (§6.3).
func sniPieces(s *service, hosts []string) []piece {
	var out []piece
	path, auth := s.lbl.Path != "", s.lbl.Auth != nil
	if path {
		out = append(out, piece{"HTTPS_FRONTEND_ACL_ONLY_WITH_PATH", hosts[0]})
	}
	for _, h := range hosts {
		switch {
		case path && auth:
			out = append(out, piece{"HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH", h})
		case path:
			out = append(out, piece{"HTTPS_FRONTEND_ACL_WITH_PATH", h})
		case auth:
			out = append(out, piece{"HTTPS_FRONTEND_ACL_WITH_AUTH", h})
		default:
			out = append(out, piece{"HTTPS_FRONTEND_ACL", h})
		}
	}
	return out
}

// overridesFrontend reports whether the service overrides a template of
// pieces (else the built-in chunk, which equals the defaults, is used).
func overridesFrontend(s *service, pieces []piece) bool {
	for _, p := range pieces {
		if _, ok := s.lbl.Templates[p.name]; ok {
			return true
		}
	}
	return false
}

// chunkFromTemplates builds a chunk from the service's templates (its
// overrides, else the defaults), directive by directive.
func chunkFromTemplates(s *service, pieces []piece) (chunk, error) {
	c := chunk{weight: s.lbl.BackendWeight}
	cleaned := hostACLName(s.lbl.VHosts[0], s.appID)[len("host_"):]
	realm := ""
	if s.lbl.Auth != nil {
		realm = s.lbl.Auth.Realm
	}
	for _, p := range pieces {
		text, ok := s.lbl.Templates[p.name]
		if !ok {
			text = frontendDefaults[p.name]
		}
		ds, err := readTemplate(s, p.name, text, map[string]string{"cleanedUpHostname": cleaned, "hostname": p.host, "appId": s.appID,
			"backend": s.backend, "path": s.lbl.Path, "realm": realm, "bindAddr": s.lbl.BindAddr})
		if err != nil {
			return chunk{}, err
		}
		for _, d := range ds {
			if err := applyChunkDirective(d, s, &c); err != nil {
				return chunk{}, templateMisfit(s, p.name, text, fmt.Errorf("line %d %q: %w", d.Line, d.String(), err))
			}
		}
	}
	return c, nil
}

// applyChunkDirective translates one routing directive of a shared
// frontend: acl, use_backend (of the service's own backend only, so one
// app cannot route another's traffic), http-request, and marathon-lb's
// `redirect` (an http-request redirect rule in HAProxy 2.6's terms).
func applyChunkDirective(d templates.Directive, s *service, c *chunk) error {
	a := d.Args
	switch d.Keyword {
	case "acl":
		if len(a) < 2 {
			return errors.New("want acl <name> <criterion> [values]")
		}
		c.acls = append(c.acls, dataplane.ACL{ACLName: a[0], Criterion: a[1], Value: strings.Join(a[2:], " ")})
	case "use_backend":
		args, cond, test := splitCond(a)
		if len(args) != 1 || args[0] != s.backend {
			return fmt.Errorf("a service's rules may only name its own backend %s", s.backend)
		}
		c.rules = append(c.rules, dataplane.BackendSwitchingRule{Name: s.backend, Cond: cond, CondTest: test})
	case "redirect":
		r, err := httpRequestRule(append([]string{"redirect"}, a...))
		if err != nil {
			return err
		}
		c.requests = append(c.requests, r)
	case "http-request":
		r, err := httpRequestRule(a)
		if err != nil {
			return err
		}
		c.requests = append(c.requests, r)
	default:
		return fmt.Errorf("unsupported directive %q in a frontend routing template (supported: acl, use_backend, redirect, http-request)", d.Keyword)
	}
	return nil
}

// frontendChunk is the service's chunk for pieces: built in, or from its
// template overrides.
func frontendChunk(s *service, pieces []piece, builtIn func() chunk) chunk {
	if !overridesFrontend(s, pieces) {
		return builtIn()
	}
	c, err := chunkFromTemplates(s, pieces)
	if err != nil {
		// Unreachable: buildApp built these chunks once and rejected the
		// app on an error.
		return builtIn()
	}
	return c
}

// checkFrontendTemplates builds the service's overridden routing chunks
// once, so that a bad override rejects the app in buildApp.
func checkFrontendTemplates(s *service) error {
	if s.mode != "http" || len(s.lbl.VHosts) == 0 {
		return nil
	}
	for _, pieces := range [][]piece{vhostPieces(s), sniPieces(s, s.lbl.VHosts)} {
		if overridesFrontend(s, pieces) {
			if _, err := chunkFromTemplates(s, pieces); err != nil {
				return err
			}
		}
	}
	return nil
}
