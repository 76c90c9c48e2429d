package sync

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
)

// fakeRuntime records commands and answers sessions from a table.
type fakeRuntime struct {
	RuntimeAPI
	sessions map[string]int64
	calls    []string
}

func (f *fakeRuntime) SetServerState(_ context.Context, be, srv, state string) error {
	f.calls = append(f.calls, "state "+be+"/"+srv+" "+state)
	return nil
}

func (f *fakeRuntime) ShowStat(_ context.Context, be string) ([]runtimeapi.StatRow, error) {
	var rows []runtimeapi.StatRow
	for srv, n := range f.sessions {
		rows = append(rows, runtimeapi.StatRow{Proxy: be, Server: srv, Scur: n})
	}
	return rows, nil
}

func (f *fakeRuntime) RemoveServer(_ context.Context, be, srv string) error {
	f.calls = append(f.calls, "remove "+be+"/"+srv)
	return nil
}

func (f *fakeRuntime) Execute(_ context.Context, cmd string) (string, error) {
	f.calls = append(f.calls, cmd)
	return "", nil
}

func TestDrainerWaitsForSessionsOrGrace(t *testing.T) {
	now := time.Unix(0, 0)
	d := newDrainer(10 * time.Second)
	d.now = func() time.Time { return now }
	rt := &fakeRuntime{sessions: map[string]int64{"s1": 2}}
	ctx, log := context.Background(), zap.NewNop()

	if still, err := d.remove(ctx, rt, "be", "s1", log); err != nil || !still {
		t.Fatalf("busy server: still=%v err=%v", still, err)
	}
	if rt.calls[0] != "state be/s1 drain" || len(rt.calls) != 1 {
		t.Fatalf("calls %v", rt.calls)
	}
	now = now.Add(5 * time.Second)
	if still, _ := d.remove(ctx, rt, "be", "s1", log); !still {
		t.Fatal("removed while sessions remain within the grace period")
	}
	rt.sessions["s1"] = 0
	if still, _ := d.remove(ctx, rt, "be", "s1", log); still {
		t.Fatal("idle server not removed")
	}
	if last := rt.calls[len(rt.calls)-1]; last != "remove be/s1" {
		t.Fatalf("calls %v", rt.calls)
	}

	rt.calls = nil
	rt.sessions["s2"] = 1
	if still, _ := d.remove(ctx, rt, "be", "s2", log); !still {
		t.Fatal("busy s2 removed at once")
	}
	now = now.Add(11 * time.Second)
	if still, _ := d.remove(ctx, rt, "be", "s2", log); still {
		t.Fatal("not removed after the grace period")
	}
	want := []string{"state be/s2 drain", "shutdown sessions server be/s2", "remove be/s2"}
	if len(rt.calls) != len(want) {
		t.Fatalf("calls %v want %v", rt.calls, want)
	}
	for i := range want {
		if rt.calls[i] != want[i] {
			t.Fatalf("calls %v want %v", rt.calls, want)
		}
	}
}

// TestDrainerReleasesServersWantedAgain: a task that failed its check and
// passed it again before its sessions ended keeps an unchanged server
// object, so no step touches it; the drainer puts it back in service.
func TestDrainerReleasesServersWantedAgain(t *testing.T) {
	d := newDrainer(time.Minute)
	rt := &fakeRuntime{sessions: map[string]int64{"s1": 1, "s2": 1}}
	ctx, log := context.Background(), zap.NewNop()
	for _, srv := range []string{"s1", "s2"} {
		if still, err := d.remove(ctx, rt, "be", srv, log); err != nil || !still {
			t.Fatalf("%s: still=%v err=%v", srv, still, err)
		}
	}
	rt.calls = nil
	desired := NewState()
	desired.Backends["be"] = &Backend{Servers: []dataplane.Server{{Name: "s1"}}}
	if err := d.release(ctx, rt, desired, log); err != nil {
		t.Fatal(err)
	}
	if len(rt.calls) != 1 || rt.calls[0] != "state be/s1 ready" || d.draining("be", "s1") || !d.draining("be", "s2") {
		t.Fatalf("calls %v, s1 draining %v, s2 draining %v", rt.calls, d.draining("be", "s1"), d.draining("be", "s2"))
	}
}
