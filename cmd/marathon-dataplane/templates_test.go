package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGlobalTemplates(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "HAPROXY_BACKEND_STICKY_OPTIONS"), []byte("  cookie ID insert\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := globalTemplates(dir, env(map[string]string{
		"HAPROXY_BACKEND_HTTP_OPTIONS":   `  option forwardfor\n  http-request set-header X-LB mdp\n`,
		"HAPROXY_GLOBAL_DEFAULT_OPTIONS": "redispatch, dontlognull,http-server-close",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got["BACKEND_HTTP_OPTIONS"] != "  option forwardfor\n  http-request set-header X-LB mdp\n" || got["BACKEND_STICKY_OPTIONS"] != "  cookie ID insert\n" || len(got) != 2 {
		t.Fatalf("templates %q", got)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"HAPROXY_HEAD", "global\n  daemon\n", "HAPROXY_HEAD: overriding this template is not supported yet"},
		{"HAPROXY_BACKEND_HTTP_OPTIONS", `  http-request set-header X "open`, "HAPROXY_BACKEND_HTTP_OPTIONS: line 1: invalid template: unclosed"},
		{"HAPROXY_GLOBAL_DEFAULT_OPTIONS", "httplog", "belongs to the base haproxy.cfg"},
	} {
		if _, err := globalTemplates("", env(map[string]string{tc.key: tc.value})); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.key, err, tc.want)
		}
	}
}
