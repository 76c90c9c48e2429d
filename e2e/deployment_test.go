package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

// composeFile is what this test reads of deployments/docker-compose.yml.
type composeFile struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// containerPaths are the paths the compose file's containers see; the
// test puts each under a temporary root, as the volumes would.
var containerPaths = []string{
	"/usr/local/etc/haproxy", "/var/run/haproxy", "/var/state/haproxy", "/var/lib/dataplaneapi",
	"/var/lib/marathon-dataplane", "/etc/dataplaneapi", "/usr/local/bin/reload-haproxy.sh", "/run/secrets",
}

// TestShippedDeployment runs deployments/docker-compose.yml's three
// services as processes, from the shipped files (haproxy.cfg,
// dataplaneapi.yaml, reload-haproxy.sh, dataplane-password) and the compose
// file's commands, environment and volumes. Only what the containers
// would provide is changed: their paths become directories under a
// temporary root, the image's binaries are this machine's, and host ports
// (80, 443, 5555, 8090, 9090, 9091) become free loopback ports. No image
// is built (no Docker daemon here): this checks that the files work
// together with HAProxy 2.6 and the Data Plane API v2.9: an app routed by
// port and by vhost, the :9090 stats listener and its forwarding to the
// daemon, scaling without a reload, and a new app's reload through the
// reload script with the runtime-added servers kept.
func TestShippedDeployment(t *testing.T) {
	requireDataplaneAPI(t)
	haproxyBin := haproxytest.Require(t)
	root := t.TempDir()
	raw, err := os.ReadFile("../deployments/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	stats, api, httpPort, httpsPort, appID := haproxytest.FreePort(t), haproxytest.FreePort(t), haproxytest.FreePort(t),
		haproxytest.FreePort(t), haproxytest.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", haproxytest.FreePort(t))
	// The compose file gives HAProxy 200,000 open files (ulimits); this
	// machine's limit may be lower, and HAProxy refuses a maxconn it cannot
	// back with two descriptors per connection.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	maxconn := fmt.Sprintf("    maxconn %d\n", min(50000, int(lim.Max)/2-200))
	rewrite := func(s string) string {
		for _, p := range containerPaths {
			s = strings.ReplaceAll(s, p, filepath.Join(root, p))
		}
		return strings.NewReplacer(
			"    maxconn 50000\n", maxconn,
			"*:9090", fmt.Sprintf("127.0.0.1:%d", stats),
			"127.0.0.1:8090", listen,
			"port: 5555", fmt.Sprintf("port: %d", api),
			"127.0.0.1:5555", fmt.Sprintf("127.0.0.1:%d", api),
			"/usr/local/sbin/haproxy", haproxyBin,
		).Replace(s)
	}
	// The volumes: files bind-mounted from deployments/, directories for
	// the named ones; the secrets under /run/secrets.
	place := func(src, dst string) {
		body, err := os.ReadFile(filepath.Join("../deployments", src))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(filepath.Join("../deployments", src))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(rewrite(string(body))), info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, svc := range compose.Services {
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Fatalf("volume %q", v)
			}
			if src, ok := strings.CutPrefix(parts[0], "./"); ok {
				place(src, rewrite(parts[1]))
			} else if err := os.MkdirAll(rewrite(parts[1]), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, s := range compose.Secrets {
		place(strings.TrimPrefix(s.File, "./"), filepath.Join(root, "/run/secrets", name))
	}

	start := func(name, bin string, args []string, env map[string]string) *strings.Builder {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+rewrite(v))
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
		return &out
	}
	args := func(service string) []string {
		var out []string
		for _, a := range compose.Services[service].Command[1:] {
			out = append(out, rewrite(a))
		}
		return out
	}

	// haproxy: the image's entrypoint adds -W -db to a command starting
	// with haproxy.
	if c := compose.Services["haproxy"].Command; len(c) == 0 || c[0] != "haproxy" {
		t.Fatalf("haproxy service command %q", c)
	}
	start("haproxy", haproxyBin, append([]string{"-W", "-db"}, args("haproxy")...), compose.Services["haproxy"].Environment)
	master := filepath.Join(root, "/var/run/haproxy/master.sock")
	waitUntil(t, "HAProxy's master socket", 10*time.Second, func() bool { _, err := os.Stat(master); return err == nil })

	// dataplaneapi-v2: this machine's Data Plane API v2.9.
	start("dataplaneapi", dpapi, args("dataplaneapi"), compose.Services["dataplaneapi"].Environment)
	dpURL := fmt.Sprintf("http://127.0.0.1:%d", api)
	dpGet := func(path string, out any) error {
		req, _ := http.NewRequest("GET", dpURL+"/v2"+path, nil)
		req.SetBasicAuth("admin", "adminpwd")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	waitUntil(t, "the Data Plane API", 20*time.Second, func() bool {
		var v int
		return dpGet("/services/haproxy/configuration/version", &v) == nil
	})

	first, last := haproxytest.FreePortRange(t, 20)
	sim := marathontest.Started(t, marathontest.Options{ServicePortMin: first, ServicePortMax: last})
	web := marathon.App{ID: "/web", Instances: 2, Labels: map[string]string{"HAPROXY_GROUP": "external",
		"HAPROXY_0_VHOST": "web.example.com", "HAPROXY_0_MODE": "http"},
		PortDefinitions: []marathon.PortDefinition{{Port: 0}}}
	if _, err := sim.CreateApp(web); err != nil {
		t.Fatal(err)
	}
	waitSim := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sim.WaitDeployments(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitSim()

	// marathon-dataplane: the compose command; MARATHON_URL as compose
	// sets it; the shared frontends on loopback instead of *:80/*:443/*:9091.
	env := map[string]string{"MARATHON_URL": sim.URL()}
	daemonArgs := append(compose.Services["marathon-dataplane"].Command, "--http-bind", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--https-bind", fmt.Sprintf("127.0.0.1:%d", httpsPort), "--appid-bind", fmt.Sprintf("127.0.0.1:%d", appID),
		"--bind-addr", "127.0.0.1")
	for i, a := range daemonArgs {
		daemonArgs[i] = rewrite(a)
	}
	start("marathon-dataplane", binary, daemonArgs, env)

	a, _ := sim.App("/web")
	port := a.PortDefinitions[0].Port
	// answering counts the tasks that answer n requests on port.
	answering := func(port, n int) int {
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			if code, body, err := get(port, "", "/"); err == nil && code == 200 {
				seen[taskOf(body)] = true
			}
		}
		return len(seen)
	}
	waitUntil(t, "/web's two tasks through its service port", 30*time.Second, func() bool { return answering(port, 12) == 2 })
	if got := tasksAnswering(t, httpPort, "web.example.com", "/", 6); len(got) != 2 {
		t.Fatalf("vhost web.example.com on marathon_http_in: %v", got)
	}
	// The base configuration's :9090 listener: HAProxy's own health page,
	// and marathon-lb's endpoints forwarded to the daemon.
	if code, _, err := get(stats, "", "/_haproxy_health_check"); err != nil || code != 200 {
		t.Fatalf(":9090 /_haproxy_health_check: %d %v", code, err)
	}
	waitUntil(t, ":9090 /_haproxy_getvhostmap through the daemon", 10*time.Second, func() bool {
		code, body, err := get(stats, "", "/_haproxy_getvhostmap")
		return err == nil && code == 200 && strings.Contains(body, "web.example.com")
	})

	// The API lists recent reloads by id (<date>-<counter>): the highest
	// counter and its status.
	reloads := func() (counter int, status string) {
		var list []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if err := dpGet("/services/haproxy/reloads", &list); err != nil {
			t.Fatal(err)
		}
		counter = -1
		for _, r := range list {
			if i := strings.LastIndex(r.ID, "-"); i >= 0 {
				if n, err := strconv.Atoi(r.ID[i+1:]); err == nil && n > counter {
					counter, status = n, r.Status
				}
			}
		}
		return counter, status
	}
	before, _ := reloads()
	if _, err := sim.ScaleApp("/web", 4, false); err != nil {
		t.Fatal(err)
	}
	waitSim()
	waitUntil(t, "/web's four tasks", 30*time.Second, func() bool { return answering(port, 24) == 4 })
	if after, _ := reloads(); after != before {
		t.Fatalf("scaling reloaded HAProxy: %d reloads before, %d after", before, after)
	}

	// A new app needs its frontend: a full commit, reloaded through
	// reload-haproxy.sh (socat to the master socket), which must report
	// success; the servers added at runtime are still there afterwards.
	api2 := marathon.App{ID: "/api", Instances: 1, Labels: map[string]string{"HAPROXY_GROUP": "external"},
		PortDefinitions: []marathon.PortDefinition{{Port: 0}}}
	if _, err := sim.CreateApp(api2); err != nil {
		t.Fatal(err)
	}
	waitSim()
	b, _ := sim.App("/api")
	waitUntil(t, "/api through its service port", 30*time.Second, func() bool {
		code, _, err := get(b.PortDefinitions[0].Port, "", "/")
		return err == nil && code == 200
	})
	if !eventually(20*time.Second, func() bool {
		n, status := reloads()
		return n > before && status != "in_progress"
	}) {
		var list any
		_ = dpGet("/services/haproxy/reloads", &list)
		t.Fatalf("no reload reported after %d: %v", before, list)
	}
	if n, status := reloads(); status != "succeeded" {
		t.Fatalf("reload %d through reload-haproxy.sh: %s", n, status)
	}
	if got := tasksAnswering(t, port, "", "/", 24); len(got) != 4 {
		t.Fatalf("after the reload /web answers from %d tasks, want 4: %v", len(got), got)
	}
}
