package sync

import "testing"

func TestNamesMatchMarathonLB(t *testing.T) {
	tests := []struct{ got, want string }{
		{BackendName("/grp/web", 10001), "grp_web_10001"},
		{BackendName("/my.app", 10000), "my.app_10000"},
		{ServerName("agent1", "1.1.1.1", 1024), "agent1_1_1_1_1_1024"},
		{ServerName("10.0.2.148", "10.0.2.148", 1565), "10_0_2_148_1565"},
		{hostACLName("x.com", "/grp/web"), "host_x_com_grp_web"},
		{pathACLName("grp_web_10001"), "path_grp_web_10001"},
		{appIDACLName("/grp/web"), "app__grp_web"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q want %q", tt.got, tt.want)
		}
	}
}

func TestServerIDStableAndUnique(t *testing.T) {
	taken := map[int64]bool{}
	a := serverID("10_0_2_148_1565", taken)
	if a <= 0 || a >= 32767 {
		t.Fatalf("id %d out of range", a)
	}
	if b := serverID("10_0_2_148_1565", map[int64]bool{}); b != a {
		t.Fatalf("not stable: %d vs %d", a, b)
	}
	taken[a] = true
	if c := serverID("10_0_2_148_1565", taken); c == a {
		t.Fatalf("collision not resolved")
	}
}

func TestOwnership(t *testing.T) {
	if app, ok := ownedApp(ownerDescription("/a/b")); !ok || app != "/a/b" {
		t.Errorf("got %q %v", app, ok)
	}
	if app, ok := ownedApp(ownerDescription("")); !ok || app != "" {
		t.Errorf("shared: got %q %v", app, ok)
	}
	if _, ok := ownedApp("stats page"); ok {
		t.Error("foreign description counted as owned")
	}
}
