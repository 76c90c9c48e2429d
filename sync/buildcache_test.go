package sync

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// switchingResolver resolves srvN.example.com to 10.0.<gen>.N, so that a
// DNS answer can change between passes while the app does not.
type switchingResolver struct{ gen int }

func (r *switchingResolver) LookupHost(host string) (string, error) {
	var n int
	if _, err := fmt.Sscanf(host, "srv%d.example.com", &n); err == nil {
		return fmt.Sprintf("10.0.%d.%d", r.gen, n), nil
	}
	return fakeResolver{}.LookupHost(host)
}

// TestBuildCacheMatchesFullBuild mutates a set of apps the ways Marathon
// changes them (tasks come and go, health flips, labels change with a new
// version, scale to zero, blue/green groups, DNS answers move) and checks
// after every pass that the cached build equals a build from scratch.
func TestBuildCacheMatchesFullBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	res := &switchingResolver{}
	cfg := DefaultConfig()
	cfg.Groups = []string{"*"}
	cfg.HealthCheck = true
	apps := cacheTestApps()
	cache := NewBuildCache()
	var existing Existing
	version, incremental, hits := 0, 0, 0
	var last *State
	newVersion := func(a *marathon.App) {
		version++
		a.Version = fmt.Sprintf("2026-11-25T00:00:%02d.000Z", version)
	}
	fixAt := map[string]int{}
	for pass := 0; pass < 1000; pass++ {
		for i := range apps {
			if at, ok := fixAt[apps[i].ID]; ok && at == pass {
				apps[i].Labels = nil
				newVersion(&apps[i])
				delete(fixAt, apps[i].ID)
			}
		}
		a := &apps[rng.IntN(len(apps))]
		switch rng.IntN(12) {
		case 0: // a task starts
			a.Tasks = append(a.Tasks, marathon.Task{ID: fmt.Sprintf("%s.p%d", a.ID, pass), Host: fmt.Sprintf("srv%d.example.com", pass%7),
				Ports: []int{30000 + pass}, State: marathon.TaskRunning})
		case 1: // a task ends
			if len(a.Tasks) > 0 {
				a.Tasks = a.Tasks[1:]
			}
		case 2: // a task's health flips
			if len(a.Tasks) > 0 {
				t := &a.Tasks[rng.IntN(len(a.Tasks))]
				alive := len(t.HealthCheckResults) == 0 || !t.HealthCheckResults[0].Alive
				t.HealthCheckResults = []marathon.HealthCheckResult{{Alive: alive}}
			}
		case 3: // health results vanish (a leader change): the last answer holds
			for i := range a.Tasks {
				a.Tasks[i].HealthCheckResults = nil
			}
		case 4: // a label change is a new version
			a.Labels = map[string]string{"HAPROXY_0_VHOST": fmt.Sprintf("v%d.example.com", pass)}
			newVersion(a)
		case 5: // a bad label rejects the app (fixed a few passes later), a new version
			a.Labels = map[string]string{"HAPROXY_0_BALANCE": "bogus algorithm"}
			newVersion(a)
			fixAt[a.ID] = pass + 1 + rng.IntN(5)
		case 6: // DNS moves
			res.gen++
		case 7: // a task state changes
			if len(a.Tasks) > 0 {
				a.Tasks[0].State = marathon.TaskKilling
			}
		}
		want := BuildDesired(apps, cfg, res, existing)
		got := cache.Build(apps, cfg, res, existing)
		if base := sameAsFullBuild(t, fmt.Sprintf("pass %d", pass), last, got, want); base != nil {
			incremental++
			if base != last {
				t.Fatalf("pass %d: incremental build from another base", pass)
			}
		}
		last = got.State
		hits += cache.Hits
		existing = ExistingIn(got.State, nil)
		existing.Health = got.Health
	}
	if hits == 0 || incremental < 300 {
		t.Fatalf("the cache hit %d times and built incrementally %d times", hits, incremental)
	}
	t.Logf("%d of 1000 passes incremental", incremental)
}

