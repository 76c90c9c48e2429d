// Package haproxytest starts a real HAProxy (master-worker, daemon) in a
// test's temporary directory and stops it, with every process it forked,
// when the test ends. It only runs what the caller's configuration binds:
// tests must bind 127.0.0.1 only. It never installs HAProxy: Require skips
// the test when the binary is missing (and fails it under CI).
package haproxytest

import (
	"bytes"
	"context"
	"fmt"
	"github.com/marathon-dataplane/marathon-dataplane/internal/stack"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultsName is the name of the defaults section in BaseConfig. Callers
// that need another name (the sync package's "marathon_defaults") replace
// "defaults "+DefaultsName in the returned text.
const DefaultsName = "base"

// Placeholders substituted by Start and WriteConfig.
const (
	PlaceholderDir          = "{{.Dir}}"
	PlaceholderSocket       = "{{.Socket}}"
	PlaceholderMasterSocket = "{{.MasterSocket}}"
	PlaceholderPidFile      = "{{.PidFile}}"
	PlaceholderStateFile    = "{{.StateFile}}"
)

const (
	startTimeout  = 5 * time.Second
	reloadTimeout = 10 * time.Second
	stopTimeout   = 5 * time.Second
	cliTimeout    = 2 * time.Second
	pollInterval  = 20 * time.Millisecond
	// maxSunPath keeps socket paths under the kernel's 108-byte sun_path.
	maxSunPath = 100
)

// HAProxy is one running HAProxy master and its workers.
type HAProxy struct {
	// Dir holds the configuration, the sockets, the pidfile and logs.
	Dir        string
	ConfigPath string
	// Socket is the admin stats socket of BaseConfig; MasterSocket is the
	// master CLI (-S).
	Socket, MasterSocket string
	PidFile              string
	// StateFile is the server-state-file of BaseConfig.
	StateFile string

	bin     string
	logPath string
}

// Binary finds haproxy: $HAPROXY_BIN, then PATH, then /usr/sbin/haproxy.
func Binary() (string, error) { return stack.FindHAProxy() }

// Require returns the haproxy binary. Without one the test is skipped with
// "SKIP: haproxy not found", except under CI (env CI non-empty), which
// installs HAProxy, where the test fails.
func Require(t testing.TB) string {
	t.Helper()
	b, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("haproxy is required under CI: %v", err)
		}
		t.Skip("SKIP: haproxy not found")
	}
	return b
}

// BaseConfig is a minimal valid configuration: a global section with the
// admin stats socket and the server-state file, and a named defaults
// section (DefaultsName) in http mode that loads that state file. Callers
// append their own proxies. The pidfile comes from the -p flag of Start:
// a "pidfile" line as well would make HAProxy print an ALERT ("'pidfile'
// already specified") on every start and reload.
func BaseConfig() string {
	return `global
    stats socket {{.Socket}} mode 600 level admin expose-fd listeners
    server-state-file {{.Dir}}/server-state

defaults ` + DefaultsName + `
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    load-server-state-from-file global
`
}

// Start writes cfg (placeholders: {{.Dir}} {{.Socket}} {{.MasterSocket}}
// {{.PidFile}} {{.StateFile}}) to a temporary directory, starts
// `haproxy -W -D -f haproxy.cfg -p haproxy.pid -S master.sock` and waits
// (up to 5 s) until the master CLI answers "show proc" and, when cfg has
// {{.Socket}}, the stats socket answers "show info". Cleanup stops every
// process it started.
func Start(t testing.TB, cfg string) *HAProxy {
	t.Helper()
	bin := Require(t)
	h := &HAProxy{bin: bin, Dir: shortTempDir(t)}
	h.ConfigPath = filepath.Join(h.Dir, "haproxy.cfg")
	h.Socket = filepath.Join(h.Dir, "haproxy.sock")
	h.MasterSocket = filepath.Join(h.Dir, "master.sock")
	h.PidFile = filepath.Join(h.Dir, "haproxy.pid")
	h.StateFile = filepath.Join(h.Dir, "server-state")
	h.logPath = filepath.Join(h.Dir, "haproxy-start.log")
	h.WriteConfig(t, cfg)

	logFile, err := os.Create(h.logPath)
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	defer logFile.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// A file, not a pipe, for the output: the daemonized master must not be
	// able to keep Run waiting on an inherited pipe.
	cmd := exec.CommandContext(ctx, bin, "-W", "-D", "-f", h.ConfigPath, "-p", h.PidFile, "-S", h.MasterSocket)
	cmd.Dir = h.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	runErr := cmd.Run()
	// Registered before any failure so that a half-started HAProxy is
	// stopped too.
	t.Cleanup(h.stop)
	if runErr != nil {
		t.Fatalf("haproxytest: start %s: %v\n%s", bin, runErr, h.startLog())
	}

	waitStats := strings.Contains(cfg, PlaceholderSocket)
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for {
		// The master CLI starts accepting a little after the worker's
		// stats socket: wait for both.
		_, _, lastErr = h.masterReloads()
		if lastErr == nil && waitStats {
			var out string
			out, lastErr = h.Command("show info")
			if lastErr == nil && !strings.Contains(out, "Name:") {
				lastErr = fmt.Errorf("unexpected show info answer %q", out)
			}
		}
		if lastErr == nil {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxytest: haproxy did not answer within %s: %v\n%s", startTimeout, lastErr, h.startLog())
		}
		time.Sleep(pollInterval)
	}
}

