package marathon

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"go.uber.org/zap"
)

// Sentinel errors.
var (
	ErrUnreachable     = errors.New("marathon unreachable")
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict (app locked by a deployment)")
	ErrUnauthorized    = errors.New("unauthorized")
	ErrInvalidResponse = errors.New("invalid response from marathon")
)

// APIError is a non-2xx answer from Marathon.
type APIError struct {
	Method  string
	URL     string
	Status  int
	Message string
	Details json.RawMessage
}

func (e *APIError) Error() string {
	return fmt.Sprintf("marathon %s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), e.Message)
}

// Is maps the status to the sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	}
	return false
}

// Config configures a Client.
type Config struct {
	// URLs are tried in order; the one that last answered is tried first.
	URLs                          []string
	User, Password                string
	DCOSToken                     string
	CACertFile                    string
	InsecureSkipVerify            bool
	ClientCertFile, ClientKeyFile string
	ConnectTimeout                time.Duration // default 3s
	Timeout                       time.Duration // default 46s (marathon-lb's read timeout)
	MaxResponseBytes              int64         // default 256 MiB
	UserAgent                     string
	Logger                        *zap.Logger
}

// Client is a Marathon REST and event-stream client, safe for concurrent use.
type Client struct {
	cfg  Config
	http *resty.Client
	// stream has no overall timeout: an event stream lives for hours.
	stream *http.Client
	log    *zap.Logger

	mu        sync.Mutex
	preferred int
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("marathon: at least one URL is required")
	}
	for i, u := range cfg.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("marathon url %q: want http(s)://host:port", u)
		}
		cfg.URLs[i] = strings.TrimRight(u, "/")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 46 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 256 << 20
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "marathon-dataplane"
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in flag
	if cfg.CACertFile != "" {
		pem, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("marathon ca cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("marathon ca cert %s: no PEM certificate found", cfg.CACertFile)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("marathon client cert: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	h := resty.New().SetTransport(transport).SetTimeout(cfg.Timeout).
		SetHeader("Accept", "application/json").SetHeader("User-Agent", cfg.UserAgent).
		SetResponseBodyLimit(int(cfg.MaxResponseBytes)).SetDisableWarn(true)
	c := &Client{cfg: cfg, http: h, log: cfg.Logger, stream: &http.Client{Transport: transport}}
	return c, nil
}

// ParseCredentials splits "user:pass" on the first ':' (marathon-lb
// rejected passwords containing ':'; we accept them).
func ParseCredentials(s string) (string, string, error) {
	user, pass, ok := strings.Cut(s, ":")
	if !ok || user == "" {
		return "", "", errors.New("credentials must be in user:pass format")
	}
	return user, pass, nil
}

// ReadCredentialFile reads user:pass from the first line of path; an empty
// line means no authentication.
func ReadCredentialFile(path string) (string, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("credential file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := ""
	if sc.Scan() {
		line = strings.TrimRight(sc.Text(), "\r")
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("credential file %s: %w", path, err)
	}
	if line == "" {
		return "", "", nil
	}
	u, p, err := ParseCredentials(line)
	if err != nil {
		return "", "", fmt.Errorf("credential file %s: %w", path, err)
	}
	return u, p, nil
}

// URLs returns the configured base URLs in their original order.
func (c *Client) URLs() []string { return append([]string(nil), c.cfg.URLs...) }

// CurrentURL is the base URL tried first.
func (c *Client) CurrentURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.URLs[c.preferred]
}

func (c *Client) authorize(h http.Header) {
	switch {
	case c.cfg.DCOSToken != "":
		h.Set("Authorization", "token="+c.cfg.DCOSToken)
	case c.cfg.User != "":
		req, _ := http.NewRequest("GET", "http://x", nil)
		req.SetBasicAuth(c.cfg.User, c.cfg.Password)
		h.Set("Authorization", req.Header.Get("Authorization"))
	}
}

// failover reports whether a status means "try the next Marathon": 503 is
// what Marathon answers without a leader. marathon-lb failed over only on
// connection errors; moving on here avoids a useless error during elections.
func failover(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// do sends a request to the preferred URL, moving on through the others on
// connection errors, timeouts and 502/503/504. It decodes a 2xx JSON answer
// into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	c.mu.Lock()
	start := c.preferred
	c.mu.Unlock()
	n := len(c.cfg.URLs)
	var causes []string
	var lastErr error
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		base := c.cfg.URLs[idx]
		req := c.http.R().SetContext(ctx).SetQueryParamsFromValues(query)
		c.authorize(req.Header)
		if body != nil {
			req.SetHeader("Content-Type", "application/json").SetBody(body)
		}
		resp, err := req.Execute(method, base+path)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("marathon %s %s: %w", method, path, ctx.Err())
			}
			if errors.Is(err, resty.ErrResponseBodyTooLarge) {
				return fmt.Errorf("marathon %s %s%s: %w: body larger than %d bytes", method, base, path, ErrInvalidResponse, c.cfg.MaxResponseBytes)
			}
			lastErr = err
			causes = append(causes, fmt.Sprintf("%s: %v", base, err))
			c.log.Warn("marathon request failed; trying the next URL", zap.String("url", base), zap.String("path", path), zap.Error(err))
			continue
		}
		if failover(resp.StatusCode()) {
			lastErr = apiError(method, base+path, resp)
			causes = append(causes, fmt.Sprintf("%s: %d", base, resp.StatusCode()))
			c.log.Warn("marathon answered unavailable; trying the next URL", zap.String("url", base), zap.Int("status", resp.StatusCode()))
			continue
		}
		if idx != start {
			c.mu.Lock()
			c.preferred = idx
			c.mu.Unlock()
			c.log.Info("marathon failover", zap.String("url", base))
		}
		if resp.StatusCode() >= 300 {
			return apiError(method, base+path, resp)
		}
		if out != nil {
			if err := json.Unmarshal(resp.Body(), out); err != nil {
				return fmt.Errorf("marathon %s %s%s: %w: %v", method, base, path, ErrInvalidResponse, err)
			}
		}
		return nil
	}
	return fmt.Errorf("marathon %s %s: %w: every URL failed (%s): %w", method, path, ErrUnreachable, strings.Join(causes, "; "), lastErr)
}

