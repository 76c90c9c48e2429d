package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	mdsync "github.com/marathon-dataplane/marathon-dataplane/sync"
)

// loadGen sends requests through HAProxy from a few workers until stopped
// or until max requests were sent; loopback only, bounded in count.
type loadGen struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	failures     []string
	stop         chan struct{}
	stopOnce     sync.Once
	wg           sync.WaitGroup
	onFail       func()
}

func startLoad(port int, host string, workers int, max int64) *loadGen {
	g := &loadGen{stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for {
				select {
				case <-g.stop:
					return
				default:
				}
				if g.sent.Add(1) > max {
					return
				}
				code, body, err := get(port, host, "/")
				if err != nil || code != 200 {
					g.failed.Add(1)
					g.mu.Lock()
					if len(g.failures) < 10 {
						g.failures = append(g.failures, fmt.Sprintf("%d %v %q", code, err, body))
						if g.onFail != nil && len(g.failures) == 1 {
							g.onFail()
						}
					}
					g.mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return g
}

func (g *loadGen) Stop() {
	g.stopOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
}

// daemon starts the daemon against the stack, through marathon-lb's `sse`
// entry point (the same command as `daemon --sse`), and waits until it is
// ready.
func (s *env) daemon(t *testing.T, extra ...string) (string, *os.Process) {
	t.Helper()
	listen, proc := s.startDaemon(t, s.sim.URL(), s.dpURL, extra...)
	waitUntil(t, "daemon ready", 20*time.Second, func() bool {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return listen, proc
}

// startDaemon starts the daemon with the stack's flags, Marathon at
// marathonURLs (comma-separated) and the Data Plane API at dpURL; later
// flags in extra override earlier ones. It does not wait.
func (s *env) startDaemon(t *testing.T, marathonURLs, dpURL string, extra ...string) (string, *os.Process) {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", haproxytest.FreePort(t))
	args := append([]string{"sse", "--listen", listen, "--marathon", marathonURLs, "--group", "*",
		"--dataplane-url", dpURL, "--dataplane-password-file", s.passFile,
		"--http-bind", fmt.Sprintf("127.0.0.1:%d", s.httpPort), "--appid-bind", fmt.Sprintf("127.0.0.1:%d", s.appIDPort),
		"--https-bind", fmt.Sprintf("127.0.0.1:%d", s.httpsPort), "--ssl-cert-dir", s.certDir,
		"--bind-addr", "127.0.0.1", "--haproxy-socket", s.hap.Socket, "--log-level", "info",
		"--coalesce-window", "20ms", "--coalesce-max-delay", "200ms", "--reconcile-interval", "300ms"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("daemon output:\n%s", out.String())
		}
	})
	return listen, cmd.Process
}

type daemonStatus struct {
	Syncs      int    `json:"syncs"`
	LastError  string `json:"last_error"`
	LastReason string `json:"last_reason"`
}

func status(t *testing.T, listen string) daemonStatus {
	t.Helper()
	resp, err := http.Get("http://" + listen + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st daemonStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// routable waits until exactly want's tasks answer through HAProxy.
func routable(t *testing.T, s *env, host string, want map[string]bool) {
	t.Helper()
	var seen map[string]bool
	ok := eventually(20*time.Second, func() bool {
		seen = map[string]bool{}
		for i := 0; i < 6*len(want)+10; i++ {
			_, body, err := get(s.httpPort, host, "/")
			if err == nil {
				seen[taskOf(body)] = true
			}
		}
		return maps.Equal(seen, want)
	})
	if !ok {
		out, _ := exec.Command("sh", "-c", "echo 'show stat' | socat - unix-connect:"+s.hap.Socket+" | cut -d, -f1,2,18,19,20,37").CombinedOutput()
		t.Fatalf("timed out waiting for %d tasks routable: want %v, answered %v; HAProxy:\n%s", len(want), want, seen, out)
	}
}

// TestDaemonChurnWithoutReloads is issue 3's whole-stack scenario: task
// churn under load, through the Runtime API, with no HAProxy reload and no
// failed request.
func TestDaemonChurnWithoutReloads(t *testing.T) {
	s := newStack(t)
	zero := 0
	grace := 100 // 1 s at the simulator's TimeScale
	app := marathon.App{ID: "/churn", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}}, TaskKillGracePeriod: &grace,
		Labels: map[string]string{"HAPROXY_0_VHOST": "churn.example.com"},
		// The simulator scales Marathon's durations (a 150 ms timeout here:
		// shorter ones fail on a busy CI machine, and a task failing its
		// check rightly leaves the backend); HAProxy does not (inter 1s).
		HealthChecks: []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: &zero, IntervalSeconds: 1,
			TimeoutSeconds: 15, MaxConsecutiveFailures: 1000, GracePeriodSeconds: 1}}}
	deploy(t, s, app)
	listen, proc := s.daemon(t, "--health-check")
	routable(t, s, "churn.example.com", taskIDs(s, "/churn"))

	reloads := s.reloadCounter()
	load := startLoad(s.httpPort, "churn.example.com", 4, 20000)
	phase := atomic.Value{}
	phase.Store("start")
	load.onFail = func() {
		out, _ := exec.Command("sh", "-c", "echo 'show stat' | socat - unix-connect:"+s.hap.Socket+" | cut -d, -f1,2,18,19,20 | grep churn").CombinedOutput()
		t.Logf("first failure during %v:\n%s", phase.Load(), out)
	}

	for _, n := range []int{20, 3} {
		phase.Store(fmt.Sprintf("scale to %d", n))
		if _, err := s.sim.ScaleApp("/churn", n, false); err != nil {
			t.Fatal(err)
		}
		waitDeployments(t, s)
		routable(t, s, "churn.example.com", taskIDs(s, "/churn"))
	}
	t.Run("killed tasks are replaced", func(t *testing.T) {
		for id := range taskIDs(s, "/churn") {
			if err := s.sim.KillTask(id, false); err != nil {
				t.Fatal(err)
			}
			break
		}
		waitDeployments(t, s)
		waitUntil(t, "replacement running", 10*time.Second, func() bool { return len(taskIDs(s, "/churn")) == 3 })
		routable(t, s, "churn.example.com", taskIDs(s, "/churn"))
	})
	var sick string
	t.Run("an unhealthy task leaves the backend", func(t *testing.T) {
		for id := range taskIDs(s, "/churn") {
			sick = id
			break
		}
		if err := s.sim.SetTaskHealthy(sick, false); err != nil {
			t.Fatal(err)
		}
		want := taskIDs(s, "/churn")
		delete(want, sick)
		routable(t, s, "churn.example.com", want)
	})
	t.Run("runtime changes survive a reload", func(t *testing.T) {
		want := taskIDs(s, "/churn")
		delete(want, sick) // excluded by --health-check
		reloadsBefore := s.reloadCounter()
		if err := s.hap.Reload(); err != nil {
			t.Fatal(err)
		}
		routable(t, s, "churn.example.com", want)
		// An operator's reload is not ours: the counter of reloads done
		// through the Data Plane API must not move either.
		if s.reloadCounter() != reloadsBefore {
			t.Fatalf("reload counter moved %d→%d", reloadsBefore, s.reloadCounter())
		}
	})
	// The sick task recovers: three servers again, so that the operator's
	// two changes below still leave one serving.
	if err := s.sim.SetTaskHealthy(sick, true); err != nil {
		t.Fatal(err)
	}
	routable(t, s, "churn.example.com", taskIDs(s, "/churn"))
	t.Run("out-of-band changes on the socket are repaired", func(t *testing.T) {
		rt, err := runtimeapi.New(s.hap.Socket)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		backend := fmt.Sprintf("churn_%d", servicePort(t, s, "/churn"))
		// Two servers the daemon wants (running, healthy tasks).
		var wanted []string
		app, _ := s.sim.App("/churn")
		for _, task := range app.Tasks {
			if task.State == marathon.TaskRunning {
				wanted = append(wanted, mdsync.ServerName(task.Host, task.Host, task.Ports[0]))
			}
		}
		if len(wanted) < 2 {
			t.Fatalf("wanted servers %v", wanted)
		}
		disabled, deleted := wanted[0], wanted[1]
		if err := rt.SetServerState(ctx, backend, disabled, "maint"); err != nil {
			t.Fatal(err)
		}
		// As an operator would: maint, then delete once in-flight requests
		// are done (HAProxy refuses while the server has sessions; the daemon
		// may put it back in service meanwhile).
		waitUntil(t, "out-of-band delete", 5*time.Second, func() bool {
			err := rt.RemoveServer(ctx, backend, deleted)
			if err != nil && !errors.Is(err, runtimeapi.ErrServerHasConnections) && !errors.Is(err, runtimeapi.ErrServerNotInMaint) {
				t.Fatal(err)
			}
			return err == nil
		})
		waitUntil(t, "both repaired", 10*time.Second, func() bool {
			a, errA := rt.ServerState(ctx, backend, disabled)
			_, errB := rt.ServerState(ctx, backend, deleted)
			return errA == nil && !a.InMaint() && errB == nil
		})
	})
	t.Run("requests in flight on removed tasks complete", func(t *testing.T) {
		slow := slowRequests(s.httpPort, "churn.example.com", 600, 6)
		time.Sleep(100 * time.Millisecond) // the requests are in flight
		if _, err := s.sim.ScaleApp("/churn", 1, true); err != nil {
			t.Fatal(err)
		}
		slow(t, "in-flight request")
		waitDeployments(t, s)
	})
	t.Run("SIGHUP resyncs and SIGUSR1 re-pushes", func(t *testing.T) {
		for sig, reason := range map[os.Signal]string{syscall.SIGHUP: "SIGHUP", syscall.SIGUSR1: "SIGUSR1"} {
			before := status(t, listen).Syncs
			if err := proc.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, reason+" pass", 10*time.Second, func() bool {
				st := status(t, listen)
				return st.Syncs > before && strings.Contains(st.LastReason, reason)
			})
		}
	})
	load.Stop()

	// The daemon wrote its runtime changes into haproxy.cfg in the
	// background: once they landed, a fresh plan (which reads the file
	// through the API) has nothing to do.
	waitUntil(t, "runtime changes written to haproxy.cfg", 20*time.Second, func() bool {
		_, out := s.cli("plan")
		return strings.Contains(out, "No changes")
	})

	sent, failed := load.sent.Load(), load.failed.Load()
	t.Logf("load: %d requests, %d failed; reloads %d→%d; daemon syncs %d", sent, failed, reloads, s.reloadCounter(), status(t, listen).Syncs)
	if s.reloadCounter() != reloads {
		t.Errorf("task churn reloaded HAProxy: reload counter %d→%d", reloads, s.reloadCounter())
	}
	if failed != 0 {
		load.mu.Lock()
		defer load.mu.Unlock()
		t.Errorf("%d of %d requests failed, e.g.:\n%s", failed, sent, strings.Join(load.failures, "\n"))
	}
}
