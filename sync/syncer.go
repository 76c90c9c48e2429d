package sync

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// AppSource is what sync needs from Marathon.
type AppSource interface {
	Apps(ctx context.Context) ([]marathon.App, error)
}

// ChangeTrackingSource is an AppSource that also tells which apps changed
// between two of its lists (AppCache): a pass then rebuilds those only.
type ChangeTrackingSource interface {
	AppSource
	// AppsSince returns the apps sorted by id, the ids of the apps
	// added, changed or removed since the list of generation since (nil:
	// unknown), and this list's generation.
	AppsSince(ctx context.Context, since uint64) (apps []marathon.App, changed map[string]bool, gen uint64, err error)
}

// Syncer runs one fetch → build → read → diff → apply pass.
type Syncer struct {
	Apps     AppSource
	API      ConfigAPI
	Resolver Resolver
	// Runtime, when set, applies server churn live (no reload).
	Runtime RuntimeAPI
	// Maps and RuntimeMaps serve --haproxy-map (Config.HaproxyMap): the
	// map files, and their running copies (nil: map changes reload).
	Maps        MapStorage
	RuntimeMaps RuntimeMaps
	mapPaths    map[string]string
	// DrainGrace bounds how long a removed server may keep its sessions
	// (default 30s); it gets no new requests meanwhile.
	DrainGrace time.Duration
	drains     *drainer
	Config     Config
	Log        *zap.Logger
	// EmptyConfirmations is how many consecutive passes Marathon must
	// answer with no apps at all, while HAProxy serves apps of ours, before
	// that answer is applied (emptying the load balancer). 0 applies it
	// at once.
	EmptyConfirmations int
	emptySeen          int
	// DeferPersist writes runtime changes to haproxy.cfg in the
	// background (persister.go) instead of before Sync returns. The daemon
	// sets it; call Flush before exiting.
	DeferPersist bool
	// PersistInterval is the least time between the starts of two such
	// background writes (0: one right after the other). A reload or a
	// flush does not wait for it.
	PersistInterval time.Duration
	persist         *persister
	// persistFailed is called (from the persister) after a failed write.
	persistFailed func()
	// forget is set from the persister's goroutine when a write failed:
	// the next pass re-reads the configuration.
	forget atomic.Bool
	// TransactionRender makes full commits and persisted runtime changes
	// render the configuration through a Data Plane API transaction (one
	// operation per step) instead of here (render.go). The test double
	// has no configuration parser, so its tests use it.
	TransactionRender bool
	// MaxAttempts bounds re-planning after another writer moved the
	// configuration version (409) or outdated our transaction (406).
	MaxAttempts int

	// known is what HAProxy's configuration held at knownVersion: read
	// back, or written by our last apply. While the version has not moved
	// a pass skips re-reading every owned object (3 requests per backend).
	// A Syncer is used by one goroutine at a time.
	known        *State
	knownForeign map[int]string
	knownVersion int64
	// health is the last known health answer per task (Build.Health).
	health map[string]bool
	// builds keeps each app's build between passes (BuildCache).
	builds *BuildCache
	// servers is how many servers the state counted has (countServers).
	counted *State
	servers int
	// refused are the apps HAProxy refused, by rejection key (isolate.go).
	refused map[string]refusal
	// readVersion is the configuration version the last pass read at;
	// headVersion the one at which HAPROXY_HEAD was known to be in place.
	readVersion, headVersion int64
	// creating is set while Sync runs: missing map files are created.
	creating bool
	// cleanedAt is the last transaction cleanup; failed, whether the last
	// pass failed.
	cleanedAt time.Time
	failed    bool
}

