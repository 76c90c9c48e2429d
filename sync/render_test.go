package sync

import (
	"os"
	"strings"
	"testing"
)

// TestReplaceOwnedGolden renders the vhosts fixture into the shipped base
// configuration; rendering again over the result replaces exactly the
// owned sections. (That the Data Plane API reads the text back into the
// same objects is e2e's TestRenderRoundTrip.)
func TestReplaceOwnedGolden(t *testing.T) {
	base, err := os.ReadFile("../deployments/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	f := loadFixture(t, "vhosts")
	st := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	out := ReplaceOwned(string(base), nil, st)
	checkGolden(t, "testdata/vhosts_rendered.cfg", []byte(out))

	// The operator's sections get the named defaults explicitly, as the
	// API writes them, since ours name it.
	if !strings.Contains(out, "frontend stats from marathon_defaults\n") || !strings.Contains(out, "backend marathon_dataplane_daemon from marathon_defaults\n") {
		t.Fatal("operator sections without from")
	}
	// Rendering over the result with one backend gone removes it and
	// changes nothing else.
	smaller := &State{Backends: map[string]*Backend{}, Frontends: st.Frontends, Userlists: st.Userlists}
	var dropped string
	for name, be := range st.Backends {
		if dropped == "" {
			dropped = name
			continue
		}
		smaller.Backends[name] = be
	}
	again := ReplaceOwned(out, st, smaller)
	if strings.Contains(again, "\nbackend "+dropped+" from") || strings.Count(again, "\nbackend ") != strings.Count(out, "\nbackend ")-1 {
		t.Fatalf("backend %s not removed cleanly:\n%s", dropped, again)
	}
	if strings.Count(again, "frontend stats from") != 1 || !strings.Contains(again, "userlist dataplaneapi\n") {
		t.Fatal("operator sections damaged")
	}
}

// TestRenderCacheRendersWhatRenderOwnedDoes: through the cache, a state
// renders to the same text as without it, pass after pass, while only the
// objects of the last render are kept.
func TestRenderCacheRendersWhatRenderOwnedDoes(t *testing.T) {
	apps, cfg, cache := cachedSynthetic(40)
	rc := newRenderCache()
	for pass := 0; pass < 5; pass++ {
		apps[pass].Tasks = apps[pass].Tasks[1:]
		st := cache.Build(apps, cfg, ipResolver{}, Existing{}).State
		if got, want := rc.render(st), RenderOwned(st); got != want {
			t.Fatalf("pass %d: the cache renders differently", pass)
		}
		if len(rc.backends) != len(st.Backends) || len(rc.frontends) != len(st.Frontends) {
			t.Fatalf("pass %d: cache holds %d backends, %d frontends; the state has %d, %d", pass,
				len(rc.backends), len(rc.frontends), len(st.Backends), len(st.Frontends))
		}
	}
}
