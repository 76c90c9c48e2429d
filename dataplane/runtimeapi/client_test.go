package runtimeapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
)

func TestNewAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/run/haproxy.sock", "unix:/run/haproxy.sock"},
		{"./haproxy.sock", "unix:./haproxy.sock"},
		{"unix:/run/haproxy.sock", "unix:/run/haproxy.sock"},
		{"unix@/run/haproxy.sock", "unix:/run/haproxy.sock"},
		{"tcp:127.0.0.1:9999", "tcp:127.0.0.1:9999"},
		{"127.0.0.1:9999", "tcp:127.0.0.1:9999"},
		{"ipv4@127.0.0.1:9999", "tcp:127.0.0.1:9999"},
		{"ipv6@[::1]:9999", "tcp:[::1]:9999"},
		{"localhost:9999", "tcp:localhost:9999"},
	} {
		c, err := New(tc.in)
		if err != nil || c.Address() != tc.want {
			t.Errorf("New(%q) = %v, %v; want %s", tc.in, c, err, tc.want)
		}
	}
	for _, bad := range []string{"", "unix:", "haproxy.sock", "tcp:127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", ":9999", "tcp:host:port"} {
		if _, err := New(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("New(%q): want ErrInvalidArgument, got %v", bad, err)
		}
	}
}

func TestMissingSocket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nosuch.sock")
	c, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ShowInfo(context.Background())
	wantErr(t, err, ErrUnreachable)
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("error does not say which socket and why: %v", err)
	}
	_, err = c.ExecuteBatch(context.Background(), []string{"show info", "show info"})
	wantErr(t, err, ErrUnreachable)
}

func TestTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	// A socket that accepts and never answers.
	path := filepath.Join(t.TempDir(), "mute.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	c, err := New(path, WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Execute(context.Background(), "show info")
	wantErr(t, err, ErrUnreachable)
	if !strings.Contains(err.Error(), "timeout") || time.Since(start) > 2*time.Second {
		t.Fatalf("want a timeout after 100ms, got %v after %s", err, time.Since(start))
	}

	c, _ = New(path, WithTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.ExecuteBatch(ctx, []string{"show info", "show info"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("want the context's deadline, got %v after %s", err, time.Since(start))
	}
}

func TestRejectedCommands(t *testing.T) {
	c, err := New("/nonexistent/haproxy.sock") // nothing may be sent
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cmd := range []string{"", "  ", "show info;show stat", "show info\nshow stat", "show info\r", "prompt", "quit", "add map #1 <<"} {
		if _, err := c.Execute(ctx, cmd); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Execute(%q): want ErrInvalidArgument, got %v", cmd, err)
		}
		if _, err := c.ExecuteBatch(ctx, []string{"show info", cmd}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ExecuteBatch(…, %q): want ErrInvalidArgument, got %v", cmd, err)
		}
	}
	for name, err := range map[string]error{
		"enabled":       c.AddServer(ctx, "be", "s", "127.0.0.1", 80, []string{"enabled"}),
		"ready enabled": c.AddServerReady(ctx, "be", "s", "127.0.0.1", 80, []string{"check", "enabled"}),
		"backend name":  c.SetServerWeight(ctx, "be/x", "s", 1),
		"server name":   c.SetServerState(ctx, "be", "", StateReady),
		"weight":        c.SetServerWeight(ctx, "be", "s", 1000),
		"port":          c.SetServerAddr(ctx, "be", "s", "127.0.0.1", 65536),
		"address":       c.SetServerAddr(ctx, "be", "s", "10.0.0.1 port 1", 80),
		"health":        c.SetServerHealth(ctx, "be", "s", "maint"),
		"agent":         c.SetServerAgent(ctx, "be", "s", "drain"),
		"map ref":       c.ClearMap(ctx, "two words.map"),
		"map key":       c.DelMapEntry(ctx, "/m.map", "k\n"),
		"map value":     c.SetMapEntry(ctx, "/m.map", "k", " padded "),
	} {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: want ErrInvalidArgument, got %v", name, err)
		}
	}
	err = c.SetServerWeight(ctx, "be_app", "s 1", 1)
	if err == nil || !strings.Contains(err.Error(), "be_app/s 1") {
		t.Errorf("error does not name backend/server: %v", err)
	}
}

