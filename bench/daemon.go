package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/internal/stack"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

// measureDaemon runs the daemon as users run it (`sse`, its own process)
// against the simulator, whose tasks are real loopback servers, and
// measures what the in-process table cannot: from the moment Marathon
// reports a task running (a killed task's replacement, a scale-up) until
// HAProxy runs it as a server, through the event stream, the coalescing
// window, the app copy and the socket; the daemon's CPU per event and its
// resident memory; and requests failed under a bounded load meanwhile.
// Each task is a real listener, unless that would take more than half
// the open files this process may have (10,000 apps × 5 tasks): then only
// the apps the events and the load touch have listeners, and the others'
// tasks are reported running on ports nothing listens on
// (marathontest.EnvNoListeners), which HAProxy does not check.
func measureDaemon(n, events int, window time.Duration) error {
	dir, err := os.MkdirTemp("", "mdp-bench-daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	binary := filepath.Join(dir, "marathon-dataplane")
	if out, err := exec.Command("go", "build", "-o", binary, "./cmd/marathon-dataplane").CombinedOutput(); err != nil {
		return fmt.Errorf("build the daemon: %w\n%s", err, out)
	}
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer st.Close()
	ports, err := freePorts(n + 2)
	if err != nil {
		return err
	}
	sim := marathontest.New(marathontest.Options{ServicePortMin: ports[0], ServicePortMax: ports[n] + 1})
	if err := sim.Start(); err != nil {
		return err
	}
	defer func() { _ = sim.Close() }()
	touched := map[int]bool{n - 1: true} // the loaded app
	for i := 0; i < events; i++ {
		touched[(i*7)%(n-1)] = true
	}
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	quiet := uint64(n*5) > lim.Cur/2
	for i := 0; i < n; i++ {
		app := marathon.App{ID: fmt.Sprintf("/bench/app%d", i), Instances: 5,
			PortDefinitions: []marathon.PortDefinition{{Port: ports[i]}}}
		if quiet && !touched[i] {
			app.Env = map[string]any{marathontest.EnvNoListeners: "true"}
		}
		if _, err := sim.CreateApp(app); err != nil {
			return fmt.Errorf("create %s: %w", app.ID, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = sim.WaitDeployments(wctx)
	cancel()
	if err != nil {
		return err
	}

	listen := fmt.Sprintf("127.0.0.1:%d", ports[n+1])
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(dctx, binary, "sse", "--marathon", sim.URL(), "--group", "*", "--listen", listen,
		"--dataplane-url", st.DataplaneURL, "--dataplane-password-file", st.PasswordFile, "--haproxy-socket", st.Socket,
		"--dont-bind-http-https", "--appid-bind", "127.0.0.1:"+strconv.Itoa(ports[n]), "--bind-addr", "127.0.0.1",
		"--coalesce-window", window.String(), "--coalesce-max-delay", (10 * window).String(), "--log-level", "warn", "--debug-pprof")
	cmd.Args = append(cmd.Args, strings.Fields(daemonArgs)...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = os.Environ()
	if memLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+memLimit)
	}
	if gcPercent != "" {
		cmd.Env = append(cmd.Env, "GOGC="+gcPercent)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	rt, err := runtimeapi.New(st.Socket)
	if err != nil {
		return err
	}
	if err := waitAll(ctx, rt, n*5, 10*time.Minute); err != nil {
		return fmt.Errorf("initial sync: %w\n%s", err, logs.String())
	}
	initial := time.Since(start)

	// A bounded load on one app the events never touch.
	var sent, failed atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go func() {
		for loadCtx.Err() == nil && sent.Load() < 200_000 {
			sent.Add(1)
			if !tcpAnswers("127.0.0.1:" + strconv.Itoa(ports[n-1])) {
				failed.Add(1)
			}
		}
	}()

	profiled := make(chan error, 1)
	if daemonCPUProfile != "" {
		go func() {
			profiled <- download("http://"+listen+"/debug/pprof/profile?seconds=30", daemonCPUProfile)
		}()
	} else {
		profiled <- nil
	}
	// The poller's own first look at a backend learns every backend's id
	// (tens of ms at 10,000): not the daemon's latency, so done here.
	if _, err := rt.ShowStat(ctx, labels.BackendName(fmt.Sprintf("/bench/app%d", n-1), ports[n-1])); err != nil {
		return fmt.Errorf("warm the poller: %w", err)
	}
	metrics := "http://" + listen + "/metrics"
	fast0 := metricValue(metrics, `marathon_dataplane_event_to_applied_seconds_bucket{le="0.1"}`)
	all0 := metricValue(metrics, "marathon_dataplane_event_to_applied_seconds_count")
	cpu0 := procCPU(cmd.Process.Pid)
	// Resident memory is sampled through the events: the value at the
	// end depends on when the collector last ran.
	var rssMax atomic.Int64
	go func() {
		for loadCtx.Err() == nil {
			if r := int64(procRSS(cmd.Process.Pid)); r > rssMax.Load() {
				rssMax.Store(r)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var lat []time.Duration
	for i := 0; i < events; i++ {
		id := fmt.Sprintf("/bench/app%d", (i*7)%(n-1))
		before, _ := sim.App(id)
		known := map[string]bool{}
		for _, t := range before.Tasks {
			known[t.ID] = true
		}
		if i%2 == 0 {
			if err := sim.KillTask(before.Tasks[0].ID, false); err != nil {
				return err
			}
		} else if _, err := sim.ScaleApp(id, before.Instances+1, false); err != nil {
			return err
		}
		// Marathon reports the new task running...
		var addr string
		var running time.Time
		for addr == "" {
			a, _ := sim.App(id)
			for _, t := range a.Tasks {
				if !known[t.ID] && t.State == marathon.TaskRunning && len(t.Ports) > 0 {
					addr, running = "127.0.0.1:"+strconv.Itoa(t.Ports[0]), time.Now()
				}
			}
			time.Sleep(time.Millisecond)
		}
		// ...and HAProxy runs it.
		at, err := waitServer(ctx, rt, labels.BackendName(id, before.PortDefinitions[0].Port), addr, time.Minute)
		if err != nil {
			return fmt.Errorf("event %d: %w\n%s", i, err, logs.String())
		}
		lat = append(lat, at.Sub(running))
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		_ = sim.WaitDeployments(wctx)
		cancel()
	}
	cpu := procCPU(cmd.Process.Pid) - cpu0
	if err := <-profiled; err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	rss := procRSS(cmd.Process.Pid)
	stopLoad()
	peak := procStatusMB(cmd.Process.Pid, "VmHWM:")
	heap := metricMB(metrics, "go_memstats_heap_inuse_bytes")
	slow := (metricValue(metrics, "marathon_dataplane_event_to_applied_seconds_count") - all0) -
		(metricValue(metrics, `marathon_dataplane_event_to_applied_seconds_bucket{le="0.1"}`) - fast0)
	if heapProfile != "" {
		if err := download("http://"+listen+"/debug/pprof/heap?gc=1", heapProfile); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	// The daemon's own view: bursts whose first event took over 100 ms to
	// be applied (its histogram), against the events measured here.
	note := fmt.Sprintf(", %.0f of the daemon's bursts over 100 ms", slow)
	if memLimit != "" {
		note += ", GOMEMLIMIT=" + memLimit
	}
	if gcPercent != "" {
		note += ", GOGC=" + gcPercent
	}
	if daemonArgs != "" {
		note += ", " + daemonArgs
	}
	if quiet {
		note += fmt.Sprintf(", %d apps' tasks without listeners", n-len(touched))
	}
	fmt.Printf("%-7d %-14s %7d %10s %10s %10s %8s  initial sync %s, cpu/event %s, rss %d MB at the end (heap in use %d MB), %d MB at most during the events, %d MB peak (initial sync included), window %s, load %d requests %d failed%s\n",
		n, "daemon (sse)", events, round(pct(lat, 50)), round(pct(lat, 99)), round(lat[len(lat)-1]), "-",
		round(initial), round(cpu/time.Duration(events)), rss, heap, max(rssMax.Load(), int64(rss)), peak, window, sent.Load(), failed.Load(), note)
	return nil
}

// waitServer polls backend in HAProxy until a server at addr is up, and
// returns when. (Only that backend: a whole `show stat` at 1,000 backends
// would load HAProxy and this process more than what is measured.)
func waitServer(ctx context.Context, rt *runtimeapi.Client, backend, addr string, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		rows, err := rt.ShowStat(ctx, backend)
		if err == nil {
			for _, r := range rows {
				if r.Type == runtimeapi.StatTypeServer && r.Addr == addr && (r.Up() || strings.HasPrefix(r.Status, "no check")) {
					return time.Now(), nil
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no server %s in HAProxy backend %s after %s", addr, backend, limit)
}

// waitAll polls until HAProxy has at least n servers.
func waitAll(ctx context.Context, rt *runtimeapi.Client, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		rows, err := rt.ShowStat(ctx, "")
		if err == nil {
			count := 0
			for _, r := range rows {
				if r.Type == runtimeapi.StatTypeServer {
					count++
				}
			}
			if count >= n {
				return nil
			}
		}
		// A whole `show stat` at 50,000 servers is a load of its own.
		time.Sleep(50*time.Millisecond + time.Duration(n)*20*time.Microsecond)
	}
	return fmt.Errorf("fewer than %d servers after %s", n, limit)
}

// procCPU is a process's user+system CPU time (/proc/<pid>/stat).
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond // USER_HZ = 100
}

// procRSS is a process's resident memory in MB.
func procRSS(pid int) int { return procStatusMB(pid, "VmRSS:") }

// procStatusMB is a kB field of a process's /proc status in MB.
func procStatusMB(pid int, field string) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

// tcpAnswers sends one HTTP request through HAProxy to addr.
func tcpAnswers(addr string) bool {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// metricMB reads one gauge in bytes from a Prometheus text page, in MB
// (-1 when absent).
func metricMB(url, name string) int {
	v := metricValue(url, name)
	if v < 0 {
		return -1
	}
	return int(v / (1 << 20))
}

// metricValue reads one sample (name with its labels, as written) from a
// Prometheus text page (-1 when absent).
func metricValue(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// download saves url's body to path.
func download(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
