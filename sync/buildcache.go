package sync

import (
	"fmt"
	"hash/maphash"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

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
	// last holds, during a pass, the builds replaced by fresh ones.
	last map[string]appBuild
	// scratch is reused for keys: a key is copied only when stored.
	scratch []byte
	// gen is the generation of the app list the last pass was built from
	// (AppCache.AppsSince); hint, for the pass under way, the apps changed
	// since then (nil: unknown). With a hint, apps outside it are not even
	// looked at (delta).
	gen  uint64
	hint map[string]bool
	// volatile counts the last full pass's apps that are built afresh
	// every pass (key nil, or reading HAProxy's backends); resolving
	// holds the apps whose key looked a host name up: a delta pass keys
	// them again, as a name's address may move without any event.
	volatile  int
	resolving map[string]bool
	// rebuilt holds the apps built afresh every pass that depend on no
	// other app (no version, a failed lookup, reading HAProxy's
	// backends): a delta pass builds them again too.
	rebuilt map[string]bool
	deltas  int // passes built by delta (tests)
	seeds   [2]maphash.Seed
	// Hits and Misses count lookups of the last pass.
	Hits, Misses int
}

type cachedApp struct {
	key   keySum
	build appBuild
	seen  uint64 // the pass that last listed the app
}

// keySum is a 128-bit digest of a cache key, kept instead of the key
// (about 550 bytes per app of 5 tasks: 5 MB at 10,000 apps); ok is false
// for a build that must not be reused.
type keySum struct {
	a, b uint64
	ok   bool
}

