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
	EachServerState(ctx context.Context, backend string, fn func(runtimeapi.ServerState) error) error
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
	// HAProxy lists each backend's servers together: they are compared a
	// backend at a time as the answer arrives, never all at once (50,000
	// servers at 10,000 apps, read every --reconcile-interval).
	var (
		diffs []LiveDiff
		group []runtimeapi.ServerState
		seen  = make(map[string]bool, len(desired.Backends))
	)
	compare := func() {
		if len(group) == 0 {
			return
		}
		name := group[0].BackendName
		seen[name] = true
		if be := desired.Backends[name]; be != nil {
			diffs = append(diffs, backendLiveDiffs(name, be, group)...)
		}
		group = group[:0]
	}
	err := rt.EachServerState(ctx, "", func(s runtimeapi.ServerState) error {
		if len(group) > 0 && group[0].BackendName != s.BackendName {
			compare()
		}
		if seen[s.BackendName] {
			return fmt.Errorf("backend %s's servers are not listed together", s.BackendName)
		}
		group = append(group, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read live server state: %w", err)
	}
	compare()
	for name, be := range desired.Backends {
		// A backend without servers lists nothing: it cannot be told
		// apart from a missing one, and routes nowhere either way.
		if !seen[name] && len(be.Servers) > 0 {
			diffs = append(diffs, LiveDiff{Backend: name, Kind: LiveMissing})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].String() < diffs[j].String() })
	return diffs, nil
}

// backendLiveDiffs compares one backend's live servers with the wanted.
func backendLiveDiffs(name string, be *Backend, live []runtimeapi.ServerState) []LiveDiff {
	var diffs []LiveDiff
	have := make(map[string]*runtimeapi.ServerState, len(live))
	for i := range live {
		have[live[i].Name] = &live[i]
	}
	want := make(map[string]bool, len(be.Servers))
	for i := range be.Servers {
		srv := &be.Servers[i]
		want[srv.Name] = true
		h, ok := have[srv.Name]
		switch {
		case !ok:
			diffs = append(diffs, LiveDiff{Backend: name, Server: srv.Name, Kind: LiveMissing, Want: srv})
		case srv.Port == nil:
			// A server on a socket (abns@…): HAProxy reports no
			// comparable address.
		case h.Address != srv.Address || int64(h.Port) != *srv.Port:
			diffs = append(diffs, LiveDiff{Backend: name, Server: srv.Name, Kind: LiveAddress, Want: srv, Live: fmt.Sprintf("%s:%d", h.Address, h.Port)})
		case h.InMaint() && srv.Maintenance != "enabled":
			diffs = append(diffs, LiveDiff{Backend: name, Server: srv.Name, Kind: LiveMaint, Want: srv, Live: fmt.Sprintf("admin state %#x", int(h.AdminState))})
		}
	}
	for _, h := range live {
		if !want[h.Name] {
			diffs = append(diffs, LiveDiff{Backend: name, Server: h.Name, Kind: LiveUnwanted})
		}
	}
	return diffs
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
