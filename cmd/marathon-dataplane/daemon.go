package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "keep HAProxy in step with Marathon: a full sync at start, then on Marathon events (SSE) or every poll interval",
		UsageText: "marathon-dataplane daemon --marathon http://marathon:8080 --group external \\\n" +
			"    --dataplane-url http://127.0.0.1:5555 --dataplane-password-file /run/secrets/dataplane \\\n" +
			"    --haproxy-socket /var/run/haproxy/haproxy.sock --listen 127.0.0.1:8090\n" +
			"marathon-dataplane sse ...             (marathon-lb's entry point: the same as daemon --sse)\n" +
			"marathon-dataplane poll --poll-interval 30s ...",
		Description: "Signals: SIGHUP full resync, SIGUSR1 re-push the desired state, SIGTERM/SIGINT stop after\n" +
			"the apply in flight. The HTTP listener serves /healthz, /readyz, /metrics and /status.",
		Flags: append(commonFlags(),
			&cli.BoolFlag{Name: "sse", EnvVars: []string{"SSE"}, Value: true, Usage: "follow Marathon's event stream (the default)"},
			&cli.BoolFlag{Name: "poll", EnvVars: []string{"POLL"}, Usage: "poll Marathon every --poll-interval instead of following events"},
			&cli.DurationFlag{Name: "poll-interval", EnvVars: []string{"POLL_INTERVAL"}, Value: 60 * time.Second,
				Usage: "poll period; in SSE mode the period of a safety full resync (POLL_INTERVAL also accepts plain seconds, as in marathon-lb)"},
			&cli.DurationFlag{Name: "max-backoff", EnvVars: []string{"MAX_BACKOFF"}, Value: 300 * time.Second, Usage: "upper limit of the event-stream reconnect backoff"},
			&cli.DurationFlag{Name: "coalesce-window", EnvVars: []string{"COALESCE_WINDOW"}, Value: 100 * time.Millisecond, Usage: "a burst of events must be quiet this long before a sync"},
			&cli.DurationFlag{Name: "coalesce-max-delay", EnvVars: []string{"COALESCE_MAX_DELAY"}, Value: time.Second, Usage: "longest wait from the first event of a burst to its sync"},
			&cli.DurationFlag{Name: "stream-watchdog", EnvVars: []string{"STREAM_WATCHDOG"}, Value: 5 * time.Minute, Usage: "reconnect an event stream that sent nothing (not even a keepalive) for this long"},
			&cli.DurationFlag{Name: "reconcile-interval", EnvVars: []string{"RECONCILE_INTERVAL"}, Value: 30 * time.Second,
				Usage: "compare HAProxy's configuration and live servers with Marathon this often and repair what someone changed out of band (0 = off)"},
			&cli.DurationFlag{Name: "persist-interval", EnvVars: []string{"PERSIST_INTERVAL"}, Value: 0,
				Usage: "start background writes of runtime changes to haproxy.cfg at most this often (0 = each right after the last; a reload never waits)"},
			&cli.StringFlag{Name: "listen", EnvVars: []string{"LISTEN"}, Value: "127.0.0.1:8090", Usage: "address of /healthz, /readyz, /metrics and /status"},
			&cli.StringFlag{Name: "status-token-file", EnvVars: []string{"STATUS_TOKEN_FILE"}, Usage: "when set, /status needs 'Authorization: Bearer <token>'"},
			&cli.BoolFlag{Name: "debug-pprof", EnvVars: []string{"DEBUG_PPROF"}, Usage: "serve Go's runtime profiles under /debug/pprof/ on --listen (behind --status-token-file when set)"},
			&cli.DurationFlag{Name: "ready-max-age", EnvVars: []string{"READY_MAX_AGE"}, Value: 5 * time.Minute, Usage: "/readyz fails while the last successful sync is older than this"},
		),
		Before: func(c *cli.Context) error {
			// marathon-lb's POLL_INTERVAL is plain seconds ("60").
			if v := os.Getenv("POLL_INTERVAL"); v != "" && !strings.ContainsAny(v, "smh") {
				return c.Set("poll-interval", v+"s")
			}
			return nil
		},
		Action: runDaemon,
	}
}

// modeCommand is marathon-lb's container entry point, whose first argument
// is the mode (`sse` or `poll`): the daemon with that mode.
func modeCommand(mode string) *cli.Command {
	d := daemonCommand()
	d.Name, d.Usage = mode, "the daemon in "+mode+" mode (marathon-lb's `"+mode+"` entry point)"
	d.Action = func(c *cli.Context) error {
		if err := c.Set("poll", strconv.FormatBool(mode == "poll")); err != nil {
			return err
		}
		return runDaemon(c)
	}
	return d
}

// healthcheckCommand asks a running daemon's /healthz (the container
// image's HEALTHCHECK: the image has no shell or curl).
func healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "exit 0 when the daemon on --listen answers /healthz",
		Flags: []cli.Flag{&cli.StringFlag{Name: "listen", EnvVars: []string{"LISTEN"}, Value: "127.0.0.1:8090"}},
		Action: func(c *cli.Context) error {
			client := &http.Client{Timeout: 3 * time.Second}
			resp, err := client.Get("http://" + c.String("listen") + "/healthz")
			if err != nil {
				return cli.Exit(err.Error(), exitFailed)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return cli.Exit(fmt.Sprintf("/healthz answered %d", resp.StatusCode), exitFailed)
			}
			return nil
		},
	}
}

