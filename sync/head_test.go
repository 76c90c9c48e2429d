package sync

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/dataplanetest"
)

// marathon-lb's default HEAD (§5.4), reduced to what a container next to
// the Data Plane API can run, as a user moving over would write it.
const testHead = `global
  master-worker
  stats socket /var/run/haproxy/haproxy.sock mode 600 level admin expose-fd listeners
  maxconn 4242
  spread-checks 5
defaults
  load-server-state-from-file global
  log global
  retries 3
  timeout connect 3s
  timeout client 30s
  timeout server 30s
  option dontlognull
  option redispatch
listen stats
  bind 127.0.0.1:9090
  mode http
  stats enable
  stats uri /haproxy?stats
`

func TestReplaceSectionsGolden(t *testing.T) {
	base, err := os.ReadFile("../deployments/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	head, err := HeadSections(testHead, "marathon_defaults")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := headSteps(string(base), head)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	var secs []Section
	for _, s := range steps {
		ops = append(ops, s.String())
		secs = append(secs, s.Value.(Section))
	}
	// global and defaults differ; listen stats takes frontend stats' place.
	if want := []string{"full replace section global", "full replace section defaults marathon_defaults", "full replace section listen stats"}; !slices.Equal(ops, want) {
		t.Fatalf("steps %q, want %q", ops, want)
	}
	out := ReplaceSections(string(base), secs)
	checkGolden(t, "testdata/head_replaced.cfg", []byte(out))

	// The result holds the head and nothing else changed: a second
	// comparison finds nothing to do, and every other section is intact.
	if again, err := headSteps(out, head); err != nil || len(again) != 0 {
		t.Fatalf("after replacing: %v %v", again, err)
	}
	before, _ := ParseSections(string(base))
	after, _ := ParseSections(out)
	for _, s := range before {
		if s.Kind == "global" || s.Kind == "defaults" || s.Key() == "frontend stats" {
			continue
		}
		i := slices.IndexFunc(after, func(a Section) bool { return a.Key() == s.Key() })
		if i < 0 || !slices.Equal(after[i].Lines, s.Lines) {
			t.Errorf("section %q changed or lost", s.Key())
		}
	}
}

// The Data Plane API re-renders the file at every transaction commit and
// groups directives by keyword; that is not a change of the head.
func TestHeadComparisonToleratesReRendering(t *testing.T) {
	want := []Section{{Kind: "global", Lines: []string{"maxconn 10", "stats socket /s level admin", "log stdout local0", "log stdout local1 notice"}}}
	rendered := "# _version=7\nglobal\n  log stdout local0\n  log stdout local1 notice\n  maxconn 10\n  stats socket /s level admin\n"
	if steps, err := headSteps(rendered, want); err != nil || len(steps) != 0 {
		t.Fatalf("re-rendered head seen as changed: %v %v", steps, err)
	}
	rules := []Section{{Kind: "listen", Name: "stats", Lines: []string{"timeout client 5s", "timeout queue 1s", "http-request deny if a", "http-request allow"}}}
	if steps, _ := headSteps("listen stats\n  http-request deny if a\n  timeout queue 1s\n  http-request allow\n  timeout client 5s\n", rules); len(steps) != 0 {
		t.Fatalf("timeouts reordered seen as changed: %v", steps)
	}
	if steps, _ := headSteps("listen stats\n  timeout client 5s\n  timeout queue 1s\n  http-request allow\n  http-request deny if a\n", rules); len(steps) != 1 {
		t.Fatal("two http-request rules swapped: their order matters")
	}
}

func TestWithDefaultOptions(t *testing.T) {
	s := Section{Kind: "defaults", Name: "d", Lines: []string{"mode tcp", "option redispatch", "no option http-server-close", "option httpchk GET /", "timeout client 3s"}}
	got := WithDefaultOptions(s, []string{"dontlognull", "httplog"})
	want := []string{"mode tcp", "option httpchk GET /", "timeout client 3s", "option dontlognull", "option httplog"}
	if !slices.Equal(got.Lines, want) {
		t.Fatalf("lines %q, want %q", got.Lines, want)
	}
}

// TestSyncAppliesHead: HAPROXY_HEAD reaches the configuration through one
// full commit, and then costs nothing while in place.
func TestSyncAppliesHead(t *testing.T) {
	s, fake := syncerOnShippedConfig(t)
	var err error
	if s.Config.Head, err = HeadSections(testHead, s.Config.DefaultsName); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Applied.Strategy != Full || r.Plan.Steps[0].Object != ObjSection || fake.Reloads() != 1 {
		t.Fatalf("first sync: %+v, first step %s, reloads %d", r.Applied, r.Plan.Steps[0], fake.Reloads())
	}
	text, _, err := s.API.RawConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "    maxconn 4242\n") || !strings.Contains(text, "listen stats\n") || !strings.Contains(text, "userlist dataplaneapi\n") {
		t.Fatalf("configuration after the commit:\n%s", text)
	}
	writes := fake.Writes()
	if r, err := s.Sync(ctx); err != nil || !r.Plan.Empty() || fake.Writes() != writes {
		t.Fatalf("second sync: %v %v, writes %d→%d", r.Plan.Steps, err, writes, fake.Writes())
	}

	// Someone edits the global section: the next pass puts the head back.
	fake.SeedRaw(strings.Replace(text, "maxconn 4242", "maxconn 1", 1))
	fake.ExternalEdit()
	r, err = s.Sync(ctx)
	if err != nil || len(r.Plan.Steps) != 1 || r.Plan.Steps[0].String() != "full replace section global" {
		t.Fatalf("after an edit: %v %v", r.Plan.Steps, err)
	}
}

func TestSyncAppliesDefaultOptions(t *testing.T) {
	s, _ := syncerOnShippedConfig(t)
	s.Config.DefaultOptions = []string{"dontlognull", "httplog"}
	ctx := context.Background()
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	text, _, _ := s.API.RawConfig(ctx, "")
	secs, _ := ParseSections(text)
	i := slices.IndexFunc(secs, func(s Section) bool { return s.Key() == "defaults marathon_defaults" })
	if i < 0 || !slices.Contains(secs[i].Lines, "option httplog") || slices.Contains(secs[i].Lines, "option redispatch") || !slices.Contains(secs[i].Lines, "timeout tarpit 60s") {
		t.Fatalf("defaults after the commit: %+v", secs)
	}
	if r, err := s.Sync(ctx); err != nil || !r.Plan.Empty() {
		t.Fatalf("second sync: %v %v", r.Plan.Steps, err)
	}
}

// syncerOnShippedConfig is a Syncer of the vhosts fixture against the
// double holding deployments/haproxy.cfg.
func syncerOnShippedConfig(t *testing.T) (*Syncer, *dataplanetest.Server) {
	t.Helper()
	f := loadFixture(t, "vhosts")
	s, fake, _ := newSyncer(t, f.Apps)
	base, err := os.ReadFile("../deployments/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	fake.SeedRaw(string(base))
	return s, fake
}
