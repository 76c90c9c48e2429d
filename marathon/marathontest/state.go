package marathontest

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// simApp is one app: its definition, versions and tasks.
type simApp struct {
	id          string
	def         appDef       // see appdef.go
	view        marathon.App // def decoded, for behaviour
	mode        netMode
	version     string
	versionInfo marathon.VersionInfo
	history     []appVersion // oldest first, the current one last
	tasks       []*simTask   // non-terminal tasks in launch order
	lastFailure map[string]any
	dead        bool // deleted: hidden from the API while its tasks die
}

// appVersion is one stored version of an app.
type appVersion struct {
	version     string
	def         appDef
	versionInfo marathon.VersionInfo
}

func (a *simApp) snapshot() *appVersion {
	return &appVersion{version: a.version, def: cloneDef(a.def), versionInfo: a.versionInfo}
}

// active lists tasks that count as instances: not terminal, not killing.
func (a *simApp) active() []*simTask {
	var out []*simTask
	for _, t := range a.tasks {
		if t.state != marathon.TaskKilling {
			out = append(out, t)
		}
	}
	return out
}

func (a *simApp) hasKilling() bool {
	for _, t := range a.tasks {
		if t.state == marathon.TaskKilling {
			return true
		}
	}
	return false
}

// origin says who asked for a change, for api_post_event.
type origin struct {
	clientIP, uri string
}

// appChange is one app's part of a deployment.
type appChange struct {
	id      string
	def     appDef      // the new definition; nil deletes the app
	restore *appVersion // rollback: keep this version instead of a new one
	toKill  []*simTask  // kill-and-scale victims
	restart bool        // POST /restart: a new version that restarts every task

	// set by applyOneLocked
	app     *simApp
	created bool
	changed bool        // more than instances changed: a rolling restart
	before  *appVersion // nil: the app did not exist
	prevDef appDef
}