// applyMaps writes the --haproxy-map entries after the configuration.
func (s *Syncer) applyMaps(ctx context.Context, r Result) error {
	if !s.Config.HaproxyMap {
		return nil
	}
	paths, err := s.mapFiles(ctx, true)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	if r.Current != nil {
		for name, be := range r.Current.Backends {
			if _, bad := r.Build.Rejected[be.AppID]; bad {
				keep[name] = true
			}
		}
	}
	if err := s.syncMaps(ctx, r.Build.Maps, paths, keep); err != nil {
		return fmt.Errorf("haproxy maps: %w", err)
	}
	return nil
}

// Result is what one pass saw and did.
type Result struct {
	Build    Build
	Current  *State
	Plan     Plan
	Applied  ApplyResult
	Attempts int
	// Refused are the apps HAProxy's configuration check refused in this
	// pass (found by isolate); they are in Build.Rejected too.
	Refused map[string]error
	// Servers is how many servers Build.State has.
	Servers int
	input   *planInput
}

// Partial reports whether some apps were rejected.
func (r Result) Partial() bool { return len(r.Build.Rejected) > 0 }

// Plan fetches Marathon's apps and HAProxy's owned objects and computes the
// plan, writing nothing. An unreachable or unreadable Marathon is an error:
// nothing is planned, so the load balancer is never emptied by it.
func (s *Syncer) Plan(ctx context.Context) (Result, error) {
	var r Result
	if s.builds == nil {
		s.builds = NewBuildCache()
	}
	var (
		apps    []marathon.App
		changed map[string]bool
		gen     uint64
		err     error
	)
	if src, ok := s.Apps.(ChangeTrackingSource); ok {
		apps, changed, gen, err = src.AppsSince(ctx, s.builds.Gen())
	} else {
		apps, err = s.Apps.Apps(ctx)
	}
	if err != nil {
		return r, fmt.Errorf("fetch apps from Marathon: %w", err)
	}
	apps, refused := s.withoutRefused(apps)
	if refused != nil {
		// The list lacks the refused apps: not the source's list.
		changed = nil
	}
	current, foreign, err := s.readCurrent(ctx)
	if err != nil {
		return r, fmt.Errorf("read HAProxy configuration: %w", err)
	}
	r.Current = current
	if err := s.guardEmpty(apps, current); err != nil {
		return r, err
	}
	cfg := s.Config
	if cfg.HaproxyMap {
		paths, err := s.mapFiles(ctx, s.creating)
		if err != nil {
			return r, err
		}
		cfg.DomainMapFile, cfg.AppMapFile = paths[DomainMap], paths[AppMap]
	}
	existing := ExistingIn(current, foreign)
	existing.Health = s.health
	r.Build = s.builds.BuildSince(apps, changed, gen, cfg, s.Resolver, existing)
	for id, errs := range refused {
		r.Build.Rejected[id] = errs
	}
	r.input = &planInput{apps: apps, cfg: cfg, existing: existing, current: current}
	// Only the tasks of this listing are remembered: the map stays as
	// large as Marathon's task list.
	s.health = r.Build.Health
	for _, w := range r.Build.Warnings {
		s.log().Warn("app not fully exposed", zap.String("reason", w))
	}
	for app, errs := range r.Build.Rejected {
		for _, e := range errs {
			s.log().Error("app rejected; what HAProxy has for it is kept", zap.String("app", app), zap.Error(e))
		}
	}
	KeepRejected(current, r.Build.State, r.Build.Rejected)
	opt := DiffOptions{DynamicServers: s.Runtime != nil}
	if r.Build.Base != nil && r.Build.Base == current {
		// HAProxy has exactly the last build: only the rebuilt backends
		// can differ.
		opt.Incremental, opt.Changed = true, r.Build.Changed
	}
	r.Plan = DiffWith(current, r.Build.State, opt)
	r.Servers = s.countServers(current, r.Build, opt.Incremental)
	if !s.TransactionRender {
		r.Plan.Current, r.Plan.Desired, r.Plan.Version = current, r.Build.State, s.readVersion
	}
	head, err := s.headSteps(ctx, cfg)
	if err != nil {
		return r, err
	}
	if len(head) > 0 {
		r.Plan.Steps = append(head, r.Plan.Steps...)
		r.Plan.settle()
	}
	return r, nil
}

