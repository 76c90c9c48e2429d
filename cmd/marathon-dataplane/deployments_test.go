package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// checkArgs fails when args do not start with a command of the CLI, or
// name a flag that command does not have.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Fatalf("%s: no arguments", where)
	}
	app := newApp(nil, nil)
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.Name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		t.Fatalf("%s: %q is not a command", where, args[0])
	}
	known := map[string]bool{}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	for _, a := range args[1:] {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !known[name] {
				t.Errorf("%s: %s has no flag --%s", where, cmd.Name, name)
			}
		}
	}
}

// TestDeploymentFilesUseFlagsThatExist parses the shipped Dockerfile,
// compose file and Marathon app definition and checks every command and
// flag they pass, so that renaming a flag cannot leave them broken.
func TestDeploymentFilesUseFlagsThatExist(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	raw, err := os.ReadFile("../../deployments/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := compose.Services["marathon-dataplane"]
	if !ok {
		t.Fatal("docker-compose.yml has no marathon-dataplane service")
	}
	checkArgs(t, "docker-compose.yml", svc.Command)
	// haproxytech/haproxy-debian runs v3 as `dataplaneapi` since 2.6.18;
	// this project speaks v2.
	if api := compose.Services["dataplaneapi"].Command; len(api) == 0 || api[0] != "dataplaneapi-v2" {
		t.Errorf("docker-compose.yml: the dataplaneapi service runs %q, want dataplaneapi-v2 (the image's dataplaneapi is v3)", api)
	}

	var app struct {
		ID   string   `json:"id"`
		Args []string `json:"args"`
	}
	raw, err = os.ReadFile("../../deployments/marathon-app.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatalf("marathon-app.json: %v", err)
	}
	checkArgs(t, "marathon-app.json", app.Args)

	raw, err = os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^(?:CMD|HEALTHCHECK .*CMD) (\[.*\])$`).FindAllStringSubmatch(string(raw), -1) {
		var args []string
		if err := json.Unmarshal([]byte(m[1]), &args); err != nil {
			t.Fatalf("Dockerfile %s: %v", m[0], err)
		}
		if strings.HasSuffix(args[0], "/marathon-dataplane") {
			args = args[1:]
		}
		checkArgs(t, "Dockerfile", args)
	}
}

// TestShippedHAProxyConfigIsValid runs `haproxy -c` on deployments/haproxy.cfg.
func TestShippedHAProxyConfigIsValid(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed")
	}
	out, err := exec.Command(bin, "-c", "-f", "../../deployments/haproxy.cfg").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}
