package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/dataplanetest"
)

// TestPersisterWritesTheNewestState: a burst of runtime states becomes
// few writes, the last one carrying the newest state; the versions those
// writes produced are recognised as ours; another writer's edit makes the
// next write fail (and be reported) instead of overwriting it.
func TestPersisterWritesTheNewestState(t *testing.T) {
	fake, api, start := persisterAPI(t)
	ctx := context.Background()
	failures := make(chan error, 4)
	p := newPersister(api, zap.NewNop(), func(err error) { failures <- err })

	f := loadFixture(t, "vhosts")
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	const burst = 20
	for i := 1; i <= burst; i++ {
		desired := &State{Backends: map[string]*Backend{}, Frontends: current.Frontends, Userlists: current.Userlists}
		for name, be := range current.Backends {
			desired.Backends[name] = be
		}
		desired.Backends[fmt.Sprintf("burst_%d", i)] = &Backend{Backend: dataplane.Backend{Name: fmt.Sprintf("burst_%d", i), Mode: "tcp"}}
		p.submit(Plan{Current: current, Desired: desired, Version: start}, nil)
	}
	if err := p.flush(ctx); err != nil {
		t.Fatal(err)
	}
	text, version, err := api.RawConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, fmt.Sprintf("backend burst_%d\n", burst)) || strings.Contains(text, "backend burst_1\n") {
		t.Fatalf("the file does not hold the newest state:\n%s", text)
	}
	if p.writes < 1 || p.writes >= burst {
		t.Fatalf("%d writes for a burst of %d", p.writes, burst)
	}
	if !p.ours(start, version) || p.ours(start, version+1) {
		t.Fatalf("versions %d→%d not recognised as ours", start, version)
	}

	// A write after our own starts from the text it posted: the file is
	// not read back.
	rawReads := func() int { return rawConfigReads(fake) }
	reads := rawReads()
	p.submit(Plan{Current: current, Desired: current, Version: version}, nil)
	if err := p.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rawReads() != reads {
		t.Fatalf("a write after our own read the file back (%d reads, was %d)", rawReads(), reads)
	}
	if p.last() <= version || !p.ours(version, p.last()) {
		t.Fatalf("the write from our own text did not land: version %d, last write %d", version, p.last())
	}
	version = p.last()

	fake.ExternalEdit()
	p.submit(Plan{Current: current, Desired: current, Version: version}, nil)
	select {
	case err := <-failures:
		if !errors.Is(err, dataplane.ErrConflict) {
			t.Fatalf("failure %v, want a conflict", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write over another writer's edit was not refused")
	}
	if err := p.flush(ctx); !errors.Is(err, dataplane.ErrConflict) {
		t.Fatalf("flush: %v", err)
	}
	// The next write, at the version the pass read after the edit, reads
	// the file again (the edit is kept) and lands.
	edited, err := api.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.submit(Plan{Current: current, Desired: current, Version: edited}, nil)
	if err := p.flush(ctx); err != nil {
		t.Fatalf("the write after a conflict: %v", err)
	}
}

// TestFullCommitSeedsTheBackgroundWrites: after a full commit, the next
// background write starts from the committed text and sections (no read
// back of the file), and keeps the operator's part of it.
func TestFullCommitSeedsTheBackgroundWrites(t *testing.T) {
	fake, api, start := persisterAPI(t)
	ctx := context.Background()
	p := newPersister(api, zap.NewNop(), func(err error) { t.Errorf("write failed: %v", err) })
	f := loadFixture(t, "vhosts")
	desired := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	plan := Diff(NewState(), desired)
	// As the syncer hands it over: with the states, at the version read.
	plan.Current, plan.Desired, plan.Version = NewState(), desired, start
	res, err := applyFull(ctx, api, plan, zap.NewNop(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.rendered.backends) != len(desired.Backends) {
		t.Errorf("the commit left %d of %d backends' sections for the writes", len(p.rendered.backends), len(desired.Backends))
	}
	reads := rawConfigReads(fake)

	next := &State{Backends: maps.Clone(desired.Backends), Frontends: desired.Frontends, Userlists: desired.Userlists}
	for name, be := range desired.Backends {
		moved := *be
		moved.Servers = append([]dataplane.Server(nil), be.Servers...)
		moved.Servers[0].Address = "127.0.0.99"
		next.Backends[name] = &moved
		break
	}
	p.submit(Plan{Current: desired, Desired: next, Version: res.Version}, nil)
	if err := p.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if after := rawConfigReads(fake); after != reads {
		t.Errorf("the write after a full commit read the file back (%d reads, was %d)", rawConfigReads(fake), reads)
	}
	text, _, err := api.RawConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "127.0.0.99") || !strings.Contains(text, "  stats socket /s level admin\n") {
		t.Fatalf("the write did not land on the committed text:\n%s", text)
	}
}

// persisterAPI is a Data Plane API with an operator's configuration, its
// client and the version it starts at.
func persisterAPI(t *testing.T) (*dataplanetest.Server, *dataplane.Client, int64) {
	t.Helper()
	fake := dataplanetest.NewServer(dataplanetest.Options{User: "admin", Password: "pw", RawConfig: "global\n  stats socket /s level admin\n"})
	t.Cleanup(fake.Close)
	api, err := dataplane.New(dataplane.Config{URL: fake.URL, User: "admin", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	start, err := api.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fake, api, start
}

// rawConfigReads counts the reads of the configuration text.
func rawConfigReads(fake *dataplanetest.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/configuration/raw") {
			n++
		}
	}
	return n
}

// TestPersisterInterval: with an interval, the states submitted while a
// write waits become one write of the newest, and a flush does not wait
// for the interval.
func TestPersisterInterval(t *testing.T) {
	_, api, start := persisterAPI(t)
	p := newPersister(api, zap.NewNop(), func(err error) { t.Errorf("write failed: %v", err) })
	p.interval = time.Hour
	f := loadFixture(t, "vhosts")
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	state := func(i int) *State {
		st := &State{Backends: maps.Clone(current.Backends), Frontends: current.Frontends, Userlists: current.Userlists}
		st.Backends[fmt.Sprintf("wait_%d", i)] = &Backend{Backend: dataplane.Backend{Name: fmt.Sprintf("wait_%d", i), Mode: "tcp"}}
		return st
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The first write starts at once; the next ones wait for the hour.
	p.submit(Plan{Current: current, Desired: state(0), Version: start}, nil)
	if err := p.flush(ctx); err != nil {
		t.Fatal(err)
	}
	version := p.last()
	for i := 1; i <= 5; i++ {
		p.submit(Plan{Current: current, Desired: state(i), Version: version}, nil)
	}
	if err := p.flush(ctx); err != nil {
		t.Fatalf("a flush waited for the interval: %v", err)
	}
	text, _, err := api.RawConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.writes != 2 || !strings.Contains(text, "backend wait_5\n") || strings.Contains(text, "backend wait_1\n") {
		t.Fatalf("%d writes; want 2, the second with the newest state:\n%s", p.writes, text)
	}
}
