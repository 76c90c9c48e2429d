package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

// binary is the marathon-dataplane CLI built once by TestMain; dpapi is the
// Data Plane API binary ("" when absent).
var binary, dpapi string

func TestMain(m *testing.M) {
	dpapi = os.Getenv("DATAPLANEAPI")
	if dpapi == "" {
		dpapi, _ = exec.LookPath("dataplaneapi")
	}
	if dpapi == "" {
		fmt.Println("SKIP: dataplaneapi not found")
	}
	dir, err := os.MkdirTemp("", "mdp-e2e-")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "marathon-dataplane")
	build := exec.Command("go", "build", "-o", binary, "../cmd/marathon-dataplane")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is HAProxy + Data Plane API + Marathon simulator on loopback.
type stack struct {
	t                              *testing.T
	hap                            *haproxytest.HAProxy
	sim                            *marathontest.Server
	dpURL, passFile                string
	httpPort, appIDPort, statsPort int
}

func requireDataplaneAPI(t *testing.T) {
	t.Helper()
	if dpapi == "" {
		t.SkipNow() // TestMain printed the one SKIP line
	}
}

const stackConfig = `
userlist dataplaneapi
    user admin insecure-password adminpwd

frontend stats
    bind 127.0.0.1:{{.StatsPort}}
    mode http
    description operator stats page
    stats enable
    stats uri /haproxy?stats
    monitor-uri /_haproxy_health_check

backend operator_backend
    description not managed by marathon-dataplane
    server keep 127.0.0.1:9 disabled
`

func newStack(t *testing.T) *stack {
	t.Helper()
	requireDataplaneAPI(t)
	s := &stack{t: t, statsPort: haproxytest.FreePort(t), httpPort: haproxytest.FreePort(t), appIDPort: haproxytest.FreePort(t)}
	cfg := haproxytest.BaseConfig() +
		strings.ReplaceAll(stackConfig, "{{.StatsPort}}", strconv.Itoa(s.statsPort))
	s.hap = haproxytest.Start(t, cfg)

	dir := s.hap.Dir
	reload, err := os.ReadFile("../deployments/reload-haproxy.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "reload.sh")
	if err := os.WriteFile(script, reload, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"tx", "maps", "ssl", "storage", "spoe", "spoe-tx"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port := haproxytest.FreePort(t)
	yaml := fmt.Sprintf(`config_version: 2
name: e2e
dataplaneapi:
  host: 127.0.0.1
  port: %d
  user:
  - name: admin
    password: adminpwd
    insecure: true
  transaction:
    transaction_dir: %[2]s/tx
  resources:
    maps_dir: %[2]s/maps
    ssl_certs_dir: %[2]s/ssl
    general_storage_dir: %[2]s/storage
    spoe_dir: %[2]s/spoe
    spoe_transaction_dir: %[2]s/spoe-tx
haproxy:
  config_file: %[2]s/haproxy.cfg
  haproxy_bin: %[3]s
  reload:
    reload_delay: 1
    reload_cmd: %[4]s
    restart_cmd: %[4]s
    status_cmd: "true"
    reload_strategy: custom
log:
  log_to: stdout
  log_level: warning
`, port, dir, haproxytest.Require(t), script)
	yamlPath := filepath.Join(dir, "dataplaneapi.yaml")
	if err := os.WriteFile(yamlPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dpapi, "-f", yamlPath)
	cmd.Env = append(os.Environ(), "CI_DATAPLANE_RELOAD_DELAY_OVERRIDE=100",
		"MASTER_SOCKET="+s.hap.MasterSocket, "STATS_SOCKET="+s.hap.Socket, "STATE_FILE="+s.hap.StateFile)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dataplaneapi log:\n%s", logs.String())
		}
	})
	s.dpURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.passFile = filepath.Join(dir, "dpapi.pass")
	_ = os.WriteFile(s.passFile, []byte("adminpwd\n"), 0o600)
	waitUntil(t, "data plane api", 20*time.Second, func() bool {
		req, _ := http.NewRequest("GET", s.dpURL+"/v2/services/haproxy/configuration/version", nil)
		req.SetBasicAuth("admin", "adminpwd")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	base := 30000 + (os.Getpid()%200)*50
	s.sim = marathontest.New(marathontest.Options{ServicePortMin: base, ServicePortMax: base + 49})
	if err := s.sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.sim.Close() })
	return s
}

// cli runs marathon-dataplane with the stack's flags and returns its exit
// code and output.
func (s *stack) cli(args ...string) (int, string) {
	s.t.Helper()
	args = append(args, "--marathon", s.sim.URL(), "--group", "*",
		"--dataplane-url", s.dpURL, "--dataplane-password-file", s.passFile,
		"--http-bind", fmt.Sprintf("127.0.0.1:%d", s.httpPort), "--appid-bind", fmt.Sprintf("127.0.0.1:%d", s.appIDPort),
		"--bind-addr", "127.0.0.1", "--log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatalf("run cli: %v", err)
		}
		code = ee.ExitCode()
	}
	return code, string(out)
}

func (s *stack) mustSync() string {
	s.t.Helper()
	code, out := s.cli("sync")
	if code != 0 {
		s.t.Fatalf("sync exited %d:\n%s", code, out)
	}
	return out
}

// dp GETs a Data Plane API path and decodes JSON into out.
func (s *stack) dp(path string, out any) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.dpURL+"/v2"+path, nil)
	req.SetBasicAuth("admin", "adminpwd")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
}

// reloadCounter is the highest reload id counter the API reports; it moves
// with every reload the API performs.
func (s *stack) reloadCounter() int {
	s.t.Helper()
	var reloads []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	s.dp("/services/haproxy/reloads", &reloads)
	best := -1
	for _, r := range reloads {
		if i := strings.LastIndex(r.ID, "-"); i >= 0 {
			if n, err := strconv.Atoi(r.ID[i+1:]); err == nil && n > best {
				best = n
			}
		}
	}
	return best
}

func (s *stack) version() int {
	var v int
	s.dp("/services/haproxy/configuration/version", &v)
	return v
}

// get sends one HTTP request to 127.0.0.1:port with a Host header.
func get(port int, host, path string) (int, string, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if host != "" {
		req.Host = host
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// taskOf extracts the task id a simulated task answered with.
func taskOf(body string) string {
	for _, f := range strings.Fields(body) {
		if strings.HasPrefix(f, "task=") {
			return strings.TrimPrefix(f, "task=")
		}
	}
	return ""
}

// tasksAnswering sends n requests and returns the set of task ids that
// answered, failing on any non-200.
func tasksAnswering(t *testing.T, port int, host, path string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		code, body, err := get(port, host, path)
		if err != nil || code != 200 {
			t.Fatalf("request %d to :%d host %q path %s: %d %v %q", i, port, host, path, code, err, body)
		}
		seen[taskOf(body)]++
	}
	return seen
}

func tcpBanner(port int) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getWithHeader(port int, name, value string) (int, string, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	req.Header.Set(name, value)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
