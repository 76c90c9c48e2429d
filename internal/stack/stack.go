// Package stack starts a real HAProxy and a real Data Plane API on loopback
// in a private directory: what `marathon-dataplane demo` and the
// whole-stack tests run against. It never builds anything; the Data Plane
// API binary comes from $DATAPLANEAPI or PATH.
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/deployments"
)

// ErrNoDataplaneAPI means no Data Plane API binary was found.
var ErrNoDataplaneAPI = errors.New("dataplaneapi not found (set $DATAPLANEAPI or put it on PATH)")

// Options configure Start. Zero ports are chosen free.
type Options struct {
	Dir                         string
	HAProxyBin, DataplaneAPIBin string
	StatsPort, DataplaneAPIPort int
	User, Password              string
	// ExtraConfig is appended to the base haproxy.cfg (operator objects).
	ExtraConfig string
}

// Stack is a running HAProxy + Data Plane API.
type Stack struct {
	Dir, ConfigPath, Socket, MasterSocket, PidFile, StateFile string
	DataplaneURL, User, Password, PasswordFile                string
	StatsPort                                                 int

	dp                        *exec.Cmd
	dpLog                     *syncBuffer
	dpYAML, dpBin, haproxyBin string
	closed                    sync.Once
}

// FindDataplaneAPI returns $DATAPLANEAPI or the dataplaneapi on PATH.
func FindDataplaneAPI() (string, error) {
	if b := os.Getenv("DATAPLANEAPI"); b != "" {
		if _, err := exec.LookPath(b); err != nil {
			return "", fmt.Errorf("$DATAPLANEAPI=%s: %w", b, ErrNoDataplaneAPI)
		}
		return b, nil
	}
	if b, err := exec.LookPath("dataplaneapi"); err == nil {
		return b, nil
	}
	return "", ErrNoDataplaneAPI
}

