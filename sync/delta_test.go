package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// memoryMarathon is an AppReader over apps held in memory.
type memoryMarathon struct{ apps map[string]marathon.App }

func (m *memoryMarathon) Apps(context.Context) ([]marathon.App, error) {
	var out []marathon.App
	for _, a := range m.apps {
		a.Tasks = slices.Clone(a.Tasks)
		out = append(out, a)
	}
	return out, nil
}

func (m *memoryMarathon) App(_ context.Context, id string) (marathon.App, error) {
	a, ok := m.apps[id]
	if !ok {
		return marathon.App{}, &marathon.APIError{Status: 404, Message: "App '" + id + "' does not exist"}
	}
	a.Tasks = slices.Clone(a.Tasks)
	return a, nil
}

func event(t *testing.T, typ string, v any) marathon.Event {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return marathon.Event{Type: typ, Data: raw}
}

// TestBuildSinceMatchesFullBuild changes Marathon's apps the ways the
// event stream reports them (task status updates applied in place, apps
// re-read after an API change, created, deleted, listed again, DNS
// answers moving), passes an AppCache's list and its changed apps to
// BuildSince, and checks after every step that the build equals one from
// scratch, and that most passes walked only the changed apps.
func TestBuildSinceMatchesFullBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	res := &switchingResolver{}
	cfg := DefaultConfig()
	cfg.Groups = []string{"*"}
	mm := &memoryMarathon{apps: map[string]marathon.App{}}
	for i := 0; i < 30; i++ {
		a := marathon.App{ID: fmt.Sprintf("/d/app%02d", i), Version: "2026-11-25T00:00:00.000Z", Instances: 3,
			PortDefinitions: []marathon.PortDefinition{{Port: 12000 + i}}}
		if i%3 == 0 {
			a.Labels = map[string]string{"HAPROXY_0_VHOST": fmt.Sprintf("app%d.example.com", i)}
		}
		for n := 0; n < 3; n++ {
			host := "127.0.0.1"
			if i == 7 {
				host = fmt.Sprintf("srv%d.example.com", n) // a name: keyed again every pass
			}
			a.Tasks = append(a.Tasks, marathon.Task{ID: fmt.Sprintf("%s.%d", a.ID, n), AppID: a.ID, Host: host,
				Ports: []int{31000 + i*10 + n}, State: marathon.TaskRunning})
		}
		mm.apps[a.ID] = a
	}
	cache := NewAppCache(mm)
	bc := NewBuildCache()
	ctx := context.Background()
	var existing Existing
	var last *State
	ids := func() []string { return slices.Sorted(maps.Keys(mm.apps)) }
	version := 0
	for step := 0; step < 600; step++ {
		id := ids()[rng.IntN(len(mm.apps))]
		a := mm.apps[id]
		switch op := rng.IntN(20); {
		case op < 10: // a task starts, through a status update
			task := marathon.Task{ID: fmt.Sprintf("%s.s%d", id, step), AppID: id, Host: "127.0.0.1", Ports: []int{40000 + step}, State: marathon.TaskRunning}
			a.Tasks = append(slices.Clone(a.Tasks), task)
			cache.Observe(event(t, marathon.EventStatusUpdate, marathon.StatusUpdateEvent{AppID: id, TaskID: task.ID,
				TaskStatus: task.State, Host: task.Host, Ports: task.Ports}))
		case op < 15: // a task ends
			if len(a.Tasks) == 0 {
				continue
			}
			gone := a.Tasks[0]
			a.Tasks = slices.Clone(a.Tasks[1:])
			cache.Observe(event(t, marathon.EventStatusUpdate, marathon.StatusUpdateEvent{AppID: id, TaskID: gone.ID,
				TaskStatus: marathon.TaskKilled, Host: gone.Host, Ports: gone.Ports}))
		case op == 15: // a label change through the API: a new version
			version++
			a.Version = fmt.Sprintf("2026-11-25T01:00:%02d.000Z", version%60)
			a.Labels = map[string]string{"HAPROXY_0_VHOST": fmt.Sprintf("v%d.example.com", step)}
			cache.Observe(event(t, marathon.EventAPIPost, map[string]any{"appDefinition": map[string]string{"id": id}}))
		case op == 16: // a new app
			id = fmt.Sprintf("/d/new%03d", step)
			a = marathon.App{ID: id, Version: "2026-11-25T02:00:00.000Z", Instances: 1,
				PortDefinitions: []marathon.PortDefinition{{Port: 13000 + step}},
				Tasks:           []marathon.Task{{ID: id + ".0", AppID: id, Host: "127.0.0.1", Ports: []int{41000 + step}, State: marathon.TaskRunning}}}
			cache.Observe(event(t, marathon.EventAPIPost, map[string]any{"appDefinition": map[string]string{"id": id}}))
		case op == 17: // an app deleted
			delete(mm.apps, id)
			cache.Observe(event(t, marathon.EventAppTerminated, map[string]string{"appId": id}))
			id = ""
		case op == 18: // DNS moves: the named hosts' app is rebuilt without an event
			res.gen++
		default: // a reconnect: everything listed again
			cache.Invalidate()
		}
		if id != "" {
			mm.apps[id] = a
		}
		apps, changed, gen, err := cache.AppsSince(ctx, bc.Gen())
		if err != nil {
			t.Fatal(err)
		}
		if !sort.SliceIsSorted(apps, func(i, j int) bool { return apps[i].ID < apps[j].ID }) {
			t.Fatalf("step %d: the list is not sorted by id", step)
		}
		fresh, _ := mm.Apps(ctx)
		sort.Slice(fresh, func(i, j int) bool { return fresh[i].ID < fresh[j].ID })
		if g, w := routingView(apps), routingView(fresh); !reflect.DeepEqual(g, w) {
			t.Fatalf("step %d: cache %v\nMarathon %v", step, g, w)
		}
		got := bc.BuildSince(apps, changed, gen, cfg, res, existing)
		want := BuildDesired(fresh, cfg, res, existing)
		sameAsFullBuild(t, fmt.Sprintf("step %d", step), last, got, want)
		last = got.State
		existing = ExistingIn(got.State, nil)
		existing.Health = got.Health
	}
	if bc.deltas < 300 {
		t.Fatalf("only %d of 600 passes walked just the changed apps", bc.deltas)
	}
	t.Logf("%d of 600 passes built from the changed apps only", bc.deltas)
}