func TestExecuteAndBatch(t *testing.T) {
	t.Parallel()
	f := start(t, "", twoServers(newUpstream(t, "a"), newUpstream(t, "b")))
	ctx := context.Background()

	out, err := f.c.Execute(ctx, "get weight be_app/s1")
	if err != nil || out != "1 (initial 1)\n" {
		t.Fatalf("Execute: %q, %v", out, err)
	}

	answers, err := f.c.ExecuteBatch(ctx, []string{
		"set server be_app/s1 weight 7",
		"get weight be_app/s1",
		"add server nosuch/x 127.0.0.1:1", // 2.6 prints this error without a newline
		"del server be_app/s1",            // same
		"show servers state be_app",
	})
	wantErr(t, err, ErrNoSuchBackend)
	wantErr(t, err, ErrServerNotInMaint)
	if len(answers) != 5 {
		t.Fatalf("want 5 answers, got %q", answers)
	}
	if answers[0] != "" || answers[1] != "7 (initial 1)\n" || answers[2] != "No such backend." ||
		answers[3] != "Only servers in maintenance mode can be deleted." || !strings.HasPrefix(answers[4], "1\n# be_id") {
		t.Fatalf("answers: %q", answers)
	}
	if states, err := ParseServersState(answers[4]); err != nil || len(states) != 2 || states[0].UserWeight != 7 {
		t.Fatalf("state from a batch answer: %+v, %v", states, err)
	}

	// Three plain commands, three answers, no error.
	answers, err = f.c.ExecuteBatch(ctx, []string{"show info", "get weight be_app/s2", "set server be_app/s1 weight 1"})
	if err != nil || len(answers) != 3 || !strings.HasPrefix(answers[0], "Name: HAProxy\n") || answers[1] != "1 (initial 1)\n" || answers[2] != "" {
		t.Fatalf("3 commands: %q, %v", answers, err)
	}

	// Longer than one CLI line (8 KiB): split into several lines of the
	// same interactive session.
	cmds := make([]string, 1500)
	for i := range cmds {
		cmds[i] = "get weight be_app/s" + strconv.Itoa(1+i%2)
	}
	answers, err = f.c.ExecuteBatch(ctx, cmds)
	if err != nil || len(answers) != len(cmds) || answers[1499] != "1 (initial 1)\n" {
		t.Fatalf("1500 commands: %d answers, %v", len(answers), err)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	f := start(t, "", twoServers(newUpstream(t, "a"), newUpstream(t, "b")))
	out, err := f.c.Execute(context.Background(), "bogus command")
	ce := wantCommandError(t, err, ErrUnknownCommand)
	if !strings.HasPrefix(out, "Unknown command") || ce.Command != "bogus command" {
		t.Fatalf("unknown command: %q %+v", out, ce)
	}
	answers, err := f.c.ExecuteBatch(context.Background(), []string{"bogus", "get weight be_app/s1"})
	wantErr(t, err, ErrUnknownCommand)
	if len(answers) != 2 || answers[1] != "1 (initial 1)\n" {
		t.Fatalf("batch after an unknown command: %q", answers)
	}
}

func TestTCPAndPermissions(t *testing.T) {
	t.Parallel()
	haproxytest.Require(t)
	a := newUpstream(t, "a")
	tcpPort, fePort := haproxytest.FreePort(t), haproxytest.FreePort(t)
	cfg := strings.Replace(haproxytest.BaseConfig(), "\n", fmt.Sprintf(
		"\n    stats socket ipv4@127.0.0.1:%d level admin\n    stats socket {{.Dir}}/user.sock mode 600 level user\n", tcpPort), 1)
	h := haproxytest.Start(t, cfg+fmt.Sprintf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be_app

backend be_app
    server s1 %s
`, fePort, a.addr()))
	ctx := context.Background()

	for _, addr := range []string{"tcp:127.0.0.1:", "127.0.0.1:", "ipv4@127.0.0.1:"} {
		c, err := New(addr + strconv.Itoa(tcpPort))
		if err != nil {
			t.Fatal(err)
		}
		if info, err := c.ShowInfo(ctx); err != nil || info["Name"] != "HAProxy" {
			t.Fatalf("%s: show info: %v %v", c.Address(), info, err)
		}
		if err := c.SetServerWeight(ctx, "be_app", "s1", 3); err != nil {
			t.Fatalf("%s: %v", c.Address(), err)
		}
		answers, err := c.ExecuteBatch(ctx, []string{"get weight be_app/s1", "show info"})
		if err != nil || len(answers) != 2 || answers[0] != "3 (initial 1)\n" {
			t.Fatalf("%s: batch: %q %v", c.Address(), answers, err)
		}
	}

	user, err := New("unix@" + filepath.Join(h.Dir, "user.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ce := wantCommandError(t, user.SetServerWeight(ctx, "be_app", "s1", 1), ErrPermissionDenied)
	if ce.Output != "Permission denied" {
		t.Fatalf("user level answer %q", ce.Output)
	}
	wantErr(t, user.RemoveServer(ctx, "be_app", "s1"), ErrPermissionDenied)
	if _, err := user.ShowServersState(ctx, "be_app"); err != nil {
		t.Fatalf("show servers state at level user: %v", err)
	}
}