func apiError(method, u string, resp *resty.Response) *APIError {
	e := &APIError{Method: method, URL: u, Status: resp.StatusCode()}
	var b APIErrorBody
	if json.Unmarshal(resp.Body(), &b) == nil && b.Message != "" {
		e.Message, e.Details = b.Message, b.Details
	} else {
		e.Message = strings.TrimSpace(string(resp.Body()))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	return e
}

func appPath(id string) string { return "/v2/apps/" + strings.TrimPrefix(id, "/") }

func forceQuery(force bool) url.Values {
	q := url.Values{}
	if force {
		q.Set("force", "true")
	}
	return q
}

// Apps returns every app with its tasks and deployments.
func (c *Client) Apps(ctx context.Context) ([]App, error) {
	var out struct {
		Apps *[]App `json:"apps"`
	}
	if err := c.do(ctx, "GET", "/v2/apps", url.Values{"embed": {"apps.tasks", "apps.deployments"}}, nil, &out); err != nil {
		return nil, err
	}
	if out.Apps == nil {
		return nil, fmt.Errorf("marathon GET /v2/apps: %w: no \"apps\" field", ErrInvalidResponse)
	}
	return *out.Apps, nil
}

// App returns one app with its tasks.
func (c *Client) App(ctx context.Context, id string) (App, error) {
	var out AppSingle
	err := c.do(ctx, "GET", appPath(id), url.Values{"embed": {"app.tasks"}}, nil, &out)
	return out.App, err
}

// Tasks returns every task.
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	var out TaskList
	err := c.do(ctx, "GET", "/v2/tasks", nil, nil, &out)
	return out.Tasks, err
}

// AppTasks returns the tasks of one app.
func (c *Client) AppTasks(ctx context.Context, id string) ([]Task, error) {
	var out TaskList
	err := c.do(ctx, "GET", appPath(id)+"/tasks", nil, nil, &out)
	return out.Tasks, err
}

// Info is GET /v2/info.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.do(ctx, "GET", "/v2/info", nil, nil, &out)
	return out, err
}

// Leader returns the current leader's host:port.
func (c *Client) Leader(ctx context.Context) (string, error) {
	var out Leader
	err := c.do(ctx, "GET", "/v2/leader", nil, nil, &out)
	return out.Leader, err
}

// Ping checks that Marathon answers /ping.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, "GET", "/ping", nil, nil, nil)
}

// CreateApp posts a new app and returns it as Marathon stored it.
func (c *Client) CreateApp(ctx context.Context, app App) (App, error) {
	var out App
	err := c.do(ctx, "POST", "/v2/apps", nil, app, &out)
	return out, err
}

// UpdateApp PUTs body (an App or a partial map) to the app.
func (c *Client) UpdateApp(ctx context.Context, id string, body any, force bool) (DeploymentResult, error) {
	var out DeploymentResult
	err := c.do(ctx, "PUT", appPath(id), forceQuery(force), body, &out)
	return out, err
}

// PatchApp PATCHes the app.
func (c *Client) PatchApp(ctx context.Context, id string, body any, force bool) (DeploymentResult, error) {
	var out DeploymentResult
	err := c.do(ctx, "PATCH", appPath(id), forceQuery(force), body, &out)
	return out, err
}

// ScaleApp sets the app's instance count.
func (c *Client) ScaleApp(ctx context.Context, id string, instances int, force bool) (DeploymentResult, error) {
	return c.UpdateApp(ctx, id, map[string]int{"instances": instances}, force)
}

// DeleteApp destroys the app.
func (c *Client) DeleteApp(ctx context.Context, id string, force bool) (DeploymentResult, error) {
	var out DeploymentResult
	err := c.do(ctx, "DELETE", appPath(id), forceQuery(force), nil, &out)
	return out, err
}

// KillTask kills one task; with scale the app shrinks instead of
// replacing it.
func (c *Client) KillTask(ctx context.Context, appID, taskID string, scale bool) error {
	q := url.Values{"scale": {strconv.FormatBool(scale)}}
	return c.do(ctx, "DELETE", appPath(appID)+"/tasks/"+url.PathEscape(taskID), q, nil, nil)
}

// KillTasks kills several tasks of any apps.
func (c *Client) KillTasks(ctx context.Context, taskIDs []string, scale bool) error {
	q := url.Values{"scale": {strconv.FormatBool(scale)}}
	return c.do(ctx, "POST", "/v2/tasks/delete", q, map[string][]string{"ids": taskIDs}, nil)
}

// Deployments lists running deployments.
func (c *Client) Deployments(ctx context.Context) ([]Deployment, error) {
	var out []Deployment
	err := c.do(ctx, "GET", "/v2/deployments", nil, nil, &out)
	return out, err
}

// DeleteDeployment rolls a deployment back (or, with force, just stops it).
func (c *Client) DeleteDeployment(ctx context.Context, id string, force bool) (DeploymentResult, error) {
	var out DeploymentResult
	err := c.do(ctx, "DELETE", "/v2/deployments/"+url.PathEscape(id), forceQuery(force), nil, &out)
	return out, err
}
