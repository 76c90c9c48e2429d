package sync

import (
	"bytes"
	"fmt"
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
	seen   map[string]bool
	// scratch is reused for keys: a key is copied only when stored.
	scratch []byte
	// Hits and Misses count lookups of the last pass.
	Hits, Misses int
}

type cachedApp struct {
	key   []byte
	build appBuild
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
		c.config, c.apps = k, map[string]*cachedApp{}
	}
	c.seen, c.Hits, c.Misses = map[string]bool{}, 0, 0
}

// end drops the apps this pass did not list, so the cache stays as large
// as Marathon's app list.
func (c *BuildCache) end() {
	if c == nil {
		return
	}
	for id := range c.apps {
		if !c.seen[id] {
			delete(c.apps, id)
		}
	}
	c.seen = nil
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
		if t.Host != "" && mode != netContainer {
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
	c.seen[id] = true
	if e := c.apps[id]; e != nil && key != nil && bytes.Equal(e.key, key) {
		c.Hits++
		return e.build, true
	}
	c.Misses++
	return appBuild{}, false
}

// put keeps a fresh build when it may be reused.
func (c *BuildCache) put(id string, key []byte, b appBuild) {
	if c == nil {
		return
	}
	if key == nil || b.usesExisting {
		delete(c.apps, id)
		return
	}
	c.apps[id] = &cachedApp{key: bytes.Clone(key), build: b}
}

// Build is BuildDesired with the cache.
func (c *BuildCache) Build(apps []marathon.App, cfg Config, res Resolver, existing Existing) Build {
	return buildDesired(apps, cfg, res, existing, c)
}