// headSteps compares HAPROXY_HEAD (or HAPROXY_GLOBAL_DEFAULT_OPTIONS) with
// the configuration's sections. The text is read only when the version
// moved since the head was last known to be in place.
func (s *Syncer) headSteps(ctx context.Context, cfg Config) ([]Step, error) {
	if len(cfg.Head) == 0 && cfg.DefaultOptions == nil {
		return nil, nil
	}
	if s.headVersion != 0 && s.headVersion == s.readVersion {
		return nil, nil
	}
	text, version, err := s.API.RawConfig(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read the configuration text for HAPROXY_HEAD: %w", err)
	}
	want, err := wantedHead(cfg, text)
	if err != nil {
		return nil, err
	}
	steps, err := headSteps(text, want)
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		s.headVersion = version
	}
	return steps, nil
}

// Sync plans and applies, re-planning when another writer got in between.
func (s *Syncer) Sync(ctx context.Context) (r Result, err error) {
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	// Sync may create the map files Plan only looks for.
	s.creating = true
	defer func() { s.creating = false }()
	// Failed and outdated transactions (ours from a crash, or anyone's)
	// stay listed until deleted; clearing them keeps the API's transaction
	// directory from growing. Once a minute, and after a failed pass, is
	// enough: it is a request on the path of every event otherwise.
	if s.cleanedAt.IsZero() || s.failed || time.Since(s.cleanedAt) > time.Minute {
		if n, err := s.API.CleanupTransactions(ctx); err != nil {
			s.log().Warn("could not clean up failed or outdated transactions", zap.Error(err))
		} else {
			s.cleanedAt = time.Now()
			if n > 0 {
				s.log().Info("deleted failed or outdated transactions", zap.Int("count", n))
			}
		}
	}
	defer func() { s.failed = err != nil }()
	var refusedNow map[string]error
	for i := 1; i <= attempts; i++ {
		start := time.Now()
		r, err = s.Plan(ctx)
		r.Attempts, r.Refused = i, refusedNow
		if err != nil {
			return r, err
		}
		if s.Runtime != nil && s.drains != nil {
			if err := s.drains.release(ctx, s.Runtime, r.Build.State, s.log()); err != nil {
				s.log().Warn("could not put a draining server back in service; next pass", zap.Error(err))
			}
		}
		if r.Plan.Empty() {
			if s.known != nil && r.Current == s.known {
				// The same objects, rebuilt (a task's state changed, not
				// its server): take the new state as HAProxy's, so that the
				// next pass, built from it, diffs incrementally again.
				s.known = r.Build.State
			}
			s.log().Info("in sync; nothing to write", zap.Int("backends", len(r.Build.State.Backends)),
				zap.Int("servers", r.Servers), zap.Duration("duration", time.Since(start)))
			return r, s.applyMaps(ctx, r)
		}
		for _, st := range r.Plan.Steps {
			s.log().Debug("plan step", zap.String("step", st.String()))
		}
		if r.Plan.Strategy() != Runtime {
			// A reload must start from a file that has every runtime
			// change: let the background write land first.
			if err := s.flushFor(ctx, &r.Plan); err != nil {
				return r, err
			}
		}
		r.Applied, err = apply(ctx, s.API, s.Runtime, s.drainer(), r.Plan, s.log(), s.persister())
		s.remember(r, err)
		if err == nil {
			if err := s.applyMaps(ctx, r); err != nil {
				return r, err
			}
			s.log().Info("applied", zap.Int("transaction_steps", r.Applied.TransactionSteps),
				zap.Int("runtime_steps", r.Applied.RuntimeSteps), zap.String("reload_id", r.Applied.ReloadID),
				zap.Int64("version", r.Applied.Version), zap.Duration("duration", time.Since(start)))
			return r, nil
		}
		if errors.Is(err, dataplane.ErrInvalidConfig) && r.Refused == nil {
			refused, ierr := s.isolate(ctx, r, err)
			if ierr != nil {
				s.log().Warn("could not find which apps HAProxy refuses", zap.Error(ierr))
			}
			if len(refused) == 0 {
				return r, err
			}
			if s.refused == nil {
				s.refused = map[string]refusal{}
			}
			versions := appVersions(r.input.apps)
			for id, e := range refused {
				s.refused[id] = refusal{version: versions[id], err: e}
			}
			s.logRefused(refused)
			refusedNow = refused
			continue
		}
		if !errors.Is(err, dataplane.ErrConflict) && !errors.Is(err, dataplane.ErrNotAcceptable) {
			return r, err
		}
		s.log().Warn("configuration changed underneath; re-planning", zap.Int("attempt", i), zap.Error(err))
	}
	return r, fmt.Errorf("gave up after %d attempts: %w", attempts, err)
}

