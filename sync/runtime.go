package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
)

// RuntimeAPI is what sync needs from HAProxy's Runtime API (the stats
// socket) to apply server churn without a reload.
type RuntimeAPI interface {
	LiveServers
	AddServerReady(ctx context.Context, backend, server, addr string, port int, opts []string) error
	RemoveServer(ctx context.Context, backend, server string) error
	SetServerAddr(ctx context.Context, backend, server, addr string, port int) error
	SetServerWeight(ctx context.Context, backend, server string, weight int) error
	SetServerState(ctx context.Context, backend, server, state string) error
	ShowStat(ctx context.Context, proxy string) ([]runtimeapi.StatRow, error)
	Execute(ctx context.Context, cmd string) (string, error)
}

// drainer remembers servers being drained: set to DRAIN (no new requests),
// removed once their sessions reach zero or the grace period ends.
type drainer struct {
	grace time.Duration
	since map[string]time.Time // "backend/server" → drain start
	now   func() time.Time
}

func newDrainer(grace time.Duration) *drainer {
	return &drainer{grace: grace, since: map[string]time.Time{}, now: time.Now}
}

// remove drains the server, or deletes it when it is idle or its grace
// period is over. It reports whether the server is still draining.
func (d *drainer) remove(ctx context.Context, rt RuntimeAPI, backend, server string, log *zap.Logger) (bool, error) {
	key := backend + "/" + server
	started, draining := d.since[key]
	if !draining {
		if err := rt.SetServerState(ctx, backend, server, "drain"); err != nil {
			if errors.Is(err, runtimeapi.ErrNoSuchServer) {
				return false, nil
			}
			return false, err
		}
		d.since[key] = d.now()
		started = d.since[key]
	}
	idle, err := serverIdle(ctx, rt, backend, server)
	if err != nil {
		return true, err
	}
	overdue := d.now().Sub(started) >= d.grace
	if !idle && !overdue {
		return true, nil
	}
	if !idle {
		log.Warn("drain grace period over; closing remaining sessions", zap.String("backend", backend), zap.String("server", server), zap.Duration("grace", d.grace))
		_, _ = rt.Execute(ctx, "shutdown sessions server "+backend+"/"+server)
	}
	err = rt.RemoveServer(ctx, backend, server)
	switch {
	case errors.Is(err, runtimeapi.ErrServerHasConnections):
		return true, nil // connections close asynchronously; next pass
	case err != nil && !errors.Is(err, runtimeapi.ErrNoSuchServer):
		return true, err
	}
	delete(d.since, key)
	return false, nil
}

// draining reports whether the server is being drained.
func (d *drainer) draining(backend, server string) bool {
	_, ok := d.since[backend+"/"+server]
	return ok
}

// forget drops servers that are wanted again (a task that came back).
func (d *drainer) forget(backend, server string) { delete(d.since, backend+"/"+server) }

// release puts back into service the draining servers desired wants again
// (a task whose health check failed, then passed, before its sessions
// ended): its server object is unchanged, so no step would touch it, and
// it would stay in DRAIN.
func (d *drainer) release(ctx context.Context, rt RuntimeAPI, desired *State, log *zap.Logger) error {
	for key := range d.since {
		backend, server, _ := strings.Cut(key, "/")
		be := desired.Backends[backend]
		if be == nil {
			continue
		}
		i := slices.IndexFunc(be.Servers, func(s dataplane.Server) bool { return s.Name == server })
		if i < 0 {
			continue
		}
		state := "ready"
		if be.Servers[i].Maintenance == "enabled" {
			state = "maint"
		}
		if err := rt.SetServerState(ctx, backend, server, state); err != nil && !errors.Is(err, runtimeapi.ErrNoSuchServer) {
			return fmt.Errorf("put back draining server %s: %w", key, err)
		}
		delete(d.since, key)
		log.Info("draining server wanted again; back in service", zap.String("backend", backend), zap.String("server", server))
	}
	return nil
}

func serverIdle(ctx context.Context, rt RuntimeAPI, backend, server string) (bool, error) {
	rows, err := rt.ShowStat(ctx, backend)
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if r.Server == server {
			return r.Scur == 0 && r.Qcur == 0, nil
		}
	}
	return true, nil
}

// dynamicBalance are the algorithms with which HAProxy 2.6 accepts servers
// added at runtime (notes §6.5); the others need a reload.
var dynamicBalance = map[string]bool{"roundrobin": true, "leastconn": true, "first": true, "random": true}

// supportsDynamicServers reports whether servers of b can come and go at
// runtime.
func supportsDynamicServers(b dataplane.Backend) bool {
	if b.Balance == nil {
		return true // HAProxy's default is roundrobin
	}
	if dynamicBalance[b.Balance.Algorithm] {
		return true
	}
	return b.HashType != nil && b.HashType.Method == "consistent"
}

