package dataplane_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/dataplanetest"
)

const password = "adminpwd-s3cret"

// setup starts a fake at version 2 with be_app (s1, s2) and fe_main, and
// a client for it. opts tune the fake.
func setup(t *testing.T, opts ...func(*dataplanetest.Options)) (*dataplanetest.Server, *dataplane.Client) {
	t.Helper()
	o := dataplanetest.Options{User: "admin", Password: password, InitialVersion: 2, RawConfig: "global\n  master-worker\n"}
	for _, fn := range opts {
		fn(&o)
	}
	s := dataplanetest.NewServer(o)
	t.Cleanup(s.Close)
	seed(t, s.Fake)
	return s, client(t, s.URL, nil)
}

func seed(t *testing.T, f *dataplanetest.Fake) {
	t.Helper()
	for _, err := range []error{
		f.Seed("backends", "", "", dataplane.Backend{Name: "be_app", Mode: "http", Balance: &dataplane.Balance{Algorithm: "roundrobin"}}),
		f.Seed("servers", "backend", "be_app", dataplane.Server{Name: "s1", Address: "127.0.0.1", Port: dataplane.Int64(21001), Weight: dataplane.Int64(31)}),
		f.Seed("servers", "backend", "be_app", dataplane.Server{Name: "s2", Address: "127.0.0.1", Port: dataplane.Int64(21002)}),
		f.Seed("frontends", "", "", dataplane.Frontend{Name: "fe_main", Mode: "http", DefaultBackend: "be_app"}),
		f.Seed("binds", "frontend", "fe_main", dataplane.Bind{Name: "b0", Address: "127.0.0.1", Port: dataplane.Int64(21080)}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func client(t *testing.T, u string, log *zap.Logger, mod ...func(*dataplane.Config)) *dataplane.Client {
	t.Helper()
	cfg := dataplane.Config{URL: u, User: "admin", Password: password, ReloadPollInterval: 2 * time.Millisecond,
		ReloadTimeout: 2 * time.Second, Timeout: 5 * time.Second, Logger: log}
	for _, fn := range mod {
		fn(&cfg)
	}
	c, err := dataplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVersionTracking(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	if c.LastSeenVersion() != 0 {
		t.Fatalf("before any request: %d", c.LastSeenVersion())
	}
	v, err := c.Version(ctx)
	if err != nil || v != 2 || c.LastSeenVersion() != 2 {
		t.Fatalf("Version: %d %v, last seen %d", v, err, c.LastSeenVersion())
	}
	s.ExternalEdit()
	if _, err := c.Backends(ctx, ""); err != nil || c.LastSeenVersion() != 3 {
		t.Fatalf("a read updates it: %v %d", err, c.LastSeenVersion())
	}
	// an error answer carries the header too
	_, err = c.ReplaceServer(ctx, 1, "be_app", dataplane.Server{Name: "s1", Address: "127.0.0.1"})
	if !errors.Is(err, dataplane.ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
	s.ExternalEdit()
	if _, err := c.Backend(ctx, "", "nope"); !errors.Is(err, dataplane.ErrNotFound) || c.LastSeenVersion() != 4 {
		t.Fatalf("404 with header: %v %d", err, c.LastSeenVersion())
	}
	// an unknown transaction answers Configuration-Version: 0, which is ignored
	if _, err := c.Backends(ctx, "no-such-tx"); !errors.Is(err, dataplane.ErrBadRequest) || c.LastSeenVersion() != 4 {
		t.Fatalf("unknown tx: %v %d", err, c.LastSeenVersion())
	}
	res, err := c.ReplaceServer(ctx, 4, "be_app", dataplane.Server{Name: "s1", Address: "127.0.0.1", Port: dataplane.Int64(21001), Weight: dataplane.Int64(31)})
	if err != nil || res.Version != 5 || c.LastSeenVersion() != 5 {
		t.Fatalf("write: %+v %v %d", res, err, c.LastSeenVersion())
	}
}

func TestTransactionHappyPath(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	tx, err := c.StartTransaction(ctx, 2)
	if err != nil || tx.ID == "" || tx.Version != 2 {
		t.Fatalf("start: %+v %v", tx, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tx.CreateBackend(ctx, dataplane.Backend{Name: "be_new", From: "", Mode: "http", Balance: &dataplane.Balance{Algorithm: "roundrobin"},
		AdvCheck: "httpchk", HttpchkParams: &dataplane.HttpchkParams{Method: "GET", URI: "/health"}}))
	must(tx.CreateServer(ctx, "be_new", dataplane.Server{Name: "n1", Address: "127.0.0.1", Port: dataplane.Int64(21003), Weight: dataplane.Int64(100), Check: "enabled"}))
	must(tx.CreateFrontend(ctx, dataplane.Frontend{Name: "fe_new", Mode: "http", DefaultBackend: "be_app"}))
	must(tx.CreateBind(ctx, "fe_new", dataplane.Bind{Name: "b1", Address: "127.0.0.1", Port: dataplane.Int64(21081)}))
	must(tx.CreateACL(ctx, "frontend", "fe_new", dataplane.ACL{Index: 0, ACLName: "host_new", Criterion: "hdr(host)", Value: "-i new.example.com"}))
	must(tx.CreateACL(ctx, "frontend", "fe_new", dataplane.ACL{Index: 0, ACLName: "host_first", Criterion: "hdr(host)", Value: "-i first"}))
	must(tx.ReplaceACL(ctx, "frontend", "fe_new", dataplane.ACL{Index: 1, ACLName: "host_new", Criterion: "hdr(host)", Value: "-i new.example.org"}))
	must(tx.DeleteACL(ctx, "frontend", "fe_new", 0))
	must(tx.CreateBackendSwitchingRule(ctx, "fe_new", dataplane.BackendSwitchingRule{Index: 0, Name: "be_new", Cond: "if", CondTest: "host_new"}))
	must(tx.ReplaceBackendSwitchingRule(ctx, "fe_new", dataplane.BackendSwitchingRule{Index: 0, Name: "be_new", Cond: "unless", CondTest: "host_new"}))
	must(tx.CreateHTTPRequestRule(ctx, "frontend", "fe_new", dataplane.HTTPRequestRule{Index: 0, Type: "set-header", HdrName: "X-Forwarded-Port", HdrFormat: "%[dst_port]"}))
	must(tx.ReplaceHTTPRequestRule(ctx, "frontend", "fe_new", dataplane.HTTPRequestRule{Index: 0, Type: "set-header", HdrName: "X-Port", HdrFormat: "%[dst_port]"}))
	must(tx.CreateHTTPResponseRule(ctx, "backend", "be_new", dataplane.HTTPResponseRule{Index: 0, Type: "set-header", HdrName: "X-Served-By", HdrFormat: "be_new"}))
	must(tx.CreateTCPRequestRule(ctx, "frontend", "fe_new", dataplane.TCPRequestRule{Index: 0, Type: "inspect-delay", Timeout: dataplane.Int64(5000)}))
	must(tx.ReplaceTCPRequestRule(ctx, "frontend", "fe_new", dataplane.TCPRequestRule{Index: 0, Type: "inspect-delay", Timeout: dataplane.Int64(0)}))
	must(tx.ReplaceServer(ctx, "be_app", dataplane.Server{Name: "s1", Address: "127.0.0.1", Port: dataplane.Int64(21001), Weight: dataplane.Int64(0)}))
	must(tx.DeleteServer(ctx, "be_app", "s2"))
	must(tx.ReplaceBackend(ctx, dataplane.Backend{Name: "be_app", Mode: "http", Balance: &dataplane.Balance{Algorithm: "leastconn"}}))
	must(tx.CreateUserlist(ctx, dataplane.Userlist{Name: "ul"}))
	must(tx.CreateUser(ctx, "ul", dataplane.User{Username: "u1", Password: "pw", SecurePassword: false}))
	must(tx.ReplaceUser(ctx, "ul", dataplane.User{Username: "u1", Password: "pw2", SecurePassword: false}))
	must(tx.CreateUser(ctx, "ul", dataplane.User{Username: "u2", Password: "x"}))
	must(tx.DeleteUser(ctx, "ul", "u2"))
	must(tx.CreateFrontend(ctx, dataplane.Frontend{Name: "fe_tmp"}))
	must(tx.ReplaceFrontend(ctx, dataplane.Frontend{Name: "fe_tmp", Maxconn: dataplane.Int64(10)}))
	must(tx.CreateBind(ctx, "fe_tmp", dataplane.Bind{Name: "t1", Port: dataplane.Int64(1)}))
	must(tx.ReplaceBind(ctx, "fe_tmp", dataplane.Bind{Name: "t1", Port: dataplane.Int64(2)}))
	must(tx.DeleteBind(ctx, "fe_tmp", "t1"))
	must(tx.DeleteFrontend(ctx, "fe_tmp"))
	must(tx.CreateUserlist(ctx, dataplane.Userlist{Name: "ul_tmp"}))
	must(tx.DeleteUserlist(ctx, "ul_tmp"))
	must(tx.CreateBackend(ctx, dataplane.Backend{Name: "be_tmp"}))
	must(tx.CreateHTTPResponseRule(ctx, "backend", "be_tmp", dataplane.HTTPResponseRule{Index: 0, Type: "del-header", HdrName: "X"}))
	must(tx.ReplaceHTTPResponseRule(ctx, "backend", "be_tmp", dataplane.HTTPResponseRule{Index: 0, Type: "del-header", HdrName: "Y"}))
	must(tx.DeleteHTTPResponseRule(ctx, "backend", "be_tmp", 0))
	must(tx.DeleteHTTPRequestRule(ctx, "frontend", "fe_new", 0))
	must(tx.DeleteTCPRequestRule(ctx, "frontend", "fe_new", 0))
	must(tx.DeleteBackendSwitchingRule(ctx, "fe_new", 0))
	must(tx.DeleteBackend(ctx, "be_tmp"))
	if c.LastSeenVersion() != 2 {
		t.Errorf("inside the tx the header is the base version: %d", c.LastSeenVersion())
	}

	// the transaction's view, not the live one
	srvs, err := c.Servers(ctx, tx.ID, "be_new")
	must(err)
	if len(srvs) != 1 || srvs[0].Name != "n1" || *srvs[0].Port != 21003 || srvs[0].Check != "enabled" {
		t.Errorf("servers in tx: %+v", srvs)
	}
	if _, err := c.Backend(ctx, "", "be_new"); !errors.Is(err, dataplane.ErrNotFound) {
		t.Errorf("live view sees the tx: %v", err)
	}
	acls, err := c.ACLs(ctx, tx.ID, "frontend", "fe_new")
	must(err)
	if len(acls) != 1 || acls[0].Value != "-i new.example.org" || acls[0].Index != 0 {
		t.Errorf("acls: %+v", acls)
	}

	res, err := tx.Commit(ctx)
	must(err)
	if res.Status != 202 || res.Version != 3 || res.ReloadID == "" {
		t.Fatalf("commit: %+v", res)
	}
	if r, err := c.WaitReload(ctx, res.ReloadID); err != nil || r.Status != dataplane.ReloadSucceeded || r.ID != res.ReloadID {
		t.Fatalf("wait: %+v %v", r, err)
	}

	// reads of the live configuration decode into the models
	be, err := c.Backend(ctx, "", "be_new")
	must(err)
	if be.AdvCheck != "httpchk" || be.HttpchkParams == nil || be.HttpchkParams.URI != "/health" {
		t.Errorf("backend: %+v", be)
	}
	s1, err := c.Server(ctx, "", "be_app", "s1")
	must(err)
	if s1.Weight == nil || *s1.Weight != 0 {
		t.Errorf("weight 0 must survive as an explicit 0: %+v", s1)
	}
	fes, _ := c.Frontends(ctx, "")
	binds, _ := c.Binds(ctx, "", "fe_new")
	rules, _ := c.HTTPResponseRules(ctx, "", "backend", "be_new")
	req, _ := c.HTTPRequestRules(ctx, "", "frontend", "fe_new")
	tcp, _ := c.TCPRequestRules(ctx, "", "frontend", "fe_new")
	sw, _ := c.BackendSwitchingRules(ctx, "", "fe_new")
	uls, _ := c.Userlists(ctx, "")
	users, _ := c.Users(ctx, "", "ul")
	fe, _ := c.Frontend(ctx, "", "fe_new")
	if len(fes) != 2 || len(binds) != 1 || len(rules) != 1 || len(req) != 0 || len(tcp) != 0 || len(sw) != 0 || len(uls) != 1 ||
		len(users) != 1 || users[0].Password != "pw2" || fe.DefaultBackend != "be_app" {
		t.Errorf("reads: %d %d %d %d %d %d %d %+v %+v", len(fes), len(binds), len(rules), len(req), len(tcp), len(sw), len(uls), users, fe)
	}
	if txs := s.Transactions(); len(txs) != 0 {
		t.Errorf("transactions left: %+v", txs)
	}
}

func TestWithTransactionRetriesOnConflict(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()

	// 409 at start (someone wrote between our GET version and POST)
	s.FailNext("POST", "/services/haproxy/transactions", 409, `{"code":409,"message":"version mismatch: version in configuration file is 3, given version is 2"}`)
	calls := 0
	res, err := c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		return tx.CreateBackend(ctx, dataplane.Backend{Name: "be_a"})
	})
	if err != nil || calls != 1 || res.Version != 3 {
		t.Fatalf("409 at start: %+v %v calls=%d", res, err, calls)
	}

	// 409 at commit: a write outside transactions moved the version
	calls = 0
	res, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		if calls == 1 {
			s.ExternalEdit()
		}
		return tx.CreateBackend(ctx, dataplane.Backend{Name: "be_b"})
	})
	if err != nil || calls != 2 || res.Version != 5 {
		t.Fatalf("409 at commit: %+v %v calls=%d", res, err, calls)
	}

	// 406 outdated at commit: another transaction at the same base committed first
	commitOther := func(ctx context.Context, base int64) error {
		other, err := c.StartTransaction(ctx, base)
		if err != nil {
			return err
		}
		_, err = other.Commit(ctx)
		return err
	}
	calls = 0
	res, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		if err := tx.CreateBackend(ctx, dataplane.Backend{Name: "be_c"}); err != nil {
			return err
		}
		if calls == 1 {
			return commitOther(ctx, tx.Version)
		}
		return nil
	})
	if err != nil || calls != 2 || res.Version != 7 {
		t.Fatalf("406 at commit: %+v %v calls=%d", res, err, calls)
	}
	// the same conflict seen by an operation inside fn: 400 "transaction does not exist"
	calls = 0
	res, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		if calls == 1 {
			if err := commitOther(ctx, tx.Version); err != nil {
				return err
			}
		}
		return tx.CreateBackend(ctx, dataplane.Backend{Name: "be_d"})
	})
	if err != nil || calls != 2 || res.Version != 9 {
		t.Fatalf("outdated mid-way: %+v %v calls=%d", res, err, calls)
	}
	if txs := s.Transactions(); len(txs) != 0 {
		t.Errorf("conflicted transactions must be deleted: %+v", txs)
	}

	// give up after MaxConflictRetries (3): 4 attempts, error wraps ErrConflict
	calls = 0
	_, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		s.ExternalEdit()
		return nil
	})
	if !errors.Is(err, dataplane.ErrConflict) || calls != 4 {
		t.Fatalf("exhausted 409: %v calls=%d", err, calls)
	}
	calls = 0
	_, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		other, _ := c.StartTransaction(ctx, tx.Version)
		_, err := other.Commit(ctx)
		return err
	})
	if !errors.Is(err, dataplane.ErrConflict) || !errors.Is(err, dataplane.ErrNotAcceptable) || calls != 4 {
		t.Fatalf("exhausted 406: %v calls=%d", err, calls)
	}
	if txs := s.Transactions(); len(txs) != 0 {
		t.Errorf("transactions left: %+v", txs)
	}
}

