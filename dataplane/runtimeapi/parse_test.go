package runtimeapi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Answers below are verbatim from HAProxy 2.6.12-1+deb12u4 (Debian) during
// this package's tests.

// "show servers state be_app" with a checked server (s1), a server after
// "set server be_app/s2 weight 5", a dynamic server still in maint (d1) and
// a dynamic server with "check" after enable health + ready (d4).
const goldenServersState = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be_app 1 s1 127.0.0.1 2 0 1 1 26 6 3 4 6 0 0 0 - 21901 - 0 0 - - 0
3 be_app 2 s2 127.0.0.1 2 0 5 1 26 1 0 2 0 0 0 0 - 21902 - 0 0 - - 0
3 be_app 3 d1 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 21901 - 0 0 - - 0
3 be_app 4 d4 127.0.0.1 2 0 1 1 0 1 0 2 6 0 0 0 - 21901 - 0 0 - - 0
`

// Same, with s2 drained ("set server be_app/s2 state drain").
const goldenServersStateDrain = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n3 be_app 1 s1 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 43225 - 0 0 - - 0\n3 be_app 2 s2 127.0.0.1 2 8 1 1 0 1 0 2 0 0 0 0 - 41771 - 0 0 - - 0\n"

// "show stat be_app -1 -1" with s2 drained, after a server added with
// "enabled" was deleted: the backend reads DOWN with act 0 although s1 is
// up (the pitfall AddServer refuses "enabled" for).
const goldenStat = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n" +
	"be_app,s1,0,0,0,1,,1,99,120,,0,,0,0,0,0,no check,1,1,0,,,0,,,1,3,1,,1,,2,1,,1,,,,0,1,0,0,0,0,,,,1,0,0,,,,,0,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:43225,,http,,,,,,,,0,1,0,,,1,,0,0,0,0,0,1,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n" +
	"be_app,s2,0,0,0,1,,1,99,120,,0,,0,0,0,0,DRAIN,1,1,0,,,0,,,1,3,2,,1,,2,1,,1,,,,0,1,0,0,0,0,,,,1,0,0,,,,,0,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:41771,,http,,,,,,,,0,1,0,,,1,,0,0,0,0,0,1,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n" +
	"be_app,BACKEND,0,0,0,1,998,2,198,240,0,0,,0,0,0,0,DOWN,0,0,0,,1,0,0,,1,3,0,,2,,1,2,,2,,,,0,2,0,0,0,0,,,,2,0,0,0,0,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,2,0,0,0,,,0,0,0,0,0,,,,,0,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,0,2,2,234,192,0,0,\n"

// Two rows of a checked server, and a backend whose active-server count
// underflowed after runtime add/del cycles (seen on 2.6.12).
const goldenStatChecked = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo\n" +
	"be_app,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/3,1,1,0,0,0,17,0,,1,3,1,,0,,2,0,,0,L4OK,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer4 check passed,,2,3,4,,,,127.0.0.1:21901,,http,\n" +
	"be_app,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,DOWN,0,4294967295,0,,0,17,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin\n"

// An interactive ("prompt") batch: add server to an unknown backend, get
// weight, set weight, del server of a ready server, show servers state of
// an unknown backend. Two of the errors have no newline of their own.
const goldenTranscript = "\n> No such backend.\n> 1 (initial 1)\n\n> \n> Only servers in maintenance mode can be deleted.\n> Can't find backend.\n\n> "

func TestParseServersState(t *testing.T) {
	states, err := ParseServersState(goldenServersState)
	if err != nil {
		t.Fatal(err)
	}
	want := []ServerState{
		{BackendID: 3, BackendName: "be_app", ID: 1, Name: "s1", Address: "127.0.0.1", OpState: OpRunning, UserWeight: 1, InitialWeight: 1,
			SecondsSinceChange: 26, CheckStatus: 6, CheckResult: 3, CheckHealth: 4, CheckState: 6, Port: 21901},
		{BackendID: 3, BackendName: "be_app", ID: 2, Name: "s2", Address: "127.0.0.1", OpState: OpRunning, UserWeight: 5, InitialWeight: 1,
			SecondsSinceChange: 26, CheckStatus: 1, CheckHealth: 2, Port: 21902},
		{BackendID: 3, BackendName: "be_app", ID: 3, Name: "d1", Address: "127.0.0.1", OpState: OpStopped, AdminState: AdminForcedMaint,
			UserWeight: 1, InitialWeight: 1, CheckStatus: 1, Port: 21901},
		{BackendID: 3, BackendName: "be_app", ID: 4, Name: "d4", Address: "127.0.0.1", OpState: OpRunning, UserWeight: 1, InitialWeight: 1,
			CheckStatus: 1, CheckHealth: 2, CheckState: 6, Port: 21901},
	}
	if !reflect.DeepEqual(states, want) {
		t.Fatalf("got  %+v\nwant %+v", states, want)
	}
	if !states[0].Ready() || states[0].InMaint() || states[0].Draining() {
		t.Errorf("s1 flags")
	}
	if !states[2].InMaint() || states[2].Ready() {
		t.Errorf("d1 flags")
	}

	states, err = ParseServersState(goldenServersStateDrain)
	if err != nil || len(states) != 2 {
		t.Fatal(states, err)
	}
	if s2 := states[1]; !s2.Draining() || s2.InMaint() || s2.Ready() || s2.AdminState != AdminForcedDrain {
		t.Errorf("drained s2: %+v", s2)
	}

	// A backend with no server: version and header only.
	if states, err := ParseServersState("1\n# be_id be_name\n"); err != nil || len(states) != 0 {
		t.Errorf("empty backend: %v %v", states, err)
	}
	for _, bad := range []string{"", "Can't find backend.\n", "2\n# be_id\n3 x\n", "1\n3 be_app 1 s1\n", "1\n# be_id srv_port\n3 x\n"} {
		if _, err := ParseServersState(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("ParseServersState(%q): want ErrProtocol, got %v", bad, err)
		}
	}
}

func TestParseStat(t *testing.T) {
	rows, err := ParseStat(goldenStat)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("want 3 rows, got %d", len(rows))
	}
	s1, s2, be := rows[0], rows[1], rows[2]
	if s1.Proxy != "be_app" || s1.Server != "s1" || s1.Status != "no check" || s1.Weight != 1 || s1.Stot != 1 || s1.Smax != 1 ||
		s1.Addr != "127.0.0.1:43225" || s1.Type != StatTypeServer || s1.Act != 1 || s1.Bck != 0 || s1.Field("lbtot") != "1" {
		t.Errorf("s1: %+v", s1)
	}
	if s2.Status != "DRAIN" || s2.Up() {
		t.Errorf("s2: %q", s2.Status)
	}
	if be.Server != "BACKEND" || be.Type != StatTypeBackend || be.Status != "DOWN" || be.Act != 0 || be.Stot != 2 || be.Field("algo") != "roundrobin" {
		t.Errorf("backend: %+v", be)
	}
	if len(s1.Fields) != 128 || s1.Field("h1_spliced_bytes_out") != "" {
		t.Errorf("fields: %d columns", len(s1.Fields))
	}

	rows, err = ParseStat(goldenStatChecked)
	if err != nil || len(rows) != 2 {
		t.Fatal(rows, err)
	}
	if r := rows[0]; r.Status != "UP 1/3" || !r.Up() || r.CheckStatus != "L4OK" || r.Field("check_desc") != "Layer4 check passed" {
		t.Errorf("checked server: %+v", r)
	}
	if rows[1].Act != 4294967295 {
		t.Errorf("underflowed act: %d", rows[1].Act)
	}

	for _, bad := range []string{"", "No such proxy.", "pxname,svname\n"} {
		if _, err := ParseStat(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("ParseStat(%q): want ErrProtocol, got %v", bad, err)
		}
	}
}

func TestParseMapAndInfo(t *testing.T) {
	got := ParseMap("0x560a2239dc80 a.example.com be_app\n0x560a2239dd10 b.example.com be_src\n0x7faaa0046a30 y.example.com two words\\x\n")
	want := []MapEntry{
		{ID: "0x560a2239dc80", Key: "a.example.com", Value: "be_app"},
		{ID: "0x560a2239dd10", Key: "b.example.com", Value: "be_src"},
		{ID: "0x7faaa0046a30", Key: "y.example.com", Value: `two words\x`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMap: %+v", got)
	}
	if got := ParseMap(""); got != nil {
		t.Errorf("empty map: %+v", got)
	}

	info := ParseInfo("Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nRelease_date: 2026/10/17\nNbthread: 2\nPid: 16269\nUptime: 0d 0h00m01s\n")
	if info["Name"] != "HAProxy" || info["Version"] != "2.6.12-1+deb12u4" || info["Pid"] != "16269" || info["Uptime"] != "0d 0h00m01s" {
		t.Errorf("ParseInfo: %v", info)
	}
}

func TestSplitPrompted(t *testing.T) {
	got, err := splitPrompted(goldenTranscript, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"No such backend.", "1 (initial 1)\n", "", "Only servers in maintenance mode can be deleted.", "Can't find backend.\n"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	for _, n := range []int{4, 6} {
		if _, err := splitPrompted(goldenTranscript, n); !errors.Is(err, ErrProtocol) {
			t.Errorf("%d commands: want ErrProtocol, got %v", n, err)
		}
	}
	// Cut short (HAProxy closed early), or not interactive at all.
	for _, bad := range []string{goldenTranscript[:len(goldenTranscript)-3], "Unknown command, but maybe…\n", ""} {
		if _, err := splitPrompted(bad, 5); !errors.Is(err, ErrProtocol) {
			t.Errorf("splitPrompted(%q): want ErrProtocol, got %v", bad, err)
		}
	}
}

func TestCheckAnswer(t *testing.T) {
	for answer, want := range map[string]error{
		"No such server.\n":     ErrNoSuchServer,
		"No such backend.":      ErrNoSuchBackend,
		"Can't find backend.\n": ErrNoSuchBackend,
		"No such proxy.\n":      ErrNoSuchBackend,
		"Unknown command, but maybe one of the following ones is a better match:\n  add acl [@<ver>] <acl> <pattern>        : add an acl entry\n": ErrUnknownCommand,
		"Backend must use a dynamic load balancing to support dynamic servers.":                                                                   ErrDynamicServersUnsupported,
		"Only servers in maintenance mode can be deleted.":                                                                                        ErrServerNotInMaint,
		"Server still has connections attached to it, cannot remove it.":                                                                          ErrServerHasConnections,
		"Already exists a server with the same name in backend.\n":                                                                                ErrServerExists,
		"Health check was not configured on this server, cannot enable.\n":                                                                        ErrNoHealthCheck,
		"Permission denied\n": ErrPermissionDenied,
		"Unknown map identifier. Please use #<id> or <file>.\n": ErrNoSuchMap,
		"Key not found.\n":               ErrMapEntryNotFound,
		"entry not found.\n":             ErrMapEntryNotFound,
		"Version number out of range.\n": ErrMapVersion,
		// Answers that mean success, or failures only typed helpers know.
		"":                         nil,
		"1 (initial 1)\n":          nil,
		"New server registered.\n": nil,
		"Server deleted.":          nil,
		"weight of server d2 is not within 0 and 256 (300)..\n": nil,
		"0x55 No such server. value\n":                          nil,
	} {
		err := CheckAnswer("cmd", answer)
		if want == nil {
			if err != nil {
				t.Errorf("CheckAnswer(%q) = %v, want nil", answer, err)
			}
			continue
		}
		var ce *CommandError
		if !errors.Is(err, want) || !errors.As(err, &ce) || ce.Command != "cmd" || strings.HasSuffix(ce.Output, "\n") {
			t.Errorf("CheckAnswer(%q) = %#v, want %v", answer, err, want)
		}
	}
	err := failed("set server be_app/s1 weight 50", "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n")
	if !errors.Is(err, ErrCommandFailed) || !strings.Contains(err.Error(), "be_app/s1") || !strings.Contains(err.Error(), "static LB algorithm") {
		t.Errorf("failed(): %v", err)
	}
}

func TestEscapeArg(t *testing.T) {
	for in, want := range map[string]string{
		"be_app":      "be_app",
		"two words":   `two\ words`,
		`back\slash`:  `back\\slash`,
		"tab\tand sp": "tab\\\tand\\ sp",
	} {
		if got := escapeArg(in); got != want {
			t.Errorf("escapeArg(%q) = %q, want %q", in, got, want)
		}
	}
}
