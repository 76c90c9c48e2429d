package sync

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

// routingView is what a build reads of an app: the cache must agree with
// a fresh listing on all of it.
func routingView(apps []marathon.App) map[string]string {
	out := map[string]string{}
	for _, a := range apps {
		s := fmt.Sprintf("version=%s instances=%d labels=%v", a.Version, a.Instances, a.Labels)
		for _, t := range a.Tasks {
			// What a build reads of the health checks: any result, any
			// passing (the cache keeps only that).
			alive := "unchecked"
			if len(t.HealthCheckResults) > 0 {
				alive = strconv.FormatBool(slices.ContainsFunc(t.HealthCheckResults, func(r marathon.HealthCheckResult) bool { return r.Alive }))
			}
			s += fmt.Sprintf(" | %s %s %s %v %v %s", t.ID, t.State, t.Host, t.Ports, t.IPAddresses, alive)
		}
		out[a.ID] = s
	}
	return out
}

// TestAppCacheFollowsTheEventStream drives the simulator through
// deployments, scaling, kills, health flips, label changes and a deletion,
// feeds its event stream to an AppCache, and after each change compares
// the cache with a fresh listing; it lists everything only once.
func TestAppCacheFollowsTheEventStream(t *testing.T) {
	sim := marathontest.Started(t, marathontest.Options{})
	mc, err := marathon.New(marathon.Config{URLs: []string{sim.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cache := NewAppCache(mc)
	es, err := mc.Stream(ctx, sim.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	go func() {
		for ev := range es.Events() {
			cache.Observe(ev)
		}
	}()
	hc := []marathon.HealthCheck{{Protocol: "HTTP", Path: "/health", IntervalSeconds: 1, GracePeriodSeconds: 1, MaxConsecutiveFailures: 100}}
	for _, id := range []string{"/a", "/b"} {
		if _, err := sim.CreateApp(marathon.App{ID: id, Instances: 2, PortDefinitions: []marathon.PortDefinition{{Port: 0}}, HealthChecks: hc}); err != nil {
			t.Fatal(err)
		}
	}
	settle := func(what string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		if err := sim.WaitDeployments(wctx); err != nil {
			t.Fatal(err)
		}
		var got, want map[string]string
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			apps, err := cache.Apps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := mc.Apps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want = routingView(apps), routingView(fresh); reflect.DeepEqual(got, want) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: the cache differs from a listing\ncache:   %v\nlisting: %v", what, got, want)
	}
	settle("two apps deployed")
	listings := cache.Listings

	if _, err := sim.ScaleApp("/a", 5, false); err != nil {
		t.Fatal(err)
	}
	settle("scaled up")
	a, _ := sim.App("/a")
	if err := sim.KillTask(a.Tasks[0].ID, false); err != nil {
		t.Fatal(err)
	}
	settle("a task killed and replaced")
	if err := sim.SetTaskHealthy(a.Tasks[1].ID, false); err != nil {
		t.Fatal(err)
	}
	settle("a task unhealthy")
	b, _ := sim.App("/b")
	b.Labels = map[string]string{"HAPROXY_GROUP": "external"}
	if _, err := sim.UpdateApp("/b", b, false); err != nil {
		t.Fatal(err)
	}
	settle("labels changed (a restart)")
	if _, err := sim.ScaleApp("/a", 1, false); err != nil {
		t.Fatal(err)
	}
	settle("scaled down")
	if _, err := sim.DeleteApp("/b", false); err != nil {
		t.Fatal(err)
	}
	settle("an app deleted")
	if cache.Listings != listings || cache.Applied == 0 || cache.Rereads == 0 {
		t.Fatalf("listings %d→%d, %d status updates applied, %d apps re-read", listings, cache.Listings, cache.Applied, cache.Rereads)
	}
	t.Logf("%d status updates applied, %d apps re-read, %d listing(s)", cache.Applied, cache.Rereads, cache.Listings)
}

// TestAppCacheListInPlace: a task's update goes into the list handed out
// (no copy of every app), an app that comes or goes makes a new sorted
// list, and a listing with an app twice keeps its last copy.
func TestAppCacheListInPlace(t *testing.T) {
	app := func(id string, port int) marathon.App {
		return marathon.App{ID: id, Version: "v1", Tasks: []marathon.Task{{ID: id[1:] + ".1", AppID: id, Host: "127.0.0.1", Ports: []int{port}, State: marathon.TaskRunning}}}
	}
	mm := &memoryMarathon{apps: map[string]marathon.App{"/c": app("/c", 3), "/a": app("/a", 1), "/b": app("/b", 2)}}
	cache := NewAppCache(mm)
	ctx := context.Background()
	ids := func(apps []marathon.App) []string {
		var out []string
		for _, a := range apps {
			out = append(out, a.ID)
		}
		return out
	}
	first, err := cache.Apps(ctx)
	if err != nil || !slices.Equal(ids(first), []string{"/a", "/b", "/c"}) {
		t.Fatalf("listing: %v %v", ids(first), err)
	}

	cache.Observe(event(t, marathon.EventStatusUpdate, marathon.StatusUpdateEvent{AppID: "/b", TaskID: "b.2", TaskStatus: marathon.TaskRunning,
		Host: "127.0.0.1", Ports: []int{22}, Version: "v1"}))
	second, _, _, err := cache.AppsSince(ctx, 0)
	if err != nil || &second[0] != &first[0] || len(second[1].Tasks) != 2 || second[1].Tasks[1].Ports[0] != 22 {
		t.Fatalf("a task's update: same list %v, tasks %+v, %v", &second[0] == &first[0], second[1].Tasks, err)
	}

	mm.apps["/bb"] = app("/bb", 4)
	delete(mm.apps, "/a")
	cache.Observe(event(t, marathon.EventAPIPost, map[string]any{"appDefinition": map[string]any{"id": "/bb"}}))
	cache.Observe(event(t, marathon.EventAppTerminated, map[string]any{"appId": "/a"}))
	third, err := cache.Apps(ctx)
	if err != nil || !slices.Equal(ids(third), []string{"/b", "/bb", "/c"}) || len(third[0].Tasks) != 2 {
		t.Fatalf("apps came and went: %v %v", ids(third), err)
	}
	if !slices.Equal(ids(second), []string{"/a", "/b", "/c"}) {
		t.Errorf("the list handed out before changed its apps: %v", ids(second))
	}

	dup := &listReader{apps: []marathon.App{app("/x", 1), app("/y", 2), app("/x", 9)}}
	cache = NewAppCache(dup)
	got, err := cache.Apps(ctx)
	if err != nil || !slices.Equal(ids(got), []string{"/x", "/y"}) || got[0].Tasks[0].Ports[0] != 9 {
		t.Fatalf("a listing with an app twice: %v %v", ids(got), err)
	}
}

// listReader lists apps as given.
type listReader struct{ apps []marathon.App }

func (l *listReader) Apps(context.Context) ([]marathon.App, error) { return slices.Clone(l.apps), nil }

func (l *listReader) App(_ context.Context, id string) (marathon.App, error) {
	return marathon.App{}, &marathon.APIError{Status: 404, Message: "App '" + id + "' does not exist"}
}
