// Command bench measures what users pick marathon-dataplane for: how fast
// task churn becomes routable, and how many reloads it costs, side by side
// for three strategies in one run against a real HAProxy and a real Data
// Plane API on loopback:
//
//   - runtime: ours; server churn through the Runtime API, persisted
//     without a reload;
//   - transaction: one Data Plane API transaction per event (a reload);
//   - full-commit: the whole configuration replaced and reloaded per
//     event, what marathon-lb does.
//
// It prints a table; it asserts nothing (timings are never test criteria).
package main

import (
	"go.uber.org/zap"

	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/internal/stack"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

func main() {
	sizes := flag.String("apps", "100,1000", "app counts to measure (5 tasks each; empty: only the daemon scenario)")
	events := flag.Int("events", 30, "task events per strategy and size")
	initialBudget := flag.Duration("initial-budget", 4*time.Minute, "skip a size whose initial sync takes longer")
	only := flag.String("strategies", "runtime,runtime-inline,transaction,full-commit", "strategies to measure, comma-separated")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured events to this file")
	flag.IntVar(&heavyEvents, "heavy-events", 5, "events for the reloading strategies from 5,000 apps on")
	daemonApps := flag.Int("daemon-apps", 1000, "apps of the daemon scenario (the daemon process, the simulator's event stream; 0: skip)")
	flag.StringVar(&daemonCPUProfile, "daemon-cpu-profile", "", "save a 30 s CPU profile of the daemon from the start of its events to this file")
	flag.StringVar(&daemonArgs, "daemon-args", "", "more flags for the daemon process, space-separated")
	flag.StringVar(&memLimit, "daemon-gomemlimit", "", "GOMEMLIMIT for the daemon process (e.g. 140MiB; default: Go's, none)")
	flag.StringVar(&gcPercent, "daemon-gogc", "", "GOGC for the daemon process (e.g. 50; default: Go's, 100)")
	flag.StringVar(&heapProfile, "daemon-heap-profile", "", "save the daemon's heap profile (after a GC) at the end of its scenario to this file")
	window := flag.Duration("daemon-window", 10*time.Millisecond, "the daemon's --coalesce-window in that scenario")
	flag.Parse()
	profile = *cpuProfile

	if _, err := stack.FindDataplaneAPI(); err != nil {
		fmt.Println("SKIP: dataplaneapi not found")
		return
	}
	fmt.Printf("%-7s %-14s %7s %10s %10s %10s %8s\n", "apps", "strategy", "events", "p50", "p99", "max", "reloads")
	for _, f := range strings.FieldsFunc(*sizes, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "-apps %q: %v\n", f, err)
			os.Exit(1)
		}
		if err := measure(n, *events, *initialBudget, strings.Split(*only, ",")); err != nil {
			fmt.Printf("%-7d error: %v\n", n, err)
		}
	}
	if *daemonApps > 0 {
		if err := measureDaemon(*daemonApps, *events, *window); err != nil {
			fmt.Printf("%-7d daemon error: %v\n", *daemonApps, err)
		}
	}
}

// profile is -cpuprofile (the events only, not the initial sync);
// heavyEvents is -heavy-events.
var (
	profile          string
	heavyEvents      int
	heapProfile      string
	memLimit         string
	gcPercent        string
	daemonArgs       string
	daemonCPUProfile string
)

// apps is a Marathon stand-in the benchmark mutates directly, so that the
// measured time starts at the event, not at a simulated deployment.
type apps struct{ list []marathon.App }

func (a *apps) Apps(context.Context) ([]marathon.App, error) { return a.list, nil }

func (a *apps) App(_ context.Context, id string) (marathon.App, error) {
	for _, app := range a.list {
		if app.ID == id {
			return app, nil
		}
	}
	return marathon.App{}, &marathon.APIError{Status: 404, Message: "App '" + id + "' does not exist"}
}

