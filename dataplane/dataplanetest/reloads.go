package dataplanetest

import (
	"fmt"
	"regexp"
	"sort"
	"time"
)

// reload is one scheduled reload ($S/reloads/{id}).
type reload struct {
	seq      int
	id       string
	status   string // in_progress, succeeded, failed
	response string
	ts       int64
	due      time.Time
}

func (r *reload) json(full bool) map[string]any {
	if r.status == "in_progress" {
		return map[string]any{"status": "in_progress"} // no id while pending (notes §4.4)
	}
	m := map[string]any{"id": r.id, "status": r.status}
	if full {
		m["reload_timestamp"] = r.ts
		if r.response != "" {
			m["response"] = r.response
		}
	}
	return m
}

// reloadAgent reproduces the API's reload agent: a reload runs on the
// next tick (here: ReloadDelay after it was first requested), writes
// within that window share one id, failed reloads stay listed and only
// the last success is.
type reloadAgent struct {
	delay    time.Duration
	counter  int
	issued   map[string]*reload
	pending  *reload
	failed   []*reload
	lastOK   *reload
	failNext []string
	finished int
	pid      int
	lastAt   time.Time
}

var reloadIDPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}-\d+$`)

// settle finishes the pending reload when its time has come.
func (f *Fake) settle() {
	a := &f.reloads
	if a.pending != nil && !f.now().Before(a.pending.due) {
		r := a.pending
		a.pending = nil
		f.finishReload(r)
	}
}

// scheduleReload returns the id of the pending reload, creating one.
func (f *Fake) scheduleReload() string {
	f.settle()
	a := &f.reloads
	if a.pending != nil {
		return a.pending.id
	}
	now := f.now()
	r := &reload{seq: a.counter, id: fmt.Sprintf("%s-%d", now.Format("2006-01-02"), a.counter), status: "in_progress", due: now.Add(a.delay)}
	a.counter++
	a.issued[r.id] = r
	a.pending = r
	return r.id
}

// finishReload ends r: it fails when a failure was queued, otherwise
// HAProxy now runs the live configuration and runtime-only state is lost.
func (f *Fake) finishReload(r *reload) {
	a := &f.reloads
	a.finished++
	r.ts = f.now().Unix()
	if len(a.failNext) > 0 {
		r.status, r.response = "failed", a.failNext[0]
		a.failNext = a.failNext[1:]
		a.failed = append(a.failed, r)
		return
	}
	r.status = "succeeded"
	a.lastOK = r
	f.applyReload()
}

// applyReload makes HAProxy run the live configuration.
func (f *Fake) applyReload() {
	f.running = f.live.clone()
	f.runtime = map[string]*runtimeState{}
	f.reloads.pid++
	f.reloads.lastAt = f.now()
}

// forceReload is a force_reload=true reload: synchronous, not listed in
// $S/reloads. A queued failure answers 400 "Reload failed: …".
func (f *Fake) forceReload() *apiError {
	f.settle()
	a := &f.reloads
	a.finished++
	if len(a.failNext) > 0 {
		resp := a.failNext[0]
		a.failNext = a.failNext[1:]
		return newErr(400, "Reload failed: %s", resp)
	}
	f.applyReload()
	return nil
}

func (f *Fake) reloadList() []map[string]any {
	a := &f.reloads
	out := []map[string]any{}
	var all []*reload
	all = append(all, a.failed...)
	if a.lastOK != nil {
		all = append(all, a.lastOK)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	for _, r := range all {
		out = append(out, r.json(true))
	}
	if a.pending != nil {
		out = append(out, map[string]any{"id": a.pending.id, "status": "in_progress"})
	}
	return out
}

func (f *Fake) getReload(id string) (map[string]any, *apiError) {
	if !reloadIDPattern.MatchString(id) {
		return nil, validationErr(codePattern, `id in path should match '^\d{4}-\d{2}-\d{2}-\d+$'`)
	}
	a := &f.reloads
	r, ok := a.issued[id]
	if !ok {
		return nil, newErr(404, "Reload with ID %s does not exist", id)
	}
	if r.status == "failed" || r == a.lastOK || r.status == "in_progress" {
		return r.json(true), nil
	}
	// an older success that is no longer listed: no timestamp
	return r.json(false), nil
}