// serverOptions renders a server's options as `add server` arguments.
func serverOptions(s dataplane.Server) []string {
	var o []string
	if s.ID != nil {
		o = append(o, "id", strconv.FormatInt(*s.ID, 10))
	}
	if s.Weight != nil {
		o = append(o, "weight", strconv.FormatInt(*s.Weight, 10))
	}
	if s.Check == "enabled" {
		o = append(o, "check")
		if s.Inter != nil {
			o = append(o, "inter", strconv.FormatInt(*s.Inter, 10))
		}
		if s.Fall != nil {
			o = append(o, "fall", strconv.FormatInt(*s.Fall, 10))
		}
		if s.Rise != nil {
			o = append(o, "rise", strconv.FormatInt(*s.Rise, 10))
		}
		if s.HealthCheckPort != nil {
			o = append(o, "port", strconv.FormatInt(*s.HealthCheckPort, 10))
		}
	}
	if s.Cookie != "" {
		o = append(o, "cookie", s.Cookie)
	}
	opts := s.Opts()
	if opts.Maxconn != nil {
		o = append(o, "maxconn", strconv.FormatInt(*opts.Maxconn, 10))
	}
	for _, f := range []struct{ on, word string }{
		{opts.Backup, "backup"}, {opts.SSL, "ssl"}, {opts.CheckSSL, "check-ssl"}, {opts.SendProxy, "send-proxy"}, {opts.SendProxyV2, "send-proxy-v2"},
	} {
		if f.on == "enabled" {
			o = append(o, f.word)
		}
	}
	if opts.Verify != "" {
		o = append(o, "verify", opts.Verify)
	}
	if s.Maintenance == "enabled" {
		o = append(o, "disabled")
	}
	return o
}

// applyRuntimeSteps changes the live servers through the Runtime API. A
// removed server is drained first (drainer); until it is gone it stays in
// the returned busy set, and in haproxy.cfg.
func applyRuntimeSteps(ctx context.Context, rt RuntimeAPI, dr *drainer, steps []Step, log *zap.Logger) (busy map[string]bool, err error) {
	busy = map[string]bool{}
	for _, s := range steps {
		switch s.Op {
		case Create:
			srv := s.Value.(dataplane.Server)
			dr.forget(s.Parent, srv.Name)
			err := rt.AddServerReady(ctx, s.Parent, srv.Name, srv.Address, int(*srv.Port), serverOptions(srv))
			if errors.Is(err, runtimeapi.ErrServerExists) {
				// Already live (draining, or an earlier pass that could not
				// persist): make sure it points where it should and serves.
				err = rt.SetServerAddr(ctx, s.Parent, srv.Name, srv.Address, int(*srv.Port))
				if err == nil {
					err = rt.SetServerState(ctx, s.Parent, srv.Name, "ready")
				}
			}
			if err != nil {
				return busy, fmt.Errorf("%s: %w", s, err)
			}
		case Delete:
			still, err := dr.remove(ctx, rt, s.Parent, s.Name, log)
			if err != nil {
				return busy, fmt.Errorf("%s: %w", s, err)
			}
			if still {
				busy[s.Parent+"/"+s.Name] = true
			}
		case Replace:
			srv := s.Value.(dataplane.Server)
			if err := rt.SetServerAddr(ctx, s.Parent, srv.Name, srv.Address, int(*srv.Port)); err != nil {
				return busy, fmt.Errorf("%s: %w", s, err)
			}
			w := int64(1)
			if srv.Weight != nil {
				w = *srv.Weight
			}
			if err := rt.SetServerWeight(ctx, s.Parent, srv.Name, int(w)); err != nil {
				return busy, fmt.Errorf("%s: %w", s, err)
			}
			state := "ready"
			if srv.Maintenance == "enabled" {
				state = "maint"
			}
			if err := rt.SetServerState(ctx, s.Parent, srv.Name, state); err != nil {
				return busy, fmt.Errorf("%s: %w", s, err)
			}
		}
	}
	return busy, nil
}

// persistWithoutReload writes the same server changes into haproxy.cfg
// without reloading: the changes go into a transaction that is never
// committed, the Data Plane API renders that transaction's configuration,
// and the text is posted back with skip_reload. HAProxy already runs the
// changes (Runtime API); the file now says the same, so a later reload or
// restart keeps them. Servers still draining stay in the file until they
// are gone.
// It returns the version it wrote at and the one the write produced; ours
// is renderRead's.
func persistWithoutReload(ctx context.Context, api ConfigAPI, plan Plan, busy map[string]bool, ours func(from, to int64) bool) (int64, int64, error) {
	from, to, _, err := persistOnto(ctx, api, plan, busy, ours, writtenText{}, nil)
	return from, to, err
}

// writtenText is what this process last posted, without its own objects
// (the global, defaults and operator sections: kilobytes), and the
// version the post produced. While the version is ours the file is that
// text followed by our objects (the API replaces only the header
// comments), so the next write renders our objects after it instead of
// reading 10 MB of JSON back and walking it at 10,000 backends.
type writtenText struct {
	prefix  string
	version int64
}