func measure(n, events int, budget time.Duration, only []string) error {
	dir, err := os.MkdirTemp("", "mdp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer st.Close()
	dc, err := dataplane.New(dataplane.Config{URL: st.DataplaneURL, User: st.User, Password: st.Password, ReloadTimeout: 5 * time.Minute})
	if err != nil {
		return err
	}
	rt, err := runtimeapi.New(st.Socket)
	if err != nil {
		return err
	}
	// n+1 free ports at once: the apps' service ports and :9091's.
	src, appIDPort, err := synthetic(n)
	if err != nil {
		return err
	}
	cfg := sync.DefaultConfig()
	cfg.Groups = []string{"*"}
	cfg.BindHTTP = false
	cfg.AppIDBindAddr, cfg.DefaultBindAddr, cfg.AppIDPort = "127.0.0.1", "127.0.0.1", appIDPort
	newSyncer := func(runtime bool) *sync.Syncer {
		s := &sync.Syncer{Apps: src, API: dc, Resolver: sync.NewDNSResolver(time.Minute, 10), Config: cfg}
		if runtime {
			s.Runtime = rt
		}
		return s
	}

	start := time.Now()
	initCtx, cancel := context.WithTimeout(ctx, budget)
	first := newSyncer(false)
	r, err := first.Sync(initCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("initial sync of %d apps (budget %s): %w", n, budget, err)
	}
	for app, errs := range r.Build.Rejected {
		fmt.Fprintf(os.Stderr, "rejected %s: %v\n", app, errs)
	}
	fmt.Printf("%-7d %-14s %7s %10s  (%d backends, %d servers, one rendered commit)\n", n, "initial", "1",
		round(time.Since(start)), n, 5*n)

	type strategy struct {
		name   string
		syncer *sync.Syncer
		apply  func(context.Context) (time.Duration, error)
	}
	rs, ri, ts, fs := newSyncer(true), newSyncer(true), newSyncer(false), newSyncer(false)
	var whole *sync.State // what full-commit wrote last
	last := first         // the syncer that wrote last
	resolver := sync.NewDNSResolver(time.Minute, 10)
	// The daemon's way: the file is written in the background, the newest
	// state at a time, while events go on.
	rs.DeferPersist = true
	// ... and keeps Marathon's apps from the event stream (sync.AppCache):
	// the task's status update is applied to its copy, which names the
	// one app it changed.
	appCache := sync.NewAppCache(src)
	rs.Apps = appCache
	var event marathon.Event // the last churn's status update
	strategies := []strategy{
		{"runtime", rs, func(ctx context.Context) (time.Duration, error) {
			t0 := time.Now()
			appCache.Observe(event)
			_, err := rs.Sync(ctx)
			return time.Since(t0), err
		}},
		{"runtime-inline", ri, func(ctx context.Context) (time.Duration, error) {
			t0 := time.Now()
			r, err := ri.Sync(ctx)
			// Routable once the socket commands ran; the file is written
			// before Sync returns (a one-shot sync), not counted.
			return time.Since(t0) - r.Applied.Persist, err
		}},
		{"transaction", ts, func(ctx context.Context) (time.Duration, error) {
			t0 := time.Now()
			_, err := ts.Sync(ctx)
			return time.Since(t0), err
		}},
		{"full-commit", fs, func(ctx context.Context) (time.Duration, error) {
			// marathon-lb: regenerate everything from Marathon's apps,
			// write the whole file, reload.
			t0 := time.Now()
			desired := sync.BuildDesired(src.list, cfg, resolver, sync.Existing{}).State
			_, err := sync.CommitWhole(ctx, dc, whole, desired, zap.NewNop())
			whole = desired
			return time.Since(t0), err
		}},
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, s := range strategies {
		if !slices.Contains(only, s.name) {
			continue
		}
		// Each strategy starts from what the last one left (reading
		// every object again costs minutes at 10,000 apps) and makes a
		// no-op pass, so the table shows steady-state event cost.
		s.syncer.Adopt(last.Known())
		// Only the measured syncer's memory stays (rss): the others' caches
		// and states go.
		last, first, r = s.syncer, nil, sync.Result{}
		warm, err := s.syncer.Sync(ctx)
		if err != nil {
			return fmt.Errorf("%s: warm-up: %w", s.name, err)
		}
		if s.name == "full-commit" {
			whole = warm.Current
		}
		// The first runtime changes after the initial sync's reload wait
		// for the new HAProxy process to settle (once, 0.1-0.2 s at
		// 10,000 apps): two events, reported apart, not in the table.
		var warmup []string
		if strings.HasPrefix(s.name, "runtime") {
			for k := 0; k < 2; k++ {
				event = churn(src, 2*events+k)
				d, err := s.apply(ctx)
				if err != nil {
					return fmt.Errorf("%s: warm-up event: %w", s.name, err)
				}
				warmup = append(warmup, round(d))
			}
		}
		before, err := reloadCount(ctx, dc)
		if err != nil {
			return err
		}
		count := events
		if n >= 5000 && (s.name == "transaction" || s.name == "full-commit") {
			// Each costs a reload of the whole configuration (tens of
			// seconds at 10,000 apps): a few are enough to compare.
			count = min(events, heavyEvents)
		}
		var lat []time.Duration
		cpu0, wall0 := cpuTime(), time.Now()
		for i := 0; i < count; i++ {
			event = churn(src, i)
			d, err := s.apply(ctx)
			if err != nil {
				return fmt.Errorf("%s event %d: %w", s.name, i, err)
			}
			lat = append(lat, d)
		}
		cpu, wall := cpuTime()-cpu0, time.Since(wall0)
		note := fmt.Sprintf("  cpu/event %s, %.1f events/s back to back", round(cpu/time.Duration(count)), float64(count)/wall.Seconds())
		if warmup != nil {
			note += fmt.Sprintf(", first events after the reload %s", strings.Join(warmup, " and "))
		}
		if s.name == "runtime" {
			t0 := time.Now()
			if err := rs.Flush(ctx); err != nil {
				return fmt.Errorf("runtime: background write: %w", err)
			}
			flushed := time.Since(t0)
			// A no-op pass takes up the versions its writes produced.
			if _, err := rs.Sync(ctx); err != nil {
				return fmt.Errorf("runtime: after the background writes: %w", err)
			}
			note += fmt.Sprintf(", %d background writes (the last landed %s after the last event), rss %d MB", rs.BackgroundWrites(), round(flushed), rssMB())
		}
		after, err := reloadCount(ctx, dc)
		if err != nil {
			return err
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("%-7d %-14s %7d %10s %10s %10s %8d%s\n", n, s.name, count,
			round(pct(lat, 50)), round(pct(lat, 99)), round(lat[len(lat)-1]), after-before, note)
	}
	return nil
}

// churn alternates adding a task to one app and removing it again, and
// returns Marathon's status update for it.
func churn(src *apps, i int) marathon.Event {
	a := &src.list[(i/2*7)%len(src.list)]
	var t marathon.Task
	if i%2 == 0 {
		t = marathon.Task{ID: fmt.Sprintf("%s.extra%d", a.ID, i), AppID: a.ID, Host: "127.0.0.1",
			Ports: []int{40000 + i}, State: marathon.TaskRunning}
		a.Tasks = append(slices.Clone(a.Tasks), t)
	} else {
		t = a.Tasks[len(a.Tasks)-1]
		t.State = marathon.TaskKilled
		a.Tasks = slices.Clone(a.Tasks[:len(a.Tasks)-1])
	}
	raw, err := json.Marshal(marathon.StatusUpdateEvent{EventType: marathon.EventStatusUpdate, AppID: t.AppID, TaskID: t.ID,
		TaskStatus: t.State, Host: t.Host, Ports: t.Ports})
	if err != nil {
		panic(err)
	}
	return marathon.Event{Type: marathon.EventStatusUpdate, Data: raw}
}

// synthetic builds n tcp apps with 5 tasks each on free loopback ports,
// and returns one more free port.
func synthetic(n int) (*apps, int, error) {
	ports, err := freePorts(n + 1)
	if err != nil {
		return nil, 0, err
	}
	src := &apps{}
	for i := 0; i < n; i++ {
		a := marathon.App{ID: fmt.Sprintf("/bench/app%d", i), Instances: 5, Version: "2026-11-25T00:00:00.000Z",
			PortDefinitions: []marathon.PortDefinition{{Port: ports[i]}}}
		for t := 0; t < 5; t++ {
			a.Tasks = append(a.Tasks, marathon.Task{ID: fmt.Sprintf("app%d.%d", i, t), Host: "127.0.0.1",
				Ports: []int{20000 + (i*5+t)%10000}, State: marathon.TaskRunning})
		}
		src.list = append(src.list, a)
	}
	return src, ports[n], nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	// Below the kernel's ephemeral range (32768 on): a port handed out
	// there can be taken by any outgoing connection before HAProxy binds
	// it, and at 10,000 ports that happens.
	var out []int
	for p := 12000; len(out) < n; p++ {
		if p >= 32768 {
			return nil, fmt.Errorf("only %d free ports below 32768, want %d", len(out), n)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		out = append(out, p)
	}
	return out, nil
}

// reloadCount is the Data Plane API's reload id counter.
func reloadCount(ctx context.Context, dc *dataplane.Client) (int, error) {
	rs, err := dc.Reloads(ctx)
	if err != nil {
		return 0, err
	}
	best := 0
	for _, r := range rs {
		if i := strings.LastIndex(r.ID, "-"); i >= 0 {
			if n, err := strconv.Atoi(r.ID[i+1:]); err == nil && n+1 > best {
				best = n + 1
			}
		}
	}
	return best, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(10 * time.Millisecond).String()
}

// cpuTime is this process's user+system CPU time: the syncer's work (the
// Data Plane API and HAProxy are other processes).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMB is this process's resident memory after a GC that returns freed
// memory to the system: the app list as a daemon holds it, the cached
// builds and the state.
func rssMB() int {
	// What is live, not what the runtime keeps around for the next GC.
	debug.FreeOSMemory()
	return procRSS(os.Getpid())
}