// NewBuildCache returns an empty cache.
func NewBuildCache() *BuildCache {
	return &BuildCache{apps: map[string]*cachedApp{}, resolving: map[string]bool{}, rebuilt: map[string]bool{},
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// sum digests key (the zero keySum for nil).
func (c *BuildCache) sum(key []byte) keySum {
	if key == nil {
		return keySum{}
	}
	return keySum{maphash.Bytes(c.seeds[0], key), maphash.Bytes(c.seeds[1], key), true}
}

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
	c.volatile = 0
	clear(c.resolving)
	clear(c.rebuilt)
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
	if c == nil || app.Version == "" || buildsWithOthers(app) {
		return nil
	}
	mode := networkingMode(app)
	checked := cfg.HealthCheck && len(app.HealthChecks) > 0
	k := c.scratch[:0]
	defer func() { c.scratch = k[:0] }()
	k = append(k, app.ID...)
	k = append(k, 0)
	k = append(k, app.Version...)
	for i := range app.Tasks {
		t := &app.Tasks[i]
		if t.Host == "" || excludedStates[t.State] {
			// Never routed (buildApp skips it the same way): a task
			// staging, starting or being killed changes nothing, and its
			// status updates find the cached build.
			continue
		}
		k = append(k, 0, 't')
		k = append(k, t.ID...)
		k = append(k, 0)
		k = append(k, t.Host...)
		k = append(k, 0)
		if _, err := netip.ParseAddr(t.Host); err != nil && t.Host != "" && mode != netContainer {
			// A name: its address is part of the key. (An address
			// resolves to itself; parsing it here allocates nothing.)
			ip, err := res.LookupHost(t.Host)
			c.resolving[app.ID] = true
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

// buildsWithOthers reports whether app's build depends on other apps: a
// deployment-group member (merged with its other colour) or an
// IP-per-task app given service ports from the range all such apps share.
func buildsWithOthers(app *marathon.App) bool {
	if app.Labels[labels.DeploymentGroup] != "" {
		return true
	}
	mode := networkingMode(app)
	return mode == netContainer && len(servicePorts(app, mode)) == 0
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
	if e != nil && key != nil && e.key == c.sum(key) {
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
func (c *BuildCache) put(app *marathon.App, key []byte, b appBuild) {
	if c == nil {
		return
	}
	id := app.ID
	if key == nil || b.usesExisting {
		if buildsWithOthers(app) {
			c.volatile++
		} else {
			c.rebuilt[id] = true
		}
		// Kept for the next pass's shape comparison, never hit.
		c.apps[id] = &cachedApp{build: b, seen: c.pass}
		return
	}
	c.apps[id] = &cachedApp{key: c.sum(key), build: b, seen: c.pass}
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
	for _, r := range changed {
		for _, s := range r.build.svcs {
			st.Backends[s.backend] = s.built
		}
	}
	sort.Strings(names)
	// The same apps are rejected, for the same reasons: the failed ones
	// are cached, and the ones that lost a conflict (claim) did not change.
	b.Rejected = maps.Clone(prev.Rejected)
	b.State, b.Services, b.Maps, b.Base, b.Changed = st, prev.Services, prev.Maps, prev.State, names
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
	c.hint = nil
	return buildDesired(apps, cfg, res, existing, c)
}

// BuildSince is Build for an app list sorted by id, of generation gen,
// given the apps changed since the list of the last pass (Gen), as
// AppCache.AppsSince tells them; changed nil means unknown.
func (c *BuildCache) BuildSince(apps []marathon.App, changed map[string]bool, gen uint64, cfg Config, res Resolver, existing Existing) Build {
	c.hint = changed
	if c.gen == 0 {
		c.hint = nil
	}
	b, ok := c.delta(apps, cfg, res, existing)
	if !ok {
		c.hint = nil
		b = buildDesired(apps, cfg, res, existing, c)
	}
	c.gen = gen
	return b
}

// Gen is the generation of the app list the last pass was built from.
func (c *BuildCache) Gen() uint64 {
	if c == nil {
		return 0
	}
	return c.gen
}

// delta builds a pass from the last one by rebuilding only the apps the
// source says changed (and those whose hosts are names), when none of
// them changed shape (as incremental). Marathon's whole app list is not
// walked: an event costs the same at 100 and at 10,000 apps, but for
// copying the backend map. It reports whether it did.
func (c *BuildCache) delta(apps []marathon.App, cfg Config, res Resolver, existing Existing) (Build, bool) {
	if c == nil || c.hint == nil || c.prev == nil || c.volatile > 0 || !maps.Equal(existing.ForeignPorts, c.prevForeign) ||
		fmt.Sprintf("%#v", cfg) != c.config {
		return Build{}, false
	}
	set := maps.Clone(c.hint)
	for id := range c.resolving {
		set[id] = true
	}
	for id := range c.rebuilt {
		set[id] = true
	}
	ids := slices.Sorted(maps.Keys(set))
	type change struct {
		id       string
		key      keySum
		old, new appBuild
	}
	var changes []change
	for _, id := range ids {
		i, found := slices.BinarySearchFunc(apps, id, func(a marathon.App, id string) int { return strings.Compare(a.ID, id) })
		e := c.apps[id]
		if _, rejected := c.prev.Rejected[id]; !found || e == nil || (!e.key.ok && !c.rebuilt[id]) || rejected {
			// An app came, went, was rejected or depends on others: a
			// shape change, or a build this path cannot make.
			return Build{}, false
		}
		app := &apps[i]
		if cfg.FrameworkName != "" && appIDName(app.ID) == cfg.FrameworkName {
			return Build{}, false
		}
		if buildsWithOthers(app) {
			return Build{}, false
		}
		key := c.key(app, cfg, res, existing, nil)
		if key != nil && c.sum(key) == e.key {
			continue
		}
		ab := buildApp(app, cfg, res, newPortAssigner(cfg.MinServPortIPPerTask, cfg.MaxServPortIPPerTask), existing, nil)
		if !sameShape(e.build, ab) || !reflect.DeepEqual(e.build.warns, ab.warns) || !reflect.DeepEqual(e.build.skipped, ab.skipped) {
			return Build{}, false
		}
		sum := keySum{}
		if key == nil || ab.usesExisting {
			c.rebuilt[id] = true
		} else {
			sum = c.sum(key)
			delete(c.rebuilt, id)
		}
		changes = append(changes, change{id, sum, e.build, ab})
	}
	prev := c.prev
	b := *prev
	b.AppCount = len(apps)
	b.Base, b.Changed = prev.State, nil
	b.Rejected = maps.Clone(prev.Rejected)
	if len(changes) > 0 {
		st := &State{Backends: maps.Clone(prev.State.Backends), Frontends: prev.State.Frontends, Userlists: prev.State.Userlists}
		for _, ch := range changes {
			c.apps[ch.id] = &cachedApp{key: ch.key, build: ch.new, seen: c.apps[ch.id].seen}
			for _, s := range ch.new.svcs {
				st.Backends[s.backend] = s.built
				b.Changed = append(b.Changed, s.backend)
			}
			// The health answers are the last pass's map, updated: only
			// the Syncer reads it, between passes.
			for id := range ch.old.health {
				delete(b.Health, id)
			}
			for id, ok := range ch.new.health {
				b.Health[id] = ok
			}
		}
		sort.Strings(b.Changed)
		b.State = st
	}
	c.Hits, c.Misses = len(apps)-len(changes), len(changes)
	c.deltas++
	next := b
	next.Base, next.Changed = nil, nil
	c.prev = &next
	return b, true
}
