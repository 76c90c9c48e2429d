package dataplane

import (
	"bytes"
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
	// Credentials in the URL are moved to User/Password.
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
	red         redactor
	lastVersion atomic.Int64
}

// svc prefixes every HAProxy service path ($S in the notes).
const svc = "/services/haproxy"

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("data plane api url: cannot parse it")
	}
	if u.User != nil {
		if cfg.User == "" {
			cfg.User = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && cfg.Password == "" {
			cfg.Password = p
		}
		u.User = nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("data plane api url %q: want http(s)://host:port", u.String())
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
	if cfg.ClientCertFile != "" || cfg.ClientKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("data plane api client cert: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	c := &Client{cfg: cfg, log: cfg.Logger, red: redactor{secret: cfg.Password}}
	c.http = resty.New().
		SetBaseURL(strings.TrimRight(u.String(), "/")+"/v2").
		SetTimeout(cfg.Timeout).
		SetTLSClientConfig(tlsCfg).
		SetLogger(restyLogger{log: cfg.Logger, red: c.red}).
		SetDisableWarn(true). // "Basic Auth in HTTP mode" on every request
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "marathon-dataplane")
	if cfg.User != "" || cfg.Password != "" {
		c.http.SetBasicAuth(cfg.User, cfg.Password)
	}
	return c, nil
}

// LastSeenVersion is the Configuration-Version header of the latest
// response that carried a non-zero one (0 is sent for unknown or outdated
// transactions). Reads and writes inside a transaction carry that
// transaction's base version, and the API's version is not monotonic
// (notes §2), so this is "last seen", not "highest".
func (c *Client) LastSeenVersion() int64 { return c.lastVersion.Load() }

// WriteResult is what a configuration write answered.
type WriteResult struct {
	// Version is the Configuration-Version after the write.
	Version int64
	// ReloadID is set when the write scheduled a reload (HTTP 202); ""
	// when it was applied at runtime (200) or reloaded synchronously.
	ReloadID string
	Status   int
}

// Do sends one request to path (relative to /v2) and decodes a 2xx JSON
// answer into out (when non-nil). body is sent as JSON, as text/plain when
// it is a string, or as application/octet-stream when it is []byte. Non-2xx
// answers are returned as *APIError together with the response.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) (*resty.Response, error) {
	return c.do(ctx, method, path, query, body, out, nil)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, headers map[string]string) (*resty.Response, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req := c.http.R().SetContext(ctx).SetHeaders(headers)
	if query != nil {
		req.SetQueryParamsFromValues(query)
	}
	switch b := body.(type) {
	case nil:
	case fileUpload:
		req.SetFileReader(b.field, b.name, bytes.NewReader(b.content))
	// Text and bytes go as readers: resty copies a string or []byte body
	// into a pooled buffer and again into the request, three copies of a
	// 6 MB configuration kept alive between writes at 10,000 apps. A
	// *strings.Reader or *bytes.Reader is sent as it is, with its length.
	case string:
		req.SetHeader("Content-Type", "text/plain").SetBody(strings.NewReader(b))
	case []byte:
		req.SetHeader("Content-Type", "application/octet-stream").SetBody(bytes.NewReader(b))
	default:
		req.SetHeader("Content-Type", "application/json").SetBody(b)
	}
	start := time.Now()
	resp, err := req.Execute(method, path)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, c.red.Error(fmt.Errorf("data plane api %s %s: %w", method, path, ctxErr))
		}
		c.log.Debug("data plane api unreachable", zap.String("method", method), zap.String("path", path),
			zap.Duration("duration", time.Since(start)), zap.String("error", c.red.String(err.Error())))
		return nil, c.red.Error(fmt.Errorf("data plane api %s %s: %w: %w", method, path, ErrUnreachable, err))
	}
	version := versionOf(resp)
	if version > 0 {
		c.lastVersion.Store(version)
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
		apiErr.Message = c.red.String(apiErr.Message)
		c.log.Debug("data plane api error", zap.String("method", method), zap.String("path", path),
			zap.Int("status", resp.StatusCode()), zap.Int("code", apiErr.Code), zap.Int64("version", version),
			zap.Duration("duration", time.Since(start)), zap.String("message", apiErr.Message))
		return resp, apiErr
	}
	c.log.Debug("data plane api", zap.String("method", method), zap.String("path", path),
		zap.Int("status", resp.StatusCode()), zap.Int64("version", version), zap.Duration("duration", time.Since(start)))
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
	// The spec spells it Reload-ID; Go canonicalises it to Reload-Id.
	return WriteResult{Version: versionOf(resp), ReloadID: resp.Header().Get("Reload-Id"), Status: resp.StatusCode()}
}

// restyLogger sends resty's own messages (transport errors carry the URL)
// to zap at debug level, redacted.
type restyLogger struct {
	log *zap.Logger
	red redactor
}

func (l restyLogger) Errorf(format string, v ...any) { l.emit(format, v...) }
func (l restyLogger) Warnf(format string, v ...any)  { l.emit(format, v...) }
func (l restyLogger) Debugf(format string, v ...any) { l.emit(format, v...) }

func (l restyLogger) emit(format string, v ...any) {
	l.log.Debug("resty", zap.String("message", l.red.String(fmt.Sprintf(format, v...))))
}

// Version reads the current configuration version (a bare integer body).
func (c *Client) Version(ctx context.Context) (int64, error) {
	var v int64
	if _, err := c.Do(ctx, "GET", svc+"/configuration/version", nil, nil, &v); err != nil {
		if errors.Is(err, ErrNotFound) {
			// Every v2 server has this path. The likely cause is a v3
			// server: haproxytech's images run v3 as `dataplaneapi` since
			// HAProxy 2.6.18 and keep v2 as `dataplaneapi-v2`.
			return 0, fmt.Errorf("%w: %s answers no configuration version under /v2: not a Data Plane API v2 (in haproxytech's images since 2.6.18, run dataplaneapi-v2, not dataplaneapi, which is v3)", err, c.cfg.URL)
		}
		return 0, err
	}
	return v, nil
}

// Info is GET /v2/info ({"api":{"build_date","version"},"system":{}}).
func (c *Client) Info(ctx context.Context) (map[string]any, error) {
	var out map[string]any
	_, err := c.Do(ctx, "GET", "/info", nil, nil, &out)
	return out, err
}
