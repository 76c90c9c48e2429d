package sync

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	stdsync "sync"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// EventSource is what the daemon needs from Marathon's event bus.
type EventSource interface {
	URLs() []string
	Stream(ctx context.Context, baseURL string, eventTypes []string) (*marathon.EventStream, error)
}

// RelevantEvents are the event types that can change what HAProxy routes.
// A deployment's intermediate events (deployment_info, each step's
// success) are left out: they carry the whole plan, the apps before and
// after (megabytes with many apps), and what they announce arrives as task
// status updates anyway; the end of a deployment re-reads its apps.
var RelevantEvents = []string{
	marathon.EventAPIPost, marathon.EventStatusUpdate, marathon.EventHealthStatusChanged,
	marathon.EventAppTerminated, marathon.EventDeploymentSuccess, marathon.EventDeploymentFailed,
	marathon.EventInstanceChanged, marathon.EventInstanceHealthChanged,
}

// DaemonConfig tunes the daemon loop.
type DaemonConfig struct {
	// Events is nil in poll mode.
	Events EventSource
	// PollInterval is the poll period, and in SSE mode the period of a
	// safety full resync (marathon-lb resynced every 300 s).
	PollInterval time.Duration
	// Window is how long a burst must be quiet before a sync starts;
	// MaxDelay bounds the wait from its first event.
	Window, MaxDelay time.Duration
	// MaxBackoff caps the reconnect (and failed-sync retry) backoff.
	MaxBackoff time.Duration
	// Watchdog reconnects a stream that sent nothing, not even a
	// keepalive, for this long.
	Watchdog time.Duration
	// ReconcileInterval is the period of a reconcile pass (a sync plus a
	// comparison with HAProxy's live servers that repairs out-of-band
	// changes); 0 turns it off.
	ReconcileInterval time.Duration
	// Apps, when set, is the syncer's app source kept current from the
	// event stream (AppCache); it lists everything again at startup,
	// after a reconnect, on a full resync (SIGHUP) and at the periodic
	// resync.
	Apps *AppCache
}

func (c *DaemonConfig) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = 60 * time.Second
	}
	if c.Window <= 0 {
		c.Window = 100 * time.Millisecond
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 300 * time.Second
	}
	if c.Watchdog <= 0 {
		c.Watchdog = 5 * time.Minute
	}
}

// Daemon keeps HAProxy in step with Marathon until its context ends.
type Daemon struct {
	syncer  *Syncer
	cfg     DaemonConfig
	metrics *Metrics
	log     *zap.Logger

	trigger chan trigger

	mu     stdsync.Mutex
	status Status
	// state is the last pass's desired state: Status counts servers in it.
	state *State
	// pending holds what a dropped trigger asked for (the channel was
	// full), so that a SIGHUP during an event storm still forces a full
	// resync.
	pending trigger
}

type trigger struct {
	reason    string
	at        time.Time
	reconcile bool // also compare and repair HAProxy's live servers
	full      bool // re-read HAProxy's whole configuration first
	relist    bool // list Marathon's apps again (Apps cache)
}

// Status is what /status reports.
type Status struct {
	Mode            string              `json:"mode"`
	LastSync        time.Time           `json:"last_sync"`
	LastSuccess     time.Time           `json:"last_success"`
	LastError       string              `json:"last_error,omitempty"`
	LastReason      string              `json:"last_reason,omitempty"`
	Syncs           int                 `json:"syncs"`
	StreamConnected bool                `json:"stream_connected"`
	StreamURL       string              `json:"stream_url,omitempty"`
	Services        []ServiceInfo       `json:"services"`
	NotExposed      []SkippedService    `json:"not_exposed"`
	Rejected        map[string][]string `json:"rejected"`
	Warnings        []string            `json:"warnings,omitempty"`
	LastPlan        map[StepKind]int    `json:"last_plan"`
}