// persistOnto is persistWithoutReload starting from base when it is set,
// at a version the plan may be written onto, and the plan changes no
// HAPROXY_HEAD section; another writer's change since then makes the post
// fail with a conflict (the version moved). It returns what the next
// write may start from (a zero writtenText when it must read the file).
func persistOnto(ctx context.Context, api ConfigAPI, plan Plan, busy map[string]bool, ours func(from, to int64) bool, base writtenText, cache *renderCache) (int64, int64, writtenText, error) {
	var (
		version      int64
		text, prefix string
		err          error
	)
	if base.version != 0 && plan.Desired != nil && len(plan.headSections()) == 0 &&
		(base.version == plan.Version || (ours != nil && ours(plan.Version, base.version))) {
		version, prefix = base.version, base.prefix
		text = withOwned(prefix, withBusyServers(plan.Desired, plan.Current, busy), cache)
	} else if version, text, prefix, err = renderRead(ctx, api, plan, busy, ours, cache); err != nil {
		return 0, 0, writtenText{}, err
	}
	wr, err := api.PostRawConfig(ctx, version, text, dataplane.RawOptions{SkipReload: true})
	if err != nil {
		return 0, 0, writtenText{}, fmt.Errorf("persist configuration (skip_reload): %w", err)
	}
	next := writtenText{}
	if prefix != "" {
		// An exact-size copy, not a view into the text read.
		next = writtenText{prefix: strings.Clone(prefix), version: wr.Version}
	}
	return version, wr.Version, next, nil
}

// renderWith returns the current configuration version and the text the
// Data Plane API renders for it with steps applied, through a transaction
// that is discarded, never committed.
func renderWith(ctx context.Context, api ConfigAPI, steps []Step) (int64, string, error) {
	version, err := api.Version(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("read configuration version: %w", err)
	}
	tx, err := api.StartTransaction(ctx, version)
	if err != nil {
		return 0, "", fmt.Errorf("start transaction to render the configuration: %w", err)
	}
	defer tx.Discard()
	for _, s := range steps {
		if s.Object == ObjSection {
			// HEAD's sections are text (head.go), put in after rendering.
			continue
		}
		if err := applyTxStep(ctx, tx, s); err != nil {
			return 0, "", fmt.Errorf("render %s: %w", s, err)
		}
	}
	text, _, err := api.RawConfig(ctx, tx.ID)
	if err != nil {
		return 0, "", fmt.Errorf("read rendered configuration: %w", err)
	}
	return version, ReplaceSections(text, Plan{Steps: steps}.headSections()), nil
}

// CommitWhole does what marathon-lb does for every change: the objects
// of desired replace those of current (the last state written) in the
// whole configuration text, which is posted, and HAProxy reloads. It
// reads nothing but the text. It exists to be measured against (make
// bench); sync commits the whole text only when frontends or binds
// change.
func CommitWhole(ctx context.Context, api ConfigAPI, current, desired *State, log *zap.Logger) (ApplyResult, error) {
	return applyFull(ctx, api, Plan{Current: current, Desired: desired}, log, nil)
}

// applyRuntime is Apply for a plan made only of runtime steps when a
// Runtime API is available.
func applyRuntime(ctx context.Context, api ConfigAPI, rt RuntimeAPI, dr *drainer, plan Plan, log *zap.Logger, deferred *persister) (ApplyResult, error) {
	res := ApplyResult{Strategy: Runtime}
	start := time.Now()
	busy, err := applyRuntimeSteps(ctx, rt, dr, plan.Steps, log)
	if err != nil {
		return res, err
	}
	res.RuntimeSteps = len(plan.Steps)
	res.Routable = time.Since(start)
	// A server that still serves requests stays in the file (it is in
	// maint at runtime) until a later pass can delete it.
	var persist []Step
	for _, s := range plan.Steps {
		if s.Op == Delete && busy[s.Parent+"/"+s.Name] {
			continue
		}
		persist = append(persist, s)
	}
	res.Draining, res.Busy = len(busy), busy
	if len(persist) == 0 {
		return res, nil
	}
	if deferred != nil && plan.Desired != nil {
		// Written in the background; the file is still at plan.Version.
		deferred.submit(Plan{Steps: persist, Current: plan.Current, Desired: plan.Desired, Version: plan.Version}, busy)
		res.Version, res.Deferred = plan.Version, true
		log.Info("runtime changes applied; written to haproxy.cfg in the background", zap.Int("steps", len(plan.Steps)),
			zap.Duration("routable_after", res.Routable))
		return res, nil
	}
	persistStart := time.Now()
	_, v, err := persistWithoutReload(ctx, api, Plan{Steps: persist, Current: plan.Current, Desired: plan.Desired, Version: plan.Version}, busy, nil)
	res.Persist = time.Since(persistStart)
	if err != nil {
		return res, fmt.Errorf("runtime changes applied but not yet persisted: %w", err)
	}
	res.Version = v
	log.Info("runtime changes applied and persisted without reload", zap.Int("steps", len(plan.Steps)),
		zap.Duration("routable_after", res.Routable), zap.Duration("duration", time.Since(start)), zap.Int64("version", v))
	return res, nil
}
