package sync

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

func clone(t *testing.T, s *State) *State {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	out := NewState()
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	for name, b := range s.Backends {
		out.Backends[name].AppID = b.AppID
	}
	for name, f := range s.Frontends {
		out.Frontends[name].AppID = f.AppID
	}
	return out
}

func TestDiffFromEmptyGolden(t *testing.T) {
	f := loadFixture(t, "vhosts")
	desired := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	plan := Diff(NewState(), desired)
	if plan.Count(Runtime) != 0 || !plan.NeedsReload() {
		t.Fatalf("want only transaction steps, got %d runtime", plan.Count(Runtime))
	}
	var lines []string
	for _, s := range plan.Steps {
		lines = append(lines, s.String())
	}
	out, _ := json.MarshalIndent(lines, "", "  ")
	checkGolden(t, filepath.Join("testdata", "plan_from_empty.golden"), append(out, '\n'))
}

func TestDiffOfEqualStatesIsEmpty(t *testing.T) {
	f := loadFixture(t, "vhosts")
	desired := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	if p := Diff(clone(t, desired), desired); !p.Empty() {
		t.Fatalf("want empty plan, got %v", p.Steps)
	}
}

func TestDiffScaleAndRuntimeOnly(t *testing.T) {
	f := loadFixture(t, "host_tcp")
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State

	t.Run("weight change is runtime", func(t *testing.T) {
		desired := clone(t, current)
		desired.Backends["grp_db_10010"].Servers[0].Weight = dataplane.Int64(0)
		p := Diff(current, desired)
		if len(p.Steps) != 1 || p.Steps[0].Kind != Runtime || p.Steps[0].Object != ObjServer {
			t.Fatalf("got %v", p.Steps)
		}
	})
	t.Run("new task is a server create", func(t *testing.T) {
		f2 := loadFixture(t, "host_tcp")
		f2.Apps[0].Tasks[2].State = "TASK_RUNNING" // srv3 comes up
		desired := BuildDesired(f2.Apps, testConfig(), fakeResolver{}, Existing{}).State
		p := Diff(current, desired)
		if len(p.Steps) != 1 || p.Steps[0].Op != Create || p.Steps[0].Name != "srv3_example_com_10_0_0_3_31003" {
			t.Fatalf("got %v", p.Steps)
		}
	})
	t.Run("runtime steps join a transaction when one is needed", func(t *testing.T) {
		desired := clone(t, current)
		desired.Backends["grp_db_10010"].Servers[0].Weight = dataplane.Int64(0)
		desired.Backends["grp_db_10010"].Backend.Balance.Algorithm = "leastconn"
		p := Diff(current, desired)
		if p.Count(Runtime) != 0 || p.Count(Transaction) != 2 {
			t.Fatalf("got %v", p.Steps)
		}
	})
	t.Run("removed app deletes frontend before backend", func(t *testing.T) {
		desired := clone(t, current)
		delete(desired.Backends, "grp_db_10010")
		delete(desired.Frontends, "grp_db_10010")
		p := Diff(current, desired)
		if len(p.Steps) != 2 || p.Steps[0].Object != ObjFrontend || p.Steps[1].Object != ObjBackend {
			t.Fatalf("got %v", p.Steps)
		}
		if p.Strategy() != Full || p.Count(Full) != 2 {
			t.Fatalf("a frontend removal is a full commit: %v", p.Steps)
		}
	})
}

func TestPlanStrategyFollowsWhatChanges(t *testing.T) {
	f := loadFixture(t, "vhosts")
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	for _, tc := range []struct {
		name   string
		change func(d *State)
		want   StepKind
	}{
		{"server weight", func(d *State) { d.Backends["web_10001"].Servers[0].Weight = dataplane.Int64(7) }, Runtime},
		{"backend balance", func(d *State) { d.Backends["web_10001"].Backend.Balance.Algorithm = "leastconn" }, Transaction},
		{"routing acl", func(d *State) { d.Frontends[HTTPFrontend].ACLs[0].Value = "other.example.com" }, Transaction},
		{"bind port", func(d *State) { d.Frontends["web_10001"].Binds[0].Port = dataplane.Int64(10101) }, Full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desired := clone(t, current)
			tc.change(desired)
			p := DiffWith(current, desired, DiffOptions{DynamicServers: true})
			if p.Empty() || p.Strategy() != tc.want || p.Count(tc.want) != len(p.Steps) {
				t.Fatalf("strategy %s, want %s: %v", p.Strategy(), tc.want, p.Steps)
			}
		})
	}
}

