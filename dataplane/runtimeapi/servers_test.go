package runtimeapi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
)

func twoServers(a, b *upstream) string {
	return fmt.Sprintf(`
backend be_app
    balance roundrobin
    server s1 %s
    server s2 %s
`, a.addr(), b.addr())
}

func TestShowInfo(t *testing.T) {
	t.Parallel()
	f := start(t, "", twoServers(newUpstream(t, "a"), newUpstream(t, "b")))
	info, err := f.c.ShowInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info["Name"] != "HAProxy" || info["Version"] == "" {
		t.Fatalf("show info: Name=%q Version=%q", info["Name"], info["Version"])
	}
	if _, err := strconv.Atoi(info["Pid"]); err != nil {
		t.Fatalf("show info Pid %q: %v", info["Pid"], err)
	}
}

func TestShowServersState(t *testing.T) {
	t.Parallel()
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	f := start(t, "", fmt.Sprintf(`
backend be_app
    balance roundrobin
    server s1 %s check inter 200ms
    server s2 %s weight 5
    server s3 %s disabled

backend be_other
    balance roundrobin
    server o1 %s
`, a.addr(), b.addr(), c.addr(), a.addr()))
	ctx := context.Background()

	all, err := f.c.ShowServersState(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("all backends: want 4 servers, got %+v", all)
	}
	states, err := f.c.ShowServersState(ctx, "be_app")
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 3 {
		t.Fatalf("be_app: want 3 servers, got %+v", states)
	}
	s1, s2, s3 := states[0], states[1], states[2]
	if s1.BackendName != "be_app" || s1.Name != "s1" || s1.ID != 1 || s1.Address != "127.0.0.1" || s1.Port != a.port {
		t.Errorf("s1: %+v", s1)
	}
	if s1.OpState != OpRunning || s1.AdminState != 0 || !s1.Ready() || s1.InMaint() || s1.Draining() {
		t.Errorf("s1 state: op %v admin %#x", s1.OpState, s1.AdminState)
	}
	if s1.CheckState&0x04 == 0 { // CHK_ST_ENABLED
		t.Errorf("s1 check state %#x: want checks enabled", s1.CheckState)
	}
	if s2.Name != "s2" || s2.Port != b.port || s2.UserWeight != 5 || s2.InitialWeight != 5 {
		t.Errorf("s2: %+v", s2)
	}
	if s3.Name != "s3" || !s3.InMaint() || s3.Ready() || s3.OpState != OpStopped {
		t.Errorf("s3 (disabled): op %v admin %#x", s3.OpState, s3.AdminState)
	}
	t.Logf("a server 'disabled' in the configuration has admin state %#x", s3.AdminState)

	_, err = f.c.ShowServersState(ctx, "nosuch")
	ce := wantCommandError(t, err, ErrNoSuchBackend)
	if ce.Output != "Can't find backend." {
		t.Errorf("unknown backend answer %q", ce.Output)
	}
	_, err = f.c.ServerState(ctx, "be_app", "nosuch")
	wantErr(t, err, ErrNoSuchServer)
	_, err = f.c.ShowServersState(ctx, "be app")
	wantErr(t, err, ErrInvalidArgument)

	// The same servers one by one, as the answer arrives.
	var each []ServerState
	if err := f.c.EachServerState(ctx, "", func(s ServerState) error { each = append(each, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(each, all) {
		t.Errorf("EachServerState:\n%+v\nShowServersState:\n%+v", each, all)
	}
	err = f.c.EachServerState(ctx, "nosuch", func(ServerState) error { return nil })
	if ce := wantCommandError(t, err, ErrNoSuchBackend); ce.Output != "Can't find backend." {
		t.Errorf("unknown backend answer %q", ce.Output)
	}
	stop := errors.New("enough")
	n := 0
	if err := f.c.EachServerState(ctx, "", func(ServerState) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("a callback's error: %v after %d servers", err, n)
	}
}

// TestLineWriter: lines split across writes, several in one, and a last
// one without its newline come out whole.
func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{fn: func(l string) error { got = append(got, l); return nil }}
	for _, chunk := range []string{"1\n# be_id", " be_name\n3 a\n4 b\n", "", "5 c"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("write %q: %d %v", chunk, n, err)
		}
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"1", "# be_id be_name", "3 a", "4 b", "5 c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSetServerAddrMovesTraffic(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	f := start(t, "", fmt.Sprintf(`
backend be_app
    balance roundrobin
    server s1 %s
`, a.addr()))
	ctx := context.Background()
	f.wantOnly("", 4, "a")

	if err := f.c.SetServerAddr(ctx, "be_app", "s1", b.ip, b.port); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 4, "b")
	if s := f.state("be_app", "s1"); s.Address != b.ip || s.Port != b.port {
		t.Fatalf("after set addr: %s:%d", s.Address, s.Port)
	}
	// Same address again is a success ("no need to change the addr …").
	if err := f.c.SetServerAddr(ctx, "be_app", "s1", b.ip, b.port); err != nil {
		t.Fatal(err)
	}

	wantErr(t, f.c.SetServerAddr(ctx, "be_app", "s1", b.ip, 70000), ErrInvalidArgument)
	wantErr(t, f.c.SetServerAddr(ctx, "be_app", "s1", "localhost", b.port), ErrInvalidArgument)
	wantErr(t, f.c.SetServerAddr(ctx, "be_app", "s 1", b.ip, b.port), ErrInvalidArgument)
	wantErr(t, f.c.SetServerAddr(ctx, "be_app", "nosuch", b.ip, b.port), ErrNoSuchServer)
	wantErr(t, f.c.SetServerAddr(ctx, "nosuch", "s1", b.ip, b.port), ErrNoSuchBackend)
}

func TestServerStateDrainMaintReady(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	f := start(t, "", twoServers(a, b))
	ctx := context.Background()
	if got := f.hits("", 6); got["a"] != 3 || got["b"] != 3 {
		t.Fatalf("roundrobin before: %v", got)
	}

	if err := f.c.SetServerState(ctx, "be_app", "s1", StateDrain); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 6, "b")
	if s := f.state("be_app", "s1"); !s.Draining() || s.InMaint() || s.AdminState != AdminForcedDrain {
		t.Fatalf("drained s1: admin %#x", s.AdminState)
	}
	if r := f.statRow("be_app", "s1"); r.Status != "DRAIN" {
		t.Fatalf("drained s1: show stat status %q", r.Status)
	}

	if err := f.c.SetServerState(ctx, "be_app", "s1", StateMaint); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 6, "b")
	if s := f.state("be_app", "s1"); !s.InMaint() || s.AdminState&AdminForcedMaint == 0 || s.OpState != OpStopped {
		t.Fatalf("s1 in maint: op %v admin %#x", s.OpState, s.AdminState)
	}
	if r := f.statRow("be_app", "s1"); r.Status != "MAINT" {
		t.Fatalf("s1 in maint: show stat status %q", r.Status)
	}

	if err := f.c.SetServerState(ctx, "be_app", "s1", StateReady); err != nil {
		t.Fatal(err)
	}
	if got := f.hits("", 6); got["a"] != 3 || got["b"] != 3 {
		t.Fatalf("roundrobin after ready: %v", got)
	}
	if s := f.state("be_app", "s1"); !s.Ready() || s.AdminState != 0 {
		t.Fatalf("s1 ready: op %v admin %#x", s.OpState, s.AdminState)
	}

	wantErr(t, f.c.SetServerState(ctx, "be_app", "s1", "up"), ErrInvalidArgument)
	wantErr(t, f.c.SetServerState(ctx, "be_app", "nosuch", StateDrain), ErrNoSuchServer)
}

func TestSetServerWeight(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	f := start(t, "", twoServers(a, b)+fmt.Sprintf(`
backend be_src
    balance source
    server s1 %s
`, a.addr()))
	ctx := context.Background()

	if err := f.c.SetServerWeight(ctx, "be_app", "s1", 0); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 6, "b")
	if s := f.state("be_app", "s1"); s.UserWeight != 0 || s.InitialWeight != 1 {
		t.Fatalf("weight 0: uweight %d iweight %d", s.UserWeight, s.InitialWeight)
	}
	if err := f.c.SetServerWeight(ctx, "be_app", "s1", 256); err != nil {
		t.Fatal(err)
	}
	if r := f.statRow("be_app", "s1"); r.Weight != 256 {
		t.Fatalf("weight 256: show stat weight %d", r.Weight)
	}
	if got := f.hits("", 6); got["a"] < 5 {
		t.Fatalf("weights 256 vs 1: %v", got)
	}

	wantErr(t, f.c.SetServerWeight(ctx, "be_app", "s1", 257), ErrInvalidArgument)
	wantErr(t, f.c.SetServerWeight(ctx, "be_app", "s1", -1), ErrInvalidArgument)
	wantErr(t, f.c.SetServerWeight(ctx, "be_app", "nosuch", 1), ErrNoSuchServer)
	// A static algorithm only takes 0% and 100%.
	ce := wantCommandError(t, f.c.SetServerWeight(ctx, "be_src", "s1", 50), ErrCommandFailed)
	if !contains(ce.Output, "static LB algorithm") {
		t.Fatalf("static backend weight answer: %q", ce.Output)
	}
}

func TestAddServerReadyGetsTraffic(t *testing.T) {
	t.Parallel()
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	f := start(t, "", fmt.Sprintf(`
backend be_app
    balance roundrobin
    server s1 %s

backend be_empty
    balance roundrobin
    server s1 %s disabled
`, a.addr(), a.addr()))
	ctx := context.Background()

	// With "check": add (maint), enable health, ready.
	if err := f.c.AddServerReady(ctx, "be_app", "d1", b.ip, b.port, []string{"check", "inter", "200ms"}); err != nil {
		t.Fatal(err)
	}
	if s := f.state("be_app", "d1"); !s.Ready() || s.CheckState&0x04 == 0 {
		t.Fatalf("d1: op %v admin %#x check state %#x", s.OpState, s.AdminState, s.CheckState)
	}
	if err := f.c.DisableServer(ctx, "be_app", "s1"); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 4, "b")
	eventually(t, "d1 health check to pass", func() bool {
		r := f.statRow("be_app", "d1")
		return r.Status == "UP" && r.CheckStatus == "L4OK"
	})

	// Without checks, in a backend whose only server is in maintenance.
	if err := f.c.AddServerReady(ctx, "be_empty", "d2", c.ip, c.port, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.c.SetServerAddr(ctx, "be_app", "d1", c.ip, c.port); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 4, "c")
	if r := f.statRow("be_empty", "d2"); r.Status != "no check" {
		t.Fatalf("d2 without check: status %q", r.Status)
	}

	// Errors, and nothing half-added afterwards.
	wantErr(t, f.c.AddServerReady(ctx, "be_app", "d1", b.ip, b.port, nil), ErrServerExists)
	wantErr(t, f.c.EnableHealth(ctx, "be_empty", "d2"), ErrNoHealthCheck)
	wantErr(t, f.c.AddServerReady(ctx, "be_app", "d3", b.ip, b.port, []string{"weight", "300"}), ErrCommandFailed)
	_, err := f.c.ServerState(ctx, "be_app", "d3")
	wantErr(t, err, ErrNoSuchServer)
}

func TestAddServerStartsInMaint(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	f := start(t, "", fmt.Sprintf(`
backend be_app
    balance roundrobin
    server s1 %s
`, a.addr()))
	ctx := context.Background()
	if err := f.c.AddServer(ctx, "be_app", "d1", b.ip, b.port, []string{"weight", "10"}); err != nil {
		t.Fatal(err)
	}
	s := f.state("be_app", "d1")
	if !s.InMaint() || s.AdminState != AdminForcedMaint || s.UserWeight != 10 {
		t.Fatalf("new server: admin %#x weight %d", s.AdminState, s.UserWeight)
	}
	f.wantOnly("", 4, "a")
	if err := f.c.EnableServer(ctx, "be_app", "d1"); err != nil {
		t.Fatal(err)
	}
	if got := f.hits("", 11); got["b"] != 10 {
		t.Fatalf("weights 10 vs 1: %v", got)
	}
}

func TestAddServerRefused(t *testing.T) {
	t.Parallel()
	a := newUpstream(t, "a")
	f := start(t, "", fmt.Sprintf(`
backend be_app
    balance roundrobin
    server s1 %[1]s id 7

backend be_src
    balance source
    server s1 %[1]s
`, a.addr()))
	ctx := context.Background()

	err := f.c.AddServer(ctx, "be_app", "d1", a.ip, a.port, []string{"check", "enabled"})
	wantErr(t, err, ErrInvalidArgument)
	if !contains(err.Error(), "enabled") || !contains(err.Error(), "be_app/d1") {
		t.Fatalf("refusing enabled: %v", err)
	}
	if states, _ := f.c.ShowServersState(ctx, "be_app"); len(states) != 1 {
		t.Fatalf("refused server was sent: %+v", states)
	}

	ce := wantCommandError(t, f.c.AddServer(ctx, "be_src", "d1", a.ip, a.port, nil), ErrDynamicServersUnsupported)
	if ce.Output != "Backend must use a dynamic load balancing to support dynamic servers." {
		t.Fatalf("balance source answer %q", ce.Output)
	}
	wantErr(t, f.c.AddServer(ctx, "nosuch", "d1", a.ip, a.port, nil), ErrNoSuchBackend)
	wantErr(t, f.c.AddServer(ctx, "be_app", "s1", a.ip, a.port, nil), ErrServerExists)
	// HAProxy checks a custom id before the name.
	wantErr(t, f.c.AddServer(ctx, "be_app", "s1", a.ip, a.port, []string{"id", "7"}), ErrServerExists)
	wantErr(t, f.c.AddServer(ctx, "be_app", "d7", a.ip, a.port, []string{"id", "7"}), ErrServerIDInUse)
	wantErr(t, f.c.AddServer(ctx, "be_app", "d1", "localhost", a.port, nil), ErrInvalidArgument)
	wantErr(t, f.c.AddServer(ctx, "be_app", "d1", a.ip, 0, nil), ErrInvalidArgument)
	wantErr(t, f.c.AddServer(ctx, "be_app", "d1", a.ip, a.port, []string{"inter 1s"}), ErrInvalidArgument)
	wantErr(t, f.c.AddServer(ctx, "be_app", "d;1", a.ip, a.port, nil), ErrInvalidArgument)
	wantErr(t, f.c.AddServer(ctx, "be_app", "d1", a.ip, a.port, []string{"bogus"}), ErrCommandFailed)
}

func TestDelAndRemoveServer(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	f := start(t, "", twoServers(a, b))
	ctx := context.Background()
	f.hits("", 4) // leave idle connections behind, as real traffic does

	ce := wantCommandError(t, f.c.DelServer(ctx, "be_app", "s2"), ErrServerNotInMaint)
	if ce.Output != "Only servers in maintenance mode can be deleted." {
		t.Fatalf("del ready server answer %q", ce.Output)
	}
	if err := f.c.RemoveServer(ctx, "be_app", "s2"); err != nil {
		t.Fatal(err)
	}
	if states, _ := f.c.ShowServersState(ctx, "be_app"); len(states) != 1 || states[0].Name != "s1" {
		t.Fatalf("after RemoveServer: %+v", states)
	}
	f.wantOnly("", 4, "a")

	// A dynamic server that took traffic.
	if err := f.c.AddServerReady(ctx, "be_app", "d1", b.ip, b.port, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.hits("", 4); got["b"] != 2 {
		t.Fatalf("with d1: %v", got)
	}
	if err := f.c.RemoveServer(ctx, "be_app", "d1"); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 4, "a")
	if r := f.statRow("be_app", "BACKEND"); r.Act != 1 {
		t.Fatalf("backend act after add/remove: %d", r.Act)
	}

	wantErr(t, f.c.RemoveServer(ctx, "be_app", "nosuch"), ErrNoSuchServer)
	wantErr(t, f.c.DelServer(ctx, "be_app", "nosuch"), ErrNoSuchServer)
	wantErr(t, f.c.DelServer(ctx, "nosuch", "s1"), ErrNoSuchBackend)
}

func TestRemoveServerWithConnections(t *testing.T) {
	t.Parallel()
	a, slow := newUpstream(t, "a"), newUpstream(t, "slow")
	f := start(t, "", twoServers(a, slow))
	ctx := context.Background()
	// Send the slow request to be_app/s2 deterministically.
	if err := f.c.SetServerState(ctx, "be_app", "s1", StateMaint); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var answer string
	wg.Add(1)
	go func() {
		defer wg.Done()
		req := fmt.Sprintf("http://127.0.0.1:%d/slow", f.port)
		resp, err := f.http.Get(req)
		if err != nil {
			answer = err.Error()
			return
		}
		defer resp.Body.Close()
		answer = resp.Status
	}()
	eventually(t, "the slow request to reach be_app/s2", func() bool {
		return f.statRow("be_app", "s2").Scur == 1
	})
	r := f.statRow("be_app", "s2")
	if r.Scur != 1 || r.Stot != 1 || r.Addr != slow.addr() || r.Type != StatTypeServer || !r.Up() && r.Status != "no check" {
		t.Fatalf("show stat while in flight: %+v", r)
	}
	if be := f.statRow("be_app", "BACKEND"); be.Scur != 1 || be.Type != StatTypeBackend {
		t.Fatalf("backend row while in flight: scur %d type %d", be.Scur, be.Type)
	}

	// Draining keeps the request; removing refuses while it runs.
	if err := f.c.SetServerState(ctx, "be_app", "s2", StateDrain); err != nil {
		t.Fatal(err)
	}
	if r := f.statRow("be_app", "s2"); r.Status != "DRAIN" || r.Scur != 1 {
		t.Fatalf("draining with a request in flight: status %q scur %d", r.Status, r.Scur)
	}
	ce := wantCommandError(t, f.c.RemoveServer(ctx, "be_app", "s2"), ErrServerHasConnections)
	if ce.Output != "Server still has connections attached to it, cannot remove it." {
		t.Fatalf("del with connections answer %q", ce.Output)
	}
	if s := f.state("be_app", "s2"); !s.InMaint() {
		t.Fatalf("after a refused remove, want maint: admin %#x", s.AdminState)
	}

	slow.Release()
	wg.Wait()
	if answer != "200 OK" {
		t.Fatalf("slow request: %s", answer)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.c.WaitServerIdle(wctx, "be_app", "s2", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// 2.6 pitfall: the finished request left an idle pooled connection,
	// and del server refuses until it is purged (~15 s by default).
	out, _ := f.c.Execute(ctx, "show servers conn be_app")
	t.Logf("show servers conn be_app:\n%s", out)
	wantErr(t, f.c.DelServer(ctx, "be_app", "s2"), ErrServerHasConnections)
	// RemoveServer closes idle connections by moving the server.
	if err := f.c.RemoveServer(ctx, "be_app", "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.ServerState(ctx, "be_app", "s2"); !errors.Is(err, ErrNoSuchServer) {
		t.Fatalf("after RemoveServer: %v", err)
	}
}

func TestShowStat(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	f := start(t, "", twoServers(a, b))
	ctx := context.Background()
	f.hits("", 4)

	rows, err := f.c.ShowStat(ctx, "be_app")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Server != "s1" || rows[1].Server != "s2" || rows[2].Server != "BACKEND" {
		t.Fatalf("show stat be_app: %+v", rows)
	}
	if rows[0].Stot != 2 || rows[0].Fields["svname"] != "s1" || rows[0].Field("lbtot") != "2" || rows[0].Weight != 1 {
		t.Fatalf("s1 row: %+v", rows[0])
	}
	if rows[2].Act != 2 || rows[2].Stot != 4 || !rows[2].Up() {
		t.Fatalf("backend row: %+v", rows[2])
	}

	all, err := f.c.ShowStat(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range all {
		seen[r.Proxy+"/"+r.Server] = true
	}
	if !seen["fe/FRONTEND"] || !seen["be_app/s2"] {
		t.Fatalf("show stat (all): %v", seen)
	}
	_, err = f.c.ShowStat(ctx, "nosuch")
	ce := wantCommandError(t, err, ErrNoSuchBackend)
	if ce.Output != "No such proxy." {
		t.Fatalf("unknown proxy answer %q", ce.Output)
	}
}

// TestHAProxy26EnabledPitfall records why AddServer refuses "enabled": on
// 2.6 the server gets no traffic, and once it is deleted the backend
// answers 503 to everything although its static server is up.
func TestHAProxy26EnabledPitfall(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	f := start(t, "", fmt.Sprintf(`
backend be_app
    balance roundrobin
    server s1 %s
`, a.addr()))
	ctx := context.Background()
	if info, err := f.c.ShowInfo(ctx); err != nil || !strings.HasPrefix(info["Version"], "2.6.") {
		t.Skipf("documents HAProxy 2.6 behaviour; running %q (%v)", info["Version"], err)
	}
	if _, err := f.c.Execute(ctx, "add server be_app/e1 "+b.addr()+" enabled"); err != nil {
		t.Fatal(err)
	}
	if r := f.statRow("be_app", "e1"); r.Status != "no check" {
		t.Fatalf("e1 added with enabled: status %q", r.Status)
	}
	f.wantOnly("", 4, "a") // e1 looks up but gets nothing
	if err := f.c.RemoveServer(ctx, "be_app", "e1"); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("", 4, "503") // s1 is up, yet the backend counts no active server
	if r := f.statRow("be_app", "BACKEND"); r.Status != "DOWN" || r.Act != 0 {
		t.Fatalf("backend after deleting e1: status %q act %d", r.Status, r.Act)
	}
	// A server added the right way repairs the count.
	if err := f.c.AddServerReady(ctx, "be_app", "d1", b.ip, b.port, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.hits("", 4); got["a"] != 2 || got["b"] != 2 {
		t.Fatalf("after AddServerReady: %v", got)
	}
}

// TestShowStatOfABackendNamedLikeAFrontend: marathon-lb names a service
// port's frontend and backend alike; "show stat <name>" finds the
// frontend, so ShowStat asks for the backend by its id, and again after a
// reload moved the ids.
func TestShowStatOfABackendNamedLikeAFrontend(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	svc := haproxytest.FreePort(t)
	proxies := fmt.Sprintf(`
frontend web_10000
    bind 127.0.0.1:%d
    default_backend web_10000

backend web_10000
    server s1 %s
`, svc, a.addr()) + twoServers(a, b)
	f := start(t, "", proxies)
	ctx := context.Background()
	rows, err := f.c.ShowStat(ctx, "web_10000")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Proxy != "web_10000" || rows[0].Server != "s1" || rows[1].Server != "BACKEND" {
		t.Fatalf("show stat web_10000: %+v", rows)
	}
	// A reload with a backend in front shifts the ids.
	f.h.WriteConfig(t, haproxytest.BaseConfig()+fmt.Sprintf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be_app
backend aaa_first
    server x 127.0.0.1:9
`, f.port)+proxies)
	f.h.Reload(t)
	rows, err = f.c.ShowStat(ctx, "web_10000")
	if err != nil || len(rows) != 2 || rows[0].Server != "s1" {
		t.Fatalf("after a reload: %+v %v", rows, err)
	}
}
