package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGlobalTemplates(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "HAPROXY_BACKEND_STICKY_OPTIONS"), []byte("  cookie ID insert\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := globalTemplates(dir, "base", env(map[string]string{
		"HAPROXY_BACKEND_HTTP_OPTIONS":   `  option forwardfor\n  http-request set-header X-LB mdp\n`,
		"HAPROXY_GLOBAL_DEFAULT_OPTIONS": "redispatch, dontlognull,http-server-close,redispatch",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.templates["BACKEND_HTTP_OPTIONS"] != "  option forwardfor\n  http-request set-header X-LB mdp\n" || got.templates["BACKEND_STICKY_OPTIONS"] != "  cookie ID insert\n" || len(got.templates) != 2 {
		t.Fatalf("templates %q", got.templates)
	}
	if want := []string{"dontlognull", "http-server-close", "redispatch"}; !slices.Equal(got.defaultOptions, want) {
		t.Fatalf("default options %q, want %q (trimmed, deduplicated, sorted)", got.defaultOptions, want)
	}

	head := `global\n  master-worker\n  stats socket /run/haproxy.sock level admin\n  maxconn 4242\ndefaults\n  mode http\n  timeout client 5s\n`
	got, err = globalTemplates("", "base", env(map[string]string{"HAPROXY_HEAD": head, "HAPROXY_GLOBAL_DEFAULT_OPTIONS": "httplog"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.head) != 2 || got.head[1].Key() != "defaults base" || got.head[0].Lines[2] != "maxconn 4242" || got.defaultOptions != nil {
		t.Fatalf("head %+v, default options %q", got.head, got.defaultOptions)
	}
	if _, ok := got.templates["HEAD"]; ok || len(got.warnings) != 2 || !strings.Contains(got.warnings[1], "no effect with HAPROXY_HEAD") {
		t.Fatalf("templates %q warnings %q", got.templates, got.warnings)
	}

	for _, tc := range []struct{ key, value, want string }{
		{"HAPROXY_HEAD", "global\n  daemon\n", "HAPROXY_HEAD: the global section needs a `stats socket <path> level admin` line"},
		{"HAPROXY_HEAD", "global\n  daemon\n  stats socket /s level admin\n", "must not say `daemon`"},
		{"HAPROXY_HEAD", "  maxconn 1\nglobal\n", `line 1 "maxconn 1": not inside a section`},
		{"HAPROXY_HEAD", "defaults\n  mode http\n", "a global section is required"},
		{"HAPROXY_HEAD", "global\n stats socket /s level admin\nbackend web_10000\n", "belongs to the proxies marathon-dataplane manages"},
		{"HAPROXY_BACKEND_HTTP_OPTIONS", `  http-request set-header X "open`, "HAPROXY_BACKEND_HTTP_OPTIONS: line 1: invalid template: unclosed"},
		{"HAPROXY_GLOBAL_DEFAULT_OPTIONS", " , ", "no option named"},
	} {
		if _, err := globalTemplates("", "base", env(map[string]string{tc.key: tc.value})); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: error %v, want %q", tc.key, tc.value, err, tc.want)
		}
	}
}
