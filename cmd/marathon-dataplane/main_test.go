package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestFlagErrorsExitWithOneAndSayWhy(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sync"}, "--group is required"},
		{[]string{"plan", "--group", "*", "--log-format", "xml"}, "--log-format"},
		{[]string{"plan", "--group", "*", "--log-level", "loud"}, "--log-level"},
		{[]string{"plan", "--group", "*", "--http-bind", "80"}, "--http-bind"},
		{[]string{"plan", "--group", "*", "--min-serv-port-ip-per-task", "0"}, "--min-serv-port-ip-per-task"},
		{[]string{"plan", "--group", "*", "--marathon", "ftp://x"}, "marathon URL"},
		{[]string{"plan", "--group", "*", "--auth-credentials", "nopassword"}, "user:pass"},
		{[]string{"plan", "--group", "*", "-o", "yaml"}, "--output"},
		{[]string{"plan", "--group", "*", "--dataplane-password-file", "/nonexistent"}, "--dataplane-password-file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"marathon-dataplane"}, tt.args...), &out, &errOut)
			if code != exitFailed {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("stderr does not mention %q:\n%s", tt.want, errOut.String())
			}
		})
	}
}

func TestUnreachableMarathonExitsOne(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"marathon-dataplane", "sync", "--group", "*",
		"--marathon", "http://127.0.0.1:1", "--dataplane-url", "http://127.0.0.1:1", "--marathon-timeout", "1s"}, &out, &errOut)
	if code != exitFailed || !strings.Contains(errOut.String(), "marathon") {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
}

func TestHealthcheckCommand(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   int
	}{{200, 0}, {503, exitFailed}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(tc.status)
		}))
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"marathon-dataplane", "healthcheck", "--listen", strings.TrimPrefix(srv.URL, "http://")}, &out, &errOut)
		srv.Close()
		if code != tc.code {
			t.Errorf("/healthz %d: exit %d, want %d (%s)", tc.status, code, tc.code, errOut.String())
		}
	}
}

func TestVersionCommandPrintsBuildInfo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"marathon-dataplane", "version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "marathon-dataplane ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("version output %q", out.String())
	}
}

func TestCompletion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"marathon-dataplane", "completion", "bash"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "complete -o default -F _marathon_dataplane marathon-dataplane") {
		t.Fatalf("completion bash: exit %d %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"marathon-dataplane", "completion", "zsh"}, &out, &errOut); code != exitFailed {
		t.Fatalf("completion zsh: exit %d, want %d", code, exitFailed)
	}
	out.Reset()
	// urfave/cli reads os.Args to tell a flag being completed from a
	// command; make them what the shell would pass.
	args := []string{"marathon-dataplane", "--generate-bash-completion"}
	saved := os.Args
	os.Args = args
	t.Cleanup(func() { os.Args = saved })
	run(context.Background(), args, &out, &errOut)
	for _, cmd := range []string{"sync", "plan", "daemon", "sse", "poll", "version"} {
		if !strings.Contains(out.String(), cmd+"\n") {
			t.Errorf("top-level completion lacks %s: %q", cmd, out.String())
		}
	}
}