// NewDaemon returns a daemon around s.
func NewDaemon(s *Syncer, cfg DaemonConfig, m *Metrics, log *zap.Logger) *Daemon {
	cfg.defaults()
	if log == nil {
		log = zap.NewNop()
	}
	mode := "poll"
	if cfg.Events != nil {
		mode = "sse"
	}
	d := &Daemon{syncer: s, cfg: cfg, metrics: m, log: log, trigger: make(chan trigger, 64),
		status: Status{Mode: mode, Rejected: map[string][]string{}, LastPlan: map[StepKind]int{}}}
	// A background write of runtime changes that did not land is planned
	// again at once.
	if s != nil {
		s.persistFailed = func() { d.Trigger("runtime changes not written; re-planning") }
	}
	return d
}

// Trigger asks for a sync (events, reconnects).
func (d *Daemon) Trigger(reason string) { d.send(trigger{reason: reason, at: time.Now()}) }

// TriggerFull asks for a full resync: HAProxy's configuration is re-read
// whole, not trusted from memory (SIGHUP).
func (d *Daemon) TriggerFull(reason string) {
	d.send(trigger{reason: reason, at: time.Now(), full: true, reconcile: true})
}

// TriggerReconcile asks to re-push the desired state: a sync plus a repair
// of HAProxy's live servers (SIGUSR1).
func (d *Daemon) TriggerReconcile(reason string) {
	d.send(trigger{reason: reason, at: time.Now(), reconcile: true})
}

func (d *Daemon) send(t trigger) {
	select {
	case d.trigger <- t:
	default:
		// Syncs are already pending and will see the newest state; keep
		// what this one asked for beyond a plain sync.
		d.mu.Lock()
		d.pending.full = d.pending.full || t.full
		d.pending.reconcile = d.pending.reconcile || t.reconcile
		d.pending.relist = d.pending.relist || t.relist
		d.pending.reason = mergeReason(d.pending.reason, t)
		d.mu.Unlock()
	}
}

// takePending merges and clears what dropped triggers asked for.
func (d *Daemon) takePending(t trigger) trigger {
	d.mu.Lock()
	defer d.mu.Unlock()
	t.full = t.full || d.pending.full
	t.reconcile = t.reconcile || d.pending.reconcile
	t.relist = t.relist || d.pending.relist
	if d.pending.reason != "" {
		t.reason = mergeReason(t.reason, d.pending)
	}
	d.pending = trigger{}
	return t
}

// Status returns a copy of the current status.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.Services = withServerCounts(s.Services, d.state)
	return s
}

// Ready reports whether the last successful sync is recent enough.
func (d *Daemon) Ready(maxAge time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.status.LastSuccess.IsZero() && time.Since(d.status.LastSuccess) <= maxAge
}

// Run syncs once, then on every relevant event (SSE) or poll tick, until
// ctx ends. A sync in progress when ctx ends is finished first, so that no
// transaction is abandoned half-way.
func (d *Daemon) Run(ctx context.Context) error {
	var wg stdsync.WaitGroup
	if d.cfg.Events != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.readEvents(ctx)
		}()
	}
	d.send(trigger{reason: "startup", at: time.Now(), relist: true})
	d.syncLoop(ctx)
	wg.Wait()
	// Runtime changes still being written to haproxy.cfg land before the
	// daemon exits, so that a restart of HAProxy keeps them.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := d.syncer.Flush(flushCtx); d.syncer != nil && err != nil {
		d.log.Warn("runtime changes not written to haproxy.cfg before exit", zap.Error(err))
	}
	return nil
}

