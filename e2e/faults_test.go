package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// TestFailedReloadIsRepaired: a port held by another process passes
// `haproxy -c` but fails the reload. HAProxy keeps serving the last good
// configuration, the sync says so (exit 1), and the Data Plane API's model
// is reset to the file so that the rejected change is not written back by
// the next write. Once the port is free, the next sync applies it.
func TestFailedReloadIsRepaired(t *testing.T) {
	s := newStack(t)
	deploy(t, s, marathon.App{ID: "/web", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_0_VHOST": "web.example.com"}})
	s.mustSync()

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := busy.Addr().(*net.TCPAddr).Port
	deploy(t, s, marathon.App{ID: "/blocked", Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}},
		Labels: map[string]string{"HAPROXY_0_PORT": strconv.Itoa(port)}})

	code, out := s.cli("sync")
	if code != 1 || !strings.Contains(out, "reload failed") {
		t.Fatalf("want exit 1 naming the failed reload, got %d:\n%s", code, out)
	}
	if !strings.Contains(out, "model was reset to the file HAProxy runs") {
		t.Fatalf("the model was not found ahead of the file, or not repaired:\n%s", out)
	}
	if model, file := s.rawVersions(); model != file {
		t.Fatalf("model version %d, file version %d: the model was not repaired", model, file)
	}
	if _, body, err := get(s.httpPort, "web.example.com", "/"); err != nil || !strings.Contains(body, "app=/web ") {
		t.Fatalf("HAProxy stopped serving the last good configuration: %q %v", body, err)
	}

	busy.Close()
	s.mustSync()
	if line, err := tcpBanner(port); err != nil || !strings.Contains(line, "app=/blocked ") {
		t.Fatalf("after the port was freed: %q %v", line, err)
	}
}

// rawVersions returns the API's model version (header) and the version
// of the file it serves (body).
func (s *env) rawVersions() (model, file int64) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.dpURL+"/v2/services/haproxy/configuration/raw", nil)
	req.SetBasicAuth("admin", "adminpwd")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Version int64 `json:"_version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		s.t.Fatal(err)
	}
	model, _ = strconv.ParseInt(resp.Header.Get("Configuration-Version"), 10, 64)
	return model, body.Version
}
