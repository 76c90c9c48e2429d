package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	stdsync "sync"
	"unique"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// healthy and unhealthy stand for a task's health check results: a build
// reads only whether any check passed (§3.5), and at 50,000 tasks the
// results' timestamps and ids cost megabytes. Shared, hence read only.
var (
	healthy   = []marathon.HealthCheckResult{{Alive: true}}
	unhealthy = []marathon.HealthCheckResult{{Alive: false}}
)

// AppReader lists and reads Marathon apps with their tasks
// (*marathon.Client).
type AppReader interface {
	Apps(ctx context.Context) ([]marathon.App, error)
	App(ctx context.Context, id string) (marathon.App, error)
}

// AppCache is the daemon's copy of Marathon's apps, kept current from the
// event stream instead of listing every app for every event: at 10,000
// apps a listing is about 15 MB of JSON to decode, many times the cost of
// the event itself. A task's status update is applied in place; an event
// about one app (its health, a change through the API, its end) re-reads
// that app; a deployment re-reads the apps it affects; anything else, a
// reconnect and the periodic resync list everything again (Invalidate).
// Events that arrive while a listing is under way re-read their apps
// afterwards, so none is lost to an older listing.
type AppCache struct {
	src AppReader

	mu      stdsync.Mutex
	full    bool            // a listing is due
	listing bool            // a listing is under way
	reread  map[string]bool // apps to read again
	// gen counts changes to apps; listedAt is the generation of the last
	// listing and changes logs, in order, the apps changed since then, so
	// that a caller can ask what changed since the list it last had.
	gen, listedAt uint64
	changes       []appChange
	// out is the list handed out, sorted by id, and pos indexes it (nil
	// until the first listing). The apps changed since it was handed out
	// wait in pending (nil: removed) and go into it on the next Apps or
	// AppsSince: in place when no app came or went, no copy or sort of
	// every app per event (6 MB at 10,000 apps); into a new list
	// otherwise. Hence a list is valid until the next call. Every app is
	// held once.
	out     []marathon.App
	pos     map[string]int
	pending map[string]*marathon.App
	// Listings, Rereads and Applied count what the cache did.
	Listings, Rereads, Applied int
}

// NewAppCache returns a cache that lists everything on first use.
func NewAppCache(src AppReader) *AppCache {
	return &AppCache{src: src, full: true, reread: map[string]bool{}}
}

// Invalidate makes the next Apps list everything.
func (c *AppCache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.full = true
}

type appChange struct {
	gen uint64
	id  string
}

// Apps returns the apps, sorted by id, after the listing or re-reads the
// events asked for. The list is the cache's own: it is valid until the
// next call, and callers must not modify it.
func (c *AppCache) Apps(ctx context.Context) ([]marathon.App, error) {
	apps, _, _, err := c.AppsSince(ctx, 0)
	return apps, err
}

// AppsSince is Apps, plus the ids of the apps added, changed or removed
// since the list of generation since, and this list's generation.
// changed is nil when the cache cannot tell (since is 0, or the apps were
// listed again since then): every app may have changed.
func (c *AppCache) AppsSince(ctx context.Context, since uint64) (apps []marathon.App, changed map[string]bool, gen uint64, err error) {
	c.mu.Lock()
	full := c.full || c.pos == nil
	if full {
		c.listing, c.full = true, false
		c.reread = map[string]bool{}
	}
	c.mu.Unlock()
	if full {
		slimmed, err := c.listSlim(ctx)
		c.mu.Lock()
		c.listing = false
		if err != nil {
			c.full = true
			c.mu.Unlock()
			return nil, nil, 0, err
		}
		c.out, c.pos = sortedApps(slimmed)
		c.pending = map[string]*marathon.App{}
		c.gen++
		c.listedAt, c.changes = c.gen, nil
		c.Listings++
		c.mu.Unlock()
	}
	for {
		c.mu.Lock()
		var id string
		for k := range c.reread {
			id = k
			break
		}
		if id == "" {
			defer c.mu.Unlock()
			if since != 0 && since >= c.listedAt {
				changed = c.changedSince(since)
			}
			return c.list(), changed, c.gen, nil
		}
		delete(c.reread, id)
		c.mu.Unlock()
		a, err := c.src.App(ctx, id)
		c.mu.Lock()
		switch {
		case err == nil:
			a = slim(a)
			c.pending[id] = &a
			c.changed(id)
		case errors.Is(err, marathon.ErrNotFound):
			if _, ok := c.app(id); ok {
				c.pending[id] = nil
				c.changed(id)
			}
		default:
			c.reread[id] = true
			c.mu.Unlock()
			return nil, nil, 0, fmt.Errorf("read app %s: %w", id, err)
		}
		c.Rereads++
		c.mu.Unlock()
	}
}

