package sync

import (
	"fmt"
	"slices"
	"sort"
	"testing"
)

// TestBisectFindsTheRefusedApps: whatever the refused apps are among the
// changed ones, bisect names exactly them, in few checks.
func TestBisectFindsTheRefusedApps(t *testing.T) {
	var apps []string
	for i := 0; i < 40; i++ {
		apps = append(apps, fmt.Sprintf("/app%02d", i))
	}
	for _, bad := range [][]string{
		{"/app00"}, {"/app39"}, {"/app17"}, {"/app03", "/app31"}, {"/app10", "/app11", "/app12"}, {"/app00", "/app20", "/app39"},
	} {
		checks := 0
		valid := func(reverted map[string]bool) (bool, error) {
			checks++
			for _, b := range bad {
				if !reverted[b] {
					return false, nil
				}
			}
			return true, nil
		}
		got, err := bisect(apps, map[string]bool{}, valid)
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		if !slices.Equal(got, bad) {
			t.Errorf("refused %v: found %v", bad, got)
		}
		if limit := 4 * len(bad) * 6; checks > limit {
			t.Errorf("refused %v: %d checks (more than %d)", bad, checks, limit)
		}
	}
}

func TestChangedApps(t *testing.T) {
	f := loadFixture(t, "vhosts")
	current := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	f.Apps[0].Tasks[0].Ports = []int{39999}
	desired := BuildDesired(f.Apps, testConfig(), fakeResolver{}, Existing{}).State
	if got := changedApps(current, desired); !slices.Equal(got, []string{f.Apps[0].ID}) {
		t.Fatalf("changed %v, want only %s", got, f.Apps[0].ID)
	}
	if got := changedApps(nil, desired); len(got) < 2 {
		t.Fatalf("from nothing every app changed, got %v", got)
	}
}
