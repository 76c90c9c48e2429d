package bluegreen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// ServerStat is one server row of HAProxy's stats: what zdd reads to
// know whether an old task's server is drained.
type ServerStat struct {
	Proxy, Server, Status, Addr string
	Scur, Qcur                  int64
}

// Disabled reports a server taken out of rotation: MAINT (the LB's
// `disabled` for a replaced blue/green task) or DRAIN.
func (s ServerStat) Disabled() bool {
	return strings.HasPrefix(s.Status, "MAINT") || strings.HasPrefix(s.Status, "DRAIN")
}

// Drained is Disabled with no session and nothing queued.
func (s ServerStat) Drained() bool { return s.Disabled() && s.Scur == 0 && s.Qcur == 0 }

// Serving reports a server that takes traffic: UP (checked) or "no check".
func (s ServerStat) Serving() bool {
	return strings.HasPrefix(s.Status, "UP") || s.Status == "no check"
}

// DrainObserver reads the servers of some proxies on every load-balancer
// instance: one slice per instance. A server counts as drained only when
// it is drained on every instance.
type DrainObserver interface {
	Stats(ctx context.Context, proxies []string) ([][]ServerStat, error)
}

func fromStatRows(rows []runtimeapi.StatRow, proxies []string) []ServerStat {
	want := map[string]bool{}
	for _, p := range proxies {
		want[p] = true
	}
	var out []ServerStat
	for _, r := range rows {
		if !want[r.Proxy] || r.Server == "BACKEND" || r.Server == "FRONTEND" {
			continue
		}
		out = append(out, ServerStat{Proxy: r.Proxy, Server: r.Server, Status: r.Status, Addr: r.Addr, Scur: r.Scur, Qcur: r.Qcur})
	}
	return out
}

// SocketObserver reads "show stat" from one HAProxy's Runtime API: one
// load-balancer instance, no HTTP listener needed.
type SocketObserver struct {
	RT interface {
		ShowStat(ctx context.Context, proxy string) ([]runtimeapi.StatRow, error)
	}
}

// Stats implements DrainObserver.
func (o SocketObserver) Stats(ctx context.Context, proxies []string) ([][]ServerStat, error) {
	rows, err := o.RT.ShowStat(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("%w: show stat: %w", ErrLoadBalancer, err)
	}
	return [][]ServerStat{fromStatRows(rows, proxies)}, nil
}

// StatsPageObserver reads <lb>/haproxy?stats;csv from every address the
// LB URL's host name resolves to (IPv4, one per LB instance), as
// marathon-lb's zdd did with --marathon-lb.
type StatsPageObserver struct {
	base   *url.URL
	client *resty.Client
	lookup func(ctx context.Context, host string) ([]string, error)
}

// NewStatsPageObserver takes the LB's stats base URL (e.g.
// http://marathon-lb.marathon.mesos:9090).
func NewStatsPageObserver(base string, timeout time.Duration) (*StatsPageObserver, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: --marathon-lb %q: want http(s)://host:port", ErrInvalidArgs, base)
	}
	return &StatsPageObserver{base: u, client: resty.New().SetTimeout(timeout), lookup: lookupIPv4}, nil
}

func lookupIPv4(ctx context.Context, host string) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{host}, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range addrs {
		if v4 := a.IP.To4(); v4 != nil {
			out = append(out, v4.String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no A record", host)
	}
	sort.Strings(out)
	return out, nil
}

// Stats implements DrainObserver.
func (o *StatsPageObserver) Stats(ctx context.Context, proxies []string) ([][]ServerStat, error) {
	ips, err := o.lookup(ctx, o.base.Hostname())
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %s: %w", ErrLoadBalancer, o.base.Hostname(), err)
	}
	port := o.base.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[o.base.Scheme]
	}
	var out [][]ServerStat
	for _, ip := range ips {
		u := *o.base
		u.Host = net.JoinHostPort(ip, port)
		target := strings.TrimRight(u.String(), "/") + "/haproxy?stats;csv"
		resp, err := o.client.R().SetContext(ctx).SetHeader("Host", o.base.Host).Get(target)
		if err != nil {
			return nil, fmt.Errorf("%w: GET %s: %w", ErrLoadBalancer, target, err)
		}
		if resp.StatusCode() != 200 {
			return nil, fmt.Errorf("%w: GET %s: status %d", ErrLoadBalancer, target, resp.StatusCode())
		}
		rows, err := runtimeapi.ParseStat(resp.String())
		if err != nil {
			return nil, fmt.Errorf("%w: GET %s: %w", ErrLoadBalancer, target, err)
		}
		out = append(out, fromStatRows(rows, proxies))
	}
	return out, nil
}

// Proxies are the group's backend names, one per service port of the old
// colour whose ports and labels the LB keeps (§3.2): <group>_<port>, where
// HAPROXY_{n}_PORT overrides the service port.
func Proxies(group string, oldApp marathon.App) []string {
	var out []string
	for n, p := range ServicePorts(oldApp) {
		if v, err := strconv.Atoi(oldApp.Labels["HAPROXY_"+strconv.Itoa(n)+"_PORT"]); err == nil {
			p = v
		}
		out = append(out, labels.BackendName(group, p))
	}
	return out
}

// taskServer is where one task port shows in the stats.
type taskServer struct {
	proxy, name, addr string
}

// serversOf lists a task's servers, one per proxy (port index).
func serversOf(t marathon.Task, ip string, proxies []string) []taskServer {
	var out []taskServer
	for n, proxy := range proxies {
		if n >= len(t.Ports) {
			break
		}
		out = append(out, taskServer{proxy: proxy, name: labels.ServerName(t.Host, ip, t.Ports[n]), addr: net.JoinHostPort(ip, strconv.Itoa(t.Ports[n]))})
	}
	return out
}

func find(rows []ServerStat, s taskServer) (ServerStat, bool) {
	for _, r := range rows {
		if r.Proxy == s.proxy && (r.Server == s.name || s.addr != "" && r.Addr == s.addr) {
			return r, true
		}
	}
	return ServerStat{}, false
}

// SelectKills returns the old tasks, sorted by id and at most limit, whose
// every server (every service port) is disabled on every LB instance, and
// idle too unless the grace period is over (idle false).
func SelectKills(servers map[string][]taskServer, lbs [][]ServerStat, idle bool, limit int) []string {
	var ids []string
	for id := range servers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		if len(out) >= limit {
			break
		}
		ok := len(servers[id]) > 0 && len(lbs) > 0
		for _, rows := range lbs {
			for _, s := range servers[id] {
				r, found := find(rows, s)
				if !found || !r.Disabled() || (idle && !r.Drained()) {
					ok = false
				}
			}
		}
		if ok {
			out = append(out, id)
		}
	}
	return out
}

// lbReady is marathon-lb's precondition for reading drain state (§9.2
// step 7.2): on every instance the first proxy has one row per task of
// both colours, and at least target of them serve.
func lbReady(lbs [][]ServerStat, proxy0 string, tasks, target int) (bool, string) {
	if len(lbs) == 0 {
		return false, "no load balancer instance"
	}
	for i, rows := range lbs {
		n, up := 0, 0
		for _, r := range rows {
			if r.Proxy != proxy0 {
				continue
			}
			n++
			if r.Serving() {
				up++
			}
		}
		if n != tasks {
			return false, fmt.Sprintf("LB %d has %d servers in %s, want %d (both colours' tasks)", i, n, proxy0, tasks)
		}
		if up < target {
			return false, fmt.Sprintf("LB %d has %d servers up in %s, want at least %d", i, up, proxy0, target)
		}
	}
	return true, ""
}
