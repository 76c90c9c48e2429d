package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// getData GETs a configuration endpoint and unwraps {"_version","data"}.
func (c *Client) getData(ctx context.Context, path string, q url.Values, out any) error {
	var env struct {
		Version int64           `json:"_version"`
		Data    json.RawMessage `json:"data"`
	}
	if _, err := c.Do(ctx, "GET", svc+path, q, nil, &env); err != nil {
		return err
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("data plane api GET %s: decode data: %w", path, err)
	}
	return nil
}

// txQuery builds a query with transaction_id (when txID != "") and the
// key/value pairs kv.
func txQuery(txID string, kv ...string) url.Values {
	q := url.Values{}
	if txID != "" {
		q.Set("transaction_id", txID)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func parentQuery(txID, parentType, parentName string) url.Values {
	return txQuery(txID, "parent_type", parentType, "parent_name", parentName)
}

// Backends lists backends (txID "" = live configuration).
func (c *Client) Backends(ctx context.Context, txID string) ([]Backend, error) {
	var out []Backend
	return out, c.getData(ctx, "/configuration/backends", txQuery(txID), &out)
}

// Backend reads one backend.
func (c *Client) Backend(ctx context.Context, txID, name string) (Backend, error) {
	var out Backend
	return out, c.getData(ctx, "/configuration/backends/"+url.PathEscape(name), txQuery(txID), &out)
}

// Servers lists the servers of a backend.
func (c *Client) Servers(ctx context.Context, txID, backend string) ([]Server, error) {
	var out []Server
	return out, c.getData(ctx, "/configuration/servers", txQuery(txID, "backend", backend), &out)
}

// Server reads one server of a backend.
func (c *Client) Server(ctx context.Context, txID, backend, name string) (Server, error) {
	var out Server
	return out, c.getData(ctx, "/configuration/servers/"+url.PathEscape(name), txQuery(txID, "backend", backend), &out)
}

// Frontends lists frontends.
func (c *Client) Frontends(ctx context.Context, txID string) ([]Frontend, error) {
	var out []Frontend
	return out, c.getData(ctx, "/configuration/frontends", txQuery(txID), &out)
}

// Frontend reads one frontend.
func (c *Client) Frontend(ctx context.Context, txID, name string) (Frontend, error) {
	var out Frontend
	return out, c.getData(ctx, "/configuration/frontends/"+url.PathEscape(name), txQuery(txID), &out)
}

// Binds lists the binds of a frontend.
func (c *Client) Binds(ctx context.Context, txID, frontend string) ([]Bind, error) {
	var out []Bind
	return out, c.getData(ctx, "/configuration/binds", txQuery(txID, "frontend", frontend), &out)
}

// ACLs lists the ACLs of a frontend or backend, in index order.
func (c *Client) ACLs(ctx context.Context, txID, parentType, parentName string) ([]ACL, error) {
	var out []ACL
	return out, c.getData(ctx, "/configuration/acls", parentQuery(txID, parentType, parentName), &out)
}

// BackendSwitchingRules lists the use_backend rules of a frontend.
func (c *Client) BackendSwitchingRules(ctx context.Context, txID, frontend string) ([]BackendSwitchingRule, error) {
	var out []BackendSwitchingRule
	return out, c.getData(ctx, "/configuration/backend_switching_rules", txQuery(txID, "frontend", frontend), &out)
}

// HTTPRequestRules lists http-request rules of a frontend or backend.
func (c *Client) HTTPRequestRules(ctx context.Context, txID, parentType, parentName string) ([]HTTPRequestRule, error) {
	var out []HTTPRequestRule
	return out, c.getData(ctx, "/configuration/http_request_rules", parentQuery(txID, parentType, parentName), &out)
}

// HTTPResponseRules lists http-response rules of a frontend or backend.
func (c *Client) HTTPResponseRules(ctx context.Context, txID, parentType, parentName string) ([]HTTPResponseRule, error) {
	var out []HTTPResponseRule
	return out, c.getData(ctx, "/configuration/http_response_rules", parentQuery(txID, parentType, parentName), &out)
}

// TCPRequestRules lists tcp-request rules of a frontend or backend.
func (c *Client) TCPRequestRules(ctx context.Context, txID, parentType, parentName string) ([]TCPRequestRule, error) {
	var out []TCPRequestRule
	return out, c.getData(ctx, "/configuration/tcp_request_rules", parentQuery(txID, parentType, parentName), &out)
}

// Userlists lists userlists.
func (c *Client) Userlists(ctx context.Context, txID string) ([]Userlist, error) {
	var out []Userlist
	return out, c.getData(ctx, "/configuration/userlists", txQuery(txID), &out)
}

// Users lists the users of a userlist.
func (c *Client) Users(ctx context.Context, txID, userlist string) ([]User, error) {
	var out []User
	return out, c.getData(ctx, "/configuration/users", txQuery(txID, "userlist", userlist), &out)
}

// ReplaceServer PUTs one complete server outside a transaction. The API
// applies a change of only address, port, weight, maintenance, agent-check,
// agent-addr, agent-send or health_check_port at runtime (200, no reload,
// also for an identical body); anything else schedules a reload (202,
// ReloadID set). The version goes up by one either way (notes §4.1, §4.2).
func (c *Client) ReplaceServer(ctx context.Context, version int64, backend string, s Server) (WriteResult, error) {
	q := url.Values{"backend": {backend}, "version": {strconv.FormatInt(version, 10)}}
	resp, err := c.Do(ctx, "PUT", svc+"/configuration/servers/"+url.PathEscape(s.Name), q, s, nil)
	if err != nil {
		return WriteResult{}, err
	}
	return writeResult(resp), nil
}
