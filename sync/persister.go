package sync

import (
	"context"
	"fmt"
	stdsync "sync"
	"time"

	"go.uber.org/zap"
)

// persister writes runtime changes into haproxy.cfg in the background
// (Syncer.DeferPersist). Task churn is live once the Runtime API took it;
// writing the file is a render and a skip_reload POST that the Data Plane
// API parses and checks with haproxy -c, about 2 s at 10,000 backends.
// Done inline, every event queued behind the previous one's write. Here a
// runtime apply hands over its state and returns; the persister writes
// the newest state it has, one write at a time, so a burst of events
// costs one write. Until the write lands, a reload would start from the
// older file: the daemon's own full commits and transactions wait for it
// (flush), and an operator's reload in that window is repaired by the next
// pass (the servers missing from the file are planned again).
type persister struct {
	api ConfigAPI
	log *zap.Logger
	// failed is told about a write that did not land, so that the
	// changes are planned again.
	failed func(error)

	mu      stdsync.Mutex
	pending *Plan
	busy    map[string]bool
	running bool
	done    chan struct{} // closed when the running loop ends
	// wrote maps each version a write started from to the version it
	// produced: those moves are ours, not another writer's. latest is
	// the last version produced.
	wrote  map[int64]int64
	latest int64
	err    error
	// written is the last write's text and version, which the next write
	// starts from: the loop's goroutine's, or seed's while no loop runs.
	written writtenText
	// rendered keeps the sections of the last write's objects.
	rendered *renderCache
	// Writes and LastDuration describe the writes so far.
	writes       int
	lastDuration time.Duration
	// interval is the least time between the starts of two writes
	// (Syncer.PersistInterval); hurry cuts the wait short (flush).
	interval  time.Duration
	lastStart time.Time
	hurry     chan struct{}
	flushes   int // flushes waiting: no interval then
}

func newPersister(api ConfigAPI, log *zap.Logger, failed func(error)) *persister {
	return &persister{api: api, log: log, failed: failed, wrote: map[int64]int64{}, hurry: make(chan struct{}, 1)}
}

// submit hands over the newest runtime state to write (replacing any
// state not yet written).
func (p *persister) submit(plan Plan, busy map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending, p.busy = &plan, busy
	if !p.running {
		p.running, p.done = true, make(chan struct{})
		go p.loop()
	}
}

func (p *persister) loop() {
	for {
		p.mu.Lock()
		plan, busy := p.pending, p.busy
		p.pending, p.busy = nil, nil
		if plan == nil {
			p.running = false
			close(p.done)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if p.waitInterval() {
			// The newest state submitted while waiting is the one written.
			p.mu.Lock()
			if p.pending != nil {
				plan, busy = p.pending, p.busy
				p.pending, p.busy = nil, nil
			}
			p.mu.Unlock()
		}
		p.lastStart = time.Now()
		// Bounded: a hung API must not hold the next writes forever.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := time.Now()
		from, to, err := p.write(ctx, *plan, busy)
		cancel()
		p.mu.Lock()
		p.err = err
		if err == nil {
			p.wrote[from], p.latest = to, to
			for v := range p.wrote {
				// A pass is never many writes behind.
				if v < from-128 {
					delete(p.wrote, v)
				}
			}
			p.writes++
			p.lastDuration = time.Since(start)
		}
		p.mu.Unlock()
		if err != nil {
			p.log.Warn("runtime changes not written to haproxy.cfg; they are planned again", zap.Error(err))
			if p.failed != nil {
				p.failed(err)
			}
			continue
		}
		p.log.Debug("runtime changes written to haproxy.cfg", zap.Int64("version", to), zap.Duration("duration", time.Since(start)))
	}
}

// write writes plan's state at the current version, which must be the
// one the plan was made at or one this persister produced from it.
func (p *persister) write(ctx context.Context, plan Plan, busy map[string]bool) (int64, int64, error) {
	if p.rendered == nil {
		p.rendered = newRenderCache()
	}
	from, to, next, err := persistOnto(ctx, p.api, plan, busy, p.ours, p.written, p.rendered)
	p.written = next
	if err == nil {
		// The Data Plane API parses a file written under it on the next
		// request that reads the configuration (0.3 s at 10,000
		// backends). Ask for the version here, while events still skip
		// asking (writing), so that the next event's question finds it
		// parsed instead of waiting for it.
		_, _ = p.api.Version(ctx)
	}
	return from, to, err
}

// waitInterval waits until the interval since the last write's start is
// over, or a flush is waiting; it reports whether it waited. Writes start
// at most every interval: at 10,000 apps the API parses and checks each
// one for seconds, on the cores HAProxy and this process need for the
// events meanwhile.
func (p *persister) waitInterval() bool {
	waited := false
	for {
		p.mu.Lock()
		flushing := p.flushes > 0
		p.mu.Unlock()
		wait := p.interval - time.Since(p.lastStart)
		if p.interval <= 0 || wait <= 0 || flushing {
			return waited
		}
		waited = true
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.hurry:
		}
		t.Stop()
	}
}

// idleCache returns the render cache of the writes when none is under
// way (nil otherwise, or for a nil persister), for a full commit to fill.
// Only the syncer's goroutine starts a write (submit), so the cache stays
// its own until then.
func (p *persister) idleCache() *renderCache {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return nil
	}
	if p.rendered == nil {
		p.rendered = newRenderCache()
	}
	return p.rendered
}

// seed makes a committed text the next write's start, unless a write is
// under way (it knows better).
func (p *persister) seed(w writtenText) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		// The commit wrote the file: the next write counts from it.
		p.written, p.lastStart = w, time.Now()
	}
}

// last returns the last version a write produced (0: none).
func (p *persister) last() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latest
}

// writing reports whether a write is under way.
func (p *persister) writing() bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// ours reports whether the configuration moving from version from to
// version to was this persister's doing (one write or a chain of them).
func (p *persister) ours(from, to int64) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for seen := 0; seen <= len(p.wrote); seen++ {
		next, ok := p.wrote[from]
		if !ok {
			return false
		}
		if next == to {
			return true
		}
		from = next
	}
	return false
}

// flush waits until everything submitted is written (or failed) and
// returns the last write's error.
func (p *persister) flush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	running, done := p.running, p.done
	p.flushes++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.flushes--
		p.mu.Unlock()
	}()
	if running {
		select {
		case p.hurry <- struct{}{}:
		default:
		}
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("wait for runtime changes to be written: %w", ctx.Err())
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
