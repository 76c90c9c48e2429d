package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

func TestServerName(t *testing.T) {
	for _, tc := range []struct {
		host, ip string
		port     int
		want     string
	}{
		{"10.0.0.1", "10.0.0.1", 31000, "10_0_0_1_31000"},
		{"agent-1.example.com", "10.0.0.1", 31000, "agent-1_example_com_10_0_0_1_31000"},
	} {
		if got := labels.ServerName(tc.host, tc.ip, tc.port); got != tc.want {
			t.Errorf("ServerName(%q, %q, %d) = %q, want %q", tc.host, tc.ip, tc.port, got, tc.want)
		}
	}
}

// TestProxies: one backend per service port of the old colour, named
// after the group, HAPROXY_{n}_PORT winning over the service port.
func TestProxies(t *testing.T) {
	old := marathon.App{PortDefinitions: []marathon.PortDefinition{{Port: 10010}, {Port: 10011}},
		Labels: map[string]string{"HAPROXY_0_PORT": "10000"}}
	if got := Proxies("/shop/web", old); !slices.Equal(got, []string{"shop_web_10000", "shop_web_10011"}) {
		t.Fatalf("Proxies = %v", got)
	}
}

func TestSelectKills(t *testing.T) {
	servers := map[string][]taskServer{
		"a": {{proxy: "web_80", name: "a_1"}, {proxy: "web_81", name: "a_2"}},
		"b": {{proxy: "web_80", name: "b_1"}, {proxy: "web_81", name: "b_2"}},
		"c": {{proxy: "web_80", name: "c_1", addr: "127.0.0.1:3"}},
	}
	row := func(proxy, name, status string, scur int64) ServerStat {
		return ServerStat{Proxy: proxy, Server: name, Status: status, Scur: scur}
	}
	lb1 := []ServerStat{row("web_80", "a_1", "MAINT", 0), row("web_81", "a_2", "MAINT", 0),
		row("web_80", "b_1", "MAINT", 0), row("web_81", "b_2", "MAINT", 2),
		{Proxy: "web_80", Server: "renamed", Addr: "127.0.0.1:3", Status: "DRAIN"}}
	lb2 := []ServerStat{row("web_80", "a_1", "MAINT", 0), row("web_81", "a_2", "UP", 0)}
	for _, tc := range []struct {
		name  string
		lbs   [][]ServerStat
		idle  bool
		limit int
		want  []string
	}{
		{"every port idle", [][]ServerStat{lb1}, true, 9, []string{"a", "c"}},
		{"limit", [][]ServerStat{lb1}, true, 1, []string{"a"}},
		{"grace over: sessions do not matter", [][]ServerStat{lb1}, false, 9, []string{"a", "b", "c"}},
		{"disabled on every LB", [][]ServerStat{lb1, lb2}, true, 9, nil},
		{"no LB", nil, false, 9, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SelectKills(servers, tc.lbs, tc.idle, tc.limit); !slices.Equal(got, tc.want) {
				t.Fatalf("SelectKills = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLBReady(t *testing.T) {
	rows := []ServerStat{{Proxy: "web_80", Status: "UP"}, {Proxy: "web_80", Status: "no check"}, {Proxy: "web_80", Status: "MAINT"},
		{Proxy: "web_81", Status: "UP"}}
	for _, tc := range []struct {
		name          string
		lbs           [][]ServerStat
		tasks, target int
		want          bool
	}{
		{"ready", [][]ServerStat{rows}, 3, 2, true},
		{"a task missing", [][]ServerStat{rows}, 4, 2, false},
		{"too few up", [][]ServerStat{rows}, 3, 3, false},
		{"second LB behind", [][]ServerStat{rows, rows[:2]}, 3, 2, false},
		{"no LB", nil, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, why := lbReady(tc.lbs, "web_80", tc.tasks, tc.target); got != tc.want {
				t.Fatalf("lbReady = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}

// statsCSV is a "show stat" / stats-page CSV cut to the columns zdd reads
// (columns are read by their header names).
const statsCSV = "# pxname,svname,qcur,scur,status,type,addr,\n" +
	"web_80,FRONTEND,,0,OPEN,0,,\n" +
	"web_80,127_0_0_1_31000,0,1,MAINT,2,127.0.0.1:31000,\n" +
	"web_80,BACKEND,0,1,UP,1,,\n" +
	"other_81,127_0_0_1_31001,0,0,UP,2,127.0.0.1:31001,\n"

// TestStatsPageObserver: the stats CSV of every LB instance, server rows
// of the asked proxies only, with the Host header of the --marathon-lb URL.
func TestStatsPageObserver(t *testing.T) {
	var hosts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
		if r.URL.RawQuery != "stats;csv" || r.URL.Path != "/haproxy" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, statsCSV)
	}))
	defer srv.Close()
	o, err := NewStatsPageObserver(srv.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	port := o.base.Port()
	o.base.Host = "lb.example:" + port
	o.lookup = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1", "127.0.0.1"}, nil }
	lbs, err := o.Stats(context.Background(), []string{"web_80"})
	if err != nil {
		t.Fatal(err)
	}
	want := ServerStat{Proxy: "web_80", Server: "127_0_0_1_31000", Status: "MAINT", Addr: "127.0.0.1:31000", Scur: 1}
	if len(lbs) != 2 || len(lbs[0]) != 1 || lbs[0][0] != want {
		t.Fatalf("Stats = %+v", lbs)
	}
	if hosts[0] != "lb.example:"+port {
		t.Fatalf("Host header %q", hosts[0])
	}
	o.lookup = func(context.Context, string) ([]string, error) { return nil, errors.New("no such host") }
	if _, err := o.Stats(context.Background(), []string{"web_80"}); ExitCode(err) != ExitLBError {
		t.Fatalf("unresolvable LB: %v (exit %d), want 5", err, ExitCode(err))
	}
	if _, err := NewStatsPageObserver("lb:9090", time.Second); ExitCode(err) != ExitInvalidArgs {
		t.Fatalf("URL without scheme: %v", err)
	}
}

type fakeRT struct {
	answer string
	err    error
}

func (f fakeRT) ShowStat(context.Context, string) ([]runtimeapi.StatRow, error) {
	if f.err != nil {
		return nil, f.err
	}
	return runtimeapi.ParseStat(f.answer)
}

// TestSocketObserver: one LB instance, from the Runtime API's show stat.
func TestSocketObserver(t *testing.T) {
	lbs, err := SocketObserver{RT: fakeRT{answer: statsCSV}}.Stats(context.Background(), []string{"web_80", "other_81"})
	if err != nil || len(lbs) != 1 || len(lbs[0]) != 2 || !lbs[0][0].Disabled() || lbs[0][0].Drained() || !lbs[0][1].Serving() {
		t.Fatalf("Stats = %+v, %v", lbs, err)
	}
	if _, err := (SocketObserver{RT: fakeRT{err: errors.New("connection refused")}}).Stats(context.Background(), nil); ExitCode(err) != ExitLBError {
		t.Fatalf("socket down: %v (exit %d), want 5", err, ExitCode(err))
	}
}
