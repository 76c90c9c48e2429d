package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

// Flag names follow marathon-lb's where one exists (marathon-lb-behaviour.md
// §1.2); every flag also reads an environment variable.
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "marathon", Aliases: []string{"m"}, EnvVars: []string{"MARATHON_URL"}, Value: cli.NewStringSlice("http://master.mesos:8080"),
			Usage: "Marathon base URL; repeat (or comma-separate) for failover"},
		&cli.StringSliceFlag{Name: "group", EnvVars: []string{"HAPROXY_GROUPS"}, Usage: "only expose apps of these HAPROXY_GROUPs (repeatable; '*' = all; a comma inside one value is part of the name, as in marathon-lb)"},
		&cli.BoolFlag{Name: "strict-mode", EnvVars: []string{"STRICT_MODE"}, Usage: "expose a service port only when HAPROXY_{n}_ENABLED is true"},
		&cli.BoolFlag{Name: "health-check", Aliases: []string{"H"}, EnvVars: []string{"HEALTH_CHECK"}, Usage: "route only to tasks Marathon reports healthy (for apps with health checks)"},
		&cli.StringFlag{Name: "auth-credentials", EnvVars: []string{"MARATHON_AUTH_CREDENTIALS"}, Usage: "Marathon HTTP basic credentials user:pass (prefer the file or MARATHON_USER/MARATHON_PASSWORD: argv is visible in ps)"},
		&cli.StringFlag{Name: "marathon-auth-credential-file", EnvVars: []string{"MARATHON_AUTH_CREDENTIAL_FILE"}, Usage: "file whose first line is user:pass for Marathon; wins over the other auth options"},
		&cli.StringFlag{Name: "dcos-auth-token", EnvVars: []string{"DCOS_AUTH_TOKEN"}, Usage: "DC/OS ACS token sent as 'Authorization: token=...'"},
		&cli.StringFlag{Name: "marathon-ca-cert", EnvVars: []string{"MARATHON_CA_CERT"}, Usage: "CA bundle for Marathon HTTPS (system roots when empty; marathon-lb skipped verification)"},
		&cli.DurationFlag{Name: "marathon-timeout", EnvVars: []string{"MARATHON_TIMEOUT"}, Value: 46 * time.Second, Usage: "timeout of one Marathon request"},
		&cli.StringFlag{Name: "marathon-client-cert", EnvVars: []string{"MARATHON_CLIENT_CERT"}, Usage: "client certificate (PEM; may hold the key too) for Marathon over mutual TLS"},
		&cli.StringFlag{Name: "marathon-client-key", EnvVars: []string{"MARATHON_CLIENT_KEY"}, Usage: "key of --marathon-client-cert, when not in the same file"},
		&cli.StringFlag{Name: "dataplane-url", EnvVars: []string{"DATAPLANE_URL"}, Value: "http://127.0.0.1:5555", Usage: "HAProxy Data Plane API base URL"},
		&cli.StringFlag{Name: "dataplane-user", EnvVars: []string{"DATAPLANE_USER"}, Value: "admin", Usage: "Data Plane API user"},
		&cli.StringFlag{Name: "dataplane-password-file", EnvVars: []string{"DATAPLANE_PASSWORD_FILE"}, Usage: "file holding the Data Plane API password (or set DATAPLANE_PASSWORD)"},
		&cli.StringFlag{Name: "dataplane-ca-cert", EnvVars: []string{"DATAPLANE_CA_CERT"}, Usage: "CA bundle for the Data Plane API over HTTPS"},
		&cli.StringFlag{Name: "dataplane-client-cert", EnvVars: []string{"DATAPLANE_CLIENT_CERT"}, Usage: "client certificate (PEM) for the Data Plane API over mutual TLS"},
		&cli.StringFlag{Name: "dataplane-client-key", EnvVars: []string{"DATAPLANE_CLIENT_KEY"}, Usage: "key of --dataplane-client-cert"},
		&cli.DurationFlag{Name: "dataplane-timeout", EnvVars: []string{"DATAPLANE_TIMEOUT"}, Value: 30 * time.Second, Usage: "timeout of one Data Plane API request (a slow API fails the pass, which is retried, instead of hanging it)"},
		&cli.StringFlag{Name: "haproxy-socket", EnvVars: []string{"HAPROXY_SOCKET"}, Usage: "HAProxy Runtime API (stats socket: /path, unix:/path or host:port); when set, sync verifies that HAProxy runs what it applied, and plan shows live differences"},
		&cli.DurationFlag{Name: "drain-grace", EnvVars: []string{"DRAIN_GRACE"}, Value: 30 * time.Second, Usage: "with --haproxy-socket, a removed server drains (no new requests) until its sessions end or this long"},
		&cli.StringFlag{Name: "haproxy-defaults", EnvVars: []string{"HAPROXY_DEFAULTS"}, Value: "marathon_defaults", Usage: "named defaults section of the base haproxy.cfg that created proxies use ('from')"},
		&cli.BoolFlag{Name: "dont-bind-http-https", EnvVars: []string{"DONT_BIND_HTTP_HTTPS"}, Usage: "do not create the :80/:443 frontends and vhost routing"},
		&cli.BoolFlag{Name: "haproxy-map", EnvVars: []string{"HAPROXY_MAP"}, Usage: "route vhosts and X-Marathon-App-Id through map files (domain2backend.map, app2backend.map) in the Data Plane API's map storage; entries change through the Runtime API without a reload"},
		&cli.BoolFlag{Name: "group-https-by-vhost", EnvVars: []string{"GROUP_HTTPS_BY_VHOST"}, Usage: "split :443 by SNI (tcp) into one TLS frontend per vhost, with that vhost's SSL_CERT certificates"},
		&cli.StringFlag{Name: "group-https-socket-dir", EnvVars: []string{"GROUP_HTTPS_SOCKET_DIR"}, Value: "/var/run/haproxy", Usage: "with --group-https-by-vhost, where HAProxy creates the sockets between :443 and the vhost frontends"},
		&cli.StringFlag{Name: "templates-dir", EnvVars: []string{"TEMPLATES_DIR"}, Usage: "directory of global template overrides named HAPROXY_<TEMPLATE> (as marathon-lb's templates/); $HAPROXY_<TEMPLATE> wins over a file"},
		&cli.IntFlag{Name: "empty-confirmations", EnvVars: []string{"EMPTY_CONFIRMATIONS"}, Value: 3, Usage: "apply Marathon answering no apps at all (while HAProxy serves ours) only after this many answers in a row; 0 applies it at once"},
		&cli.StringFlag{Name: "http-bind", EnvVars: []string{"HTTP_BIND"}, Value: "*:80", Usage: "bind of marathon_http_in (vhost routing)"},
		&cli.StringFlag{Name: "https-bind", EnvVars: []string{"HTTPS_BIND"}, Value: "*:443", Usage: "bind of marathon_https_in (TLS, vhost routing by SNI)"},
		&cli.StringFlag{Name: "ssl-certs", EnvVars: []string{"SSL_CERTS"}, Usage: "comma-separated PEM paths for marathon_https_in (the first is the default certificate); without it, and without $HAPROXY_SSL_CERT, a self-signed <ssl-cert-dir>/cert.pem is generated"},
		&cli.StringFlag{Name: "ssl-cert-dir", EnvVars: []string{"SSL_CERT_DIR"}, Value: "/etc/ssl", Usage: "where $HAPROXY_SSL_CERT and $HAPROXY_SSL_CERT0..100 are written as cert.pem, cert<i>.pem (HAProxy must read the same paths)"},
		&cli.StringFlag{Name: "appid-bind", EnvVars: []string{"APPID_BIND"}, Value: "*:9091", Usage: "bind of marathon_http_appid_in (X-Marathon-App-Id routing)"},
		&cli.StringFlag{Name: "bind-addr", EnvVars: []string{"BIND_ADDR"}, Value: "*", Usage: "service-port bind address when HAPROXY_{n}_BIND_ADDR is not set"},
		&cli.IntFlag{Name: "min-serv-port-ip-per-task", EnvVars: []string{"MIN_SERV_PORT_IP_PER_TASK"}, Value: 10050, Usage: "lower end of auto-assigned service ports for IP-per-task apps"},
		&cli.IntFlag{Name: "max-serv-port-ip-per-task", EnvVars: []string{"MAX_SERV_PORT_IP_PER_TASK"}, Value: 10100, Usage: "upper end of auto-assigned service ports for IP-per-task apps (0/0 turns it off)"},
		&cli.StringFlag{Name: "log-level", EnvVars: []string{"LOG_LEVEL"}, Value: "info", Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", EnvVars: []string{"LOG_FORMAT"}, Value: "console", Usage: "console or json"},
	}
}

