package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// syntheticApps returns n host-networking apps with 5 tasks each, every
// third one with a vhost and every fifth with a path.
func syntheticApps(n int) []marathon.App {
	apps := make([]marathon.App, n)
	for i := range apps {
		labels := map[string]string{"HAPROXY_GROUP": "external"}
		if i%3 == 0 {
			labels["HAPROXY_0_VHOST"] = fmt.Sprintf("app%d.example.com", i)
		}
		if i%15 == 0 {
			labels["HAPROXY_0_PATH"] = "/api"
		}
		a := marathon.App{ID: fmt.Sprintf("/team%d/app%d", i%50, i), Instances: 5, Labels: labels,
			PortDefinitions: []marathon.PortDefinition{{Port: 10000 + i}}}
		for t := 0; t < 5; t++ {
			a.Tasks = append(a.Tasks, marathon.Task{ID: fmt.Sprintf("t%d.%d", i, t), Host: fmt.Sprintf("10.0.%d.%d", t, i%250),
				Ports: []int{20000 + i%30000}, State: marathon.TaskRunning})
		}
		apps[i] = a
	}
	return apps
}

func BenchmarkBuildDesired(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		apps := syntheticApps(n)
		cfg := DefaultConfig()
		cfg.Groups = []string{"external"}
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				BuildDesired(apps, cfg, fakeResolver{}, Existing{})
			}
		})
	}
}

// BenchmarkDiffOneTaskChanged is the per-event cost today: a full diff of
// the whole state when one task moved.
func BenchmarkDiffOneTaskChanged(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		apps := syntheticApps(n)
		cfg := DefaultConfig()
		cfg.Groups = []string{"external"}
		current := BuildDesired(apps, cfg, fakeResolver{}, Existing{}).State
		apps[n/2].Tasks[0].Ports[0]++
		desired := BuildDesired(apps, cfg, fakeResolver{}, Existing{}).State
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if p := Diff(current, desired); len(p.Steps) != 2 {
					b.Fatalf("want 2 steps, got %d", len(p.Steps))
				}
			}
		})
	}
}

// BenchmarkBuildDesiredOneAppChanged is the per-event build with the
// BuildCache: one app's task set changes between passes.
func BenchmarkBuildDesiredOneAppChanged(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		apps, cfg, cache := cachedSynthetic(n)
		cache.Build(apps, cfg, ipResolver{}, Existing{})
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				apps[i%n].Tasks[0].Ports[0]++
				cache.Build(apps, cfg, ipResolver{}, Existing{})
			}
		})
	}
}

// ipResolver answers IP literals, as DNSResolver does without a lookup.
type ipResolver struct{}

func (ipResolver) LookupHost(host string) (string, error) { return host, nil }

// BenchmarkEventOneAppChanged is an event's whole in-process cost with the
// cache: build, what HAProxy has (the last applied state), and diff.
// from=listing is a source that only lists (every app's key is computed
// and compared); from=events is the daemon's AppCache, which applies the
// task's status update and names the app it changed (only that app is
// looked at).
func BenchmarkEventOneAppChanged(b *testing.B) {
	for _, from := range []string{"listing", "events"} {
		for _, n := range []int{100, 1000, 10000} {
			apps, cfg, cache := cachedSynthetic(n)
			mm := &memoryMarathon{apps: map[string]marathon.App{}}
			for _, a := range apps {
				mm.apps[a.ID] = a
			}
			ac := NewAppCache(mm)
			list, _, gen, _ := ac.AppsSince(context.Background(), 0)
			current := cache.BuildSince(list, nil, gen, cfg, ipResolver{}, Existing{}).State
			b.Run(fmt.Sprintf("from=%s/apps=%d", from, n), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					a := &apps[i%n]
					a.Tasks[0].Ports[0]++
					var built Build
					if from == "listing" {
						built = cache.Build(apps, cfg, ipResolver{}, ExistingIn(current, nil))
					} else {
						t := a.Tasks[0]
						raw, _ := json.Marshal(marathon.StatusUpdateEvent{AppID: a.ID, TaskID: t.ID, TaskStatus: t.State,
							Host: t.Host, Ports: []int{t.Ports[0]}})
						ac.Observe(marathon.Event{Type: marathon.EventStatusUpdate, Data: raw})
						list, changed, gen, _ := ac.AppsSince(context.Background(), cache.Gen())
						built = cache.BuildSince(list, changed, gen, cfg, ipResolver{}, ExistingIn(current, nil))
					}
					opt := DiffOptions{DynamicServers: true}
					if built.Base != nil && built.Base == current {
						opt.Incremental, opt.Changed = true, built.Changed
					}
					// A moved server is a delete and a create (and now and then
					// another server's id, when the new name's id collides).
					if p := DiffWith(current, built.State, opt); len(p.Steps) < 2 || len(p.Steps) > 3 {
						b.Fatalf("want 2 or 3 steps, got %v", p.Steps)
					}
					current = built.State
				}
			})
		}
	}
}

// cachedSynthetic is syntheticApps as Marathon lists them (with a
// version), their configuration and an empty BuildCache.
func cachedSynthetic(n int) ([]marathon.App, Config, *BuildCache) {
	apps := syntheticApps(n)
	for i := range apps {
		apps[i].Version = "v1"
	}
	cfg := DefaultConfig()
	cfg.Groups = []string{"external"}
	return apps, cfg, NewBuildCache()
}
