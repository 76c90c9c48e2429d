package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	mdsync "github.com/marathon-dataplane/marathon-dataplane/sync"
)

// TestRenderRoundTrip writes every field of every model marathon-dataplane
// renders itself (sync.RenderOwned, the bulk path of full commits) into
// the real Data Plane API as text, reads the objects back through its
// structured endpoints, and wants them equal: the renderer writes what the
// API's parser understands, field by field.
func TestRenderRoundTrip(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	dc, err := dataplane.New(dataplane.Config{URL: s.dpURL, User: s.hap.User, Password: s.hap.Password, ReloadTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	i := dataplane.Int64
	const owner = "managed-by=marathon-dataplane app=/round"
	want := mdsync.NewState()
	want.Userlists["user_round_10000"] = &mdsync.Userlist{AppID: "/round", Users: []dataplane.User{
		{Username: "alice", Password: "$6$salt$hash", SecurePassword: true},
		{Username: "bob", Password: "plain", SecurePassword: false},
	}}
	want.Backends["round_10000"] = &mdsync.Backend{AppID: "/round",
		Backend: dataplane.Backend{Name: "round_10000", From: "marathon_defaults", Mode: "http", Description: owner,
			Balance: &dataplane.Balance{Algorithm: "hdr", HdrName: "Host"}, HashType: &dataplane.HashType{Method: "consistent", Function: "sdbm"},
			AdvCheck: "httpchk", HttpchkParams: &dataplane.HttpchkParams{Method: "GET", URI: "/health"},
			CheckTimeout: i(2000), ServerTimeout: i(30000), ConnectTimeout: i(3000), QueueTimeout: i(4000), TunnelTimeout: i(3600000),
			HTTPRequestTimeout: i(15000), HTTPKeepAliveTimeout: i(1000),
			Forwardfor: &dataplane.Forwardfor{Enabled: "enabled", Except: "127.0.0.0/8", Header: "X-Client", Ifnone: true},
			Cookie:     &dataplane.Cookie{Name: "mesosphere_server_id", Type: "insert", Indirect: true, Nocache: true, Httponly: true, Secure: true}},
		Servers: []dataplane.Server{
			{Name: "s1", Address: "127.0.0.1", Port: i(31001), ID: i(101), Weight: i(7), Check: "enabled", Inter: i(2000), Fall: i(3), Rise: i(2),
				HealthCheckPort: i(31002), Cookie: "abc", Options: &dataplane.ServerOptions{Maxconn: i(100), SendProxyV2: "enabled"}},
			{Name: "s2", Address: "127.0.0.2", Port: i(31003), ID: i(102), Maintenance: "enabled", Options: &dataplane.ServerOptions{Backup: "enabled", SendProxy: "enabled",
				AgentCheck: "enabled", AgentAddr: "127.0.0.9", AgentPort: i(5555), AgentInter: i(3000), AgentSend: "ping"}},
		},
		ACLs: []dataplane.ACL{{Index: 0, ACLName: "network_allowed", Criterion: "src", Value: "10.0.0.0/8"},
			{Index: 1, ACLName: "hdr_location", Criterion: "res.hdr(Location)", Value: "-m found"}},
		HTTPRequestRules: []dataplane.HTTPRequestRule{
			{Index: 0, Type: "set-header", HdrName: "X-Forwarded-Port", HdrFormat: "%[dst_port]"},
			{Index: 1, Type: "add-header", HdrName: "X-Forwarded-Proto", HdrFormat: "https", Cond: "if", CondTest: "{ ssl_fc }"},
			{Index: 2, Type: "del-header", HdrName: "X-Remove"},
			{Index: 3, Type: "replace-header", HdrName: "Host", HdrMatch: "(.*):80", HdrFormat: `\1`},
			{Index: 4, Type: "replace-path", PathMatch: "(?i)^/pp/?(.*)", PathFmt: `/\1`},
			{Index: 5, Type: "set-path", PathFmt: "/new"},
			{Index: 6, Type: "redirect", RedirType: "location", RedirValue: "/store", RedirCode: i(301), Cond: "if", CondTest: "network_allowed"},
			{Index: 7, Type: "redirect", RedirType: "scheme", RedirValue: "https", RedirCode: i(302)},
			{Index: 8, Type: "auth", AuthRealm: "shop", Cond: "unless", CondTest: "network_allowed"},
			{Index: 9, Type: "allow", Cond: "if", CondTest: "network_allowed"},
			{Index: 10, Type: "deny", DenyStatus: i(403)},
		},
		HTTPResponseRules: []dataplane.HTTPResponseRule{
			{Index: 0, Type: "set-header", HdrName: "Strict-Transport-Security", HdrFormat: "max-age=15768000"},
			{Index: 1, Type: "replace-header", HdrName: "Location", HdrMatch: `^(https?://a\.com(:[0-9]+)?)?(/.*)`, HdrFormat: "/rev/", Cond: "if", CondTest: "hdr_location"},
			{Index: 2, Type: "del-header", HdrName: "Server"},
		},
	}
	want.Backends["roundtcp_10001"] = &mdsync.Backend{AppID: "/round",
		Backend: dataplane.Backend{Name: "roundtcp_10001", From: "marathon_defaults", Mode: "tcp", Description: owner,
			Balance: &dataplane.Balance{Algorithm: "leastconn"}},
		Servers: []dataplane.Server{{Name: "t1", Address: "127.0.0.1", Port: i(31010), ID: i(5)}},
		ACLs:    []dataplane.ACL{{Index: 0, ACLName: "network_allowed", Criterion: "src", Value: "10.0.0.0/8"}},
		TCPRequestRules: []dataplane.TCPRequestRule{
			{Index: 0, Type: "inspect-delay", Timeout: i(5000)},
			{Index: 1, Type: "content", Action: "accept", Cond: "if", CondTest: "network_allowed"},
			{Index: 2, Type: "content", Action: "reject"},
		},
	}
	want.Frontends["round_10000"] = &mdsync.Frontend{AppID: "/round",
		Frontend: dataplane.Frontend{Name: "round_10000", From: "marathon_defaults", Mode: "http", Description: owner,
			DefaultBackend: "round_10000", Maxconn: i(2000), ClientTimeout: i(60000), Httplog: true,
			Forwardfor: &dataplane.Forwardfor{Enabled: "enabled"}},
		Binds: []dataplane.Bind{{Name: "port_" + strconv.Itoa(s.httpPort), Address: "127.0.0.1", Port: i(int64(s.httpPort)),
			AcceptProxy: true, DeferAccept: true, Maxconn: i(50), V4v6: false, Tfo: true}},
		ACLs:             []dataplane.ACL{{Index: 0, ACLName: "blocked", Criterion: "src", Value: "10.9.0.0/16"}},
		HTTPRequestRules: []dataplane.HTTPRequestRule{{Index: 0, Type: "deny", Cond: "if", CondTest: "blocked"}},
		SwitchingRules:   []dataplane.BackendSwitchingRule{{Index: 0, Name: "round_10000", Cond: "if", CondTest: "{ path_beg /api }"}},
	}
	want.Frontends["roundtcp_10001"] = &mdsync.Frontend{AppID: "/round",
		Frontend: dataplane.Frontend{Name: "roundtcp_10001", From: "marathon_defaults", Mode: "tcp", Description: owner,
			DefaultBackend: "roundtcp_10001", Tcplog: true},
		Binds: []dataplane.Bind{{Name: "port_" + strconv.Itoa(s.appIDPort), Address: "127.0.0.1", Port: i(int64(s.appIDPort)), Transparent: false}},
		TCPRequestRules: []dataplane.TCPRequestRule{
			{Index: 0, Type: "inspect-delay", Timeout: i(1000)},
			{Index: 1, Type: "content", Action: "reject", Cond: "if", CondTest: "{ src 10.9.0.0/16 }"},
		},
	}

	text, version, err := dc.RawConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	rendered := mdsync.ReplaceOwned(text, nil, want)
	if _, err := dc.PostRawConfig(ctx, version, rendered, dataplane.RawOptions{}); err != nil {
		t.Fatalf("post the rendered configuration: %v\n%s", err, rendered)
	}
	got, _, err := mdsync.ReadCurrent(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want.BackendNames() {
		compare(t, "backend "+name, got.Backends[name], want.Backends[name])
	}
	for _, name := range want.FrontendNames() {
		compare(t, "frontend "+name, got.Frontends[name], want.Frontends[name])
	}
	compare(t, "userlists", got.Userlists, want.Userlists)
	if t.Failed() {
		t.Logf("rendered:\n%s", rendered[strings.Index(rendered, "userlist user_round"):])
	}
	// And the operator's objects came through untouched.
	if !strings.Contains(rendered, "backend operator_backend") {
		t.Fatal("the operator's backend was dropped")
	}
}

// compare compares the objects as the API sees them (their JSON): an
// empty list read back and a nil one written are the same.
func compare(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	if string(g) != string(w) {
		t.Errorf("%s read back differs\ngot:  %s\nwant: %s", what, g, w)
	}
}
