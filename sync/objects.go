package sync

import (
	"sort"
	"strconv"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// httpCheckProtocols are the Marathon checks that become `option httpchk`
// in an http-mode backend (§7.2); HTTPS checks become plain HTTP, as in
// marathon-lb.
var httpCheckProtocols = map[string]bool{
	"HTTP": true, "HTTPS": true, "MESOS_HTTP": true, "MESOS_HTTPS": true, "COMMAND": true,
}

// backendFor builds the backend of one service (§6.9).
func backendFor(s *service, cfg Config) *Backend {
	be := dataplane.Backend{
		Name: s.backend, From: cfg.DefaultsName, Mode: s.mode,
		Description: ownerDescription(s.appID),
		Balance: &dataplane.Balance{
			Algorithm: s.lbl.Balance.Algorithm, HdrName: s.lbl.Balance.HdrName, URLParam: s.lbl.Balance.URLParam,
		},
	}
	out := &Backend{AppID: s.appID}
	httpCheck := s.mode == "http" && s.hc != nil && httpCheckProtocols[s.hc.Protocol]
	if s.mode == "http" {
		// BACKEND_HTTP_OPTIONS' default, as structured objects.
		be.Forwardfor = &dataplane.Forwardfor{Enabled: "enabled"}
		out.HTTPRequestRules = []dataplane.HTTPRequestRule{
			{Type: "set-header", HdrName: "X-Forwarded-Port", HdrFormat: "%[dst_port]"},
			{Type: "add-header", HdrName: "X-Forwarded-Proto", HdrFormat: "https", Cond: "if", CondTest: "{ ssl_fc }"},
		}
		reindexHTTPRequest(out.HTTPRequestRules)
	}
	if httpCheck {
		path := s.hc.Path
		if path == "" {
			path = "/"
		}
		be.AdvCheck = "httpchk"
		be.HttpchkParams = &dataplane.HttpchkParams{Method: "GET", URI: path}
		be.CheckTimeout = dataplane.Int64(int64(s.hc.TimeoutSeconds) * 1000)
	}
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
		out.Servers = append(out.Servers, srv)
	}
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Name < out.Servers[j].Name })
	return out
}

// serviceFrontend is the per-service frontend (§6.8); `default_backend`
// is the structured form of marathon-lb's unconditional `use_backend`.
func serviceFrontend(s *service, cfg Config) *Frontend {
	addr := s.lbl.BindAddr
	if addr == "" {
		addr = cfg.DefaultBindAddr
	}
	return &Frontend{
		AppID: s.appID,
		Frontend: dataplane.Frontend{
			Name: s.backend, From: cfg.DefaultsName, Mode: s.mode,
			Description: ownerDescription(s.appID), DefaultBackend: s.backend,
		},
		Binds: []dataplane.Bind{bindFor(addr, s.bindPort)},
	}
}

func bindFor(addr string, port int) dataplane.Bind {
	return dataplane.Bind{Name: "port_" + strconv.Itoa(port), Address: addr, Port: dataplane.Int64(int64(port))}
}

// chunk is one service's contribution to a shared frontend (§6.4).
type chunk struct {
	weight int
	acls   []dataplane.ACL
	rules  []dataplane.BackendSwitchingRule
}

// httpFrontend builds marathon_http_in with vhost and path routing (§6.3,
// the rows without auth and redirect), chunks ordered by weight (§6.4).
func httpFrontend(services []*service, cfg Config) *Frontend {
	var chunks []chunk
	for _, s := range services {
		if s.mode != "http" || len(s.lbl.VHosts) == 0 {
			continue
		}
		chunks = append(chunks, vhostChunk(s))
	}
	sort.SliceStable(chunks, func(i, j int) bool { return chunks[i].weight > chunks[j].weight })
	fe := &Frontend{
		Frontend: dataplane.Frontend{Name: HTTPFrontend, From: cfg.DefaultsName, Mode: "http", Description: ownerDescription("")},
		Binds:    []dataplane.Bind{bindFor(cfg.HTTPBindAddr, cfg.HTTPPort)},
	}
	for _, c := range chunks {
		fe.ACLs = append(fe.ACLs, c.acls...)
		fe.SwitchingRules = append(fe.SwitchingRules, c.rules...)
	}
	reindexACLs(fe.ACLs)
	reindexSwitching(fe.SwitchingRules)
	return fe
}

func vhostChunk(s *service) chunk {
	x := hostACLName(s.lbl.VHosts[0], s.appID)
	c := chunk{weight: s.lbl.BackendWeight}
	var hostACLs []dataplane.ACL
	for _, h := range s.lbl.VHosts {
		hostACLs = append(hostACLs, dataplane.ACL{ACLName: x, Criterion: "hdr(host)", Value: "-i " + h})
	}
	cond := x
	if s.lbl.Path != "" {
		pathACL := dataplane.ACL{ACLName: pathACLName(s.backend), Criterion: "path_beg", Value: s.lbl.Path}
		cond = x + " " + pathACL.ACLName
		if len(s.lbl.VHosts) == 1 {
			c.acls = append(hostACLs, pathACL)
		} else {
			c.acls = append([]dataplane.ACL{pathACL}, hostACLs...)
		}
	} else {
		c.acls = hostACLs
	}
	c.rules = []dataplane.BackendSwitchingRule{{Name: s.backend, Cond: "if", CondTest: cond}}
	return c
}

// appIDFrontend builds marathon_http_appid_in: the first http-mode service
// of each app is reachable by its X-Marathon-App-Id header (§6.7).
func appIDFrontend(services []*service, cfg Config) *Frontend {
	fe := &Frontend{
		Frontend: dataplane.Frontend{Name: AppIDFrontend, From: cfg.DefaultsName, Mode: "http", Description: ownerDescription("")},
		Binds:    []dataplane.Bind{bindFor(cfg.AppIDBindAddr, cfg.AppIDPort)},
	}
	seen := map[string]bool{}
	for _, s := range services { // sorted by (app id, service port)
		if s.mode != "http" || seen[s.appID] {
			continue
		}
		seen[s.appID] = true
		name := appIDACLName(s.appID)
		fe.ACLs = append(fe.ACLs, dataplane.ACL{ACLName: name, Criterion: "hdr(x-marathon-app-id)", Value: "-i " + s.appID})
		fe.SwitchingRules = append(fe.SwitchingRules, dataplane.BackendSwitchingRule{Name: s.backend, Cond: "if", CondTest: name})
	}
	reindexACLs(fe.ACLs)
	reindexSwitching(fe.SwitchingRules)
	return fe
}