// lockingLocked lists running deployments that touch any of ids.
func (s *Server) lockingLocked(ids []string) []*deployment {
	var out []*deployment
	for _, d := range s.deployments {
		for _, id := range ids {
			if d.affects(id) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// lockedError is Marathon's AppLockedException answer.
func lockedError(ds []*deployment) *APIError {
	refs := make([]any, 0, len(ds))
	for _, d := range ds {
		refs = append(refs, map[string]any{"id": d.id})
	}
	return &APIError{Status: http.StatusConflict, Body: map[string]any{
		"message": "App is locked by one or more deployments. Override with the option '?force=true'. " +
			"View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
		"deployments": refs,
	}}
}

// applyLocked checks locks (force cancels the deployments in the way),
// changes the apps and returns the new deployment, not started yet: the
// caller may post api_post_event first, then calls runLocked.
func (s *Server) applyLocked(changes []*appChange, force bool) (*deployment, *APIError) {
	if s.closed {
		return nil, errClosed
	}
	ids := make([]string, 0, len(changes))
	for _, c := range changes {
		ids = append(ids, c.id)
	}
	if locks := s.lockingLocked(ids); len(locks) > 0 {
		if !force {
			return nil, lockedError(locks)
		}
		for _, d := range locks {
			s.cancelLocked(d)
		}
	}
	_, version := s.newVersionLocked()
	original := s.snapshotLocked()
	for _, c := range changes {
		s.applyOneLocked(c, version)
	}
	s.rootVersion = version
	return s.newDeploymentLocked(changes, version, original, s.snapshotLocked()), nil
}

func (s *Server) applyOneLocked(c *appChange, version string) {
	a := s.apps[c.id]
	if a != nil {
		c.before = a.snapshot()
		c.prevDef = a.def
	}
	if c.def == nil { // delete
		if a == nil {
			return
		}
		delete(s.apps, c.id)
		a.dead = true
		s.dying[a] = true
		s.releasePortsLocked(a.id)
		c.app = a
		return
	}
	if a == nil {
		a = &simApp{id: c.id}
		s.apps[c.id] = a
		c.created = true
	}
	c.app = a
	s.assignServicePortsLocked(c.id, c.def, c.prevDef)
	view, _ := viewOf(c.def)
	a.def, a.view, a.mode = c.def, view, modeOf(c.def)
	switch {
	case c.restore != nil:
		a.version, a.versionInfo = c.restore.version, c.restore.versionInfo
	case c.created:
		a.version, a.versionInfo = version, marathon.VersionInfo{LastScalingAt: version, LastConfigChangeAt: version}
	default:
		a.version = version
		if c.restart || !onlyScaleChange(c.prevDef, c.def) {
			a.versionInfo = marathon.VersionInfo{LastScalingAt: version, LastConfigChangeAt: version}
		} else {
			a.versionInfo.LastScalingAt = version
		}
	}
	if !c.created {
		c.changed = c.restart || !onlyScaleChange(c.prevDef, c.def)
	}
	if a.findVersion(a.version) == nil {
		a.history = append(a.history, appVersion{version: a.version, def: cloneDef(a.def), versionInfo: a.versionInfo})
	}
}

// assignServicePortsLocked gives every 0 service port of def a free port
// from [ServicePortMin, ServicePortMax), reusing the app's previous ports
// by index first, as Marathon keeps an app's service ports stable.
func (s *Server) assignServicePortsLocked(id string, def, prev appDef) {
	s.releasePortsLocked(id)
	var previous []int64
	if prev != nil {
		for _, p := range servicePortsOf(prev) {
			previous = append(previous, int64(p))
		}
	}
	next := func(i int) int64 {
		if i < len(previous) && previous[i] != 0 {
			if owner, used := s.servicePort[int(previous[i])]; !used || owner == id {
				return previous[i]
			}
		}
		for p := s.opts.ServicePortMin; p < s.opts.ServicePortMax; p++ {
			if _, used := s.servicePort[p]; !used {
				return int64(p)
			}
		}
		return 0
	}
	var assigned []any
	apply := func(m map[string]any, key string, i int) {
		n, _ := num(m[key])
		p := int64(n)
		if p == 0 {
			p = next(i)
			m[key] = p
		}
		if p != 0 {
			s.servicePort[int(p)] = id
		}
		assigned = append(assigned, p)
	}
	if modeOf(def) == modeHost {
		for i, pd := range objects(def["portDefinitions"]) {
			apply(pd, "port", i)
		}
		if _, legacy := def["ports"]; legacy {
			def["ports"] = assigned
		}
		return
	}
	if def["ipAddress"] != nil && len(portMappingObjects(def)) == 0 {
		return // legacy IP-per-task discovery ports have no service ports
	}
	for i, pm := range portMappingObjects(def) {
		apply(pm, "servicePort", i)
	}
}

func (s *Server) releasePortsLocked(id string) {
	for p, owner := range s.servicePort {
		if owner == id {
			delete(s.servicePort, p)
		}
	}
}

// servicePortsOf lists an app's service ports by port index.
func servicePortsOf(def appDef) []int {
	var out []int
	if modeOf(def) == modeHost {
		for _, pd := range objects(def["portDefinitions"]) {
			n, _ := num(pd["port"])
			out = append(out, int(n))
		}
		return out
	}
	for _, pm := range portMappingObjects(def) {
		n, _ := num(pm["servicePort"])
		out = append(out, int(n))
	}
	return out
}

// postLocked publishes api_post_event for an app written through the API.
func (s *Server) postLocked(a *simApp, o origin) {
	s.emitLocked("api_post_event", map[string]any{
		"clientIp":      o.clientIP,
		"uri":           o.uri,
		"appDefinition": appDefJSON(a),
	})
}

// createLocked is POST /v2/apps.
func (s *Server) createLocked(def appDef, force bool, o origin) (*simApp, *deployment, *APIError) {
	if _, err := prepareDef(def, ""); err != nil {
		return nil, nil, err
	}
	id := def["id"].(string)
	if _, exists := s.apps[id]; exists {
		return nil, nil, apiErr(http.StatusConflict, "An app with id [%s] already exists.", id)
	}
	d, err := s.applyLocked([]*appChange{{id: id, def: def}}, force)
	if err != nil {
		return nil, nil, err
	}
	a := s.apps[id]
	s.postLocked(a, o)
	s.runLocked(d)
	return a, d, nil
}

// updateLocked is PUT (allowCreate) and PATCH /v2/apps/{id}: with partial,
// the fields in body replace the app's; else body is the whole new app. A
// body with "version" rolls the app back to that version.
func (s *Server) updateLocked(id string, body appDef, partial, allowCreate, force bool, o origin) (bool, *deployment, *APIError) {
	id = canonicalID(id)
	if !pathIDPattern.MatchString(id) {
		return false, nil, invalidJSON("/id", "error.pattern")
	}
	cur := s.apps[id]
	if cur == nil && !allowCreate {
		return false, nil, apiErr(http.StatusNotFound, "App '%s' does not exist", id)
	}
	change := &appChange{id: id}
	if !partial {
		delete(body, "version") // a complete replacement reads the body as an App, which drops it
	}
	if v, ok := body["version"].(string); ok && cur != nil {
		for k := range body {
			if k != "version" && k != "id" {
				return false, nil, notValid("/", "The 'version' field may only be combined with the 'id' field.")
			}
		}
		old := cur.findVersion(v)
		if old == nil {
			return false, nil, apiErr(http.StatusNotFound, "App '%s' does not exist in version %s", id, v)
		}
		change.def, change.restore = cloneDef(old.def), old
	} else {
		delete(body, "id")
		def := body
		if partial && cur != nil {
			def = cloneDef(cur.def)
			for k, v := range body {
				def[k] = v
			}
		}
		if _, err := prepareDef(def, id); err != nil {
			return false, nil, err
		}
		change.def = def
	}
	d, err := s.applyLocked([]*appChange{change}, force)
	if err != nil {
		return false, nil, err
	}
	s.postLocked(change.app, o)
	s.runLocked(d)
	return change.created, d, nil
}

func (a *simApp) findVersion(v string) *appVersion {
	for i := range a.history {
		if a.history[i].version == v {
			h := a.history[i]
			h.def = cloneDef(h.def)
			return &h
		}
	}
	return nil
}

// deleteLocked is DELETE /v2/apps/{id}.
func (s *Server) deleteLocked(id string, force bool) (*deployment, *APIError) {
	id = canonicalID(id)
	if s.apps[id] == nil {
		return nil, apiErr(http.StatusNotFound, "App '%s' does not exist", id)
	}
	d, err := s.applyLocked([]*appChange{{id: id}}, force)
	if err != nil {
		return nil, err
	}
	s.runLocked(d)
	return d, nil
}

// restartLocked is POST /v2/apps/{id}/restart.
func (s *Server) restartLocked(id string, force bool) (*deployment, *APIError) {
	id = canonicalID(id)
	a := s.apps[id]
	if a == nil {
		return nil, apiErr(http.StatusNotFound, "App '%s' does not exist", id)
	}
	d, err := s.applyLocked([]*appChange{{id: id, def: cloneDef(a.def), restart: true}}, force)
	if err != nil {
		return nil, err
	}
	s.runLocked(d)
	return d, nil
}

// killAndScaleLocked kills tasks and lowers their apps' instances by as
// many, in one deployment (TaskKiller.killAndScale).
func (s *Server) killAndScaleLocked(victims []*simTask, force bool) (*deployment, *APIError) {
	byApp := map[*simApp][]*simTask{}
	var order []*simApp
	for _, t := range victims {
		if t.app.dead {
			continue
		}
		if byApp[t.app] == nil {
			order = append(order, t.app)
		}
		byApp[t.app] = append(byApp[t.app], t)
	}
	changes := make([]*appChange, 0, len(order))
	for _, a := range order {
		def := cloneDef(a.def)
		def["instances"] = int64(max(0, a.view.Instances-len(byApp[a])))
		changes = append(changes, &appChange{id: a.id, def: def, toKill: byApp[a]})
	}
	d, err := s.applyLocked(changes, force)
	if err != nil {
		return nil, err
	}
	s.runLocked(d)
	return d, nil
}

func (s *Server) findTaskLocked(id string) *simTask {
	for _, a := range s.allAppsLocked() {
		for _, t := range a.tasks {
			if t.id == id {
				return t
			}
		}
	}
	return nil
}

func result(d *deployment) marathon.DeploymentResult {
	return marathon.DeploymentResult{DeploymentID: d.id, Version: d.version}
}

// localOrigin is the origin of direct-control calls in api_post_event.
var localOrigin = origin{clientIP: "127.0.0.1"}

// CreateApp creates an app as POST /v2/apps does (same validation, 409 for
// a duplicate id, events and deployment). app.Instances is taken as given;
// zero cpus/mem take Marathon's defaults.
func (s *Server) CreateApp(app marathon.App) (marathon.DeploymentResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, d, err := s.createLocked(defFromApp(app), false, origin{clientIP: localOrigin.clientIP, uri: "/v2/apps"})
	if err != nil {
		return marathon.DeploymentResult{}, err
	}
	return result(d), nil
}

// UpdateApp replaces app id's definition with app, as PUT
// /v2/apps/{id}?partialUpdate=false does (creating the app if missing).
// force overrides a deployment lock.
func (s *Server) UpdateApp(id string, app marathon.App, force bool) (marathon.DeploymentResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id = canonicalID(id)
	def := defFromApp(app)
	_, d, err := s.updateLocked(id, def, false, true, force, origin{clientIP: localOrigin.clientIP, uri: "/v2/apps" + id})
	if err != nil {
		return marathon.DeploymentResult{}, err
	}
	return result(d), nil
}

// ScaleApp sets the app's instances, as PATCH /v2/apps/{id} {"instances":n}.
func (s *Server) ScaleApp(id string, instances int, force bool) (marathon.DeploymentResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id = canonicalID(id)
	_, d, err := s.updateLocked(id, appDef{"instances": int64(instances)}, true, false, force,
		origin{clientIP: localOrigin.clientIP, uri: "/v2/apps" + id})
	if err != nil {
		return marathon.DeploymentResult{}, err
	}
	return result(d), nil
}

// DeleteApp deletes an app as DELETE /v2/apps/{id}?force= does: its tasks
// go KILLING then KILLED, then app_terminated_event.
func (s *Server) DeleteApp(id string, force bool) (marathon.DeploymentResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.deleteLocked(id, force)
	if err != nil {
		return marathon.DeploymentResult{}, err
	}
	return result(d), nil
}

// KillTask kills a task as DELETE /v2/apps/{app}/tasks/{task}?scale= does:
// without scale Marathon then starts a replacement; with scale the app's
// instances drop by one in a new deployment (which a lock may refuse).
func (s *Server) KillTask(taskID string, scale bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.findTaskLocked(taskID)
	if t == nil || t.app.dead {
		return apiErr(http.StatusNotFound, "Task '%s' does not exist", taskID)
	}
	if scale {
		_, err := s.killAndScaleLocked([]*simTask{t}, false)
		if err != nil {
			return err
		}
		return nil
	}
	s.killLocked(t)
	return nil
}

// CrashTask makes a task's process die: its listeners close, then
// TASK_FAILED, then Marathon launches a replacement (a new task id) if the
// app is short of instances.
func (s *Server) CrashTask(taskID string) error {
	s.mu.Lock()
	t := s.findTaskLocked(taskID)
	if t == nil {
		s.mu.Unlock()
		return apiErr(http.StatusNotFound, "Task '%s' does not exist", taskID)
	}
	t.stopTimers()
	p := t.proc
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.terminalLocked(t, marathon.TaskFailed, "Command exited with status 137")
	return nil
}

// SetTaskHealthy makes the task's HTTP health-check paths answer 200
// (true) or 503 (false), so its real HTTP health checks pass or fail.
func (s *Server) SetTaskHealthy(taskID string, healthy bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.findTaskLocked(taskID)
	if t == nil || t.proc == nil {
		return apiErr(http.StatusNotFound, "Task '%s' does not exist", taskID)
	}
	t.proc.healthy.Store(healthy)
	return nil
}

// App returns app id as GET /v2/apps/{id} shows it, tasks embedded.
func (s *Server) App(id string) (marathon.App, bool) {
	s.mu.Lock()
	a := s.apps[canonicalID(id)]
	if a == nil {
		s.mu.Unlock()
		return marathon.App{}, false
	}
	raw, _ := json.Marshal(s.appInfoJSONLocked(a, singleAppEmbed))
	s.mu.Unlock()
	var out marathon.App
	_ = json.Unmarshal(raw, &out)
	return out, true
}

// Apps returns every app sorted by id, tasks embedded.
func (s *Server) Apps() []marathon.App {
	s.mu.Lock()
	var raws [][]byte
	for _, a := range s.sortedAppsLocked() {
		raw, _ := json.Marshal(s.appInfoJSONLocked(a, singleAppEmbed))
		raws = append(raws, raw)
	}
	s.mu.Unlock()
	out := make([]marathon.App, len(raws))
	for i, raw := range raws {
		_ = json.Unmarshal(raw, &out[i])
	}
	return out
}

func (s *Server) sortedAppsLocked() []*simApp {
	out := make([]*simApp, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// WaitDeployments blocks until no deployment runs, or ctx ends.
func (s *Server) WaitDeployments(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n, closed := len(s.deployments), s.closed
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		if closed {
			return errClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
