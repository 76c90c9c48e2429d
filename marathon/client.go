package marathon

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults, taken from marathon-lb where it had one.
const (
	DefaultConnectTimeout   = 3 * time.Second
	DefaultTimeout          = 46 * time.Second // marathon-lb's read timeout
	DefaultMaxResponseBytes = 256 << 20
	DefaultUserAgent        = "marathon-dataplane"
	// maxRedirects: Marathon 1.7+ redirects /v2/events on a non-leader once;
	// a few more hops allow a proxy in front, and a loop still ends.
	maxRedirects = 5
)

// Config configures a Client. Password and DCOSToken are secrets: Config
// redacts them when printed or logged.
type Config struct {
	// URLs are base URLs (http or https, optionally with a path prefix, e.g.
	// https://dcos/marathon). REST calls start at the one that last answered
	// and fail over in order. Credentials embedded as user:pass@ are moved to
	// basic auth (unless User or DCOSToken is set) and removed from the URL,
	// so they never appear in an error or a log line.
	URLs []string
	// User and Password enable HTTP basic auth.
	User, Password string
	// DCOSToken, if set, is sent as "Authorization: token=<DCOSToken>" and
	// takes priority over basic auth.
	DCOSToken string
	// CACertFile is a PEM bundle to verify Marathon's certificate. Empty
	// means the system roots: unlike marathon-lb, which turned verification
	// off without a CA file, verification is off only with InsecureSkipVerify.
	CACertFile         string
	InsecureSkipVerify bool
	// ClientCertFile and ClientKeyFile enable mTLS. ClientKeyFile may be
	// empty when ClientCertFile holds both the certificate and the key.
	ClientCertFile, ClientKeyFile string
	ConnectTimeout                time.Duration // dial and TLS handshake; default 3s
	Timeout                       time.Duration // whole REST request, and response headers of Stream; default 46s
	MaxResponseBytes              int64         // default 256 MiB; a larger REST body is an error
	UserAgent                     string        // default "marathon-dataplane"
	Logger                        *zap.Logger   // nil = zap.NewNop()
}

// String keeps secrets out of %v and %+v.
func (c Config) String() string {
	return fmt.Sprintf("marathon.Config{URLs:%v User:%q Password:%s DCOSToken:%s CACertFile:%q InsecureSkipVerify:%t Timeout:%s}",
		redactURLs(c.URLs), c.User, redacted(c.Password), redacted(c.DCOSToken), c.CACertFile, c.InsecureSkipVerify, c.Timeout)
}

// MarshalLogObject keeps secrets out of zap.Any(cfg).
func (c Config) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("urls", strings.Join(redactURLs(c.URLs), ","))
	enc.AddString("user", c.User)
	enc.AddString("password", redacted(c.Password))
	enc.AddString("dcosToken", redacted(c.DCOSToken))
	enc.AddString("caCertFile", c.CACertFile)
	enc.AddBool("insecureSkipVerify", c.InsecureSkipVerify)
	enc.AddDuration("timeout", c.Timeout)
	return nil
}

// redactURLs hides passwords embedded in URLs (user:pass@host).
func redactURLs(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		if u, err := url.Parse(s); err == nil {
			out[i] = u.Redacted()
		} else if strings.Contains(s, "@") {
			out[i] = "[unparseable URL with credentials]"
		} else {
			out[i] = s
		}
	}
	return out
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

// Client is a Marathon REST and event-stream client, safe for concurrent use.
type Client struct {
	urls      []string // validated, no trailing '/', no userinfo
	authValue string   // the Authorization header value, "" for none
	maxBody   int64
	userAgent string
	log       *zap.Logger
	rest      *resty.Client
	// stream has no overall timeout: an event stream lives for hours.
	stream *http.Client

	mu        sync.Mutex
	preferred int // index into urls of the URL REST calls try first
}

// New validates cfg (URLs, TLS files) and returns a Client. It does no I/O
// beyond reading the certificate files.
func New(cfg Config) (*Client, error) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	urls, embedded, err := cleanURLs(cfg.URLs)
	if err != nil {
		return nil, err
	}
	if embedded != nil && cfg.User == "" && cfg.DCOSToken == "" {
		cfg.User = embedded.Username()
		cfg.Password, _ = embedded.Password()
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{
		urls:      urls,
		authValue: authorization(cfg),
		maxBody:   cfg.MaxResponseBytes,
		userAgent: cfg.UserAgent,
		log:       cfg.Logger,
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   4,
		// Below Jetty's 30 s idle timeout: a write sent on a connection the
		// server is closing would end as ErrOutcomeUnknown.
		IdleConnTimeout: 25 * time.Second,
	}
	c.stream = &http.Client{Transport: transport, CheckRedirect: c.checkRedirect}
	restHTTP := &http.Client{Transport: transport, CheckRedirect: c.checkRedirect, Timeout: cfg.Timeout}
	c.rest = resty.NewWithClient(restHTTP).
		SetLogger(restyLogger{cfg.Logger}).
		SetResponseBodyLimit(int(min(cfg.MaxResponseBytes, math.MaxInt))).
		SetHeader("User-Agent", cfg.UserAgent)
	return c, nil
}

