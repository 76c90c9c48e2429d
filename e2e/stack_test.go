package e2e

import (
	"bufio"
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
	"github.com/marathon-dataplane/marathon-dataplane/internal/stack"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

// binary is the marathon-dataplane CLI built once by TestMain; dpapi is the
// Data Plane API binary ("" when absent).
var binary, dpapi string

func TestMain(m *testing.M) {
	dpapi, _ = stack.FindDataplaneAPI()
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

// env is HAProxy + Data Plane API + Marathon simulator on loopback.
type env struct {
	t                              *testing.T
	hap                            *stack.Stack
	sim                            *marathontest.Server
	dpURL, passFile                string
	httpPort, appIDPort, statsPort int
	// httpsPort is marathon_https_in's; certDir holds its generated
	// self-signed certificate.
	httpsPort int
	certDir   string
	// simPorts is the simulator's service port range.
	simPorts [2]int
}

func requireDataplaneAPI(t *testing.T) {
	t.Helper()
	if dpapi == "" {
		t.SkipNow() // TestMain printed the one SKIP line
	}
}

// operatorConfig is an object the tool must never touch.
const operatorConfig = `
backend operator_backend
    description not managed by marathon-dataplane
    server keep 127.0.0.1:9 disabled
`

func newStack(t *testing.T) *env {
	t.Helper()
	requireDataplaneAPI(t)
	haproxytest.Require(t)
	st, err := stack.Start(context.Background(), stack.Options{Dir: t.TempDir(), DataplaneAPIBin: dpapi, ExtraConfig: operatorConfig})
	if err != nil {
		t.Fatal(err)
	}
	s := &env{t: t, hap: st, dpURL: st.DataplaneURL, passFile: st.PasswordFile, statsPort: st.StatsPort,
		httpPort: haproxytest.FreePort(t), appIDPort: haproxytest.FreePort(t), httpsPort: haproxytest.FreePort(t), certDir: t.TempDir()}
	t.Cleanup(func() {
		st.Close()
		if t.Failed() {
			t.Logf("dataplaneapi log:\n%s", st.DataplaneAPILog())
		}
	})
	first, last := haproxytest.FreePortRange(t, 50)
	s.simPorts = [2]int{first, last}
	s.sim = marathontest.Started(t, marathontest.Options{ServicePortMin: first, ServicePortMax: last})
	return s
}

// cli runs marathon-dataplane with the stack's flags and returns its exit
// code and output.
func (s *env) cli(args ...string) (int, string) {
	s.t.Helper()
	args = append(args, "--marathon", s.sim.URL(), "--group", "*",
		"--dataplane-url", s.dpURL, "--dataplane-password-file", s.passFile,
		"--http-bind", fmt.Sprintf("127.0.0.1:%d", s.httpPort), "--appid-bind", fmt.Sprintf("127.0.0.1:%d", s.appIDPort),
		"--https-bind", fmt.Sprintf("127.0.0.1:%d", s.httpsPort), "--ssl-cert-dir", s.certDir,
		"--bind-addr", "127.0.0.1", "--log-level", "warn", "--haproxy-socket", s.hap.Socket)
	return run(s.t, 60*time.Second, args...)
}

// run runs the CLI with args, bounded by limit, and returns its exit code
// and output.
func run(t testing.TB, limit time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %s: %v", args[0], err)
		}
		code = ee.ExitCode()
	}
	return code, string(out)
}

func (s *env) mustSync() string {
	s.t.Helper()
	code, out := s.cli("sync")
	if code != 0 {
		s.t.Fatalf("sync exited %d:\n%s", code, out)
	}
	return out
}

// dp GETs a Data Plane API path and decodes JSON into out.
func (s *env) dp(path string, out any) {
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
func (s *env) reloadCounter() int {
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

func (s *env) version() int {
	var v int
	s.dp("/services/haproxy/configuration/version", &v)
	return v
}

// get sends one HTTP request to 127.0.0.1:port with a Host header.
func get(port int, host, path string) (int, string, error) {
	return request(port, path, func(r *http.Request) { r.Host = host })
}

// getWithHeader sends one request to / with one extra header.
func getWithHeader(port int, name, value string) (int, string, error) {
	return request(port, "/", func(r *http.Request) { r.Header.Set(name, value) })
}

func request(port int, path string, prepare func(*http.Request)) (int, string, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	prepare(req)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// slowRequests sends n requests for /slow?ms=ms to host on port at once,
// and returns a check that each was answered 200 (it waits for them).
func slowRequests(port int, host string, ms, n int) func(t *testing.T, what string) {
	type result struct {
		code int
		err  error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			code, _, err := get(port, host, fmt.Sprintf("/slow?ms=%d", ms))
			results <- result{code, err}
		}()
	}
	return func(t *testing.T, what string) {
		t.Helper()
		for i := 0; i < n; i++ {
			if r := <-results; r.err != nil || r.code != 200 {
				t.Errorf("%s: %d %v", what, r.code, r.err)
			}
		}
	}
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
	if !eventually(d, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually polls cond every 20ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
