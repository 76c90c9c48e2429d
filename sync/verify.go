package sync

import (
	"context"
	"fmt"
	"sort"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
)

// LiveServers is what verification needs from HAProxy's Runtime API.
type LiveServers interface {
	ShowServersState(ctx context.Context, backend string) ([]runtimeapi.ServerState, error)
}

// Kinds of live difference.
const (
	LiveMissing  = "missing"  // wanted, not running
	LiveUnwanted = "unwanted" // running, not wanted
	LiveAddress  = "address"  // running at another address
	LiveMaint    = "maint"    // in maintenance although wanted ready
)

// LiveDiff is one difference between HAProxy's live servers and the
// desired state.
type LiveDiff struct {
	Backend, Server, Kind string
	// Want is the desired server (nil for LiveUnwanted); Live describes
	// what runs.
	Want *dataplane.Server
	Live string
}

func (d LiveDiff) String() string {
	switch d.Kind {
	case LiveMissing:
		if d.Server == "" {
			return fmt.Sprintf("backend %s is not running in HAProxy", d.Backend)
		}
		return fmt.Sprintf("backend %s: server %s is not running in HAProxy", d.Backend, d.Server)
	case LiveUnwanted:
		return fmt.Sprintf("backend %s: server %s runs in HAProxy but is not wanted", d.Backend, d.Server)
	case LiveAddress:
		return fmt.Sprintf("backend %s: server %s runs at %s, want %s:%d", d.Backend, d.Server, d.Live, d.Want.Address, *d.Want.Port)
	}
	return fmt.Sprintf("backend %s: server %s is in maintenance (%s) but wanted ready", d.Backend, d.Server, d.Live)
}

// LiveDiffs compares the servers HAProxy is running (Runtime API) with the
// desired state. A reload that "succeeded" without taking effect, or a
// change made by hand on the socket, shows up here.
func LiveDiffs(ctx context.Context, rt LiveServers, desired *State) ([]LiveDiff, error) {
	states, err := rt.ShowServersState(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read live server state: %w", err)
	}
	// Indexes into states, not copies: 50,000 servers at 10,000 apps,
	// read every --reconcile-interval.
	live := map[string][]int{}
	for i := range states {
		live[states[i].BackendName] = append(live[states[i].BackendName], i)
	}
	var diffs []LiveDiff
	for _, name := range desired.BackendNames() {
		idx, ok := live[name]
		if !ok {
			diffs = append(diffs, LiveDiff{Backend: name, Kind: LiveMissing})
			continue
		}
		have := make(map[string]*runtimeapi.ServerState, len(idx))
		for _, i := range idx {
			have[states[i].Name] = &states[i]
		}
		want := map[string]bool{}
		for i := range desired.Backends[name].Servers {
			srv := &desired.Backends[name].Servers[i]
			want[srv.Name] = true
			h, ok := have[srv.Name]
			switch {
			case !ok:
				diffs = append(diffs, LiveDiff{Backend: name, Server: srv.Name, Kind: LiveMissing, Want: srv})
			case srv.Port == nil:
				// A server on a socket (abns@…): HAProxy reports no
				// comparable address.
			case h.Address != srv.Address || (srv.Port != nil && int64(h.Port) != *srv.Port):
				diffs = append(diffs, LiveDiff{Backend: name, Server: srv.Name, Kind: LiveAddress, Want: srv, Live: fmt.Sprintf("%s:%d", h.Address, h.Port)})
			case h.InMaint() && srv.Maintenance != "enabled":
				diffs = append(diffs, LiveDiff{Backend: name, Server: srv.Name, Kind: LiveMaint, Want: srv, Live: fmt.Sprintf("admin state %#x", int(h.AdminState))})
			}
		}
		for srv := range have {
			if !want[srv] {
				diffs = append(diffs, LiveDiff{Backend: name, Server: srv, Kind: LiveUnwanted})
			}
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].String() < diffs[j].String() })
	return diffs, nil
}

// VerifyLive is LiveDiffs as sentences.
func VerifyLive(ctx context.Context, rt LiveServers, desired *State) ([]string, error) {
	diffs, err := LiveDiffs(ctx, rt, desired)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(diffs))
	for i, d := range diffs {
		out[i] = d.String()
	}
	return out, nil
}