// Observe takes one event from the stream.
func (c *AppCache) Observe(ev marathon.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Type {
	case marathon.EventStatusUpdate:
		var u marathon.StatusUpdateEvent
		if ev.Decode(&u) != nil || u.AppID == "" {
			c.full = true
			return
		}
		c.applyStatus(u)
	case marathon.EventHealthStatusChanged, marathon.EventAPIPost, marathon.EventAppTerminated,
		marathon.EventInstanceChanged, marathon.EventInstanceHealthChanged, marathon.EventUnhealthyInstanceKill,
		marathon.EventUnhealthyTaskKill, marathon.EventFailedHealthCheck:
		id := appOf(ev)
		if id == "" {
			c.full = true
			return
		}
		c.reread[id] = true
	case marathon.EventDeploymentInfo, marathon.EventDeploymentSuccess, marathon.EventDeploymentFailed,
		marathon.EventDeploymentStepSuccess, marathon.EventDeploymentStepFailure:
		ids := deploymentApps(ev)
		if len(ids) == 0 {
			c.full = true
			return
		}
		for _, id := range ids {
			c.reread[id] = true
		}
	default:
		c.full = true
	}
}

// applyStatus applies a task's status update to its app (a copy: the
// listing handed out keeps its tasks).
func (c *AppCache) applyStatus(u marathon.StatusUpdateEvent) {
	a, ok := c.app(u.AppID)
	if !ok || c.listing {
		// An app not known yet, or a listing that may be older than this
		// event: read the app afterwards.
		c.reread[u.AppID] = true
		return
	}
	tasks := slices.Clone(a.Tasks)
	i := slices.IndexFunc(tasks, func(t marathon.Task) bool { return t.ID == u.TaskID })
	if terminalStates[u.TaskStatus] {
		if i >= 0 {
			tasks = slices.Delete(tasks, i, i+1)
		}
	} else {
		t := marathon.Task{ID: u.TaskID, AppID: u.AppID}
		if i >= 0 {
			t = tasks[i]
		}
		t.State, t.Host, t.Ports, t.IPAddresses, t.Version = u.TaskStatus, u.Host, u.Ports, u.IPAddresses, u.Version
		slimTask(&t, &a)
		if i >= 0 {
			tasks[i] = t
		} else {
			tasks = append(tasks, t)
		}
	}
	a.Tasks = tasks
	c.pending[u.AppID] = &a
	c.changed(u.AppID)
	c.Applied++
}

// changed records a change to app id. The log is dropped when it grows
// past a few times the app count (as if the apps had been listed again):
// callers then rebuild everything once.
func (c *AppCache) changed(id string) {
	c.gen++
	c.changes = append(c.changes, appChange{c.gen, id})
	if len(c.changes) > 4*len(c.pos)+1024 {
		c.listedAt, c.changes = c.gen, nil
	}
}

// changedSince returns the apps changed after generation since.
func (c *AppCache) changedSince(since uint64) map[string]bool {
	ids := map[string]bool{}
	for i := len(c.changes) - 1; i >= 0 && c.changes[i].gen > since; i-- {
		ids[c.changes[i].id] = true
	}
	return ids
}

// appStreamer lists apps one at a time as they are decoded
// (*marathon.Client).
type appStreamer interface {
	EachApp(ctx context.Context, fn func(marathon.App) error) error
}

// listSlim lists every app, slimmed; one at a time when the source can,
// so that Marathon's whole answer is never held (at 10,000 apps it was
// the daemon's peak memory).
func (c *AppCache) listSlim(ctx context.Context) ([]marathon.App, error) {
	s, ok := c.src.(appStreamer)
	if !ok {
		list, err := c.src.Apps(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]marathon.App, len(list))
		for i, a := range list {
			out[i] = slim(a)
		}
		return out, nil
	}
	var out []marathon.App
	if err := s.EachApp(ctx, func(a marathon.App) error {
		out = append(out, slim(a))
		return nil
	}); err != nil {
		return nil, err
	}
	// Exact size: the list is kept until the next listing.
	return slices.Clone(out), nil
}

// app returns app id as the cache has it now.
func (c *AppCache) app(id string) (marathon.App, bool) {
	if a, ok := c.pending[id]; ok {
		if a == nil {
			return marathon.App{}, false
		}
		return *a, true
	}
	if i, ok := c.pos[id]; ok {
		return c.out[i], true
	}
	return marathon.App{}, false
}

// list returns the apps sorted by id: the last list when nothing changed
// since, the same with the changed apps replaced when no app came or
// went, a new sorted list otherwise.
func (c *AppCache) list() []marathon.App {
	if len(c.pending) == 0 {
		return c.out
	}
	inPlace := true
	for id, a := range c.pending {
		if _, had := c.pos[id]; had != (a != nil) {
			inPlace = false
			break
		}
	}
	if inPlace {
		for id, a := range c.pending {
			if a != nil {
				c.out[c.pos[id]] = *a
			}
		}
	} else {
		all := make([]marathon.App, 0, len(c.out)+len(c.pending))
		for _, a := range c.out {
			if _, ok := c.pending[a.ID]; !ok {
				all = append(all, a)
			}
		}
		for _, a := range c.pending {
			if a != nil {
				all = append(all, *a)
			}
		}
		c.out, c.pos = sortedApps(all)
	}
	clear(c.pending)
	return c.out
}