// shortTempDir is t.TempDir, or a shorter directory when socket paths in
// t.TempDir would not fit in sun_path.
func shortTempDir(t testing.TB) string {
	dir := t.TempDir()
	if len(filepath.Join(dir, "master.sock")) <= maxSunPath {
		return dir
	}
	dir, err := os.MkdirTemp("/tmp", "hap")
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// WriteConfig renders cfg (see Start for the placeholders) into ConfigPath.
// It does not reload: call Reload.
func (h *HAProxy) WriteConfig(t testing.TB, cfg string) {
	t.Helper()
	if err := os.WriteFile(h.ConfigPath, []byte(h.Render(cfg)), 0o600); err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
}

// Render substitutes the placeholders in cfg.
func (h *HAProxy) Render(cfg string) string {
	return strings.NewReplacer(
		PlaceholderDir, h.Dir,
		PlaceholderSocket, h.Socket,
		PlaceholderMasterSocket, h.MasterSocket,
		PlaceholderPidFile, h.PidFile,
		PlaceholderStateFile, h.StateFile,
	).Replace(cfg)
}

// MasterPID is the master's pid from the pidfile (0 when unreadable).
func (h *HAProxy) MasterPID() int {
	raw, err := os.ReadFile(h.PidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0
	}
	return pid
}

// Command sends one command to the stats socket and returns the answer.
func (h *HAProxy) Command(cmd string) (string, error) { return sendCLI(h.Socket, cmd) }

// MasterCommand sends one command to the master CLI and returns the answer.
func (h *HAProxy) MasterCommand(cmd string) (string, error) { return sendCLI(h.MasterSocket, cmd) }

func sendCLI(path, cmd string) (string, error) {
	c, err := net.DialTimeout("unix", path, cliTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(cliTimeout)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		return "", err
	}
	// The 2.6 master CLI answers and closes only once it reads EOF (as
	// `echo cmd | socat` sends it); the stats socket does not mind.
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(c); err != nil {
		return b.String(), err
	}
	return b.String(), nil
}

// Reload sends "reload" to the master CLI and waits until the master's
// reload counter ("show proc") moves. It fails the test when the master
// reports the reload as failed (the message includes `haproxy -c`, since
// the daemonized master's own output goes to /dev/null), and otherwise
// waits until the new worker answers on the stats socket.
func (h *HAProxy) Reload(t testing.TB) {
	t.Helper()
	before, err := h.retryReloads()
	if err != nil {
		t.Fatalf("haproxytest: reload: read master state: %v", err)
	}
	if err := h.retry(func() error { _, err := h.MasterCommand("reload"); return err }); err != nil {
		t.Fatalf("haproxytest: reload: %v", err)
	}
	deadline := time.Now().Add(reloadTimeout)
	for {
		// The master re-executes itself: its CLI refuses connections for
		// a moment, and a failing reload can block it for about 2 s.
		n, failed, err := h.masterReloads()
		if err == nil && n > before {
			if failed > 0 {
				t.Fatalf("haproxytest: haproxy master reports a failed reload (failed: %d)\n%s", failed, h.check())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxytest: reload not reported by the master within %s (last error: %v)", reloadTimeout, err)
		}
		time.Sleep(pollInterval)
	}
	if !strings.Contains(h.readConfig(), h.Socket) {
		return
	}
	for {
		if _, err := h.Command("show info"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxytest: stats socket did not answer after the reload")
		}
		time.Sleep(pollInterval)
	}
}

func (h *HAProxy) readConfig() string {
	b, _ := os.ReadFile(h.ConfigPath)
	return string(b)
}

func (h *HAProxy) retry(f func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pollInterval)
	}
}