// cleanURLs validates the base URLs and strips userinfo from them; it
// returns the first userinfo found so New can use it as basic auth.
func cleanURLs(in []string) ([]string, *url.Userinfo, error) {
	if len(in) == 0 {
		return nil, nil, errors.New("marathon: at least one URL is required")
	}
	out := make([]string, 0, len(in))
	var embedded *url.Userinfo
	for i, raw := range in {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			// url.Error quotes the input, which may hold a password.
			return nil, nil, fmt.Errorf("marathon URL #%d: not a valid URL", i+1)
		}
		if u.User != nil && embedded == nil {
			embedded = u.User
		}
		u.User = nil
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fmt.Errorf("marathon URL %q: want http(s)://host[:port][/prefix]", u.Redacted())
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, nil, fmt.Errorf("marathon URL %q: a base URL takes no query or fragment", u.Redacted())
		}
		out = append(out, strings.TrimRight(u.String(), "/"))
	}
	return out, embedded, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // explicit opt-in
	if cfg.CACertFile != "" {
		pem, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("marathon CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("marathon CA certificate %s: no PEM certificate found", cfg.CACertFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case cfg.ClientCertFile != "":
		keyFile := cfg.ClientKeyFile
		if keyFile == "" {
			keyFile = cfg.ClientCertFile
		}
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("marathon client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case cfg.ClientKeyFile != "":
		return nil, errors.New("marathon client key given without a client certificate")
	}
	return tc, nil
}

// authorization computes the Authorization header once: DC/OS token first,
// then basic auth, as marathon-lb ranks them.
func authorization(cfg Config) string {
	switch {
	case cfg.DCOSToken != "":
		return "token=" + cfg.DCOSToken
	case cfg.User != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.User+":"+cfg.Password))
	}
	return ""
}

func (c *Client) authorize(h http.Header) {
	if c.authValue != "" {
		h.Set("Authorization", c.authValue)
	}
}

// checkRedirect re-sends credentials to configured Marathon hosts. Go drops
// Authorization when a redirect changes host, but Marathon 1.7+ redirects
// /v2/events from a non-leader to the leader, and marathon-lb (curl) sent the
// credentials along. Hosts outside the configured list, or a downgrade from
// https to http, get no credentials: a redirect must not leak them.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if c.authValue == "" || req.Header.Get("Authorization") != "" {
		return nil
	}
	prev := via[len(via)-1].URL
	if prev.Scheme == "https" && req.URL.Scheme != "https" {
		c.log.Warn("marathon redirect downgrades to http; credentials not forwarded", zap.String("to", req.URL.Redacted()))
		return nil
	}
	if slices.Contains(c.hosts(), strings.ToLower(req.URL.Host)) {
		c.authorize(req.Header)
		return nil
	}
	c.log.Warn("marathon redirect to a host that is not configured; credentials not forwarded", zap.String("to", req.URL.Redacted()))
	return nil
}

func (c *Client) hosts() []string {
	out := make([]string, 0, len(c.urls))
	for _, s := range c.urls {
		if u, err := url.Parse(s); err == nil {
			out = append(out, strings.ToLower(u.Host))
		}
	}
	return out
}

// URLs returns the configured base URLs in their original order (without
// embedded credentials); event-stream rotation uses this order.
func (c *Client) URLs() []string { return slices.Clone(c.urls) }

// CurrentURL is the base URL REST calls try first.
func (c *Client) CurrentURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.preferred]
}

// restyLogger sends resty's own messages to zap instead of stderr.
type restyLogger struct{ l *zap.Logger }

func (r restyLogger) Errorf(format string, v ...any) {
	r.l.Error("resty", zap.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
}

func (r restyLogger) Warnf(format string, v ...any) {
	r.l.Warn("resty", zap.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
}

func (r restyLogger) Debugf(format string, v ...any) {
	r.l.Debug("resty", zap.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
}