func (d *Daemon) syncLoop(ctx context.Context) {
	resync := time.NewTicker(d.cfg.PollInterval)
	defer resync.Stop()
	var reconcile <-chan time.Time
	if d.cfg.ReconcileInterval > 0 {
		t := time.NewTicker(d.cfg.ReconcileInterval)
		defer t.Stop()
		reconcile = t.C
	}
	failures := 0
	var retry <-chan time.Time
	for {
		var first trigger
		select {
		case <-ctx.Done():
			return
		case first = <-d.trigger:
		case <-resync.C:
			first = trigger{reason: "periodic resync", at: time.Now(), relist: true}
		case <-reconcile:
			first = trigger{reason: "reconcile", at: time.Now(), reconcile: true}
		case <-retry:
			first = trigger{reason: "retry (failure or draining servers)", at: time.Now()}
		}
		retry = nil
		first = d.takePending(d.coalesce(ctx, first))
		if d.cfg.Apps != nil && (first.full || first.relist) {
			d.cfg.Apps.Invalidate()
		}
		if first.full {
			d.syncer.Forget()
		}
		// The apply must not be cut off by shutdown: finish it with a
		// bounded context of its own.
		applyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		draining, err := d.syncOnce(applyCtx, first)
		cancel()
		if first.full || first.relist || first.reconcile {
			// Listing every app, reading or writing the whole
			// configuration, or reading every live server (a reconcile)
			// leaves tens of MB of garbage at 10,000 apps. Collect and hand
			// it back to the OS now rather than over minutes: the steady
			// state needs a fraction of that peak, and a collection during
			// it would set the next one's goal from the peak (RSS 138 MB
			// after events alone, 158 MB once a reconcile ran).
			debug.FreeOSMemory()
		}
		if err == nil && draining > 0 {
			// Draining servers are removed once idle: look again soon.
			retry = time.After(time.Second)
		}
		if err != nil {
			failures++
			delay := backoff(failures, time.Second, d.cfg.MaxBackoff)
			d.log.Warn("sync failed; retrying", zap.Duration("in", delay), zap.Error(err))
			retry = time.After(delay)
		} else {
			failures = 0
		}
	}
}

// mergeReason adds t's reason to reasons once: every signal or other
// request beyond a plain sync is named, plain events up to five in all.
func mergeReason(reasons string, t trigger) string {
	if reasons == "" {
		return t.reason
	}
	if strings.Contains(reasons, t.reason) || (!t.full && !t.reconcile && strings.Count(reasons, ", ") >= 4) {
		return reasons
	}
	return reasons + ", " + t.reason
}

// coalesce waits until triggers stop for Window, or MaxDelay passed since
// the first one: a burst of events becomes one sync, which does the
// strongest thing any of them asked for.
func (d *Daemon) coalesce(ctx context.Context, first trigger) trigger {
	merged := first
	deadline := first.at.Add(d.cfg.MaxDelay)
	quiet := time.NewTimer(d.cfg.Window)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return merged
		case t := <-d.trigger:
			merged.full = merged.full || t.full
			merged.reconcile = merged.reconcile || t.reconcile
			merged.relist = merged.relist || t.relist
			merged.reason = mergeReason(merged.reason, t)
			if time.Now().After(deadline) {
				return merged
			}
			quiet.Reset(min(d.cfg.Window, time.Until(deadline)))
		case <-quiet.C:
			return merged
		}
	}
}

func (d *Daemon) syncOnce(ctx context.Context, t trigger) (int, error) {
	var r Result
	var err error
	if t.reconcile {
		var repaired []LiveDiff
		r, repaired, err = d.syncer.Reconcile(ctx)
		if d.metrics != nil {
			for _, rep := range repaired {
				d.metrics.Repairs.WithLabelValues(rep.Kind).Inc()
			}
		}
	} else {
		r, err = d.syncer.Sync(ctx)
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status.LastSync, d.status.LastReason = now, t.reason
	d.status.Syncs++
	if err != nil {
		d.status.LastError = err.Error()
		if d.metrics != nil {
			d.metrics.Syncs.WithLabelValues("failed").Inc()
			d.metrics.Errors.WithLabelValues(errorClass(err)).Inc()
		}
		return 0, err
	}
	d.status.LastSuccess, d.status.LastError = now, ""
	d.status.Services, d.state = r.Build.Services, r.Build.State
	d.status.NotExposed = r.Build.Skipped
	d.status.Warnings = r.Build.Warnings
	d.status.Rejected = map[string][]string{}
	for app, errs := range r.Build.Rejected {
		for _, e := range errs {
			d.status.Rejected[app] = append(d.status.Rejected[app], e.Error())
		}
	}
	d.status.LastPlan = map[StepKind]int{Runtime: r.Plan.Count(Runtime), Transaction: r.Plan.Count(Transaction), Full: r.Plan.Count(Full)}
	if m := d.metrics; m != nil {
		result := "applied"
		switch {
		case r.Plan.Empty():
			result = "noop"
		case r.Partial():
			result = "partial"
		}
		m.Syncs.WithLabelValues(result).Inc()
		m.Steps.WithLabelValues(string(Runtime)).Add(float64(r.Applied.RuntimeSteps))
		m.Steps.WithLabelValues(string(Transaction)).Add(float64(r.Applied.TransactionSteps))
		m.Steps.WithLabelValues(string(Full)).Add(float64(r.Applied.FullSteps))
		if !r.Plan.Empty() {
			m.Applies.WithLabelValues(string(r.Applied.Strategy)).Inc()
		}
		if r.Applied.ReloadID != "" {
			m.Reloads.WithLabelValues(string(r.Applied.Strategy)).Inc()
		}
		m.Apps.Set(float64(r.Build.AppCount))
		m.Backends.Set(float64(len(r.Build.State.Backends)))
		m.Servers.Set(float64(r.Servers))
		m.RejectedApps.Set(float64(len(r.Build.Rejected)))
		if !r.Plan.Empty() {
			m.EventToApply.Observe(now.Sub(t.at).Seconds())
		}
	}
	return r.Applied.Draining, nil
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, marathon.ErrUnreachable), errors.Is(err, marathon.ErrInvalidResponse):
		return "marathon"
	case errors.Is(err, dataplane.ErrConflict), errors.Is(err, dataplane.ErrNotAcceptable):
		return "conflict"
	case errors.Is(err, dataplane.ErrReloadFailed):
		return "reload"
	}
	return "dataplane"
}

