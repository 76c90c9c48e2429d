package sync

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeResolver maps srvN.example.com to 10.0.0.N and fails for .invalid.
type fakeResolver struct{}

func (fakeResolver) LookupHost(host string) (string, error) {
	if strings.HasSuffix(host, ".invalid") {
		return "", errors.New("no such host")
	}
	var n int
	if _, err := fmt.Sscanf(host, "srv%d.example.com", &n); err == nil {
		return fmt.Sprintf("10.0.0.%d", n), nil
	}
	return host, nil
}

type fixture struct {
	HealthCheck bool           `json:"health_check"`
	Apps        []marathon.App `json:"apps"`
}

// buildGolden is what a golden file holds: the desired objects, the
// rejected apps with their reasons, and the warnings.
type buildGolden struct {
	State    *State              `json:"state"`
	Rejected map[string][]string `json:"rejected,omitempty"`
	Warnings []string            `json:"warnings,omitempty"`
	Services []ServiceInfo       `json:"services"`
	Skipped  []SkippedService    `json:"not_exposed,omitempty"`
}

func loadFixture(t *testing.T, name string) fixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Groups = []string{"external"}
	return cfg
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sync -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (run go test ./sync -update and review the diff):\n%s", path, got)
	}
}

func TestBuildDesiredGolden(t *testing.T) {
	for _, name := range []string{"host_tcp", "vhosts", "networking", "rejected", "health"} {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			cfg := testConfig()
			cfg.HealthCheck = f.HealthCheck
			b := BuildDesired(f.Apps, cfg, fakeResolver{}, Existing{ForeignPorts: map[int]string{9090: "stats"}})
			g := buildGolden{State: b.State, Warnings: b.Warnings, Services: b.ServicesWithServers(), Skipped: b.Skipped, Rejected: map[string][]string{}}
			for app, errs := range b.Rejected {
				for _, e := range errs {
					g.Rejected[app] = append(g.Rejected[app], e.Error())
				}
			}
			sort.Strings(g.Warnings)
			out, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", name+".golden"), append(out, '\n'))
		})
	}
}

func TestBuildDesiredIsDeterministic(t *testing.T) {
	f := loadFixture(t, "vhosts")
	a := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{})
	// Marathon's order must not matter.
	for i, j := 0, len(f.Apps)-1; i < j; i, j = i+1, j-1 {
		f.Apps[i], f.Apps[j] = f.Apps[j], f.Apps[i]
	}
	b := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{})
	ja, _ := json.Marshal(a.State)
	jb, _ := json.Marshal(b.State)
	if string(ja) != string(jb) {
		t.Fatalf("order-dependent output:\n%s\n%s", ja, jb)
	}
}

func TestGroupsAndStrictMode(t *testing.T) {
	f := loadFixture(t, "host_tcp")
	tests := []struct {
		groups   []string
		strict   bool
		backends []string
	}{
		{[]string{"external"}, false, []string{"grp_db_10010"}},
		{[]string{"internal"}, false, []string{"internal-only_10011"}},
		{[]string{"*"}, false, []string{"grp_db_10010", "internal-only_10011"}},
		{[]string{"external", "internal"}, false, []string{"grp_db_10010", "internal-only_10011"}},
		{[]string{"external,internal"}, false, nil}, // not split, as in marathon-lb
		{[]string{"*"}, true, nil},
	}
	for _, tt := range tests {
		cfg := testConfig()
		cfg.Groups, cfg.StrictMode = tt.groups, tt.strict
		got := BuildDesired(f.Apps, cfg, fakeResolver{}, Existing{}).State.BackendNames()
		if fmt.Sprint(got) != fmt.Sprint(tt.backends) && (len(got) != 0 || len(tt.backends) != 0) {
			t.Errorf("groups %q strict %v: got %v want %v", tt.groups, tt.strict, got, tt.backends)
		}
	}
}

func TestIPPerTaskPortAssignmentIsDeterministic(t *testing.T) {
	a := newPortAssigner(10050, 10100)
	p1, _ := a.assign("/ippertask", 8080)
	b := newPortAssigner(10050, 10100)
	p2, _ := b.assign("/ippertask", 8080)
	if p1 != p2 || p1 < 10050 || p1 > 10100 {
		t.Fatalf("ports %d %d", p1, p2)
	}
	small := newPortAssigner(10050, 10051)
	small.assign("/a", 1)
	small.assign("/b", 1)
	if _, ok := small.assign("/c", 1); ok {
		t.Fatal("assigned beyond the range")
	}
}

func TestHealthAnswersCarryOverMissingResults(t *testing.T) {
	cfg := testConfig()
	cfg.Groups = []string{"*"}
	cfg.HealthCheck = true
	task := func(id string, port int, results ...bool) marathon.Task {
		t := marathon.Task{ID: id, AppID: "/web", Host: "127.0.0.1", State: marathon.TaskRunning, Ports: []int{port}}
		for _, r := range results {
			t.HealthCheckResults = append(t.HealthCheckResults, marathon.HealthCheckResult{Alive: r})
		}
		return t
	}
	app := marathon.App{ID: "/web", PortDefinitions: []marathon.PortDefinition{{Port: 10000}},
		HealthChecks: []marathon.HealthCheck{{Protocol: "HTTP", Path: "/"}}}
	servers := func(b Build) int {
		if be := b.State.Backends["web_10000"]; be != nil {
			return len(be.Servers)
		}
		return 0
	}

	app.Tasks = []marathon.Task{task("a", 31001, true), task("b", 31002, false), task("c", 31003, false, true)}
	first := BuildDesired([]marathon.App{app}, cfg, fakeResolver{}, Existing{})
	if got := servers(first); got != 2 {
		t.Fatalf("first pass: %d servers, want 2 (a and c alive)", got)
	}
	if want := map[string]bool{"a": true, "b": false, "c": true}; !reflect.DeepEqual(first.Health, want) {
		t.Fatalf("health answers %v, want %v", first.Health, want)
	}

	// Marathon lost the results (leader change): the last answers hold;
	// a task never seen with results stays out.
	app.Tasks = []marathon.Task{task("a", 31001), task("b", 31002), task("c", 31003), task("d", 31004)}
	e := ExistingIn(first.State, nil)
	e.Health = first.Health
	second := BuildDesired([]marathon.App{app}, cfg, fakeResolver{}, e)
	if got := servers(second); got != 2 {
		t.Fatalf("second pass: %d servers, want 2", got)
	}
	if _, ok := second.Health["d"]; ok {
		t.Errorf("task d has no answer yet but got one: %v", second.Health)
	}
}

