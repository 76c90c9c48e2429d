package bluegreen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
)

// SocketStats reads the stats of one HAProxy through its Runtime API
// socket (zdd run next to the load balancer).
type SocketStats struct{ Client *runtimeapi.Client }

// Rows is `show stat` of every proxy.
func (s SocketStats) Rows(ctx context.Context) ([][]runtimeapi.StatRow, error) {
	rows, err := s.Client.ShowStat(ctx, "")
	if err != nil {
		return nil, err
	}
	return [][]runtimeapi.StatRow{rows}, nil
}

// HTTPStats reads marathon-lb's stats CSV (<url>/haproxy?stats;csv) from
// every instance behind the URL's host name: each A record is one load
// balancer, as zdd's --marathon-lb did.
type HTTPStats struct {
	URL    string
	client *resty.Client
	// Lookup defaults to the system resolver.
	Lookup func(ctx context.Context, host string) ([]string, error)
}

// NewHTTPStats returns stats read from base (e.g. http://lb.example.com:9090).
func NewHTTPStats(base string, timeout time.Duration) (*HTTPStats, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--marathon-lb %q: want a URL such as http://marathon-lb:9090", base)
	}
	return &HTTPStats{URL: base, client: resty.New().SetTimeout(timeout)}, nil
}

// Rows fetches the CSV from each instance.
func (h *HTTPStats) Rows(ctx context.Context) ([][]runtimeapi.StatRow, error) {
	u, _ := url.Parse(h.URL)
	lookup := h.Lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	ips, err := lookup(ctx, u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("resolve the load balancers behind %s: %w", u.Hostname(), err)
	}
	var out [][]runtimeapi.StatRow
	for _, ip := range ips {
		one := *u
		one.Host = net.JoinHostPort(ip, u.Port())
		if u.Port() == "" {
			one.Host = ip
		}
		one.Path, one.RawQuery = "/haproxy", "stats;csv"
		resp, err := h.client.R().SetContext(ctx).Get(one.String())
		if err != nil {
			return nil, fmt.Errorf("load balancer %s: %w", ip, err)
		}
		if resp.StatusCode() != 200 {
			return nil, fmt.Errorf("load balancer %s: GET %s answered %d", ip, one.Path, resp.StatusCode())
		}
		rows, err := runtimeapi.ParseStat(resp.String())
		if err != nil {
			return nil, fmt.Errorf("load balancer %s: %w", ip, err)
		}
		out = append(out, rows)
	}
	return out, nil
}