// FindHAProxy returns $HAPROXY_BIN, the haproxy on PATH or /usr/sbin/haproxy.
func FindHAProxy() (string, error) {
	if b := os.Getenv("HAPROXY_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("HAPROXY_BIN=%s: %w", b, err)
		}
		return b, nil
	}
	if b, err := exec.LookPath("haproxy"); err == nil {
		return b, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("haproxy not found ($HAPROXY_BIN, PATH, /usr/sbin/haproxy); install it with scripts/install-deps.sh")
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const baseConfig = `global
    stats socket %[1]s/haproxy.sock mode 600 level admin expose-fd listeners
    server-state-file %[1]s/server-state

defaults marathon_defaults
    mode http
    load-server-state-from-file global
    # marathon-lb's defaults: a connection refused by a task that just
    # died is retried on another server instead of failing the request.
    retries 3
    option redispatch 1
    timeout connect 2s
    timeout client 30s
    timeout server 30s

userlist dataplaneapi
    user %[3]s insecure-password %[4]s

frontend stats
    bind 127.0.0.1:%[2]d
    mode http
    description operator stats page, not managed by marathon-dataplane
    stats enable
    stats uri /haproxy?stats
    monitor-uri /_haproxy_health_check
`

// Start writes the configs and starts HAProxy, then the Data Plane API, and
// waits until both answer.
func Start(ctx context.Context, o Options) (*Stack, error) {
	var err error
	if o.HAProxyBin == "" {
		if o.HAProxyBin, err = FindHAProxy(); err != nil {
			return nil, err
		}
	}
	if o.DataplaneAPIBin == "" {
		if o.DataplaneAPIBin, err = FindDataplaneAPI(); err != nil {
			return nil, err
		}
	}
	if o.User == "" {
		o.User, o.Password = "admin", "adminpwd"
	}
	for _, p := range []*int{&o.StatsPort, &o.DataplaneAPIPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	s := &Stack{
		Dir: o.Dir, ConfigPath: filepath.Join(o.Dir, "haproxy.cfg"), Socket: filepath.Join(o.Dir, "haproxy.sock"),
		MasterSocket: filepath.Join(o.Dir, "master.sock"), PidFile: filepath.Join(o.Dir, "haproxy.pid"),
		StateFile: filepath.Join(o.Dir, "server-state"), User: o.User, Password: o.Password,
		PasswordFile: filepath.Join(o.Dir, "dataplaneapi.password"), StatsPort: o.StatsPort,
		DataplaneURL: fmt.Sprintf("http://127.0.0.1:%d", o.DataplaneAPIPort), dpLog: &syncBuffer{},
	}
	cfg := fmt.Sprintf(baseConfig, o.Dir, o.StatsPort, o.User, o.Password) + o.ExtraConfig
	files := map[string][]byte{
		s.ConfigPath:   []byte(cfg),
		s.PasswordFile: []byte(o.Password + "\n"),
		filepath.Join(o.Dir, "reload-haproxy.sh"): deployments.ReloadScript,
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o700); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"tx", "maps", "ssl", "storage", "spoe", "spoe-tx"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	out, err := exec.CommandContext(ctx, o.HAProxyBin, "-W", "-D", "-f", s.ConfigPath, "-p", s.PidFile, "-S", s.MasterSocket).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("start haproxy: %w\n%s", err, out)
	}
	if err := waitFor(ctx, 5*time.Second, func() bool { return dialOK("unix", s.Socket) }); err != nil {
		s.Close()
		return nil, fmt.Errorf("haproxy stats socket: %w", err)
	}

	yaml := fmt.Sprintf(`config_version: 2
name: marathon-dataplane
dataplaneapi:
  host: 127.0.0.1
  port: %d
  user:
  - name: %s
    password: %s
    insecure: true
  transaction:
    transaction_dir: %[4]s/tx
  resources:
    maps_dir: %[4]s/maps
    ssl_certs_dir: %[4]s/ssl
    general_storage_dir: %[4]s/storage
    spoe_dir: %[4]s/spoe
    spoe_transaction_dir: %[4]s/spoe-tx
haproxy:
  config_file: %[4]s/haproxy.cfg
  haproxy_bin: %[5]s
  reload:
    reload_delay: 1
    reload_cmd: %[4]s/reload-haproxy.sh
    restart_cmd: %[4]s/reload-haproxy.sh
    status_cmd: "true"
    reload_strategy: custom
log:
  log_to: stdout
  log_level: warning
`, o.DataplaneAPIPort, o.User, o.Password, o.Dir, o.HAProxyBin)
	s.dpYAML, s.dpBin, s.haproxyBin = filepath.Join(o.Dir, "dataplaneapi.yaml"), o.DataplaneAPIBin, o.HAProxyBin
	if err := os.WriteFile(s.dpYAML, []byte(yaml), 0o600); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.StartDataplaneAPI(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// StartDataplaneAPI starts the Data Plane API (again) and waits until it
// answers.
func (s *Stack) StartDataplaneAPI(ctx context.Context) error {
	s.dp = exec.Command(s.dpBin, "-f", s.dpYAML)
	// The reload script reads its sockets from the environment the API
	// passes on; 100 ms reload ticks keep demos and tests quick.
	s.dp.Env = append(os.Environ(), "CI_DATAPLANE_RELOAD_DELAY_OVERRIDE=100",
		"MASTER_SOCKET="+s.MasterSocket, "STATS_SOCKET="+s.Socket, "STATE_FILE="+s.StateFile)
	s.dp.Stdout, s.dp.Stderr = s.dpLog, s.dpLog
	if err := s.dp.Start(); err != nil {
		return fmt.Errorf("start dataplaneapi: %w", err)
	}
	err := waitFor(ctx, 20*time.Second, func() bool {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.DataplaneURL+"/v2/services/haproxy/configuration/version", nil)
		req.SetBasicAuth(s.User, s.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("dataplaneapi did not answer: %w\n%s", err, s.DataplaneAPILog())
	}
	return nil
}

// StopDataplaneAPI stops the Data Plane API (HAProxy goes on serving).
func (s *Stack) StopDataplaneAPI() {
	if s.dp != nil && s.dp.Process != nil {
		_ = s.dp.Process.Kill()
		_ = s.dp.Wait()
		s.dp = nil
	}
}

// RestartHAProxy stops HAProxy (master and workers: every runtime change
// is gone) and starts it again from haproxy.cfg.
func (s *Stack) RestartHAProxy(ctx context.Context) error {
	s.stopHAProxy()
	out, err := exec.CommandContext(ctx, s.haproxyBin, "-W", "-D", "-f", s.ConfigPath, "-p", s.PidFile, "-S", s.MasterSocket).CombinedOutput()
	if err != nil {
		return fmt.Errorf("start haproxy: %w\n%s", err, out)
	}
	return waitFor(ctx, 5*time.Second, func() bool { return dialOK("unix", s.Socket) })
}

func (s *Stack) stopHAProxy() {
	raw, err := os.ReadFile(s.PidFile)
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// Reload asks the HAProxy master to reload (as an operator would) and waits
// until the master reports the outcome.
func (s *Stack) Reload() error {
	cmd := exec.Command("sh", filepath.Join(s.Dir, "reload-haproxy.sh"))
	cmd.Env = append(os.Environ(), "MASTER_SOCKET="+s.MasterSocket, "STATS_SOCKET="+s.Socket, "STATE_FILE="+s.StateFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("reload haproxy: %w: %s", err, out)
	}
	return nil
}

// DataplaneAPILog returns what the Data Plane API printed.
func (s *Stack) DataplaneAPILog() string { return s.dpLog.String() }

// Close stops the Data Plane API and HAProxy.
func (s *Stack) Close() {
	s.closed.Do(func() {
		s.StopDataplaneAPI()
		s.stopHAProxy()
	})
}

func dialOK(network, addr string) bool {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
