package haproxytest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records Fatal and Skip (ending the goroutine like the real ones)
// and delegates everything else to the real test.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msg     string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Skip(args ...any) {
	f.mu.Lock()
	f.skipped, f.msg = true, fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn with f in its own goroutine, so that Goexit ends only fn.
func (f *fakeTB) run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
}

func backend(t *testing.T, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func proxyConfig(port int, target string) string {
	return BaseConfig() + fmt.Sprintf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be

backend be
    balance roundrobin
    server s1 %s
`, port, target)
}

func get(t *testing.T, port int) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("GET through haproxy: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func workerPID(t *testing.T, h *HAProxy) int {
	t.Helper()
	out, err := h.Command("show info")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	t.Fatalf("no Pid in show info: %q", out)
	return 0
}

func TestBinaryVersion(t *testing.T) {
	bin := Require(t)
	out, err := exec.Command(bin, "-v").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HAProxy version") {
		t.Fatalf("haproxy -v: %v %s", err, out)
	}
}

func TestStartServesAndCleanupLeavesNoProcess(t *testing.T) {
	Require(t)
	var pids []int
	var pidFile string
	t.Run("running", func(t *testing.T) {
		port := FreePort(t)
		h := Start(t, proxyConfig(port, backend(t, "one").Listener.Addr().String()))
		if got := get(t, port); got != "200 one" {
			t.Fatalf("through haproxy: %q", got)
		}
		pidFile = h.PidFile
		master := h.MasterPID()
		if !Alive(master) {
			t.Fatalf("master pid %d from %s is not alive", master, h.PidFile)
		}
		pids = append([]int{master}, h.workerPIDs()...)
		if len(pids) < 2 {
			t.Fatalf("show proc lists no worker: %v", pids)
		}
	})
	if len(pids) == 0 {
		t.Fatal("subtest did not start haproxy")
	}
	for _, pid := range pids {
		if Alive(pid) {
			t.Errorf("haproxy process %d still alive after cleanup (pidfile %s)", pid, pidFile)
		}
	}
}

func TestReloadKeepsServing(t *testing.T) {
	port := FreePort(t)
	one, two := backend(t, "one"), backend(t, "two")
	h := Start(t, proxyConfig(port, one.Listener.Addr().String()))
	if got := get(t, port); got != "200 one" {
		t.Fatalf("before reload: %q", got)
	}
	before := workerPID(t, h)

	// Requests keep succeeding while the master reloads.
	stop := make(chan struct{})
	errs := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; i < 500; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			if err != nil {
				errs <- err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- resp.Status
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	h.WriteConfig(t, proxyConfig(port, two.Listener.Addr().String()))
	h.Reload(t)
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatalf("request failed during reload: %s", e)
	default:
	}
	if got := get(t, port); got != "200 two" {
		t.Fatalf("after reload: %q", got)
	}
	if after := workerPID(t, h); after == before {
		t.Fatalf("worker pid unchanged (%d) after reload", after)
	}
}

func TestReloadFailureFailsTheTest(t *testing.T) {
	port := FreePort(t)
	h := Start(t, proxyConfig(port, backend(t, "one").Listener.Addr().String()))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// Valid for `haproxy -c`, but the new worker cannot bind.
	h.WriteConfig(t, proxyConfig(port, backend(t, "one").Listener.Addr().String())+
		fmt.Sprintf("\nfrontend busy\n    bind %s\n", busy.Addr()))
	f := &fakeTB{TB: t}
	f.run(h.Reload)
	if !f.failed || !strings.Contains(f.msg, "failed reload") {
		t.Fatalf("Reload with a busy port: failed=%v msg=%q", f.failed, f.msg)
	}
	// The old worker keeps serving.
	if got := get(t, port); got != "200 one" {
		t.Fatalf("after the failed reload: %q", got)
	}
}

func TestRequire(t *testing.T) {
	t.Setenv("HAPROXY_BIN", "/nonexistent/haproxy")
	t.Setenv("CI", "")
	f := &fakeTB{TB: t}
	f.run(func(tb testing.TB) { Require(tb) })
	if !f.skipped || f.msg != "SKIP: haproxy not found" {
		t.Fatalf("without CI: skipped=%v msg=%q", f.skipped, f.msg)
	}
	t.Setenv("CI", "true")
	f = &fakeTB{TB: t}
	f.run(func(tb testing.TB) { Require(tb) })
	if !f.failed || f.skipped {
		t.Fatalf("under CI: failed=%v skipped=%v msg=%q", f.failed, f.skipped, f.msg)
	}
}

func TestStartReportsHAProxyErrors(t *testing.T) {
	Require(t)
	f := &fakeTB{TB: t}
	f.run(func(tb testing.TB) { Start(tb, BaseConfig()+"\nfrontend broken\n    bogus_keyword 1\n") })
	if !f.failed || !strings.Contains(f.msg, "bogus_keyword") {
		t.Fatalf("Start with a broken config: failed=%v msg=%q", f.failed, f.msg)
	}
}

func TestRender(t *testing.T) {
	h := &HAProxy{Dir: "/d", Socket: "/d/s.sock", MasterSocket: "/d/m.sock", PidFile: "/d/p", StateFile: "/d/st"}
	got := h.Render("{{.Dir}} {{.Socket}} {{.MasterSocket}} {{.PidFile}} {{.StateFile}} {{.Other}}")
	if want := "/d /d/s.sock /d/m.sock /d/p /d/st {{.Other}}"; got != want {
		t.Fatalf("Render = %q, want %q", got, want)
	}
}
