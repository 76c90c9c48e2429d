package sync

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/internal/haproxytest"
)

// TestVerifyLiveAgainstRealHAProxy runs HAProxy with a config that matches
// one desired backend but not the other, and reads the difference from the
// real Runtime API.
func TestVerifyLiveAgainstRealHAProxy(t *testing.T) {
	f := loadFixture(t, "host_tcp")
	desired := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	be := desired.Backends["grp_db_10010"]
	cfg := haproxytest.BaseConfig() + "\nbackend grp_db_10010\n    mode tcp\n"
	for i, s := range be.Servers {
		if i == 0 {
			continue // the first server is missing from HAProxy
		}
		cfg += fmt.Sprintf("    server %s %s:%d\n", s.Name, s.Address, *s.Port)
	}
	cfg += "    server stale 127.0.0.1:9\n"
	h := haproxytest.Start(t, cfg)
	rt, err := runtimeapi.New(h.Socket)
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := VerifyLive(context.Background(), rt, desired)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(diffs, "\n")
	for _, want := range []string{
		"server " + be.Servers[0].Name + " is not running",
		"server stale runs in HAProxy but is not wanted",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if len(diffs) != 2 {
		t.Errorf("want 2 differences, got:\n%s", got)
	}

	// A backend HAProxy does not run is missing; an empty one lists no
	// servers either way, and is not.
	desired.Backends["absent_1"] = &Backend{Backend: dataplane.Backend{Name: "absent_1"}, Servers: be.Servers}
	desired.Backends["empty_1"] = &Backend{Backend: dataplane.Backend{Name: "empty_1"}}
	live, err := LiveDiffs(context.Background(), rt, desired)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, d := range live {
		if d.Kind == LiveMissing && d.Server == "" {
			missing = append(missing, d.Backend)
		}
	}
	if len(live) != 3 || strings.Join(missing, ",") != "absent_1" {
		t.Errorf("want the two differences and absent_1 missing, got %v", live)
	}
}
