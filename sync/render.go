package sync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// Rendering the owned objects as haproxy.cfg text is the bulk transport
// for a full configuration commit. The Data Plane API v2.9 has no bulk
// endpoint: a transaction re-parses and rewrites the whole file for each
// of its operations, so building a commit out of 8,000 operations (1,000
// apps) took 1m15s, and one out of 80,000 would take hours. The text is
// written the way the API itself renders these models (field order,
// milliseconds, no quoting), so that the API parses it back into the same
// models: every whole-stack test re-plans after a full commit and expects
// nothing to do, which checks that round trip against the real parser.

// RenderOwned renders the objects of st as configuration sections:
// userlists, frontends, backends, each sorted by name.
func RenderOwned(st *State) string {
	return (*renderCache)(nil).render(st)
}

// renderCache keeps each frontend's and backend's rendered section by
// identity. Built objects are never modified and are shared between
// passes (BuildCache), so an object seen before renders to the same text:
// the background writer, which renders the whole configuration for every
// write (35 ms at 10,000 apps), renders only what changed. It holds the
// objects of its last render only. A nil cache renders everything.
type renderCache struct {
	backends  map[*Backend]string
	frontends map[*Frontend]string
}

func newRenderCache() *renderCache {
	return &renderCache{backends: map[*Backend]string{}, frontends: map[*Frontend]string{}}
}

func (c *renderCache) render(st *State) string {
	return joinSections("", c.sections(st))
}

// sections returns the owned objects' sections in order: userlists,
// frontends, backends, each by name. With a cache, an object rendered by
// the last call is not rendered again.
func (c *renderCache) sections(st *State) []string {
	out := make([]string, 0, len(st.Userlists)+len(st.Frontends)+len(st.Backends))
	for _, name := range sortedKeys(st.Userlists) {
		var b strings.Builder
		renderUserlist(&b, name, st.Userlists[name])
		out = append(out, b.String())
	}
	var lastFes, fes map[*Frontend]string
	var lastBes, bes map[*Backend]string
	if c != nil {
		lastFes, lastBes = c.frontends, c.backends
		fes, bes = make(map[*Frontend]string, len(st.Frontends)), make(map[*Backend]string, len(st.Backends))
	}
	for _, name := range st.FrontendNames() {
		out = append(out, section(st.Frontends[name], renderFrontend, lastFes, fes))
	}
	for _, name := range st.BackendNames() {
		out = append(out, section(st.Backends[name], renderBackend, lastBes, bes))
	}
	if c != nil {
		c.frontends, c.backends = fes, bes
	}
	return out
}