// countServers returns how many servers b.State has. An incremental
// build is current with only the Changed backends replaced: it counts
// those against the last count instead of walking 10,000 backends per
// event.
func (s *Syncer) countServers(current *State, b Build, incremental bool) int {
	n := 0
	if incremental && s.counted != nil && s.counted == current {
		n = s.servers
		for _, name := range b.Changed {
			if be := current.Backends[name]; be != nil {
				n -= len(be.Servers)
			}
			if be := b.State.Backends[name]; be != nil {
				n += len(be.Servers)
			}
		}
	} else {
		n = b.State.ServerCount()
	}
	s.counted, s.servers = b.State, n
	return n
}

// persister returns the background writer when DeferPersist is set.
func (s *Syncer) persister() *persister {
	if !s.DeferPersist {
		return nil
	}
	if s.persist == nil {
		s.persist = newPersister(s.API, s.log(), func(error) {
			s.forget.Store(true)
			if s.persistFailed != nil {
				s.persistFailed()
			}
		})
		s.persist.interval = s.PersistInterval
	}
	return s.persist
}

// Flush waits until runtime changes written in the background landed in
// haproxy.cfg (DeferPersist), and returns the last write's error.
func (s *Syncer) Flush(ctx context.Context) error {
	if s == nil {
		return nil
	}
	return s.persist.flush(ctx)
}

// BackgroundWrites is how many background writes landed (DeferPersist).
func (s *Syncer) BackgroundWrites() int {
	if s.persist == nil {
		return 0
	}
	s.persist.mu.Lock()
	defer s.persist.mu.Unlock()
	return s.persist.writes
}

// flushFor flushes the background writes before plan is applied, and
// moves plan to the version they produced.
func (s *Syncer) flushFor(ctx context.Context, plan *Plan) error {
	if s.persist == nil {
		return nil
	}
	if err := s.persist.flush(ctx); err != nil {
		// Its changes are in plan anyway (plan leads to the whole
		// desired state): the write below carries them.
		s.log().Warn("background write of runtime changes failed; the commit carries them", zap.Error(err))
	}
	v, err := s.API.Version(ctx)
	if err != nil {
		return fmt.Errorf("read configuration version: %w", err)
	}
	if s.persist.ours(plan.Version, v) {
		plan.Version = v
	}
	return nil
}

