package sync

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

func colour(id, started string, instances int, extra map[string]string) marathon.App {
	a := marathon.App{ID: id, Instances: instances, PortDefinitions: []marathon.PortDefinition{{Port: 10200}},
		Labels: map[string]string{"HAPROXY_GROUP": "external", labels.DeploymentGroup: "shop", labels.DeploymentStartedAt: started, "HAPROXY_0_PORT": "10100"}}
	for k, v := range extra {
		a.Labels[k] = v
	}
	for i := 0; i < instances; i++ {
		a.Tasks = append(a.Tasks, marathon.Task{ID: fmt.Sprintf("%s.%d", id[1:], i), Host: "127.0.0.1", Ports: []int{31000 + len(id)*10 + i}, State: marathon.TaskRunning})
	}
	return a
}

func TestMergeDeploymentGroups(t *testing.T) {
	blue := colour("/shop-blue", "2026-01-01T00:00:00Z", 3, nil)
	green := colour("/shop-green", "2026-02-01T00:00:00Z", 3, nil)
	plain := marathon.App{ID: "/other"}

	t.Run("a normal deployment drains every old task the new healthy ones replace", func(t *testing.T) {
		out, drain, errs := mergeDeploymentGroups([]marathon.App{green, plain, blue}, false)
		if len(errs) != 0 || len(out) != 2 || out[0].ID != "/shop" || out[1].ID != "/other" {
			t.Fatalf("out %+v errs %v", out, errs)
		}
		if len(out[0].Tasks) != 6 || out[0].Labels[labels.DeploymentStartedAt] != blue.Labels[labels.DeploymentStartedAt] {
			t.Fatalf("merged app is not blue with both colours' tasks: %+v", out[0])
		}
		// target 1: drainable = 3 + 3 - 1, capped by the 3 healthy new tasks.
		if want := map[string]bool{"shop-blue.0": true, "shop-blue.1": true, "shop-blue.2": true}; !reflect.DeepEqual(drain, want) {
			t.Fatalf("draining %v, want %v", drain, want)
		}
	})
	t.Run("a traffic split drains as many old tasks as new ones run", func(t *testing.T) {
		old := colour("/shop-blue", "2026-01-01T00:00:00Z", 4, nil)
		nu := colour("/shop-green", "2026-02-01T00:00:00Z", 2, map[string]string{labels.DeploymentNewInstances: "2", labels.DeploymentTargetInstances: "4"})
		_, drain, errs := mergeDeploymentGroups([]marathon.App{old, nu}, false)
		if len(errs) != 0 || len(drain) != 2 || !drain["shop-blue.0"] || !drain["shop-blue.1"] {
			t.Fatalf("draining %v errs %v", drain, errs)
		}
	})
	t.Run("with health checks only healthy new tasks count", func(t *testing.T) {
		nu := green
		nu.HealthChecks = []marathon.HealthCheck{{Protocol: "HTTP"}}
		nu.Tasks = append([]marathon.Task(nil), green.Tasks...)
		nu.Tasks[0].HealthCheckResults = []marathon.HealthCheckResult{{Alive: true}}
		_, drain, _ := mergeDeploymentGroups([]marathon.App{blue, nu}, true)
		if len(drain) != 1 || !drain["shop-blue.0"] {
			t.Fatalf("draining %v, want only shop-blue.0", drain)
		}
	})
	t.Run("equal start dates: the app seen first is the new one", func(t *testing.T) {
		a := colour("/shop-a", "2026-01-01T00:00:00Z", 1, nil)
		b := colour("/shop-b", "2026-01-01T00:00:00Z", 1, nil)
		out, drain, _ := mergeDeploymentGroups([]marathon.App{a, b}, false)
		if out[0].Tasks[0].ID != "shop-b.0" || !drain["shop-b.0"] {
			t.Fatalf("old should be /shop-b: tasks %+v drain %v", out[0].Tasks, drain)
		}
	})
	t.Run("a traffic split without a target is an error naming the label", func(t *testing.T) {
		nu := colour("/shop-green", "2026-02-01T00:00:00Z", 2, map[string]string{labels.DeploymentNewInstances: "2"})
		_, _, errs := mergeDeploymentGroups([]marathon.App{blue, nu}, false)
		var le *labels.Error
		if len(errs["/shop"]) != 1 || !errors.As(errs["/shop"][0], &le) || le.Label != labels.DeploymentTargetInstances {
			t.Fatalf("errs %v", errs)
		}
	})
	t.Run("the backend holds both colours and disables the drained tasks", func(t *testing.T) {
		cfg := testConfig()
		b := BuildDesired([]marathon.App{green, blue}, cfg, fakeResolver{}, Existing{})
		be := b.State.Backends["shop_10100"]
		if be == nil || len(be.Servers) != 6 {
			t.Fatalf("backend shop_10100: %+v (rejected %v)", be, b.Rejected)
		}
		disabled := 0
		for _, s := range be.Servers {
			if s.Maintenance == "enabled" {
				disabled++
			}
		}
		if disabled != 3 {
			t.Fatalf("%d disabled servers, want the 3 blue ones", disabled)
		}
	})
}
