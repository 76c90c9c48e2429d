package dataplane

import (
	"context"
	"net/url"
)

// The runtime endpoints change the running HAProxy only: neither the file
// nor the version, and everything set here is lost at the next reload
// (notes §6.1).

// RuntimeServers lists a backend's servers as the Runtime API sees them
// (an unknown backend answers an empty list).
func (c *Client) RuntimeServers(ctx context.Context, backend string) ([]RuntimeServer, error) {
	var out []RuntimeServer
	_, err := c.Do(ctx, "GET", svc+"/runtime/servers", url.Values{"backend": {backend}}, nil, &out)
	return out, err
}

// SetRuntimeServerState sets admin_state (ready, drain, maint) at runtime.
// An unknown server answers 500 (ErrServer), a bad state 422.
func (c *Client) SetRuntimeServerState(ctx context.Context, backend, name, adminState string) (RuntimeServer, error) {
	var out RuntimeServer
	_, err := c.Do(ctx, "PUT", svc+"/runtime/servers/"+url.PathEscape(name), url.Values{"backend": {backend}}, RuntimeServer{AdminState: adminState}, &out)
	return out, err
}

// RuntimeInfo is GET $S/runtime/info, one element per process; its
// info.pid changes at every reload.
func (c *Client) RuntimeInfo(ctx context.Context) ([]map[string]any, error) {
	var out []map[string]any
	_, err := c.Do(ctx, "GET", svc+"/runtime/info", nil, nil, &out)
	return out, err
}
