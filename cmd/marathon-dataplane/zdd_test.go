package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

func writeApp(t *testing.T, def string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "app.json")
	if err := os.WriteFile(f, []byte(def), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

const zddApp = `{"id":"/web","instances":2,"portDefinitions":[{"port":20000}],
  "labels":{"HAPROXY_DEPLOYMENT_GROUP":"web","HAPROXY_DEPLOYMENT_ALT_PORT":"20001"}}`

// TestZDDExitCodes: marathon-lb's zdd exit codes for what fails before
// any change (§9.4), the prompt refused when stdin is not a terminal.
func TestZDDExitCodes(t *testing.T) {
	sim := marathontest.Started(t, marathontest.Options{})
	good := writeApp(t, zddApp)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no --json", []string{"--force"}, 3, "--json is required"},
		{"bad JSON", []string{"--json", writeApp(t, "{"), "--force"}, 3, "app definition"},
		{"missing label", []string{"--json", writeApp(t, `{"id":"/web","portDefinitions":[{"port":1}]}`), "--force"}, 4, "HAPROXY_DEPLOYMENT_GROUP"},
		{"no drain source", []string{"--json", good, "--force"}, 3, "--marathon-lb or --haproxy-socket"},
		{"stdin not a terminal", []string{"--json", good, "--haproxy-socket", "/nonexistent"}, 3, "--force"},
		{"complete-prev without a deployment", []string{"--json", good, "--force", "--haproxy-socket", "/nonexistent", "--complete-prev"}, 3, "deployment in progress"},
		{"marathon down", []string{"--json", good, "--force", "--haproxy-socket", "/nonexistent", "--marathon", "http://127.0.0.1:1"}, 6, "marathon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"marathon-dataplane", "zdd"}, tc.args...)
			if !strings.Contains(tc.name, "marathon down") {
				args = append(args, "--marathon", sim.URL())
			}
			code := run(context.Background(), args, &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("exit %d, want %d with %q; stderr:\n%s", code, tc.code, tc.want, errOut.String())
			}
		})
	}
}

// TestZDDDryRun prints the prepared definition and creates nothing.
func TestZDDDryRun(t *testing.T) {
	sim := marathontest.Started(t, marathontest.Options{})
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"marathon-dataplane", "zdd", "--marathon", sim.URL(), "--json", writeApp(t, zddApp),
		"--dry-run", "--haproxy-socket", "/nonexistent"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut.String())
	}
	var app struct {
		ID     string            `json:"id"`
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(out.Bytes(), &app); err != nil || app.ID != "/web-blue" || app.Labels["HAPROXY_DEPLOYMENT_COLOUR"] != "blue" {
		t.Fatalf("stdout %q: %v", out.String(), err)
	}
	if _, ok := sim.App("/web-blue"); ok {
		t.Fatal("a dry run created the app")
	}
	if !strings.Contains(errOut.String(), `"outcome": "dry-run"`) {
		t.Fatalf("no summary line:\n%s", errOut.String())
	}
}

func TestPrompter(t *testing.T) {
	var asked bytes.Buffer
	ask := prompter(bufio.NewReader(strings.NewReader("y\nno\nYES\n\n")), &asked)
	var got []bool
	for i := 0; i < 5; i++ { // the last read hits EOF: no
		ok, err := ask(context.Background(), "Go?")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ok)
	}
	if want := []bool{true, false, true, false, false}; !slices.Equal(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
	if !strings.HasPrefix(asked.String(), "Go? [y/N] ") {
		t.Fatalf("prompt %q", asked.String())
	}
}
