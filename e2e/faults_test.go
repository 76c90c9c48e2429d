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

// TestAppRefusedByHAProxyIsIsolated: an app whose labels pass every check
// but make HAProxy refuse the configuration (a certificate file that does
// not exist) is found by bisection and rejected; the other apps are
// applied, and the next sync writes nothing.
func TestAppRefusedByHAProxyIsIsolated(t *testing.T) {
	s := newStack(t)
	mk := func(id string, extra map[string]string) marathon.App {
		l := map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": strings.TrimPrefix(id, "/") + ".example.com"}
		for k, v := range extra {
			l[k] = v
		}
		return marathon.App{ID: id, Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}}, Labels: l}
	}
	deploy(t, s, mk("/good1", nil), mk("/bad", map[string]string{"HAPROXY_0_SSL_CERT": "/nonexistent/bad.pem"}), mk("/good2", nil))
	code, out := s.cli("sync")
	if code != 2 || !strings.Contains(out, "/bad") || !strings.Contains(out, "haproxy refuses the configuration with this app") {
		t.Fatalf("sync: exit %d, want 2 naming /bad as refused:\n%s", code, out)
	}
	for _, app := range []string{"good1", "good2"} {
		if code, body, err := get(s.httpPort, app+".example.com", "/"); err != nil || code != 200 || !strings.Contains(body, "app=/"+app+" ") {
			t.Errorf("%s through HAProxy: %d %v %q", app, code, err, body)
		}
	}
	v := s.version()
	if code, out := s.cli("sync"); code != 2 || s.version() != v {
		t.Fatalf("second sync: exit %d, version %d→%d:\n%s", code, v, s.version(), out)
	}
	t.Logf("refused app isolated; configuration version %d; sync said:\n%s", v, out)
}