// sortedApps sorts apps by id in place, keeps the last of any
// duplicates, and returns them with their index.
func sortedApps(out []marathon.App) ([]marathon.App, map[string]int) {
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	kept := out[:0]
	for i := range out {
		if i+1 < len(out) && out[i+1].ID == out[i].ID {
			continue
		}
		kept = append(kept, out[i])
	}
	pos := make(map[string]int, len(kept))
	for i := range kept {
		pos[kept[i].ID] = i
	}
	return kept, pos
}

// terminalStates end a task: Marathon drops it from the app's tasks.
var terminalStates = map[string]bool{
	marathon.TaskFinished: true, marathon.TaskFailed: true, marathon.TaskKilled: true, marathon.TaskError: true,
	marathon.TaskDropped: true, marathon.TaskGone: true, marathon.TaskGoneByOperator: true,
}

// appOf is the app an event is about: appId, runSpecId, or the
// appDefinition's id of an api_post_event.
func appOf(ev marathon.Event) string {
	var v struct {
		AppID         string `json:"appId"`
		RunSpecID     string `json:"runSpecId"`
		AppDefinition struct {
			ID string `json:"id"`
		} `json:"appDefinition"`
	}
	if json.Unmarshal(ev.Data, &v) != nil {
		return ""
	}
	for _, id := range []string{v.AppID, v.RunSpecID, v.AppDefinition.ID} {
		if id != "" {
			if !strings.HasPrefix(id, "/") {
				id = "/" + id
			}
			return id
		}
	}
	return ""
}

// deploymentApps are the apps a deployment event's plan acts on.
func deploymentApps(ev marathon.Event) []string {
	var d marathon.DeploymentEvent
	if ev.Decode(&d) != nil {
		return nil
	}
	var plan struct {
		Steps []struct {
			Actions []struct {
				App string `json:"app"`
			} `json:"actions"`
		} `json:"steps"`
	}
	raw := d.Plan
	if len(raw) == 0 {
		return nil
	}
	if json.Unmarshal(raw, &plan) != nil {
		return nil
	}
	set := map[string]bool{}
	for _, s := range plan.Steps {
		for _, a := range s.Actions {
			if a.App != "" {
				set[a.App] = true
			}
		}
	}
	var out []string
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// slim drops what a build never reads from an app (its command, its
// environment, resources, constraints, strategies, last failure, task
// timestamps) and shares the strings every task repeats (app id,
// version): at 10,000 apps the copy is kept for the daemon's life, and an
// app's environment alone can be kilobytes.
func slim(a marathon.App) marathon.App {
	a.Cmd, a.Args, a.User, a.Env, a.Executor = "", nil, "", nil, ""
	a.Constraints, a.AcceptedResourceRoles, a.Dependencies = nil, nil, nil
	a.ReadinessChecks, a.ReadinessCheckResults, a.LastTaskFailure, a.Deployments = nil, nil, nil, nil
	a.BackoffSeconds, a.BackoffFactor, a.MaxLaunchDelaySeconds = nil, nil, nil
	a.UpgradeStrategy, a.KillSelection, a.UnreachableStrategy, a.TaskKillGracePeriod = nil, "", nil, nil
	if a.Container != nil {
		c := *a.Container
		c.Volumes = nil
		if c.Docker != nil {
			d := *c.Docker
			d.Image, d.Parameters = "", nil
			c.Docker = &d
		}
		a.Container = &c
	}
	// The decoder grew the task list by doubling: an exact copy frees
	// the spare room (a third of it at 5 tasks).
	a.Tasks = slices.Clone(a.Tasks)
	for i := range a.Tasks {
		slimTask(&a.Tasks[i], &a)
	}
	return a
}

// slimTask drops what a build never reads from a task (timestamps, agent,
// fault domain, service ports, the health checks' details) and shares
// what tasks repeat (app id and version with the app, hosts, states and
// addresses among all tasks).
func slimTask(t *marathon.Task, a *marathon.App) {
	t.Details = nil
	if t.AppID == a.ID {
		t.AppID = a.ID
	}
	if t.Version == a.Version {
		t.Version = a.Version
	}
	t.Host, t.State = unique.Make(t.Host).Value(), unique.Make(t.State).Value()
	if cap(t.Ports) > len(t.Ports) {
		t.Ports = slices.Clone(t.Ports)
	}
	if len(t.IPAddresses) > 0 {
		ips := make([]marathon.TaskIPAddress, len(t.IPAddresses))
		for i, ip := range t.IPAddresses {
			ips[i] = marathon.TaskIPAddress{IPAddress: unique.Make(ip.IPAddress).Value(), Protocol: unique.Make(ip.Protocol).Value()}
		}
		t.IPAddresses = ips
	}
	switch {
	case len(t.HealthCheckResults) == 0:
	case alive(*t):
		t.HealthCheckResults = healthy
	default:
		t.HealthCheckResults = unhealthy
	}
}