func TestDiffListShrinksFromTheEnd(t *testing.T) {
	var got []string
	diffList(4, 2, func(i int) bool { return i == 0 }, func(op Op, i int) { got = append(got, string(op)+string(rune('0'+i))) })
	want := []string{"replace1", "delete3", "delete2"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
}

func TestKeepRejectedNeverDeletes(t *testing.T) {
	f := loadFixture(t, "vhosts")
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	// /api now has a broken label: it is rejected, and must keep its
	// backend, frontend and routing rule.
	f.Apps[1].Labels["HAPROXY_0_BALANCE"] = "bogus"
	b := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{})
	if _, ok := b.Rejected["/api"]; !ok {
		t.Fatalf("not rejected: %v", b.Rejected)
	}
	KeepRejected(current, b.State, b.Rejected)
	p := Diff(current, b.State)
	for _, s := range p.Steps {
		if s.Op == Delete && (s.Name == "api_10002" || s.Parent == "api_10002") {
			t.Fatalf("rejected app's object deleted: %v", s)
		}
	}
	found := false
	for _, r := range b.State.Frontends[HTTPFrontend].SwitchingRules {
		if r.Name == "api_10002" {
			found = true
		}
	}
	if !found {
		t.Fatal("routing rule of the rejected app was dropped")
	}
	var le interface{ Unwrap() error }
	if !errors.As(b.Rejected["/api"][0], &le) {
		t.Fatalf("rejection is not a wrapped error: %v", b.Rejected["/api"][0])
	}
}

func TestScaleToZeroKeepsTheServiceWithoutReload(t *testing.T) {
	f := loadFixture(t, "vhosts")
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	app := f.Apps[1] // /api, routed by vhost and path on the shared frontend
	backends := map[string]bool{}
	for name, b := range current.Backends {
		if b.AppID == app.ID {
			backends[name] = true
		}
	}
	if len(backends) == 0 {
		t.Fatalf("fixture: no backend for %s", app.ID)
	}
	f.Apps[1].Tasks = nil

	// From an empty HAProxy, marathon-lb's rule: no servers, no service.
	fresh := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{})
	for name := range backends {
		if fresh.State.Backends[name] != nil {
			t.Errorf("%s built with no servers and no existing backend", name)
		}
	}

	// Already in HAProxy: the service stays, empty; only runtime steps.
	b := BuildDesired(f.Apps, testConfig(), fakeResolver{}, ExistingIn(current, nil))
	for name := range backends {
		be := b.State.Backends[name]
		if be == nil || len(be.Servers) != 0 {
			t.Fatalf("%s: want an empty backend, got %+v", name, be)
		}
	}
	p := DiffWith(current, b.State, DiffOptions{DynamicServers: true})
	if p.Empty() || p.NeedsReload() {
		t.Fatalf("scale to zero: want runtime steps only, got %v", p.Steps)
	}
	for _, s := range p.Steps {
		if s.Op != Delete || s.Object != ObjServer {
			t.Errorf("unexpected step %s", s)
		}
	}
}

// TestKeepRejectedKeepsAuthAndRedirects: an app rejected for a bad label
// keeps its auth challenge and https redirect in marathon_http_in, not
// only its use_backend (losing the auth rule would open the vhost).
func TestKeepRejectedKeepsAuthAndRedirects(t *testing.T) {
	f := loadFixture(t, "vhosts")
	f.Apps[2].Labels["HAPROXY_0_AUTH"] = "heavy:admin:$6$salt$hash" // /heavy, one host, no path
	f.Apps[3].Labels["HAPROXY_0_REDIRECT_TO_HTTPS"] = "true"        // /multi, two hosts with a path
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	f.Apps[2].Labels["HAPROXY_0_BALANCE"] = "bogus"
	f.Apps[3].Labels["HAPROXY_0_BALANCE"] = "bogus"
	b := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{})
	if len(b.Rejected) != 2 {
		t.Fatalf("rejected %v", b.Rejected)
	}
	KeepRejected(current, b.State, b.Rejected)
	for _, s := range Diff(current, b.State).Steps {
		if s.Op == Delete {
			t.Errorf("a rejected app's object is deleted: %s", s)
		}
	}
	types := map[string]bool{}
	for _, r := range b.State.Frontends[HTTPFrontend].HTTPRequestRules {
		types[r.Type] = true
	}
	if !types["auth"] || !types["redirect"] {
		t.Fatalf("http-request rules kept: %v", b.State.Frontends[HTTPFrontend].HTTPRequestRules)
	}
}
