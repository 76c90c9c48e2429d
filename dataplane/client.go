package dataplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"go.uber.org/zap"
)

// Config configures a Client.
type Config struct {
	// URL is the API base, e.g. http://127.0.0.1:5555; /v2 is appended.
	URL                string
	User, Password     string
	CACertFile         string
	ClientCertFile     string
	ClientKeyFile      string
	InsecureSkipVerify bool
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
	// ReloadPollInterval and ReloadTimeout drive WaitReload (50ms, 60s).
	ReloadPollInterval time.Duration
	ReloadTimeout      time.Duration
	// MaxConflictRetries bounds WithTransaction's retries (default 3).
	MaxConflictRetries int
	Logger             *zap.Logger
}

// Client talks to one Data Plane API. It is safe for concurrent use.
type Client struct {
	cfg         Config
	http        *resty.Client
	log         *zap.Logger
	lastVersion atomic.Int64
}

const svc = "/services/haproxy"

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("data plane api url %q: want http(s)://host:port", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ReloadPollInterval <= 0 {
		cfg.ReloadPollInterval = 50 * time.Millisecond
	}
	if cfg.ReloadTimeout <= 0 {
		cfg.ReloadTimeout = 60 * time.Second
	}
	if cfg.MaxConflictRetries <= 0 {
		cfg.MaxConflictRetries = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in flag
	if cfg.CACertFile != "" {
		pem, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("data plane api ca cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("data plane api ca cert %s: no PEM certificate found", cfg.CACertFile)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("data plane api client cert: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	h := resty.New().
		SetBaseURL(strings.TrimRight(cfg.URL, "/")+"/v2").
		SetTimeout(cfg.Timeout).
		SetTLSClientConfig(tlsCfg).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "marathon-dataplane").
		// resty would print its own warnings outside zap; errors reach us anyway.
		SetDisableWarn(true)
	if cfg.User != "" || cfg.Password != "" {
		h.SetBasicAuth(cfg.User, cfg.Password)
	}
	return &Client{cfg: cfg, http: h, log: cfg.Logger}, nil
}

// LastSeenVersion is the newest Configuration-Version header seen.
func (c *Client) LastSeenVersion() int64 { return c.lastVersion.Load() }

// WriteResult is what a configuration write answered.
type WriteResult struct {
	// Version is the configuration version after the write.
	Version int64
	// ReloadID is set when the write scheduled a reload (HTTP 202).
	ReloadID string
	Status   int
}

// Do sends one request to path (relative to /v2) and decodes a 2xx JSON
// answer into out (when non-nil). body is sent as JSON, or as text/plain
// when it is a string.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) (*resty.Response, error) {
	return c.do(ctx, method, path, query, body, out, nil)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, headers map[string]string) (*resty.Response, error) {
	req := c.http.R().SetContext(ctx).SetHeaders(headers)
	if query != nil {
		req.SetQueryParamsFromValues(query)
	}
	switch b := body.(type) {
	case nil:
	case string:
		req.SetHeader("Content-Type", "text/plain").SetBody(b)
	default:
		req.SetHeader("Content-Type", "application/json").SetBody(b)
	}
	resp, err := req.Execute(method, path)
	if err != nil {
		return nil, fmt.Errorf("data plane api %s %s: %w: %w", method, path, ErrUnreachable, err)
	}
	if v, err := strconv.ParseInt(resp.Header().Get("Configuration-Version"), 10, 64); err == nil && v > 0 {
		c.lastVersion.Store(v)
	}
	if resp.StatusCode() >= 300 {
		apiErr := &APIError{Method: method, Path: path, Status: resp.StatusCode()}
		var eb struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(resp.Body(), &eb) == nil && eb.Message != "" {
			apiErr.Code, apiErr.Message = eb.Code, eb.Message
		} else {
			apiErr.Message = truncate(string(resp.Body()), 300)
		}
		c.log.Debug("data plane api error", zap.String("method", method), zap.String("path", path), zap.Int("status", resp.StatusCode()), zap.String("message", apiErr.Message))
		return resp, apiErr
	}
	if out != nil && len(resp.Body()) > 0 {
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			return resp, fmt.Errorf("data plane api %s %s: decode answer: %w", method, path, err)
		}
	}
	return resp, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func versionOf(resp *resty.Response) int64 {
	n, _ := strconv.ParseInt(resp.Header().Get("Configuration-Version"), 10, 64)
	return n
}

func writeResult(resp *resty.Response) WriteResult {
	return WriteResult{Version: versionOf(resp), ReloadID: resp.Header().Get("Reload-Id"), Status: resp.StatusCode()}
}

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

// Version reads the current configuration version.
func (c *Client) Version(ctx context.Context) (int64, error) {
	var v int64
	if _, err := c.Do(ctx, "GET", svc+"/configuration/version", nil, nil, &v); err != nil {
		return 0, err
	}
	return v, nil
}

// Info is GET /v2/info.
func (c *Client) Info(ctx context.Context) (map[string]any, error) {
	var out map[string]any
	_, err := c.Do(ctx, "GET", "/info", nil, nil, &out)
	return out, err
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

// Frontends lists frontends.
func (c *Client) Frontends(ctx context.Context, txID string) ([]Frontend, error) {
	var out []Frontend
	return out, c.getData(ctx, "/configuration/frontends", txQuery(txID), &out)
}

// Binds lists the binds of a frontend.
func (c *Client) Binds(ctx context.Context, txID, frontend string) ([]Bind, error) {
	var out []Bind
	return out, c.getData(ctx, "/configuration/binds", txQuery(txID, "frontend", frontend), &out)
}

// ACLs lists the ACLs of a frontend or backend.
func (c *Client) ACLs(ctx context.Context, txID, parentType, parentName string) ([]ACL, error) {
	var out []ACL
	return out, c.getData(ctx, "/configuration/acls", txQuery(txID, "parent_type", parentType, "parent_name", parentName), &out)
}

// BackendSwitchingRules lists the use_backend rules of a frontend.
func (c *Client) BackendSwitchingRules(ctx context.Context, txID, frontend string) ([]BackendSwitchingRule, error) {
	var out []BackendSwitchingRule
	return out, c.getData(ctx, "/configuration/backend_switching_rules", txQuery(txID, "frontend", frontend), &out)
}

// HTTPRequestRules lists http-request rules of a frontend or backend.
func (c *Client) HTTPRequestRules(ctx context.Context, txID, parentType, parentName string) ([]HTTPRequestRule, error) {
	var out []HTTPRequestRule
	return out, c.getData(ctx, "/configuration/http_request_rules", txQuery(txID, "parent_type", parentType, "parent_name", parentName), &out)
}

// HTTPResponseRules lists http-response rules of a frontend or backend.
func (c *Client) HTTPResponseRules(ctx context.Context, txID, parentType, parentName string) ([]HTTPResponseRule, error) {
	var out []HTTPResponseRule
	return out, c.getData(ctx, "/configuration/http_response_rules", txQuery(txID, "parent_type", parentType, "parent_name", parentName), &out)
}

// TCPRequestRules lists tcp-request rules of a frontend or backend.
func (c *Client) TCPRequestRules(ctx context.Context, txID, parentType, parentName string) ([]TCPRequestRule, error) {
	var out []TCPRequestRule
	return out, c.getData(ctx, "/configuration/tcp_request_rules", txQuery(txID, "parent_type", parentType, "parent_name", parentName), &out)
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

// ReplaceServer PUTs one server outside a transaction. The API applies a
// change of only address, port, weight or maintenance at runtime (200, no
// reload); anything else schedules a reload (202, ReloadID set).
func (c *Client) ReplaceServer(ctx context.Context, version int64, backend string, s Server) (WriteResult, error) {
	q := url.Values{"backend": {backend}, "version": {strconv.FormatInt(version, 10)}}
	resp, err := c.Do(ctx, "PUT", svc+"/configuration/servers/"+url.PathEscape(s.Name), q, s, nil)
	if err != nil {
		return WriteResult{}, err
	}
	return writeResult(resp), nil
}

// Reload reads one reload's state.
func (c *Client) Reload(ctx context.Context, id string) (Reload, error) {
	var out Reload
	_, err := c.Do(ctx, "GET", svc+"/reloads/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// Reloads lists the failed reloads, the last success and any in progress.
func (c *Client) Reloads(ctx context.Context) ([]Reload, error) {
	var out []Reload
	_, err := c.Do(ctx, "GET", svc+"/reloads", nil, nil, &out)
	return out, err
}

// WaitReload polls a reload until it succeeded (nil), failed
// (ErrReloadFailed with HAProxy's message), or the wait timed out.
func (c *Client) WaitReload(ctx context.Context, id string) (Reload, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ReloadTimeout)
	defer cancel()
	t := time.NewTicker(c.cfg.ReloadPollInterval)
	defer t.Stop()
	for {
		r, err := c.Reload(ctx, id)
		if err != nil && !errors.Is(err, ErrUnreachable) {
			return r, fmt.Errorf("wait for reload %s: %w", id, err)
		}
		switch r.Status {
		case ReloadSucceeded:
			return r, nil
		case ReloadFailed:
			return r, fmt.Errorf("reload %s: %w: %s", id, ErrReloadFailed, strings.TrimSpace(r.Response))
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("wait for reload %s: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// RawConfig reads haproxy.cfg as the API has it (txID "" = live).
func (c *Client) RawConfig(ctx context.Context, txID string) (string, int64, error) {
	var env struct {
		Version int64  `json:"_version"`
		Data    string `json:"data"`
	}
	resp, err := c.Do(ctx, "GET", svc+"/configuration/raw", txQuery(txID), nil, &env)
	if err != nil {
		return "", 0, err
	}
	v := versionOf(resp)
	if v == 0 {
		v = env.Version
	}
	return env.Data, v, nil
}

// RawOptions are the query flags of a raw configuration POST.
type RawOptions struct {
	SkipReload, ForceReload, OnlyValidate, SkipVersion bool
	// RuntimeActions go into X-Runtime-Actions (only acted on with
	// SkipReload), joined with ";" and no space: the API skips an action
	// that follows "; ".
	RuntimeActions []string
}

// PostRawConfig replaces the whole configuration.
func (c *Client) PostRawConfig(ctx context.Context, version int64, text string, opt RawOptions) (WriteResult, error) {
	q := url.Values{}
	if opt.SkipVersion {
		q.Set("skip_version", "true")
	} else {
		q.Set("version", strconv.FormatInt(version, 10))
	}
	for k, on := range map[string]bool{"skip_reload": opt.SkipReload, "force_reload": opt.ForceReload, "only_validate": opt.OnlyValidate} {
		if on {
			q.Set(k, "true")
		}
	}
	var hdr map[string]string
	if len(opt.RuntimeActions) > 0 {
		for _, a := range opt.RuntimeActions {
			if strings.ContainsAny(a, ";\n") {
				return WriteResult{}, fmt.Errorf("runtime action %q: must not contain ';' or a newline", a)
			}
		}
		hdr = map[string]string{"X-Runtime-Actions": strings.Join(opt.RuntimeActions, ";")}
	}
	resp, err := c.do(ctx, "POST", svc+"/configuration/raw", q, text, nil, hdr)
	if err != nil {
		return WriteResult{}, err
	}
	return writeResult(resp), nil
}

// RuntimeServers lists a backend's servers as the Runtime API sees them.
func (c *Client) RuntimeServers(ctx context.Context, backend string) ([]RuntimeServer, error) {
	var out []RuntimeServer
	_, err := c.Do(ctx, "GET", svc+"/runtime/servers", url.Values{"backend": {backend}}, nil, &out)
	return out, err
}

// SetRuntimeServerState sets admin_state (ready, drain, maint) at runtime.
func (c *Client) SetRuntimeServerState(ctx context.Context, backend, name, adminState string) (RuntimeServer, error) {
	var out RuntimeServer
	_, err := c.Do(ctx, "PUT", svc+"/runtime/servers/"+url.PathEscape(name), url.Values{"backend": {backend}}, RuntimeServer{AdminState: adminState}, &out)
	return out, err
}

// RuntimeInfo is GET $S/runtime/info (one element per process).
func (c *Client) RuntimeInfo(ctx context.Context) ([]map[string]any, error) {
	var out []map[string]any
	_, err := c.Do(ctx, "GET", svc+"/runtime/info", nil, nil, &out)
	return out, err
}