func TestWithTransactionDeletesOnError(t *testing.T) {
	s, c := setup(t)
	boom := errors.New("boom")

	// fn error: not retried, tx deleted
	calls := 0
	_, err := c.WithTransaction(context.Background(), false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 || len(s.Transactions()) != 0 {
		t.Fatalf("fn error: %v calls=%d txs=%v", err, calls, s.Transactions())
	}

	// an operation error inside fn (409 already exists) is not a retryable conflict
	calls = 0
	_, err = c.WithTransaction(context.Background(), false, func(ctx context.Context, tx *dataplane.Tx) error {
		calls++
		return tx.CreateBackend(ctx, dataplane.Backend{Name: "be_app"})
	})
	if !errors.Is(err, dataplane.ErrConflict) || calls != 1 || len(s.Transactions()) != 0 {
		t.Fatalf("409 inside fn: %v calls=%d txs=%v", err, calls, s.Transactions())
	}

	// commit failure (haproxy -c): 400, the failed transaction is deleted
	_, err = c.WithTransaction(context.Background(), false, func(ctx context.Context, tx *dataplane.Tx) error {
		return tx.CreateBackendSwitchingRule(ctx, "fe_main", dataplane.BackendSwitchingRule{Index: 0, Name: "be_missing"})
	})
	if !errors.Is(err, dataplane.ErrBadRequest) || !strings.Contains(err.Error(), "unable to find required use_backend: 'be_missing'") {
		t.Fatalf("commit failure: %v", err)
	}
	if txs := s.Transactions(); len(txs) != 0 {
		t.Fatalf("failed transaction left: %+v", txs)
	}

	// cancelled context: the delete still happens
	ctx, cancel := context.WithCancel(context.Background())
	_, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		cancel()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || len(s.Transactions()) != 0 {
		t.Fatalf("cancelled: %v txs=%v", err, s.Transactions())
	}
	// cancelled between fn and commit
	ctx, cancel = context.WithCancel(context.Background())
	_, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error {
		err := tx.CreateBackend(ctx, dataplane.Backend{Name: "be_z"})
		cancel()
		return err
	})
	if !errors.Is(err, context.Canceled) || len(s.Transactions()) != 0 {
		t.Fatalf("cancelled before commit: %v txs=%v", err, s.Transactions())
	}
	if v, _ := c.Version(context.Background()); v != 2 {
		t.Errorf("version moved: %d", v)
	}
}

