// Package haproxytest starts a real HAProxy (master-worker, daemon) in a
// test's temporary directory, bound to loopback only, and stops it when the
// test ends. Tests that need HAProxy call Require first.
package haproxytest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// HAProxy is a running HAProxy.
type HAProxy struct {
	Dir, ConfigPath, Socket, MasterSocket, PidFile, StateFile string
}

// Binary finds haproxy: $HAPROXY_BIN, PATH, then /usr/sbin/haproxy.
func Binary() (string, error) {
	if b := os.Getenv("HAPROXY_BIN"); b != "" {
		return b, nil
	}
	if b, err := exec.LookPath("haproxy"); err == nil {
		return b, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", fmt.Errorf("haproxy not found (install it: scripts/install-deps.sh)")
}

// Require returns the haproxy binary. Without one the test is skipped, but
// under CI (where .ci/run installs it) the test fails instead.
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

// BaseConfig is a minimal config: global with the admin stats socket and a
// server-state file, and the named defaults section the Data Plane API
// needs. Callers append proxies. Placeholders: {{.Socket}}
// {{.StateFile}} {{.Dir}}.
func BaseConfig() string {
	return `global
    stats socket {{.Socket}} mode 600 level admin expose-fd listeners
    server-state-file {{.StateFile}}

defaults marathon_defaults
    mode http
    load-server-state-from-file global
    timeout connect 2s
    timeout client 30s
    timeout server 30s
`
}

// Start writes cfg (a template, see BaseConfig) and starts HAProxy.
func Start(t testing.TB, cfg string) *HAProxy {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	h := &HAProxy{
		Dir: dir, ConfigPath: filepath.Join(dir, "haproxy.cfg"), Socket: filepath.Join(dir, "haproxy.sock"),
		MasterSocket: filepath.Join(dir, "master.sock"), PidFile: filepath.Join(dir, "haproxy.pid"),
		StateFile: filepath.Join(dir, "server-state"),
	}
	h.WriteConfig(t, cfg)
	cmd := exec.Command(bin, "-W", "-D", "-f", h.ConfigPath, "-p", h.PidFile, "-S", h.MasterSocket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("start haproxy: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { h.stop() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := h.Command("show info"); err == nil {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy stats socket did not answer\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WriteConfig renders cfg into the config file.
func (h *HAProxy) WriteConfig(t testing.TB, cfg string) {
	t.Helper()
	tpl, err := template.New("cfg").Parse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, h); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.ConfigPath, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// MasterPID reads the pidfile.
func (h *HAProxy) MasterPID() int {
	raw, err := os.ReadFile(h.PidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid
}

// Command sends one command on the stats socket.
func (h *HAProxy) Command(cmd string) (string, error) { return sendSocket(h.Socket, cmd) }

// MasterCommand sends one command on the master CLI.
func (h *HAProxy) MasterCommand(cmd string) (string, error) { return sendSocket(h.MasterSocket, cmd) }

func sendSocket(path, cmd string) (string, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		return "", err
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(c)
	return b.String(), err
}

// Reload asks the master to reload and waits until it reports success.
func (h *HAProxy) Reload(t testing.TB) {
	t.Helper()
	before := h.reloads()
	if _, err := h.MasterCommand("reload"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n := h.reloads(); n > before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("haproxy master did not report the reload")
}

func (h *HAProxy) reloads() int {
	out, err := h.MasterCommand("show proc")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "master" {
			n, _ := strconv.Atoi(f[2])
			return n
		}
	}
	return -1
}

func (h *HAProxy) stop() {
	pid := h.MasterPID()
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// FreePort returns a currently free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