// joinSections is head followed by sections, in one allocation of the
// exact size: 6 MB at 10,000 apps, where a growing builder allocated and
// copied three times that for every write.
func joinSections(head string, sections []string) string {
	n := len(head)
	for _, s := range sections {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(head)
	for _, s := range sections {
		b.WriteString(s)
	}
	return b.String()
}

// section returns obj's section: rendered, or as last rendered it when
// last has it; next (nil: no cache) records it.
func section[T any](obj *T, render func(*strings.Builder, *T), last, next map[*T]string) string {
	text, ok := last[obj]
	if !ok {
		var one strings.Builder
		render(&one, obj)
		text = one.String()
	}
	if next != nil {
		next[obj] = text
	}
	return text
}

// ReplaceOwned returns text with the sections of current's objects removed
// and desired's rendered objects appended: the configuration everything
// else of which (global, defaults, operator objects) is kept as it is.
func ReplaceOwned(text string, current, desired *State) string {
	return withOwned(stripOwned(text, current), desired, nil)
}

// withOwned is prefix (a configuration without our objects) with
// desired's objects rendered after it (through cache, which may be nil).
func withOwned(prefix string, desired *State, cache *renderCache) string {
	return joinSections(prefix+"\n", cache.sections(desired))
}

// stripOwned returns text without the sections of current's objects,
// ending with a newline.
func stripOwned(text string, current *State) string {
	owned := map[string]bool{}
	if current != nil {
		for n := range current.Backends {
			owned["backend "+n] = true
		}
		for n := range current.Frontends {
			owned["frontend "+n] = true
		}
		for n := range current.Userlists {
			owned["userlist "+n] = true
		}
	}
	var b strings.Builder
	b.Grow(len(text))
	skipping := false
	lastDefaults := ""
	for _, raw := range strings.SplitAfter(text, "\n") {
		trimmed := strings.TrimSpace(raw)
		indented := strings.HasPrefix(raw, " ") || strings.HasPrefix(raw, "\t")
		if f := strings.Fields(trimmed); len(f) >= 1 && !indented && sectionKeywords[f[0]] {
			if f[0] == "defaults" {
				lastDefaults = ""
				if len(f) > 1 {
					lastDefaults = f[1]
				}
			}
			skipping = len(f) >= 2 && owned[f[0]+" "+f[1]]
			if skipping {
				continue
			}
			if proxySections[f[0]] && len(f) == 2 && lastDefaults != "" {
				// HAProxy refuses a named defaults section used both
				// explicitly (our proxies' "from") and implicitly; the
				// API writes "from" on every proxy when it renders the
				// file, and so does this.
				raw = f[0] + " " + f[1] + " from " + lastDefaults + "\n"
			}
		} else if trimmed != "" && !indented {
			skipping = false // a comment at the margin
		}
		if skipping && (indented || trimmed == "") {
			continue
		}
		b.WriteString(raw)
	}
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

func sectionHeader(b *strings.Builder, kind, name, from string) {
	b.WriteString(kind + " " + name)
	if from != "" {
		b.WriteString(" from " + from)
	}
	b.WriteString("\n")
}

// proxyHeader starts a frontend or backend: its header, description and
// mode, as the API writes them.
func proxyHeader(b *strings.Builder, kind, name, from, description, mode string) {
	sectionHeader(b, kind, name, from)
	if description != "" {
		cfgLine(b, "description", description)
	}
	if mode != "" {
		cfgLine(b, "mode", mode)
	}
}

func cfgLine(b *strings.Builder, words ...string) {
	b.WriteString("  ")
	first := true
	for _, w := range words {
		if w == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		first = false
	}
	b.WriteByte('\n')
}

func cfgNum(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

// opt is "name value" when value is set.
func cfgOpt(name, value string) string {
	if value == "" {
		return ""
	}
	return name + " " + value
}

func cfgFlag(name string, on bool) string {
	if on {
		return name
	}
	return ""
}

func cfgCond(c, test string) string {
	if c == "" {
		return ""
	}
	return c + " " + test
}

func renderUserlist(b *strings.Builder, name string, ul *Userlist) {
	b.WriteString("userlist " + name + "\n")
	for _, u := range ul.Users {
		kind := "insecure-password"
		if u.SecurePassword {
			kind = "password"
		}
		cfgLine(b, "user", u.Username, kind, u.Password, cfgOpt("groups", u.Groups))
	}
	b.WriteString("\n")
}

func renderFrontend(b *strings.Builder, fe *Frontend) {
	f := fe.Frontend
	proxyHeader(b, "frontend", f.Name, f.From, f.Description, f.Mode)
	if f.Maxconn != nil {
		cfgLine(b, "maxconn", cfgNum(f.Maxconn))
	}
	for _, bd := range fe.Binds {
		renderBind(b, bd)
	}
	for _, a := range fe.ACLs {
		renderACL(b, a)
	}
	if f.Httplog {
		cfgLine(b, "option httplog")
	}
	if f.Tcplog {
		cfgLine(b, "option tcplog")
	}
	if f.Forwardfor != nil {
		renderForwardfor(b, f.Forwardfor)
	}
	if f.ClientTimeout != nil {
		cfgLine(b, "timeout client", cfgNum(f.ClientTimeout))
	}
	for _, r := range fe.TCPRequestRules {
		renderTCPRequest(b, r)
	}
	for _, r := range fe.HTTPRequestRules {
		renderHTTPRequest(b, r)
	}
	for _, r := range fe.SwitchingRules {
		cfgLine(b, "use_backend", r.Name, cfgCond(r.Cond, r.CondTest))
	}
	if f.DefaultBackend != "" {
		cfgLine(b, "default_backend", f.DefaultBackend)
	}
	b.WriteString("\n")
}

func renderBind(b *strings.Builder, bd dataplane.Bind) {
	addr := bd.Address
	if bd.Port != nil {
		addr += ":" + cfgNum(bd.Port)
	}
	cfgLine(b, "bind", addr, cfgOpt("name", bd.Name),
		cfgFlag("accept-proxy", bd.AcceptProxy), cfgOpt("alpn", bd.Alpn), cfgOpt("ciphers", bd.Ciphers),
		cfgOpt("crt", bd.SSLCertificate), cfgOpt("crt-list", bd.CrtList), cfgFlag("defer-accept", bd.DeferAccept),
		cfgOpt("interface", bd.Interface), cfgOpt("maxconn", cfgNum(bd.Maxconn)), cfgFlag("ssl", bd.SSL),
		cfgOpt("ca-file", bd.SSLCafile), cfgOpt("ssl-max-ver", bd.SSLMaxVer), cfgOpt("ssl-min-ver", bd.SSLMinVer),
		cfgFlag("tfo", bd.Tfo), cfgFlag("transparent", bd.Transparent), cfgFlag("v4v6", bd.V4v6), cfgFlag("v6only", bd.V6only),
		cfgOpt("verify", bd.Verify))
}

func renderACL(b *strings.Builder, a dataplane.ACL) {
	cfgLine(b, "acl", a.ACLName, a.Criterion, a.Value)
}

func renderForwardfor(b *strings.Builder, f *dataplane.Forwardfor) {
	cfgLine(b, "option forwardfor", cfgOpt("except", f.Except), cfgOpt("header", f.Header), cfgFlag("if-none", f.Ifnone))
}

func renderBackend(b *strings.Builder, be *Backend) {
	k := be.Backend
	proxyHeader(b, "backend", k.Name, k.From, k.Description, k.Mode)
	if k.Balance != nil {
		algo := k.Balance.Algorithm
		switch {
		case k.Balance.HdrName != "":
			algo = "hdr(" + k.Balance.HdrName + ")"
		case k.Balance.URLParam != "":
			algo += " " + k.Balance.URLParam
		}
		cfgLine(b, "balance", algo)
	}
	if h := k.HashType; h != nil {
		cfgLine(b, "hash-type", h.Method, h.Function, h.Modifier)
	}
	for _, a := range be.ACLs {
		renderACL(b, a)
	}
	if k.AdvCheck != "" {
		words := []string{"option", k.AdvCheck}
		if p := k.HttpchkParams; p != nil && k.AdvCheck == "httpchk" {
			words = append(words, p.Method, p.URI, p.Version)
		}
		cfgLine(b, words...)
	}
	if k.Forwardfor != nil {
		renderForwardfor(b, k.Forwardfor)
	}
	for _, t := range []struct {
		name string
		v    *int64
	}{
		{"check", k.CheckTimeout}, {"connect", k.ConnectTimeout}, {"http-keep-alive", k.HTTPKeepAliveTimeout},
		{"http-request", k.HTTPRequestTimeout}, {"queue", k.QueueTimeout}, {"server", k.ServerTimeout}, {"tunnel", k.TunnelTimeout},
	} {
		if t.v != nil {
			cfgLine(b, "timeout "+t.name, cfgNum(t.v))
		}
	}
	for _, r := range be.TCPRequestRules {
		renderTCPRequest(b, r)
	}
	for _, r := range be.HTTPRequestRules {
		renderHTTPRequest(b, r)
	}
	if c := k.Cookie; c != nil {
		cfgLine(b, "cookie", c.Name, c.Type, cfgFlag("indirect", c.Indirect), cfgFlag("nocache", c.Nocache),
			cfgFlag("httponly", c.Httponly), cfgFlag("secure", c.Secure))
	}
	for _, s := range be.Servers {
		renderServer(b, s)
	}
	for _, r := range be.HTTPResponseRules {
		renderHTTPResponse(b, r)
	}
	b.WriteString("\n")
}

func cfgEnabled(name, v string) string { return cfgFlag(name, v == "enabled") }

func renderServer(b *strings.Builder, s dataplane.Server) {
	addr := s.Address
	if s.Port != nil {
		addr += ":" + cfgNum(s.Port)
	}
	o := s.Opts()
	cfgLine(b, "server", s.Name, addr,
		cfgEnabled("agent-check", o.AgentCheck), cfgOpt("agent-addr", o.AgentAddr), cfgOpt("agent-inter", cfgNum(o.AgentInter)),
		cfgOpt("agent-port", cfgNum(o.AgentPort)), cfgOpt("agent-send", o.AgentSend),
		cfgEnabled("backup", o.Backup), cfgEnabled("check", s.Check), cfgEnabled("check-ssl", o.CheckSSL), cfgOpt("cookie", s.Cookie),
		cfgOpt("fall", cfgNum(s.Fall)), cfgOpt("inter", cfgNum(s.Inter)), cfgOpt("maxconn", cfgNum(o.Maxconn)), cfgOpt("port", cfgNum(s.HealthCheckPort)),
		cfgOpt("rise", cfgNum(s.Rise)), cfgEnabled("send-proxy", o.SendProxy), cfgEnabled("send-proxy-v2", o.SendProxyV2),
		cfgEnabled("ssl", o.SSL), cfgOpt("verify", o.Verify), cfgOpt("weight", cfgNum(s.Weight)), cfgOpt("id", cfgNum(s.ID)),
		cfgEnabled("disabled", s.Maintenance))
}

// renderHeaderAction renders a header rule (set, add, del, replace) of an
// http-request or http-response keyword, the inverse of headerAction; it
// reports whether typ is one.
func renderHeaderAction(b *strings.Builder, keyword, typ, name, match, format, cond string) bool {
	switch typ {
	case "set-header", "add-header":
		cfgLine(b, keyword, typ, name, format, cond)
	case "del-header":
		cfgLine(b, keyword, typ, name, cond)
	case "replace-header", "replace-value":
		cfgLine(b, keyword, typ, name, match, format, cond)
	default:
		return false
	}
	return true
}

func renderHTTPRequest(b *strings.Builder, r dataplane.HTTPRequestRule) {
	c := cfgCond(r.Cond, r.CondTest)
	if renderHeaderAction(b, "http-request", r.Type, r.HdrName, r.HdrMatch, r.HdrFormat, c) {
		return
	}
	switch r.Type {
	case "replace-path":
		cfgLine(b, "http-request", r.Type, r.PathMatch, r.PathFmt, c)
	case "set-path":
		cfgLine(b, "http-request", r.Type, r.PathFmt, c)
	case "replace-uri":
		cfgLine(b, "http-request", r.Type, r.URIMatch, r.URIFmt, c)
	case "set-uri":
		cfgLine(b, "http-request", r.Type, r.URIFmt, c)
	case "redirect":
		cfgLine(b, "http-request redirect", r.RedirType, r.RedirValue, cfgOpt("code", cfgNum(r.RedirCode)), r.RedirOption, c)
	case "auth":
		cfgLine(b, "http-request auth", cfgOpt("realm", r.AuthRealm), c)
	case "deny":
		cfgLine(b, "http-request deny", cfgOpt("deny_status", cfgNum(r.DenyStatus)), c)
	case "use-service":
		cfgLine(b, "http-request use-service", r.ServiceName, c)
	default:
		cfgLine(b, "http-request", r.Type, c)
	}
}

func renderHTTPResponse(b *strings.Builder, r dataplane.HTTPResponseRule) {
	c := cfgCond(r.Cond, r.CondTest)
	if !renderHeaderAction(b, "http-response", r.Type, r.HdrName, r.HdrMatch, r.HdrFormat, c) {
		cfgLine(b, "http-response", r.Type, c)
	}
}

func renderTCPRequest(b *strings.Builder, r dataplane.TCPRequestRule) {
	if r.Type == "inspect-delay" {
		cfgLine(b, "tcp-request inspect-delay", cfgNum(r.Timeout))
		return
	}
	cfgLine(b, "tcp-request", r.Type, r.Action, cfgCond(r.Cond, r.CondTest))
}

// renderRead returns the configuration text with plan applied, the
// version it is based on, and the text read without our objects
// (renderOnto's prefix). With the plan's states, the owned sections are
// rendered here from Desired (servers still draining, busy, kept as
// Current has them; cache, when set, keeps the sections rendered before)
// into the text the API serves, checked to be at the version Current was
// read at; without them, through a transaction.
//
// ours, when set, accepts a version the configuration moved to since the
// plan was read as this process's own doing (the background writer's).
func renderRead(ctx context.Context, api ConfigAPI, plan Plan, busy map[string]bool, ours func(from, to int64) bool, cache *renderCache) (version int64, out, prefix string, err error) {
	if plan.Desired == nil {
		version, out, err = renderWith(ctx, api, plan.Steps)
		return version, out, "", err
	}
	text, version, err := api.RawConfig(ctx, "")
	if err != nil {
		return 0, "", "", fmt.Errorf("read the configuration text: %w", err)
	}
	if plan.Version != 0 && version != plan.Version && (ours == nil || !ours(plan.Version, version)) {
		return 0, "", "", fmt.Errorf("the configuration moved from version %d to %d since it was read: %w", plan.Version, version, dataplane.ErrConflict)
	}
	out, prefix = renderOnto(text, plan, busy, cache)
	return version, out, prefix, nil
}

// renderOnto is text with plan's desired objects (and its HAPROXY_HEAD
// sections) in place of the owned ones. prefix is text without the owned
// sections, when the plan changes no HAPROXY_HEAD section ("" otherwise):
// the next render may start from it.
func renderOnto(text string, plan Plan, busy map[string]bool, cache *renderCache) (out, prefix string) {
	sections := plan.headSections()
	desired := withBusyServers(plan.Desired, plan.Current, busy)
	stripped := stripOwned(text, plan.Current)
	out = withOwned(stripped, desired, cache)
	if len(sections) > 0 {
		return ReplaceSections(out, sections), ""
	}
	return out, stripped
}

// headSections are the HAPROXY_HEAD sections plan puts in place (text:
// they go into the rendered configuration, never through the API).
func (p Plan) headSections() []Section {
	var out []Section
	for _, s := range p.Steps {
		if s.Object == ObjSection {
			out = append(out, s.Value.(Section))
		}
	}
	return out
}

// withBusyServers is desired with the servers still draining (busy, keyed
// backend/server) kept as current has them: they stay in the file until
// their requests are done.
func withBusyServers(desired, current *State, busy map[string]bool) *State {
	if len(busy) == 0 || current == nil {
		return desired
	}
	out := &State{Backends: maps.Clone(desired.Backends), Frontends: desired.Frontends, Userlists: desired.Userlists}
	for key := range busy {
		backend, server, _ := strings.Cut(key, "/")
		have, want := current.Backends[backend], out.Backends[backend]
		if have == nil || want == nil {
			continue
		}
		for _, sv := range have.Servers {
			if sv.Name == server && !slices.ContainsFunc(want.Servers, func(w dataplane.Server) bool { return w.Name == server }) {
				cp := *want
				cp.Servers = append(slices.Clone(want.Servers), sv)
				out.Backends[backend] = &cp
				want = &cp
			}
		}
	}
	return out
}
