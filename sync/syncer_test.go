package sync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/dataplanetest"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// staticApps is an AppSource that answers a fixed list or an error.
type staticApps struct {
	apps []marathon.App
	err  error
}

func (s *staticApps) Apps(context.Context) ([]marathon.App, error) { return s.apps, s.err }

func newSyncer(t *testing.T, apps []marathon.App) (*Syncer, *dataplanetest.Server, *staticApps) {
	t.Helper()
	fake := dataplanetest.NewServer(dataplanetest.Options{User: "admin", Password: "pw"})
	t.Cleanup(fake.Close)
	c, err := dataplane.New(dataplane.Config{URL: fake.URL, User: "admin", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	src := &staticApps{apps: apps}
	return &Syncer{Apps: src, API: c, Resolver: fakeResolver{}, Config: testConfig(), TransactionRender: true}, fake, src
}

func TestSyncAgainstTheDouble(t *testing.T) {
	f := loadFixture(t, "vhosts")
	s, fake, src := newSyncer(t, f.Apps)
	ctx := context.Background()

	r, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Creating frontends and binds is a full configuration commit.
	if r.Applied.Strategy != Full || r.Applied.FullSteps == 0 || r.Applied.ReloadID == "" || fake.Reloads() != 1 {
		t.Fatalf("first sync: %+v, reloads %d", r.Applied, fake.Reloads())
	}

	t.Run("second sync writes nothing", func(t *testing.T) {
		writes, reloads := fake.Writes(), fake.Reloads()
		r, err := s.Sync(ctx)
		if err != nil || !r.Plan.Empty() {
			t.Fatalf("err %v plan %v", err, r.Plan.Steps)
		}
		if fake.Writes() != writes || fake.Reloads() != reloads {
			t.Fatalf("writes %d→%d reloads %d→%d", writes, fake.Writes(), reloads, fake.Reloads())
		}
	})

	t.Run("a conflict at commit re-plans and succeeds", func(t *testing.T) {
		src.apps[0].Tasks = append(src.apps[0].Tasks, marathon.Task{ID: "web.2", Host: "127.0.0.2", Ports: []int{31009}, State: "TASK_RUNNING"})
		fake.FailNext("PUT", "/services/haproxy/transactions/", 409, `{"code":409,"message":"version mismatch"}`)
		r, err := s.Sync(ctx)
		if err != nil || r.Attempts != 2 {
			t.Fatalf("err %v attempts %d", err, r.Attempts)
		}
		if len(fake.Objects("servers", "backend", "web_10001")) != 2 {
			t.Fatal("server not added after the retry")
		}
	})

	t.Run("a failed step deletes the transaction and reports the step", func(t *testing.T) {
		src.apps[0].Tasks = src.apps[0].Tasks[:1]
		fake.FailNext("DELETE", "/services/haproxy/configuration/servers/", 500, "")
		_, err := s.Sync(ctx)
		if err == nil || !strings.Contains(err.Error(), "delete server web_10001/") {
			t.Fatalf("err %v", err)
		}
		for _, tx := range fake.Transactions() {
			if tx.Status == dataplane.TransactionInProgress {
				t.Fatalf("transaction left open: %+v", tx)
			}
		}
		if _, err := s.Sync(ctx); err != nil { // and the next pass repairs
			t.Fatal(err)
		}
	})

	t.Run("a rejected app keeps what HAProxy has", func(t *testing.T) {
		src.apps[1].Labels["HAPROXY_0_MODE"] = "udp"
		r, err := s.Sync(ctx)
		if err != nil || !r.Partial() {
			t.Fatalf("err %v partial %v", err, r.Partial())
		}
		if len(fake.Objects("backends", "", "")) != 4 {
			t.Fatalf("backends: %v", fake.Objects("backends", "", ""))
		}
	})

	t.Run("Marathon errors change nothing", func(t *testing.T) {
		src.err = marathon.ErrUnreachable
		defer func() { src.err = nil }()
		writes := fake.Writes()
		if _, err := s.Sync(ctx); !errors.Is(err, marathon.ErrUnreachable) {
			t.Fatalf("err %v", err)
		}
		if fake.Writes() != writes {
			t.Fatal("wrote although Marathon failed")
		}
	})

	t.Run("a failed reload is an error", func(t *testing.T) {
		src.apps[2].Labels["HAPROXY_0_BALANCE"] = "source"
		fake.FailNextReload("haproxy master reports failed reload (failed: 1)")
		_, err := s.Sync(ctx)
		if !errors.Is(err, dataplane.ErrReloadFailed) || !strings.Contains(err.Error(), "failed: 1") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestSyncNeverTouchesForeignObjects(t *testing.T) {
	f := loadFixture(t, "host_tcp")
	s, fake, _ := newSyncer(t, f.Apps)
	if err := fake.Seed("backends", "", "", dataplane.Backend{Name: "grp_db_10010", Mode: "tcp"}); err != nil {
		t.Fatal(err)
	}
	if err := fake.Seed("frontends", "", "", dataplane.Frontend{Name: "stats", Mode: "http"}); err != nil {
		t.Fatal(err)
	}
	if err := fake.Seed("binds", "frontend", "stats", dataplane.Bind{Name: "s", Address: "*", Port: dataplane.Int64(10010)}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The app's port is taken by the operator's frontend: the app is
	// rejected rather than breaking the reload, and nothing foreign changed.
	if !r.Partial() || !strings.Contains(r.Build.Rejected["/grp/db"][0].Error(), "frontend stats") {
		t.Fatalf("rejected: %v", r.Build.Rejected)
	}
	be := fake.Objects("backends", "", "")
	if len(be) != 1 || be[0]["description"] != nil {
		t.Fatalf("foreign backend changed: %v", be)
	}
}

func TestSyncReReadsOnlyWhenSomeoneElseWrote(t *testing.T) {
	f := loadFixture(t, "vhosts")
	s, fake, _ := newSyncer(t, f.Apps)
	ctx := context.Background()
	reads := func() int {
		n := 0
		for _, r := range fake.Requests() {
			if r.Method == "GET" && strings.HasSuffix(r.Path, "/configuration/backends") {
				n++
			}
		}
		return n
	}
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before := reads()
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if reads() != before {
		t.Fatal("re-read the configuration although nobody else wrote")
	}
	fake.ExternalEdit()
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if reads() != before+1 {
		t.Fatalf("did not re-read after another writer: %d → %d", before, reads())
	}
}

// TestEmptyAnswerNeedsConfirmation: Marathon answering no apps after a
// non-empty configuration empties HAProxy only on the third answer in a
// row.
func TestEmptyAnswerNeedsConfirmation(t *testing.T) {
	f := loadFixture(t, "vhosts")
	s, fake, src := newSyncer(t, f.Apps)
	s.EmptyConfirmations = 3
	ctx := context.Background()
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	backends := len(fake.Objects("backends", "", ""))
	src.apps = nil
	for i := 1; i <= 2; i++ {
		if _, err := s.Sync(ctx); !errors.Is(err, ErrEmptyUnconfirmed) {
			t.Fatalf("empty answer %d: %v, want ErrEmptyUnconfirmed", i, err)
		}
		if n := len(fake.Objects("backends", "", "")); n != backends {
			t.Fatalf("empty answer %d removed backends: %d → %d", i, backends, n)
		}
	}
	if _, err := s.Sync(ctx); err != nil {
		t.Fatalf("third empty answer: %v", err)
	}
	if n := len(fake.Objects("backends", "", "")); n != 0 {
		t.Fatalf("%d backends left after a confirmed empty answer", n)
	}
	// A non-empty answer in between resets the count.
	src.apps = f.Apps
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	src.apps = nil
	if _, err := s.Sync(ctx); !errors.Is(err, ErrEmptyUnconfirmed) {
		t.Fatalf("first empty answer after apps came back: %v", err)
	}
}