func (h *HAProxy) retryReloads() (int, error) {
	var n int
	err := h.retry(func() error {
		var err error
		n, _, err = h.masterReloads()
		return err
	})
	return n, err
}

// masterReloads parses the master line of "show proc", on 2.6:
// "<pid> master <reloads> [failed: <n>] <uptime> <version>".
func (h *HAProxy) masterReloads() (reloads, failed int, err error) {
	out, err := h.MasterCommand("show proc")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != "master" {
			continue
		}
		reloads, err = strconv.Atoi(f[2])
		if err != nil {
			return 0, 0, fmt.Errorf("show proc: master line %q: %w", line, err)
		}
		failed, err = strconv.Atoi(strings.TrimSuffix(f[4], "]"))
		if err != nil {
			return 0, 0, fmt.Errorf("show proc: master line %q: %w", line, err)
		}
		return reloads, failed, nil
	}
	return 0, 0, fmt.Errorf("show proc: no master line in %q", out)
}

// workerPIDs lists current and old workers from "show proc".
func (h *HAProxy) workerPIDs() []int {
	out, err := h.MasterCommand("show proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != "worker" {
			continue
		}
		if pid, err := strconv.Atoi(f[0]); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (h *HAProxy) check() string {
	out, err := exec.Command(h.bin, "-c", "-f", h.ConfigPath).CombinedOutput()
	return fmt.Sprintf("haproxy -c -f %s (%v):\n%s", h.ConfigPath, err, out)
}

func (h *HAProxy) startLog() string {
	b, _ := os.ReadFile(h.logPath)
	return fmt.Sprintf("haproxy output (%s):\n%s", h.logPath, b)
}

// stop sends SIGTERM to the master (which stops its workers), waits, then
// SIGKILLs whatever is left of the master and the workers it reported.
func (h *HAProxy) stop() {
	master := h.MasterPID()
	if master <= 0 {
		return
	}
	pids := append([]int{master}, h.workerPIDs()...)
	_ = syscall.Kill(master, syscall.SIGTERM)
	if waitGone(pids, stopTimeout) {
		return
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitGone(pids, stopTimeout)
}

func waitGone(pids []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		alive := false
		for _, pid := range pids {
			if Alive(pid) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// Alive reports whether pid is a running process (a zombie waiting for its
// reaper counts as gone: the daemonized master is not our child).
func Alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no procfs: trust kill -0
	}
	// Format: "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// It picks below the kernel's ephemeral range: a port the kernel handed
// out (":0" listeners, outgoing connections of parallel tests) could be
// taken again before HAProxy binds it. It never returns the same port
// twice in one test binary.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := freePortRange()
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if !handOut(p) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("haproxytest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

func handOut(p int) bool {
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports[p] {
		return false
	}
	handedOut.ports[p] = true
	return true
}

// freePortRange is [lo, hi): up to 12,000 ports under the ephemeral range.
func freePortRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				hi = n
			}
		}
	}
	return max(1024, hi-12000), hi
}

// FreePortRange reserves n consecutive free ports (for a simulator's
// service ports) that FreePort will not hand out again, and returns the
// first and last.
func FreePortRange(t testing.TB, n int) (first, last int) {
	t.Helper()
	lo, hi := freePortRange()
	for range 200 {
		start := lo + rand.IntN(hi-lo-n)
		if reserveRange(start, n) {
			return start, start + n - 1
		}
	}
	t.Fatalf("haproxytest: no %d consecutive free ports", n)
	return 0, 0
}

func reserveRange(start, n int) bool {
	handedOut.Lock()
	defer handedOut.Unlock()
	for p := start; p < start+n; p++ {
		if handedOut.ports[p] {
			return false
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	for p := start; p < start+n; p++ {
		handedOut.ports[p] = true
	}
	return true
}