// readCurrent returns HAProxy's owned objects, from memory when the
// configuration version is the one they were known at (or one our
// background writes moved it to).
func (s *Syncer) readCurrent(ctx context.Context) (*State, map[int]string, error) {
	if s.known != nil && s.persist.writing() && !s.forget.Load() {
		// The API is busy parsing and checking our background write
		// (seconds at 10,000 backends): asking it the version would put
		// this event behind that. Another writer's change meanwhile is
		// caught by the write itself (it refuses to write over it and the
		// changes are planned again) and by the next pass once it landed.
		if v := s.persist.last(); v != 0 && s.persist.ours(s.knownVersion, v) {
			s.knownVersion = v
		}
		s.readVersion = s.knownVersion
		return s.known, s.knownForeign, nil
	}
	before, err := s.API.Version(ctx)
	if err != nil {
		return nil, nil, err
	}
	s.readVersion = before
	if s.forget.Swap(false) {
		s.known = nil
	}
	if s.known != nil && before != s.knownVersion && s.persist.ours(s.knownVersion, before) {
		s.knownVersion = before
		if s.headVersion != 0 && s.persist.ours(s.headVersion, before) {
			s.headVersion = before
		}
	}
	if s.known != nil && before == s.knownVersion {
		return s.known, s.knownForeign, nil
	}
	current, foreign, err := ReadCurrent(ctx, s.API)
	if err != nil {
		return nil, nil, err
	}
	// Only a read that no write overlapped may be reused.
	if after, err := s.API.Version(ctx); err == nil && after == before {
		s.known, s.knownForeign, s.knownVersion = current, foreign, before
	} else {
		s.known = nil
	}
	return current, foreign, nil
}

// Forget drops the remembered configuration: the next pass re-reads it.
func (s *Syncer) Forget() { s.known = nil }

// Known returns the owned objects this Syncer knows HAProxy has, the
// foreign frontends' ports and the configuration version they are
// known at (nil when it would re-read).
func (s *Syncer) Known() (*State, map[int]string, int64) {
	return s.known, s.knownForeign, s.knownVersion
}

// Adopt takes what another Syncer knows (Known) instead of reading it:
// reading every owned object costs several requests per backend.
func (s *Syncer) Adopt(known *State, foreign map[int]string, version int64) {
	s.known, s.knownForeign, s.knownVersion = known, foreign, version
}

// remember keeps the applied state as HAProxy's configuration when the
// apply fully succeeded; anything else is re-read next time.
func (s *Syncer) remember(r Result, err error) {
	if err == nil && r.Applied.Version != 0 {
		// A successful write leaves the head as planned: in place.
		s.headVersion = r.Applied.Version
	}
	if err != nil || r.Applied.Version == 0 || (r.Applied.Draining > 0 && r.Plan.Current == nil) {
		s.known = nil
		return
	}
	// Servers still draining stay in the file (and in maint at runtime)
	// until a later pass removes them.
	s.known, s.knownVersion = withBusyServers(r.Build.State, r.Plan.Current, r.Applied.Busy), r.Applied.Version
}

func (s *Syncer) drainer() *drainer {
	if s.drains == nil {
		grace := s.DrainGrace
		if grace <= 0 {
			grace = 30 * time.Second
		}
		s.drains = newDrainer(grace)
	}
	return s.drains
}

func (s *Syncer) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}

// ErrEmptyUnconfirmed is returned while an empty app list waits for
// confirmation (Syncer.EmptyConfirmations).
var ErrEmptyUnconfirmed = errors.New("marathon returned no apps while HAProxy serves apps of ours; not applied until confirmed")

// guardEmpty refuses an empty app list after a non-empty configuration
// until it has been seen EmptyConfirmations times in a row: a Marathon
// that answers [] by mistake (a fresh leader, a wrong URL) must not empty
// the load balancer.
func (s *Syncer) guardEmpty(apps []marathon.App, current *State) error {
	if len(apps) > 0 || s.EmptyConfirmations <= 0 || current == nil || len(current.Backends) == 0 {
		s.emptySeen = 0
		return nil
	}
	s.emptySeen++
	if s.emptySeen >= s.EmptyConfirmations {
		s.log().Warn("Marathon has no apps: removing every backend of ours", zap.Int("backends", len(current.Backends)), zap.Int("confirmations", s.emptySeen))
		return nil
	}
	return fmt.Errorf("%w (%d of %d answers; %d backends kept)", ErrEmptyUnconfirmed, s.emptySeen, s.EmptyConfirmations, len(current.Backends))
}