func TestBuildCacheReusesUnchangedApps(t *testing.T) {
	apps := syntheticApps(50)
	for i := range apps {
		apps[i].Version = "v1"
	}
	cfg := DefaultConfig()
	cfg.Groups = []string{"external"}
	cache := NewBuildCache()
	first := cache.Build(apps, cfg, fakeResolver{}, Existing{})
	apps[7].Tasks = apps[7].Tasks[1:]
	second := cache.Build(apps, cfg, fakeResolver{}, Existing{})
	if cache.Hits != 49 || cache.Misses != 1 {
		t.Fatalf("hits %d misses %d, want 49 and 1", cache.Hits, cache.Misses)
	}
	changed := BackendName(apps[7].ID, apps[7].PortDefinitions[0].Port)
	for name, be := range second.State.Backends {
		if same := be == first.State.Backends[name]; same == (name == changed) {
			t.Errorf("backend %s: shared with the last pass = %v", name, same)
		}
	}
	// The diff sees the shared objects by pointer and only the one change.
	if p := Diff(first.State, second.State); len(p.Steps) != 1 {
		t.Fatalf("plan: %v", p.Steps)
	}
	// Another configuration invalidates everything.
	cfg.HealthCheck = true
	cache.Build(apps, cfg, fakeResolver{}, Existing{})
	if cache.Hits != 0 {
		t.Fatalf("hits after a configuration change: %d", cache.Hits)
	}
	// Apps Marathon no longer lists are forgotten.
	cache.Build(apps[:10], cfg, fakeResolver{}, Existing{})
	if len(cache.apps) != 10 {
		t.Fatalf("cache holds %d apps, want 10", len(cache.apps))
	}
}

func cacheTestApps() []marathon.App {
	hc := []marathon.HealthCheck{{Protocol: "HTTP", Path: "/"}}
	var apps []marathon.App
	for i := 0; i < 8; i++ {
		a := marathon.App{ID: fmt.Sprintf("/c/app%d", i), Version: "2026-11-24T00:00:00.000Z", Instances: 2,
			PortDefinitions: []marathon.PortDefinition{{Port: 11000 + i}}}
		if i%2 == 0 {
			a.HealthChecks = hc
		}
		for t := 0; t < 2; t++ {
			a.Tasks = append(a.Tasks, marathon.Task{ID: fmt.Sprintf("%s.%d", a.ID, t), Host: fmt.Sprintf("srv%d.example.com", t),
				Ports: []int{31000 + i*10 + t}, State: marathon.TaskRunning,
				HealthCheckResults: []marathon.HealthCheckResult{{Alive: true}}})
		}
		apps = append(apps, a)
	}
	// A blue/green pair: never cached, always right.
	for i, colour := range []string{"blue", "green"} {
		a := marathon.App{ID: "/c/bg-" + colour, Version: "2026-11-24T00:00:00.000Z", Instances: 1,
			Labels: map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "bg", "HAPROXY_DEPLOYMENT_ALT_PORT": "11101",
				"HAPROXY_0_PORT": "11100", "HAPROXY_DEPLOYMENT_STARTED_AT": fmt.Sprintf("2026-11-24T00:00:0%dZ", i)},
			PortDefinitions: []marathon.PortDefinition{{Port: 11100 + i}}}
		a.Tasks = []marathon.Task{{ID: a.ID + ".0", Host: "127.0.0.1", Ports: []int{32000 + i}, State: marathon.TaskRunning}}
		apps = append(apps, a)
	}
	return apps
}

// sameAsFullBuild fails unless got (a cached or delta build) equals want
// (from scratch), with what HAProxy had for rejected apps kept in both as
// Syncer.Plan does, and its incremental diff finds what a whole diff
// finds. It returns got's base (nil when built in full).
func sameAsFullBuild(t *testing.T, pass string, last *State, got, want Build) *State {
	t.Helper()
	if last != nil {
		KeepRejected(last, want.State, want.Rejected)
		KeepRejected(last, got.State, got.Rejected)
	}
	base, changed := got.Base, got.Changed
	got.Base, got.Changed = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: build differs from a full build: %s", pass, buildDifference(got, want))
	}
	if base != nil {
		inc := DiffWith(base, got.State, DiffOptions{DynamicServers: true, Incremental: true, Changed: changed})
		whole := DiffWith(base, want.State, DiffOptions{DynamicServers: true})
		if !reflect.DeepEqual(inc.Steps, whole.Steps) {
			t.Fatalf("%s: incremental diff %v, whole diff %v", pass, inc.Steps, whole.Steps)
		}
	}
	return base
}
