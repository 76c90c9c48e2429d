package sync

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// BuildCache keeps each app's build between passes, so that an event
// touching one app rebuilds that app only: at 1,000 apps a whole rebuild
// costs about 8 ms of CPU and most of an event's garbage, while the
// Marathon listing changed in one app.
//
// An app's build is reused when its key is unchanged: Marathon's app
// version (a new one for every change of the definition, labels included,
// and for every scale) plus, per task, everything buildApp reads that the
// version does not cover: id, host and its resolved address, IP
// addresses, ports, state, health, and whether the task is draining. Apps
// whose build depends on other apps or on HAProxy's current backends are
// not cached: ones without a version (hand-made apps), deployment-group
// members (merged with their other colour), IP-per-task apps with
// assigned service ports, and apps with an empty service.
//
// The cached objects are shared between passes and with the previous
// pass's state; nothing downstream mutates them, and the diff compares a
// shared object by pointer first. A nil *BuildCache caches nothing.
type BuildCache struct {
	config string
	apps   map[string]*cachedApp
	// pass counts builds; an entry not seen in this one is dropped.
	pass uint64
	// prev is the last build made in full, and what it depended on: an
	// event that changes no app's shape (only servers) is built from it
	// (incremental).
	prev        *Build
	prevWarns   []string // its warnings that came from no app
	prevForeign map[int]string
	serviceAt   map[string]int // backend → index in prev.Services
	// last holds, during a pass, the builds replaced by fresh ones.
	last map[string]appBuild
	// scratch is reused for keys: a key is copied only when stored.
	scratch []byte
	// Hits and Misses count lookups of the last pass.
	Hits, Misses int
}

type cachedApp struct {
	key   []byte
	build appBuild
	seen  uint64 // the pass that last listed the app
}

// NewBuildCache returns an empty cache.
func NewBuildCache() *BuildCache { return &BuildCache{apps: map[string]*cachedApp{}} }

// begin starts a pass; a configuration other than the last one's
// invalidates every entry.
func (c *BuildCache) begin(cfg Config) {
	if c == nil {
		return
	}
	if k := fmt.Sprintf("%#v", cfg); k != c.config {
		c.config, c.apps, c.prev = k, map[string]*cachedApp{}, nil
	}
	c.pass++
	c.last, c.Hits, c.Misses = map[string]appBuild{}, 0, 0
}

// end drops the apps this pass did not list, so the cache stays as large
// as Marathon's app list.
func (c *BuildCache) end() (removed int) {
	if c == nil {
		return 0
	}
	for id, e := range c.apps {
		if e.seen != c.pass {
			delete(c.apps, id)
			removed++
		}
	}
	return removed
}

// key is app's cache key, nil when its build must not be cached.
func (c *BuildCache) key(app *marathon.App, cfg Config, res Resolver, existing Existing, draining map[string]bool) []byte {
	if c == nil || app.Version == "" || app.Labels[labels.DeploymentGroup] != "" {
		return nil
	}
	mode := networkingMode(app)
	if mode == netContainer && len(servicePorts(app, mode)) == 0 {
		return nil
	}
	checked := cfg.HealthCheck && len(app.HealthChecks) > 0
	k := c.scratch[:0]
	defer func() { c.scratch = k[:0] }()
	k = append(k, app.ID...)
	k = append(k, 0)
	k = append(k, app.Version...)
	for i := range app.Tasks {
		t := &app.Tasks[i]
		k = append(k, 0, 't')
		k = append(k, t.ID...)
		k = append(k, 0)
		k = append(k, t.Host...)
		k = append(k, 0)
		if _, err := netip.ParseAddr(t.Host); err != nil && t.Host != "" && mode != netContainer {
			// A name: its address is part of the key. (An address
			// resolves to itself; parsing it here allocates nothing.)
			ip, err := res.LookupHost(t.Host)
			if err != nil {
				// A failed lookup is retried next pass; so is the build.
				return nil
			}
			k = append(k, ip...)
		}
		k = append(k, 0)
		k = append(k, t.State...)
		for _, p := range t.Ports {
			k = append(k, ',')
			k = strconv.AppendInt(k, int64(p), 10)
		}
		for _, a := range t.IPAddresses {
			k = append(k, ';')
			k = append(k, a.IPAddress...)
		}
		if draining[t.ID] {
			k = append(k, 'D')
		}
		if checked {
			switch ok, known := existing.Health[t.ID]; {
			case len(t.HealthCheckResults) > 0:
				k = strconv.AppendBool(append(k, 'H'), alive(*t))
			case known:
				k = strconv.AppendBool(append(k, 'h'), ok)
			}
		}
	}
	return k
}