// buildDifference names what differs between two builds, briefly.
func buildDifference(got, want Build) string {
	for name, w := range want.State.Backends {
		if g := got.State.Backends[name]; !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			return fmt.Sprintf("backend %s\ngot:  %s\nfull: %s", name, gj, wj)
		}
	}
	for name := range got.State.Backends {
		if want.State.Backends[name] == nil {
			return "backend " + name + " should not be there"
		}
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			gj, _ := json.Marshal(gv.Field(i).Interface())
			wj, _ := json.Marshal(wv.Field(i).Interface())
			return fmt.Sprintf("%s\ngot:  %.2000s\nfull: %.2000s", gv.Type().Field(i).Name, gj, wj)
		}
	}
	return "?"
}

// addingRuntime is a Runtime API that takes every server added.
type addingRuntime struct{ fakeRuntime }

func (r *addingRuntime) AddServerReady(_ context.Context, be, srv, _ string, _ int, _ []string) error {
	r.calls = append(r.calls, "add "+be+"/"+srv)
	return nil
}

// TestEventsStayIncremental: the daemon's passes, fed by an AppCache,
// build from the changed app and diff only its backends, also after a
// pass that rebuilt an app without changing HAProxy (a task staging):
// that pass's state becomes what HAProxy is known to have.
func TestEventsStayIncremental(t *testing.T) {
	apps, _, _ := cachedSynthetic(20)
	mm := &memoryMarathon{apps: map[string]marathon.App{}}
	for _, a := range apps {
		mm.apps[a.ID] = a
	}
	cache := NewAppCache(mm)
	s, _, _ := newSyncer(t, nil)
	s.Apps, s.Config.Groups = cache, []string{"external"}
	rt := &addingRuntime{}
	s.Runtime = rt
	ctx := context.Background()
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	a := apps[3]
	for i, state := range []string{marathon.TaskStaging, marathon.TaskStarting, marathon.TaskRunning} {
		cache.Observe(event(t, marathon.EventStatusUpdate, marathon.StatusUpdateEvent{AppID: a.ID, TaskID: a.ID + ".new",
			TaskStatus: state, Host: "10.0.9.9", Ports: []int{31999}}))
		r, err := s.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Build.Base == nil || r.Build.Base != r.Current {
			t.Fatalf("event %d (%s): not built and diffed from what HAProxy has", i, state)
		}
		if r.Servers != r.Build.State.ServerCount() {
			t.Fatalf("event %d (%s): %d servers counted, the state has %d", i, state, r.Servers, r.Build.State.ServerCount())
		}
		if running := state == marathon.TaskRunning; running != (s.builds.Misses == 1) {
			// A task not yet running is never routed: its updates find
			// the cached build.
			t.Fatalf("event %d (%s): %d apps rebuilt", i, state, s.builds.Misses)
		}
		if running := state == marathon.TaskRunning; running != (len(rt.calls) == 1) {
			t.Fatalf("event %d (%s): runtime calls %v", i, state, rt.calls)
		}
	}
}
