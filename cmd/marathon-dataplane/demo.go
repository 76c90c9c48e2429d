package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/deployments"
	"github.com/marathon-dataplane/marathon-dataplane/internal/stack"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the main job end to end on loopback: simulated Marathon → marathon-dataplane → Data Plane API → HAProxy",
		Description: "Starts the Marathon simulator with deployments/demo-apps.json, a private HAProxy and\n" +
			"Data Plane API ($DATAPLANEAPI or PATH), syncs, sends requests through HAProxy, scales an\n" +
			"app and syncs again. Without a dataplaneapi binary it prints the plan the sync would apply.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep", Usage: "keep everything running after the demo until interrupted, to try it by hand"},
			&cli.StringFlag{Name: "log-level", EnvVars: []string{"LOG_LEVEL"}, Value: "warn"},
		},
		Action: runDemo,
	}
}

func runDemo(c *cli.Context) error {
	w := c.App.Writer
	log, err := newLogger(c.String("log-level"), "console", c.App.ErrWriter)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	ctx := c.Context
	var apps marathon.AppList
	if err := json.Unmarshal(deployments.DemoApps, &apps); err != nil {
		return cli.Exit(fmt.Sprintf("demo apps: %v", err), exitFailed)
	}

	sim := marathontest.New(marathontest.Options{Logger: log, TimeScale: 0.1})
	if err := sim.Start(); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer func() { _ = sim.Close() }()
	for _, a := range apps.Apps {
		if _, err := sim.CreateApp(a); err != nil {
			return cli.Exit(fmt.Sprintf("create %s: %v", a.ID, err), exitFailed)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sim.WaitDeployments(waitCtx); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	fmt.Fprintf(w, "== Marathon simulator at %s with %d apps\n", sim.URL(), len(apps.Apps))
	for _, a := range sim.Apps() {
		fmt.Fprintf(w, "   %-10s %d tasks, service port %d, labels %v\n", a.ID, len(a.Tasks), a.PortDefinitions[0].Port, a.Labels)
	}

	mc, err := marathon.New(marathon.Config{URLs: []string{sim.URL()}, Logger: log})
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	httpPort, _ := stack.FreePort()
	appIDPort, _ := stack.FreePort()
	cfg := sync.DefaultConfig()
	cfg.Groups = []string{"external"}
	cfg.HealthCheck = true
	cfg.HTTPBindAddr, cfg.HTTPPort = "127.0.0.1", httpPort
	cfg.AppIDBindAddr, cfg.AppIDPort = "127.0.0.1", appIDPort
	cfg.DefaultBindAddr = "127.0.0.1"

	dir, err := os.MkdirTemp("", "marathon-dataplane-demo-")
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer os.RemoveAll(dir)
	st, err := stack.Start(ctx, stack.Options{Dir: dir})
	if errors.Is(err, stack.ErrNoDataplaneAPI) {
		return demoWithoutAPI(ctx, w, mc, cfg)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("start haproxy and dataplaneapi: %v", err), exitFailed)
	}
	defer st.Close()
	fmt.Fprintf(w, "== HAProxy and Data Plane API running in %s (API %s)\n", dir, st.DataplaneURL)

	dc, err := dataplane.New(dataplane.Config{URL: st.DataplaneURL, User: st.User, Password: st.Password, Logger: log})
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	rt, err := runtimeapi.New(st.Socket, runtimeapi.WithLogger(log))
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	s := &sync.Syncer{Apps: mc, API: dc, Runtime: rt, Resolver: sync.NewDNSResolver(time.Minute, 100), Config: cfg, Log: log,
		DrainGrace: 2 * time.Second}
	reloads := func() int {
		l, err := dc.Reloads(ctx)
		if err != nil {
			return -1
		}
		return len(l)
	}

	step := func(title string) (sync.Result, error) {
		r, err := s.Sync(ctx)
		if err != nil {
			return r, err
		}
		fmt.Fprintf(w, "== %s: %s, reload %s\n", title, appliedSummary(r.Applied), orNone(r.Applied.ReloadID))
		return r, nil
	}
	if _, err := step("sync 1 (empty HAProxy)"); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	show := func() {
		for _, q := range []struct{ label, host, path string }{
			{"vhost web.demo.local /", "web.demo.local", "/"},
			{"vhost web.demo.local /api/orders", "web.demo.local", "/api/orders"},
		} {
			fmt.Fprintf(w, "   %-36s → %s\n", q.label, answeredBy(httpPort, q.host, q.path, 12))
		}
	}
	show()

	v0, _ := dc.Version(ctx)
	if _, err := step("sync 2 (nothing changed)"); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	if v1, _ := dc.Version(ctx); v1 == v0 {
		fmt.Fprintf(w, "   configuration version still %d: no write, no reload\n", v1)
	}

	if _, err := sim.ScaleApp("/demo/web", 4, false); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	waitCtx2, cancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel2()
	if err := sim.WaitDeployments(waitCtx2); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	fmt.Fprintln(w, "== scaled /demo/web from 2 to 4 tasks in Marathon")
	before := reloads()
	if _, err := step("sync 3"); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	show()
	fmt.Fprintf(w, "   HAProxy reloads through the Data Plane API: %d before, %d after (runtime API, no reload)\n", before, reloads())

	if c.Bool("keep") {
		fmt.Fprintf(w, "== running; try: curl -H 'Host: web.demo.local' http://127.0.0.1:%d/  (Ctrl-C to stop)\n", httpPort)
		<-ctx.Done()
	}
	fmt.Fprintln(w, "== demo done")
	return nil
}

// demoWithoutAPI shows the real translation when no Data Plane API binary
// is installed: the plan that a sync against an empty HAProxy would apply.
func demoWithoutAPI(ctx context.Context, w io.Writer, mc *marathon.Client, cfg sync.Config) error {
	fmt.Fprintln(w, "== dataplaneapi not found ($DATAPLANEAPI or PATH): HAProxy is not configured in this run;")
	fmt.Fprintln(w, "   showing the plan a sync would apply to an empty HAProxy instead")
	apps, err := mc.Apps(ctx)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	b := sync.BuildDesired(apps, cfg, sync.NewDNSResolver(time.Minute, 100), sync.Existing{})
	plan := sync.Diff(sync.NewState(), b.State)
	for _, s := range plan.Steps {
		fmt.Fprintln(w, "   "+s.String())
	}
	fmt.Fprintf(w, "== %d steps; %d backends, %d servers; %d apps rejected\n", len(plan.Steps), len(b.State.Backends), b.State.ServerCount(), len(b.Rejected))
	return nil
}

// answeredBy sends n requests and summarises which tasks answered.
func answeredBy(port int, host, path string, n int) string {
	seen := map[string]int{}
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			seen["error"]++
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			seen[fmt.Sprintf("HTTP %d", resp.StatusCode)]++
			continue
		}
		fields := strings.Fields(string(body))
		key := "?"
		if len(fields) >= 2 {
			key = fields[0] + " " + shortTask(fields[1])
		}
		seen[key]++
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, seen[k])
	}
	return strings.Join(parts, ", ")
}

func shortTask(f string) string {
	if i := strings.LastIndex(f, "."); i >= 0 && len(f) > i+9 {
		return "task …" + f[i+1:i+9]
	}
	return f
}