// get returns the cached build of app id for key.
func (c *BuildCache) get(id string, key []byte) (appBuild, bool) {
	if c == nil {
		return appBuild{}, false
	}
	e := c.apps[id]
	if e != nil {
		e.seen = c.pass
	}
	if e != nil && key != nil && bytes.Equal(e.key, key) {
		c.Hits++
		return e.build, true
	}
	c.Misses++
	if e != nil {
		c.last[id] = e.build
	}
	return appBuild{}, false
}

// put keeps a fresh build when it may be reused.
func (c *BuildCache) put(id string, key []byte, b appBuild) {
	if c == nil {
		return
	}
	if key == nil || b.usesExisting {
		// Kept for the next pass's shape comparison, never hit.
		c.apps[id] = &cachedApp{build: b, seen: c.pass}
		return
	}
	c.apps[id] = &cachedApp{key: bytes.Clone(key), build: b, seen: c.pass}
}

// changedIn reports whether app id's build is new this pass: rebuilt,
// or seen for the first time.
func (c *BuildCache) changedIn(id string, b appBuild, hit bool) bool {
	return c != nil && !hit
}

// rebuilt is an app built afresh this pass.
type rebuilt struct {
	id    string
	build appBuild
}

// remember keeps a full build as the base of incremental ones.
func (c *BuildCache) remember(b Build, appWarnings int, existing Existing) {
	if c == nil {
		return
	}
	// With rejected apps, KeepRejected adds what HAProxy has for them to
	// this state after the build; an incremental build starts from that.
	cp := b
	c.prev, c.prevWarns, c.prevForeign = &cp, slices.Clone(b.Warnings[appWarnings:]), existing.ForeignPorts
	c.serviceAt = make(map[string]int, len(b.Services))
	for i, s := range b.Services {
		c.serviceAt[s.Backend] = i
	}
}

// incremental completes b from the last full build when this pass changed
// no app's shape: the same apps, each rebuilt one with the same services
// (names, ports, modes, labels, frontends, users), none rejected now or
// then, and no other app newly rejected. Only the
// rebuilt apps' backends (their servers) differ, so the shared frontends,
// maps and everything else are the last build's. It reports whether it
// did.
func (c *BuildCache) incremental(b *Build, changed []rebuilt, removed int, existing Existing) bool {
	if c == nil || c.prev == nil || removed > 0 || !maps.Equal(existing.ForeignPorts, c.prevForeign) {
		return false
	}
	for id := range b.Rejected {
		if _, ok := c.prev.Rejected[id]; !ok {
			return false
		}
	}
	var names []string
	for _, r := range changed {
		ob, ok := c.last[r.id]
		if _, rejected := c.prev.Rejected[r.id]; rejected || !ok || !sameShape(ob, r.build) {
			return false
		}
		for _, s := range r.build.svcs {
			names = append(names, s.backend)
		}
	}
	prev := c.prev
	st := &State{Backends: maps.Clone(prev.State.Backends), Frontends: prev.State.Frontends, Userlists: prev.State.Userlists}
	services := slices.Clone(prev.Services)
	for _, r := range changed {
		for _, s := range r.build.svcs {
			st.Backends[s.backend] = s.built
			services[c.serviceAt[s.backend]].Servers = len(s.servers)
		}
	}
	sort.Strings(names)
	// The same apps are rejected, for the same reasons: the failed ones
	// are cached, and the ones that lost a conflict (claim) did not change.
	b.Rejected = maps.Clone(prev.Rejected)
	b.State, b.Services, b.Maps, b.Base, b.Changed = st, services, prev.Maps, prev.State, names
	b.Warnings = append(b.Warnings, c.prevWarns...)
	// The next incremental build starts from this one.
	next := *b
	next.Base, next.Changed = nil, nil
	c.prev = &next
	return true
}

// sameShape reports whether two builds of one app differ in their
// backends' servers only.
func sameShape(a, b appBuild) bool {
	if len(a.errs) > 0 || len(b.errs) > 0 || len(a.svcs) != len(b.svcs) {
		return false
	}
	for i, x := range a.svcs {
		y := b.svcs[i]
		if x.appID != y.appID || x.backend != y.backend || x.index != y.index || x.bindPort != y.bindPort ||
			x.servicePort != y.servicePort || x.mode != y.mode ||
			!reflect.DeepEqual(x.lbl, y.lbl) || !reflect.DeepEqual(x.builtFrontend, y.builtFrontend) ||
			!reflect.DeepEqual(x.userlist, y.userlist) {
			return false
		}
	}
	return true
}

// Build is BuildDesired with the cache.
func (c *BuildCache) Build(apps []marathon.App, cfg Config, res Resolver, existing Existing) Build {
	return buildDesired(apps, cfg, res, existing, c)
}
