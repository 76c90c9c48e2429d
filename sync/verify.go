package sync

import (
	"context"
	"fmt"
	"sort"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
)

// LiveServers is what verification needs from HAProxy's Runtime API.
type LiveServers interface {
	ShowServersState(ctx context.Context, backend string) ([]runtimeapi.ServerState, error)
}

// VerifyLive compares the servers HAProxy is running (Runtime API) with the
// desired state and lists every difference. A reload that "succeeded"
// without taking effect, or an edit made on the socket, shows up here.
func VerifyLive(ctx context.Context, rt LiveServers, desired *State) ([]string, error) {
	states, err := rt.ShowServersState(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read live server state: %w", err)
	}
	live := map[string]map[string]runtimeapi.ServerState{}
	for _, s := range states {
		if live[s.BackendName] == nil {
			live[s.BackendName] = map[string]runtimeapi.ServerState{}
		}
		live[s.BackendName][s.Name] = s
	}
	var diffs []string
	for _, name := range desired.BackendNames() {
		have, ok := live[name]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("backend %s is not running in HAProxy", name))
			continue
		}
		want := map[string]bool{}
		for _, srv := range desired.Backends[name].Servers {
			want[srv.Name] = true
			h, ok := have[srv.Name]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("backend %s: server %s is not running in HAProxy", name, srv.Name))
			case h.Address != srv.Address || (srv.Port != nil && int64(h.Port) != *srv.Port):
				diffs = append(diffs, fmt.Sprintf("backend %s: server %s runs at %s:%d, want %s:%d", name, srv.Name, h.Address, h.Port, srv.Address, *srv.Port))
			}
		}
		for srv := range have {
			if !want[srv] {
				diffs = append(diffs, fmt.Sprintf("backend %s: server %s runs in HAProxy but is not wanted", name, srv))
			}
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}
