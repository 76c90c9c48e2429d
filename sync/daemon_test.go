package sync

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/dataplanetest"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

type daemonEnv struct {
	sim     *marathontest.Server
	fake    *dataplanetest.Server
	daemon  *Daemon
	metrics *Metrics
	cancel  context.CancelFunc
	done    chan struct{}
}

func startDaemon(t *testing.T, poll bool, watchdog time.Duration) *daemonEnv {
	t.Helper()
	sim := marathontest.Started(t, marathontest.Options{})
	fake := dataplanetest.NewServer(dataplanetest.Options{})
	t.Cleanup(fake.Close)
	mc, err := marathon.New(marathon.Config{URLs: []string{sim.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dataplane.New(dataplane.Config{URL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Groups = []string{"*"}
	s := &Syncer{Apps: mc, API: dc, Resolver: fakeResolver{}, Config: cfg, TransactionRender: true}
	m := NewMetrics(prometheus.NewRegistry())
	dcfg := DaemonConfig{PollInterval: time.Hour, Window: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Watchdog: watchdog}
	if poll {
		dcfg.PollInterval = 100 * time.Millisecond
	} else {
		dcfg.Events = mc
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &daemonEnv{sim: sim, fake: fake, daemon: NewDaemon(s, dcfg, m, nil), metrics: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		_ = e.daemon.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-e.done
	})
	return e
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *daemonEnv) servers(backend string) int {
	return len(e.fake.Objects("servers", "backend", backend))
}

func TestDaemonFollowsEvents(t *testing.T) {
	e := startDaemon(t, false, time.Minute)
	eventually(t, "first sync", func() bool { return e.daemon.Ready(time.Minute) })
	eventually(t, "stream connected", func() bool { return e.daemon.Status().StreamConnected })

	if _, err := e.sim.CreateApp(marathon.App{ID: "/web", Instances: 2, PortDefinitions: []marathon.PortDefinition{{Port: 0}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "2 servers", func() bool { return e.servers("web_10000") == 2 })

	if _, err := e.sim.ScaleApp("/web", 4, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "4 servers", func() bool { return e.servers("web_10000") == 4 })
	if testutil.ToFloat64(e.metrics.Events.WithLabelValues(marathon.EventStatusUpdate)) == 0 {
		t.Fatal("no status_update_event counted")
	}
	// Bursts coalesce: far fewer syncs than events.
	events := testutil.ToFloat64(e.metrics.Events.WithLabelValues(marathon.EventStatusUpdate))
	if syncs := float64(e.daemon.Status().Syncs); syncs >= events {
		t.Fatalf("%v syncs for %v status events: no coalescing", syncs, events)
	}

	t.Run("a cut stream reconnects and resyncs", func(t *testing.T) {
		before := testutil.ToFloat64(e.metrics.StreamConnect.WithLabelValues("connected"))
		e.sim.CloseEventStreams()
		eventually(t, "reconnect", func() bool {
			return testutil.ToFloat64(e.metrics.StreamConnect.WithLabelValues("connected")) > before
		})
		if _, err := e.sim.ScaleApp("/web", 1, false); err != nil {
			t.Fatal(err)
		}
		eventually(t, "1 server", func() bool { return e.servers("web_10000") == 1 })
	})
}

func TestDaemonWatchdogReconnectsASilentStream(t *testing.T) {
	e := startDaemon(t, false, 150*time.Millisecond)
	eventually(t, "stream connected", func() bool { return e.daemon.Status().StreamConnected })
	e.sim.SetSilentStreams(true)
	before := testutil.ToFloat64(e.metrics.StreamConnect.WithLabelValues("connected"))
	eventually(t, "watchdog reconnect", func() bool {
		return testutil.ToFloat64(e.metrics.StreamConnect.WithLabelValues("connected")) > before
	})
}

func TestDaemonPollMode(t *testing.T) {
	e := startDaemon(t, true, time.Minute)
	if e.daemon.Status().Mode != "poll" {
		t.Fatalf("mode %q", e.daemon.Status().Mode)
	}
	if _, err := e.sim.CreateApp(marathon.App{ID: "/polled", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "polled app synced", func() bool { return e.servers("polled_10000") == 1 })
}

func TestCoalesceKeepsTheStrongestRequest(t *testing.T) {
	d := NewDaemon(nil, DaemonConfig{Window: 20 * time.Millisecond, MaxDelay: time.Second}, nil, zap.NewNop())
	d.Trigger("event status_update_event")
	d.TriggerFull("SIGHUP")
	d.TriggerReconcile("SIGUSR1")
	first := <-d.trigger
	got := d.takePending(d.coalesce(context.Background(), first))
	if !got.full || !got.reconcile {
		t.Errorf("merged trigger = %+v, want full and reconcile", got)
	}
	if got.reason != "event status_update_event, SIGHUP, SIGUSR1" {
		t.Errorf("reason = %q", got.reason)
	}

	// With the queue full, a SIGHUP is not lost.
	for range cap(d.trigger) {
		d.Trigger("event")
	}
	d.TriggerFull("SIGHUP")
	first = <-d.trigger
	if got := d.takePending(d.coalesce(context.Background(), first)); !got.full {
		t.Errorf("a SIGHUP sent to a full queue was lost: %+v", got)
	}
}

func TestMergeReasonNamesEverySignal(t *testing.T) {
	r := "event a"
	for _, e := range []string{"event b", "event c", "event d", "event e", "event f", "event a"} {
		r = mergeReason(r, trigger{reason: e})
	}
	r = mergeReason(r, trigger{reason: "SIGHUP", full: true})
	if want := "event a, event b, event c, event d, event e, SIGHUP"; r != want {
		t.Errorf("reason = %q, want %q", r, want)
	}
}