// options is everything the flags decide, validated once.
type options struct {
	log        *zap.Logger
	marathon   marathon.Config
	dataplane  dataplane.Config
	sync       sync.Config
	socket     string
	drainGrace time.Duration
	certs      sslCerts
	// emptyConfirmations is --empty-confirmations (Syncer.EmptyConfirmations).
	emptyConfirmations int
}

// prepareCerts writes the certificates marathon_https_in needs (commands
// that apply; plan writes nothing).
func (o *options) prepareCerts() error {
	if !o.sync.BindHTTP || o.sync.HTTPSPort == 0 {
		return nil
	}
	return o.certs.ensure()
}

// marathonFlags are the flags of the Marathon connection and the logs
// (shared by zdd).
func marathonFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range commonFlags() {
		switch f.Names()[0] {
		case "marathon", "auth-credentials", "marathon-auth-credential-file", "dcos-auth-token", "marathon-ca-cert",
			"marathon-timeout", "marathon-client-cert", "marathon-client-key", "log-level", "log-format":
			out = append(out, f)
		}
	}
	return out
}

// marathonConfig reads the Marathon connection flags.
func marathonConfig(c *cli.Context, log *zap.Logger) (marathon.Config, error) {
	var urls []string
	for _, v := range c.StringSlice("marathon") {
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
	}
	cfg := marathon.Config{URLs: urls, CACertFile: c.String("marathon-ca-cert"), Timeout: c.Duration("marathon-timeout"), DCOSToken: c.String("dcos-auth-token"), Logger: log,
		ClientCertFile: c.String("marathon-client-cert"), ClientKeyFile: c.String("marathon-client-key")}
	var err error
	switch {
	case c.String("marathon-auth-credential-file") != "":
		cfg.User, cfg.Password, err = marathon.ReadCredentialFile(c.String("marathon-auth-credential-file"))
	case c.String("auth-credentials") != "":
		cfg.User, cfg.Password, err = marathon.ParseCredentials(c.String("auth-credentials"))
	case os.Getenv("MARATHON_USER") != "":
		cfg.User, cfg.Password = os.Getenv("MARATHON_USER"), os.Getenv("MARATHON_PASSWORD")
	}
	if err != nil {
		return cfg, fmt.Errorf("marathon credentials: %w", err)
	}
	return cfg, nil
}