func runDaemon(c *cli.Context) error {
	o, err := parseOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer o.log.Sync() //nolint:errcheck // best effort on exit
	if _, set := os.LookupEnv("GOGC"); !set {
		// Most of the daemon's heap is caches that live as long as it
		// does (apps, built models, rendered sections: about 60 MB at
		// 10,000 apps), and an event allocates a few MB at most. Go's
		// default (100) lets the heap grow to twice the caches between
		// collections; 50 holds it to one and a half for a few more
		// collections (BENCHMARKS.md: RSS and CPU per event, both ways).
		// GOGC, when set, wins.
		debug.SetGCPercent(50)
	}
	if err := o.prepareCerts(); err != nil {
		return cli.Exit(fmt.Sprintf("certificates for marathon_https_in: %v", err), exitFailed)
	}
	mc, err := marathon.New(o.marathon)
	if err != nil {
		return cli.Exit(fmt.Sprintf("marathon client: %v", err), exitFailed)
	}
	dc, err := dataplane.New(o.dataplane)
	if err != nil {
		return cli.Exit(fmt.Sprintf("data plane api client: %v", err), exitFailed)
	}
	token := ""
	if f := c.String("status-token-file"); f != "" {
		raw, err := os.ReadFile(f)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--status-token-file: %v", err), exitFailed)
		}
		token = strings.TrimSpace(string(raw))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := sync.NewMetrics(reg)
	s := &sync.Syncer{Apps: mc, API: dc, Resolver: sync.NewDNSResolver(time.Minute, 1000), Config: o.sync, Log: o.log, DrainGrace: o.drainGrace,
		EmptyConfirmations: o.emptyConfirmations, DeferPersist: true, PersistInterval: c.Duration("persist-interval")}
	rt, err := o.runtimeClient()
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	s.Maps = dc
	if rt != nil {
		s.Runtime, s.RuntimeMaps = rt, rt
	}
	dcfg := sync.DaemonConfig{
		PollInterval: c.Duration("poll-interval"), MaxBackoff: c.Duration("max-backoff"),
		Window: c.Duration("coalesce-window"), MaxDelay: c.Duration("coalesce-max-delay"), Watchdog: c.Duration("stream-watchdog"),
		ReconcileInterval: c.Duration("reconcile-interval"),
	}
	if !c.Bool("poll") && c.Bool("sse") {
		dcfg.Events = mc
		// Task events update a copy of Marathon's apps instead of
		// listing every app for every event.
		dcfg.Apps = sync.NewAppCache(mc)
		s.Apps = dcfg.Apps
	}
	d := sync.NewDaemon(s, dcfg, metrics, o.log)

	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--listen: %v", err), exitFailed)
	}
	mlb := mlbEndpoints{daemon: d, config: func(ctx context.Context) (string, error) {
		text, _, err := dc.RawConfig(ctx, "")
		return text, err
	}}
	if rt != nil {
		mlb.pids = func(ctx context.Context) ([]string, error) {
			info, err := rt.ShowInfo(ctx)
			if err != nil {
				return nil, err
			}
			return []string{info["Pid"]}, nil
		}
	}
	srv := &http.Server{Handler: daemonHandler(d, reg, token, c.Duration("ready-max-age"), mlb, c.Bool("debug-pprof")), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Error("status listener stopped", zap.Error(err))
		}
	}()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-c.Done():
				return
			case sig := <-sigs:
				o.log.Info("signal received", zap.String("signal", sig.String()))
				if sig == syscall.SIGHUP {
					d.TriggerFull("SIGHUP: full resync")
				} else {
					d.TriggerReconcile("SIGUSR1: re-push the desired state")
				}
			}
		}
	}()

	o.log.Info("daemon started", zap.String("mode", d.Status().Mode), zap.String("listen", ln.Addr().String()),
		zap.Strings("marathon", mc.URLs()), zap.String("dataplane", o.dataplane.URL))
	if err := d.Run(c.Context); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	o.log.Info("daemon stopped")
	return nil
}

// daemonHandler serves the daemon's own endpoints.
func daemonHandler(d *sync.Daemon, reg *prometheus.Registry, token string, readyAge time.Duration, mlb mlbEndpoints, profiles bool) http.Handler {
	mux := http.NewServeMux()
	guard := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if token != "" {
				got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
					http.Error(w, "unauthorized", http.StatusUnauthorized)
					return
				}
			}
			next(w, r)
		}
	}
	mlb.register(mux, guard)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.Ready(readyAge) {
			http.Error(w, "no successful sync within "+readyAge.String(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", guard(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(d.Status())
	}))
	if profiles {
		// Opt-in: the command line (argv) and memory profiles are no one
		// else's business.
		mux.HandleFunc("/debug/pprof/", guard(pprof.Index))
		mux.HandleFunc("/debug/pprof/cmdline", guard(pprof.Cmdline))
		mux.HandleFunc("/debug/pprof/profile", guard(pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", guard(pprof.Symbol))
		mux.HandleFunc("/debug/pprof/trace", guard(pprof.Trace))
	}
	return mux
}