// TestHAProxyMapGolden is the vhosts fixture with --haproxy-map: map
// entries for host-only services, catch-all map rules at weight -1, path
// services still on ACLs.
func TestHAProxyMapGolden(t *testing.T) {
	f := loadFixture(t, "vhosts")
	cfg := testConfig()
	cfg.HaproxyMap, cfg.DomainMapFile, cfg.AppMapFile = true, "/maps/domain2backend.map", "/maps/app2backend.map"
	cfg.HTTPSBindAddr, cfg.HTTPSPort, cfg.SSLCerts = "*", 443, []string{"/etc/ssl/cert.pem"}
	b := BuildDesired(f.Apps, cfg, fakeResolver{}, Existing{})
	out, err := json.MarshalIndent(struct {
		Maps  map[string][]MapEntry `json:"maps"`
		HTTP  *Frontend             `json:"marathon_http_in"`
		HTTPS *Frontend             `json:"marathon_https_in"`
		AppID *Frontend             `json:"marathon_http_appid_in"`
	}{b.Maps, b.State.Frontends[HTTPFrontend], b.State.Frontends[HTTPSFrontend], b.State.Frontends[AppIDFrontend]}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "vhosts_map.golden"), append(out, '\n'))
}

// TestGroupHTTPSByVhostGolden is the vhosts fixture with
// --group-https-by-vhost (§6.6).
func TestGroupHTTPSByVhostGolden(t *testing.T) {
	f := loadFixture(t, "vhosts")
	f.Apps[1].Labels["HAPROXY_0_SSL_CERT"] = "/etc/ssl/api.pem"
	cfg := testConfig()
	cfg.GroupHTTPSByVhost = true
	cfg.HTTPSBindAddr, cfg.HTTPSPort, cfg.SSLCerts = "*", 443, []string{"/etc/ssl/cert.pem"}
	b := BuildDesired(f.Apps, cfg, fakeResolver{}, Existing{})
	g := struct {
		Frontends map[string]*Frontend `json:"frontends"`
		Backends  map[string]*Backend  `json:"backends"`
		Warnings  []string             `json:"warnings,omitempty"`
	}{Frontends: map[string]*Frontend{}, Backends: map[string]*Backend{}}
	for name, fe := range b.State.Frontends {
		if name == HTTPSFrontend || fe.Binds[0].Port == nil {
			g.Frontends[name] = fe
		}
	}
	for name, be := range b.State.Backends {
		if be.AppID == "" {
			g.Backends[name] = be
		}
	}
	for _, w := range b.Warnings {
		if strings.Contains(w, "SSL_CERT") {
			g.Warnings = append(g.Warnings, w)
		}
	}
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "vhosts_grouped.golden"), append(out, '\n'))
}

// TestGlobalTemplatesApplyUnlessThePortOverrides: $HAPROXY_<NAME> applies to
// every service, and a HAPROXY_{n}_<NAME> label wins (§5.1).
func TestGlobalTemplatesApplyUnlessThePortOverrides(t *testing.T) {
	cfg := testConfig()
	cfg.Groups = []string{"*"}
	cfg.Templates = map[string]string{"BACKEND_HTTP_OPTIONS": "  http-request set-header X-LB global\n"}
	mk := func(id string, port int, lbls map[string]string) marathon.App {
		l := map[string]string{"HAPROXY_0_VHOST": id[1:] + ".example.com"}
		for k, v := range lbls {
			l[k] = v
		}
		return marathon.App{ID: id, Labels: l, PortDefinitions: []marathon.PortDefinition{{Port: port}},
			Tasks: []marathon.Task{{ID: id + ".1", Host: "127.0.0.1", Ports: []int{31000 + port%1000}, State: marathon.TaskRunning}}}
	}
	b := BuildDesired([]marathon.App{
		mk("/a", 10001, nil),
		mk("/b", 10002, map[string]string{"HAPROXY_0_BACKEND_HTTP_OPTIONS": "  http-request set-header X-LB own\n"}),
	}, cfg, fakeResolver{}, Existing{})
	for backend, want := range map[string]string{"a_10001": "global", "b_10002": "own"} {
		rules := b.State.Backends[backend].HTTPRequestRules
		if len(rules) != 1 || rules[0].HdrFormat != want {
			t.Errorf("%s: rules %+v, want X-LB %s", backend, rules, want)
		}
	}
}

func TestKeptMapEntries(t *testing.T) {
	text := "a.example.com web_10000\nb.example.com bad_10001\n\nbroken line here\nc.example.com bad_10001\n"
	got := keptEntries(text, []MapEntry{{"c.example.com", "bad_10001"}}, map[string]bool{"bad_10001": true})
	if want := []MapEntry{{"b.example.com", "bad_10001"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}