// readEvents keeps one event stream open, rotating over the Marathon URLs
// on every reconnect (marathon-lb §2.3/2.4): full-jitter backoff growing
// ×1.5 up to MaxBackoff, reset after a stream that lived 10 minutes; a
// full resync after every reconnect; a watchdog for silent streams.
func (d *Daemon) readEvents(ctx context.Context) {
	urls := d.cfg.Events.URLs()
	attempt, next := 0, 0
	for ctx.Err() == nil {
		url := urls[next%len(urls)]
		next++
		started := time.Now()
		err := d.stream(ctx, url, attempt > 0)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 10*time.Minute {
			attempt = 0
		}
		attempt++
		if d.metrics != nil {
			d.metrics.Errors.WithLabelValues("stream").Inc()
		}
		delay := backoff(attempt, 3*time.Second, d.cfg.MaxBackoff)
		if errors.Is(err, errWatchdog) {
			delay = 0 // a silent stream reconnects at once, as marathon-lb does on curl error 28
		}
		d.log.Warn("event stream ended; reconnecting", zap.String("url", url), zap.Duration("in", delay), zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

var errWatchdog = errors.New("event stream silent for too long")

func (d *Daemon) stream(ctx context.Context, url string, reconnect bool) error {
	es, err := d.cfg.Events.Stream(ctx, url, RelevantEvents)
	if err != nil {
		if d.metrics != nil {
			d.metrics.StreamConnect.WithLabelValues("failed").Inc()
		}
		return err
	}
	defer es.Close()
	if d.metrics != nil {
		d.metrics.StreamConnect.WithLabelValues("connected").Inc()
	}
	d.setStream(true, url)
	defer d.setStream(false, "")
	if reconnect {
		// Events may have been missed while disconnected.
		d.send(trigger{reason: "event stream reconnected", at: time.Now(), relist: true})
	}
	watch := time.NewTicker(max(d.cfg.Watchdog/4, 10*time.Millisecond))
	defer watch.Stop()
	for {
		select {
		case ev, ok := <-es.Events():
			if !ok {
				return es.Err()
			}
			if d.metrics != nil {
				d.metrics.Events.WithLabelValues(ev.Type).Inc()
			}
			if d.cfg.Apps != nil {
				d.cfg.Apps.Observe(ev)
			}
			d.Trigger(ev.Type)
		case <-watch.C:
			if time.Since(es.LastActivity()) > d.cfg.Watchdog {
				return errWatchdog
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (d *Daemon) setStream(connected bool, url string) {
	d.mu.Lock()
	d.status.StreamConnected, d.status.StreamURL = connected, url
	d.mu.Unlock()
}

// backoff is full jitter over base×1.5^(attempt-1), capped.
func backoff(attempt int, base, cap time.Duration) time.Duration {
	d := float64(base)
	for i := 1; i < attempt && d < float64(cap); i++ {
		d *= 1.5
	}
	d = min(d, float64(cap))
	return time.Duration(rand.Float64() * d)
}