func TestTooManyTransactions(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if _, err := c.StartTransaction(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.StartTransaction(ctx, 2)
	var apiErr *dataplane.APIError
	if !errors.Is(err, dataplane.ErrTooManyTransactions) || !errors.As(err, &apiErr) || apiErr.Code != 429 {
		t.Fatalf("21st: %v", err)
	}
	calls := 0
	_, err = c.WithTransaction(ctx, false, func(ctx context.Context, tx *dataplane.Tx) error { calls++; return nil })
	if !errors.Is(err, dataplane.ErrTooManyTransactions) || calls != 0 {
		t.Fatalf("WithTransaction: %v calls=%d", err, calls)
	}
	if len(s.Transactions()) != 20 {
		t.Errorf("transactions: %d", len(s.Transactions()))
	}
}

func TestCleanupTransactions(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	a, _ := c.StartTransaction(ctx, 2)
	b, _ := c.StartTransaction(ctx, 2)
	if _, err := a.Commit(ctx); err != nil { // b is now outdated
		t.Fatal(err)
	}
	f, _ := c.StartTransaction(ctx, 3)
	_ = f.CreateBackendSwitchingRule(ctx, "fe_main", dataplane.BackendSwitchingRule{Index: 0, Name: "be_missing"})
	if _, err := f.Commit(ctx); !errors.Is(err, dataplane.ErrBadRequest) { // failed
		t.Fatal(err)
	}
	open, _ := c.StartTransaction(ctx, 3)
	n, err := c.CleanupTransactions(ctx)
	if err != nil || n != 2 {
		t.Fatalf("cleanup: %d %v", n, err)
	}
	left := s.Transactions()
	if len(left) != 1 || left[0].ID != open.ID {
		t.Errorf("left: %+v (b=%s)", left, b.ID)
	}
	txs, err := c.Transactions(ctx, dataplane.TransactionInProgress)
	if err != nil || len(txs) != 1 || txs[0].Version != 3 {
		t.Errorf("Transactions: %+v %v", txs, err)
	}
}

func TestWaitReload(t *testing.T) {
	ctx := context.Background()
	t.Run("succeeded after in_progress", func(t *testing.T) {
		_, c := setup(t, func(o *dataplanetest.Options) { o.ReloadDelay = 30 * time.Millisecond })
		res, err := c.WithTransaction(ctx, true, func(ctx context.Context, tx *dataplane.Tx) error {
			return tx.CreateBackend(ctx, dataplane.Backend{Name: "be_w"})
		})
		if err != nil || res.ReloadID == "" {
			t.Fatalf("%+v %v", res, err)
		}
		r, err := c.Reload(ctx, res.ReloadID)
		if err != nil || r.Status != dataplane.ReloadSucceeded || r.ReloadTimestamp == 0 {
			t.Errorf("after wait: %+v %v", r, err)
		}
	})
	t.Run("in_progress body has no id", func(t *testing.T) {
		s, c := setup(t, func(o *dataplanetest.Options) { o.ReloadDelay = time.Hour })
		tx, _ := c.StartTransaction(ctx, 2)
		res, _ := tx.Commit(ctx)
		r, err := c.Reload(ctx, res.ReloadID)
		if err != nil || r.Status != dataplane.ReloadInProgress || r.ID != res.ReloadID {
			t.Errorf("pending: %+v %v", r, err)
		}
		list, err := c.Reloads(ctx)
		if err != nil || len(list) != 1 || list[0].ID != res.ReloadID {
			t.Errorf("list: %+v %v", list, err)
		}
		s.FinishReloads()
		if r, _ := c.Reload(ctx, res.ReloadID); r.Status != dataplane.ReloadSucceeded {
			t.Errorf("finished: %+v", r)
		}
	})
	t.Run("failed carries the response", func(t *testing.T) {
		s, c := setup(t)
		s.FailNextReload("haproxy master reports failed reload (failed: 1)\n")
		res, err := c.WithTransaction(ctx, true, func(ctx context.Context, tx *dataplane.Tx) error {
			return tx.CreateBackend(ctx, dataplane.Backend{Name: "be_f"})
		})
		if !errors.Is(err, dataplane.ErrReloadFailed) || !strings.Contains(err.Error(), "haproxy master reports failed reload (failed: 1)") {
			t.Fatalf("err = %v", err)
		}
		if res.ReloadID == "" || res.Version != 3 {
			t.Errorf("the commit happened, its result is returned: %+v", res)
		}
		r, err := c.WaitReload(ctx, res.ReloadID)
		if r.Status != dataplane.ReloadFailed || !errors.Is(err, dataplane.ErrReloadFailed) {
			t.Errorf("WaitReload again: %+v %v", r, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s, _ := setup(t, func(o *dataplanetest.Options) { o.ReloadDelay = time.Hour })
		c := client(t, s.URL, nil, func(cfg *dataplane.Config) { cfg.ReloadTimeout = 30 * time.Millisecond })
		tx, _ := c.StartTransaction(ctx, 2)
		res, _ := tx.Commit(ctx)
		start := time.Now()
		r, err := c.WaitReload(ctx, res.ReloadID)
		if !errors.Is(err, context.DeadlineExceeded) || r.Status != dataplane.ReloadInProgress || time.Since(start) > time.Second {
			t.Errorf("timeout: %+v %v", r, err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.WaitReload(cctx, res.ReloadID); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v", err)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		_, c := setup(t)
		if _, err := c.WaitReload(ctx, "2026-01-01-99"); !errors.Is(err, dataplane.ErrNotFound) {
			t.Errorf("unknown: %v", err)
		}
	})
	t.Run("force reload failure", func(t *testing.T) {
		s, c := setup(t)
		tx, _ := c.StartTransaction(ctx, 2)
		s.FailNextReload("exit status 1")
		_, err := tx.CommitForceReload(ctx)
		if !errors.Is(err, dataplane.ErrReloadFailed) || !errors.Is(err, dataplane.ErrBadRequest) || c.LastSeenVersion() != 3 {
			t.Errorf("forced: %v (version %d)", err, c.LastSeenVersion())
		}
	})
}

func TestReplaceServerRuntimeVersusReload(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	srv := dataplane.Server{Name: "s1", Address: "10.0.0.9", Port: dataplane.Int64(31001), Weight: dataplane.Int64(31)}
	res, err := c.ReplaceServer(ctx, 2, "be_app", srv)
	if err != nil || res.Status != 200 || res.ReloadID != "" || res.Version != 3 {
		t.Fatalf("address change: %+v %v", res, err)
	}
	if rs, _ := s.RuntimeState("be_app", "s1"); rs.Address != "10.0.0.9" || rs.Port != 31001 {
		t.Errorf("runtime: %+v", rs)
	}
	srv.Check = "enabled"
	res, err = c.ReplaceServer(ctx, 3, "be_app", srv)
	if err != nil || res.Status != 202 || res.ReloadID == "" || res.Version != 4 {
		t.Fatalf("check change: %+v %v", res, err)
	}
	if s.Reloads() != 1 {
		t.Errorf("reloads: %d", s.Reloads())
	}
}

func TestRawConfig(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	text, v, err := c.RawConfig(ctx, "")
	if err != nil || v != 2 || !strings.Contains(text, "# _version=2\n") || !strings.HasSuffix(text, "global\n  master-worker\n") {
		t.Fatalf("raw: %q %d %v", text, v, err)
	}
	d, err := c.RawConfigDetail(ctx, "")
	if err != nil || d.FileVersion != 2 || d.Checksum == "" {
		t.Fatalf("detail: %+v %v", d, err)
	}
	cfg := "global\n  master-worker\nbackend be_app\n  server s1 127.0.0.1:21001\n"
	res, err := c.PostRawConfig(ctx, 2, cfg, dataplane.RawOptions{SkipReload: true,
		RuntimeActions: []string{"SetServerWeight be_app s1 33", "SetServerAddr be_app s1 127.0.0.1 21003", "SetServerState be_app s2 drain"}})
	if err != nil || res.Status != 201 || res.Version != 3 || res.ReloadID != "" {
		t.Fatalf("post: %+v %v", res, err)
	}
	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	if got := last.Header.Get("X-Runtime-Actions"); got != "SetServerWeight be_app s1 33;SetServerAddr be_app s1 127.0.0.1 21003;SetServerState be_app s2 drain" {
		t.Errorf("X-Runtime-Actions %q", got)
	}
	if last.Header.Get("Content-Type") != "text/plain" || string(last.Body) != cfg || last.ContentLength != int64(len(cfg)) ||
		last.Query.Get("skip_reload") != "true" || last.Query.Get("version") != "2" || last.Query.Has("force_reload") {
		t.Errorf("request: %v %v %q", last.Query, last.Header, last.Body)
	}
	if rs, _ := s.RuntimeState("be_app", "s2"); rs.AdminState != "drain" {
		t.Errorf("actions not applied: %+v", rs)
	}
	res, err = c.PostRawConfig(ctx, 3, cfg, dataplane.RawOptions{})
	if err != nil || res.Status != 202 || res.ReloadID == "" {
		t.Fatalf("plain: %+v %v", res, err)
	}
	res, err = c.PostRawConfig(ctx, 0, "# _version=1\n"+cfg, dataplane.RawOptions{SkipVersion: true, ForceReload: true})
	if err != nil || res.Status != 201 || res.Version != 1 {
		t.Fatalf("skip_version: %+v %v", res, err)
	}
	res, err = c.PostRawConfig(ctx, 1, cfg, dataplane.RawOptions{OnlyValidate: true})
	if err != nil || res.Status != 202 || res.Version != 1 || res.ReloadID != "" {
		t.Fatalf("only_validate: %+v %v", res, err)
	}
	if _, err := c.PostRawConfig(ctx, 1, cfg, dataplane.RawOptions{SkipReload: true, RuntimeActions: []string{" SetServerWeight be_app s1 1"}}); err == nil {
		t.Errorf("an action with a leading space would be skipped by the API; want an error")
	}
	if _, err := c.PostRawConfig(ctx, 1, cfg, dataplane.RawOptions{RuntimeActions: []string{"SetServerWeight be_app s1 1"}}); err == nil {
		t.Errorf("runtime actions without SkipReload are ignored by the API; want an error")
	}
	_, err = c.PostRawConfig(ctx, 1, cfg, dataplane.RawOptions{SkipReload: true, RuntimeActions: []string{"SetServerWeight be_app nosuch 41"}})
	if !errors.Is(err, dataplane.ErrServer) || !strings.Contains(err.Error(), "No such server") {
		t.Errorf("failing action: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	cases := []struct {
		status int
		body   string
		want   []error
		code   int
	}{
		{409, `{"code":409,"message":"version mismatch: version mismatch, transaction version: 4, configured version: 5"}`, []error{dataplane.ErrConflict}, 409},
		{404, `{"code":404,"message":"missing object: server zz does not exist in be_app backend"}`, []error{dataplane.ErrNotFound}, 404},
		{400, `{"code":400,"message":"missing parent: backend be_nope does not exist"}`, []error{dataplane.ErrBadRequest}, 400},
		{400, `{"code":400,"message":"Reload failed: executing reload.sh failed: exit status 1\n"}`, []error{dataplane.ErrBadRequest, dataplane.ErrReloadFailed}, 400},
		{406, `{"code":406,"message":"transaction x is outdated and cannot be committed"}`, []error{dataplane.ErrNotAcceptable}, 406},
		{429, `{"code":429,"message":"cannot start a new transaction"}`, []error{dataplane.ErrTooManyTransactions}, 429},
		{401, `{"code":401,"message":"unauthenticated for invalid credentials"}`, []error{dataplane.ErrUnauthorized}, 401},
		{422, `{"code":606,"message":"admin_state in body should be one of [ready maint drain]"}`, []error{dataplane.ErrUnprocessable}, 606},
		{500, `{"code":500,"message":"no data for be_app/s9: not found"}`, []error{dataplane.ErrServer}, 500},
		{502, `<html>bad gateway</html>`, []error{dataplane.ErrServer}, 0},
	}
	all := []error{dataplane.ErrConflict, dataplane.ErrNotFound, dataplane.ErrBadRequest, dataplane.ErrNotAcceptable, dataplane.ErrTooManyTransactions,
		dataplane.ErrUnauthorized, dataplane.ErrUnprocessable, dataplane.ErrReloadFailed, dataplane.ErrServer, dataplane.ErrUnreachable}
	for _, tc := range cases {
		s.FailNext("GET", "/services/haproxy/configuration/backends", tc.status, tc.body)
		_, err := c.Backends(ctx, "")
		var apiErr *dataplane.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != tc.status || apiErr.Code != tc.code || apiErr.Method != "GET" ||
			apiErr.Path != "/services/haproxy/configuration/backends" {
			t.Errorf("%d: %#v", tc.status, err)
			continue
		}
		for _, sentinel := range all {
			want := false
			for _, w := range tc.want {
				want = want || w == sentinel
			}
			if errors.Is(err, sentinel) != want {
				t.Errorf("%d %s: errors.Is(%v) = %v", tc.status, tc.body, sentinel, !want)
			}
		}
	}
	s.FailNext("POST", "/services/haproxy/transactions", 0, "")
	if _, err := c.StartTransaction(ctx, 2); !errors.Is(err, dataplane.ErrUnreachable) {
		t.Errorf("dropped connection: %v", err)
	}
	// Go's transport retries an idempotent request once on a reused
	// connection, so a GET needs two drops.
	s.FailNext("GET", "/services/haproxy/configuration/version", 0, "")
	s.FailNext("GET", "/services/haproxy/configuration/version", 0, "")
	if _, err := c.Version(ctx); !errors.Is(err, dataplane.ErrUnreachable) {
		t.Errorf("dropped connection: %v", err)
	}
	if !dataplane.IsOutdated(&dataplane.APIError{Status: 406, Message: "transaction x is outdated and cannot be committed"}) ||
		dataplane.IsOutdated(&dataplane.APIError{Status: 406, Message: "transaction x is failed and cannot be committed"}) {
		t.Errorf("IsOutdated")
	}
}

// TestV3ServerIsNamed: a Data Plane API v3 (what haproxytech's images run
// as `dataplaneapi` since 2.6.18) has no /v2 paths; go-swagger answers
// 404 with its own message. The error must say what to run instead.
func TestV3ServerIsNamed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"code":404,"message":"path %s was not found"}`, r.URL.Path)
	}))
	defer srv.Close()
	c := client(t, srv.URL, nil)
	_, err := c.Version(context.Background())
	if !errors.Is(err, dataplane.ErrNotFound) || !strings.Contains(err.Error(), "dataplaneapi-v2") {
		t.Fatalf("v3 server: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	c := client(t, u, nil)
	if _, err := c.Version(context.Background()); !errors.Is(err, dataplane.ErrUnreachable) {
		t.Errorf("closed port: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Version(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, dataplane.ErrUnreachable) {
		t.Errorf("cancelled is not unreachable: %v", err)
	}
}

func TestPasswordNeverInErrorsOrLogs(t *testing.T) {
	s, _ := setup(t)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	ctx := context.Background()

	// the API echoes a wrong password: "invalid password: <pass>"
	wrong := "wrong-pass-1234"
	c := client(t, s.URL, log, func(cfg *dataplane.Config) { cfg.Password = wrong })
	_, err := c.Version(ctx)
	var apiErr *dataplane.APIError
	if !errors.Is(err, dataplane.ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.Message != "invalid password: [REDACTED]" {
		t.Fatalf("wrong password: %v", err)
	}
	if reqs := s.Requests(); !strings.Contains(reqs[len(reqs)-1].Header.Get("Authorization"), "Basic ") {
		t.Fatalf("no basic auth sent")
	}

	// credentials in the URL are used, and never printed
	u, _ := url.Parse(s.URL)
	u.User = url.UserPassword("admin", password)
	c2 := client(t, u.String(), log, func(cfg *dataplane.Config) { cfg.User, cfg.Password = "", "" })
	if v, err := c2.Version(ctx); err != nil || v != 2 {
		t.Fatalf("URL credentials: %d %v", v, err)
	}
	s.FailNext("", "/services/haproxy/configuration/backends", 500, `{"code":500,"message":"echo `+password+`"}`)
	_, err2 := c2.Backends(ctx, "")
	s.Close()
	_, err3 := c2.Version(ctx)
	if _, err := dataplane.New(dataplane.Config{URL: "ftp://admin:" + password + "@host"}); err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("New error: %v", err)
	} else {
		err2 = errors.Join(err2, err)
	}
	for _, e := range []error{err, err2, err3} {
		if e == nil || strings.Contains(e.Error(), password) || strings.Contains(e.Error(), wrong) {
			t.Errorf("error leaks the password: %v", e)
		}
	}
	if logs.Len() == 0 {
		t.Fatalf("no logs captured")
	}
	for _, entry := range logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		if strings.Contains(line, password) || strings.Contains(line, wrong) {
			t.Errorf("log leaks the password: %s", line)
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func TestTLSWithCAFile(t *testing.T) {
	f := dataplanetest.New(dataplanetest.Options{User: "admin", Password: password, InitialVersion: 7})
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c := client(t, srv.URL, nil, func(cfg *dataplane.Config) { cfg.CACertFile = ca })
	if v, err := c.Version(context.Background()); err != nil || v != 7 {
		t.Fatalf("with CA: %d %v", v, err)
	}
	bare := client(t, srv.URL, nil)
	if _, err := bare.Version(context.Background()); !errors.Is(err, dataplane.ErrUnreachable) {
		t.Errorf("without CA: %v", err)
	}
	insecure := client(t, srv.URL, nil, func(cfg *dataplane.Config) { cfg.InsecureSkipVerify = true })
	if _, err := insecure.Version(context.Background()); err != nil {
		t.Errorf("insecure: %v", err)
	}
	if _, err := dataplane.New(dataplane.Config{URL: srv.URL, CACertFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Errorf("missing CA file accepted")
	}
}

func TestRuntimeAndMisc(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	rs, err := c.RuntimeServers(ctx, "be_app")
	if err != nil || len(rs) != 2 || rs[0].Name != "s1" || rs[0].AdminState != "ready" || *rs[0].Port != 21001 {
		t.Fatalf("runtime servers: %+v %v", rs, err)
	}
	one, err := c.SetRuntimeServerState(ctx, "be_app", "s1", "drain")
	if err != nil || one.AdminState != "drain" || one.OperationalState != "up" {
		t.Fatalf("drain: %+v %v", one, err)
	}
	if _, err := c.SetRuntimeServerState(ctx, "be_app", "s1", "bogus"); !errors.Is(err, dataplane.ErrUnprocessable) {
		t.Errorf("bad state: %v", err)
	}
	if _, err := c.SetRuntimeServerState(ctx, "be_app", "s9", "drain"); !errors.Is(err, dataplane.ErrServer) {
		t.Errorf("unknown server: %v", err)
	}
	info, err := c.RuntimeInfo(ctx)
	if err != nil || len(info) != 1 || info[0]["info"] == nil {
		t.Errorf("runtime info: %v %v", info, err)
	}
	api, err := c.Info(ctx)
	if err != nil || api["api"] == nil {
		t.Errorf("info: %v %v", api, err)
	}
	s.Handle("GET", "/services/haproxy/storage/maps", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"storage_name":"hosts.map"}]`))
	})
	var maps []map[string]string
	resp, err := c.Do(ctx, "GET", "services/haproxy/storage/maps", nil, nil, &maps)
	if err != nil || resp.StatusCode() != 200 || len(maps) != 1 || maps[0]["storage_name"] != "hosts.map" {
		t.Errorf("Do: %v %v", maps, err)
	}
}