func parseOptions(c *cli.Context) (*options, error) {
	log, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
	if err != nil {
		return nil, err
	}
	o := &options{log: log, socket: c.String("haproxy-socket"), drainGrace: c.Duration("drain-grace")}

	if o.marathon, err = marathonConfig(c, log); err != nil {
		return nil, err
	}
	if v := os.Getenv("PORTS"); v != "" {
		// marathon-lb's run script required PORTS and only logged it.
		log.Info("PORTS is accepted for marathon-lb compatibility and not used: the binds are --http-bind, --https-bind and --appid-bind", zap.String("PORTS", v))
	}

	password := os.Getenv("DATAPLANE_PASSWORD")
	if f := c.String("dataplane-password-file"); f != "" {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--dataplane-password-file: %w", err)
		}
		password = strings.TrimRight(string(raw), "\r\n")
	}
	o.dataplane = dataplane.Config{URL: c.String("dataplane-url"), User: c.String("dataplane-user"), Password: password, CACertFile: c.String("dataplane-ca-cert"), Logger: log,
		ClientCertFile: c.String("dataplane-client-cert"), ClientKeyFile: c.String("dataplane-client-key"), Timeout: c.Duration("dataplane-timeout")}

	groups := c.StringSlice("group")
	if len(groups) == 0 {
		return nil, fmt.Errorf("--group is required (at least one; '*' exposes every app), as in marathon-lb")
	}
	cfg := sync.DefaultConfig()
	cfg.Groups = groups
	cfg.StrictMode = c.Bool("strict-mode")
	cfg.HealthCheck = c.Bool("health-check")
	cfg.DefaultsName = c.String("haproxy-defaults")
	cfg.BindHTTP = !c.Bool("dont-bind-http-https")
	cfg.HaproxyMap = c.Bool("haproxy-map")
	cfg.GroupHTTPSByVhost = c.Bool("group-https-by-vhost")
	if o.emptyConfirmations = c.Int("empty-confirmations"); o.emptyConfirmations < 0 {
		return nil, fmt.Errorf("--empty-confirmations %d: want 0 or more", o.emptyConfirmations)
	}
	global, err := globalTemplates(c.String("templates-dir"), cfg.DefaultsName, os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg.Templates, cfg.Head, cfg.DefaultOptions = global.templates, global.head, global.defaultOptions
	for _, w := range global.warnings {
		log.Warn(w)
	}
	cfg.TLSSocketDir = c.String("group-https-socket-dir")
	cfg.DefaultBindAddr = c.String("bind-addr")
	cfg.FrameworkName = os.Getenv("FRAMEWORK_NAME")
	if cfg.HTTPBindAddr, cfg.HTTPPort, err = parseBind("--http-bind", c.String("http-bind")); err != nil {
		return nil, err
	}
	if cfg.AppIDBindAddr, cfg.AppIDPort, err = parseBind("--appid-bind", c.String("appid-bind")); err != nil {
		return nil, err
	}
	if cfg.HTTPSBindAddr, cfg.HTTPSPort, err = parseBind("--https-bind", c.String("https-bind")); err != nil {
		return nil, err
	}
	o.certs = resolveSSLCerts(c.String("ssl-certs"), c.String("ssl-cert-dir"), os.Getenv)
	cfg.SSLCerts, cfg.SSLCertList = o.certs.paths, o.certs.crtList
	cfg.MinServPortIPPerTask, cfg.MaxServPortIPPerTask = c.Int("min-serv-port-ip-per-task"), c.Int("max-serv-port-ip-per-task")
	minP, maxP := cfg.MinServPortIPPerTask, cfg.MaxServPortIPPerTask
	if (minP == 0) != (maxP == 0) || minP > maxP || minP < 0 || maxP > 65535 {
		return nil, fmt.Errorf("--min-serv-port-ip-per-task %d and --max-serv-port-ip-per-task %d: both must be 0, or 1 <= min <= max <= 65535", minP, maxP)
	}
	if err := sync.ValidateSharedHeads(cfg); err != nil {
		return nil, err
	}
	o.sync = cfg
	return o, nil
}

// runtimeClient opens the Runtime API named by --haproxy-socket (nil when
// the flag is empty: server churn then goes through transactions).
func (o *options) runtimeClient() (*runtimeapi.Client, error) {
	if o.socket == "" {
		return nil, nil
	}
	rt, err := runtimeapi.New(o.socket, runtimeapi.WithLogger(o.log))
	if err != nil {
		return nil, fmt.Errorf("--haproxy-socket: %w", err)
	}
	return rt, nil
}

func parseBind(flag, v string) (string, int, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want address:port, e.g. *:80: %w", flag, v, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("%s %q: port must be 1-65535", flag, v)
	}
	if host == "" {
		host = "*"
	}
	return host, p, nil
}

func newLogger(level, format string, w interface{ Write([]byte) (int, error) }) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("--log-format %q: want console or json", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}
