package marathontest

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

const maxBody = 16 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		status, raw = http.StatusInternalServerError, []byte(`{"message":"response not serializable"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		writeJSON(w, ae.Status, ae.Body)
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]any{"message": err.Error()})
}

func methodNotAllowed(w http.ResponseWriter) {
	writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "HTTP 405 Method Not Allowed"})
}

// writeDeployment is RestResource.deploymentResult.
func writeDeployment(w http.ResponseWriter, status int, d *deployment) {
	w.Header().Set("Marathon-Deployment-Id", d.id)
	writeJSON(w, status, map[string]any{"version": d.version, "deploymentId": d.id})
}

// boolParam reads a query flag the way Jersey reads a Boolean.
func boolParam(r *http.Request, name string, def bool) bool {
	v, ok := r.URL.Query()[name]
	if !ok || len(v) == 0 {
		return def
	}
	return strings.EqualFold(v[0], "true")
}

func readObject(r *http.Request) (map[string]any, *APIError) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%s", err.Error())
	}
	return decodeObject(raw)
}

func requestOrigin(r *http.Request) origin {
	ip := r.RemoteAddr
	if h, _, err := net.SplitHostPort(ip); err == nil {
		ip = h
	}
	return origin{clientIP: ip, uri: r.URL.Path}
}

// handlePing is SystemResource.ping: "pong" as text/plain, or as a JSON
// string to a client that prefers JSON.
func (s *Server) handlePing(w http.ResponseWriter, r *http.Request) {
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/") && !strings.Contains(accept, "*/*") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`"pong"`))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("pong"))
}

func (s *Server) handleLeader(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"leader": s.leaderFor(r)})
}

// handleInfo is /v2/info, shaped as examples/info.json.
func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	port := 8080
	if _, p, err := net.SplitHostPort(s.hostPort()); err == nil {
		port, _ = strconv.Atoi(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": "marathon", "version": "1.5.15", "buildref": "marathontest", "elected": true,
		"leader": s.leaderFor(r), "frameworkId": s.framework,
		"marathon_config": map[string]any{
			"access_control_allow_origin": []any{"*"}, "checkpoint": true, "decline_offer_duration": 120000,
			"default_network_name": "container-network", "env_vars_prefix": "", "executor": "//cmd",
			"failover_timeout": 604800, "features": []any{"task_killing"}, "framework_name": "marathon",
			"ha": true, "hostname": s.opts.TaskHost, "launch_token": 100, "launch_token_refresh_interval": 30000,
			"leader_proxy_connection_timeout_ms": 5000, "leader_proxy_read_timeout_ms": 10000,
			"local_port_max": s.opts.ServicePortMax, "local_port_min": s.opts.ServicePortMin,
			"master": "zk://localhost:2181/mesos", "max_instances_per_offer": 5, "mesos_bridge_name": "mesos-bridge",
			"mesos_heartbeat_failure_threshold": 5, "mesos_heartbeat_interval": 15000,
			"mesos_leader_ui_url": "http://localhost:5050/", "mesos_role": "*", "mesos_user": "root",
			"min_revive_offers_interval": 5000, "offer_matching_timeout": 3000, "on_elected_prepare_timeout": 180000,
			"reconciliation_initial_delay": 15000, "reconciliation_interval": 600000, "scale_apps_initial_delay": 15000,
			"scale_apps_interval": 300000, "store_cache": true, "task_launch_confirm_timeout": 300000,
			"task_launch_timeout": 300000, "task_lost_expunge_initial_delay": 300000,
			"task_lost_expunge_interval": 30000, "task_reservation_timeout": 20000, "webui_url": "http://" + s.leaderFor(r),
		},
		"zookeeper_config": map[string]any{
			"zk": "zk://localhost:2181/marathon", "zk_compression": true, "zk_compression_threshold": 65536,
			"zk_connection_timeout": 10000, "zk_max_node_size": 1024000, "zk_max_versions": 50,
			"zk_session_timeout": 10000, "zk_timeout": 10000,
		},
		"http_config": map[string]any{"http_port": port, "https_port": 8443},
	})
}

// handleApps is /v2/apps: GET lists, POST creates.
func (s *Server) handleApps(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.listApps(w, r)
	case http.MethodPost:
		body, err := readObject(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		s.mu.Lock()
		a, d, err := s.createLocked(body, boolParam(r, "force", false), requestOrigin(r))
		var created map[string]any
		if err == nil {
			// AppInfo(app, counts zero, tasks empty, deployments [plan]).
			created = appDefJSON(a)
			created["tasksStaged"], created["tasksRunning"], created["tasksHealthy"], created["tasksUnhealthy"] = 0, 0, 0, 0
			created["tasks"] = []any{}
			created["deployments"] = []any{map[string]any{"id": d.id}}
		}
		s.mu.Unlock()
		if err != nil {
			writeErr(w, err)
			return
		}
		w.Header().Set("Location", "http://"+r.Host+a.id)
		w.Header().Set("Marathon-Deployment-Id", d.id)
		writeJSON(w, http.StatusCreated, created)
	default:
		methodNotAllowed(w)
	}
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var sel labelSelector
	if l := q.Get("label"); l != "" {
		var err error
		if sel, err = parseLabelSelector(l); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": err.Error()})
			return
		}
	}
	idFilter, cmdFilter := strings.ToLower(q.Get("id")), strings.ToLower(q.Get("cmd"))
	e := parseEmbeds(q["embed"])
	s.mu.Lock()
	apps := []any{}
	for _, a := range s.sortedAppsLocked() {
		if idFilter != "" && !strings.Contains(strings.ToLower(a.id), idFilter) {
			continue
		}
		if cmdFilter != "" && !strings.Contains(strings.ToLower(a.view.Cmd), cmdFilter) {
			continue
		}
		if sel != nil && !sel.matches(a.view.Labels) {
			continue
		}
		apps = append(apps, s.appInfoJSONLocked(a, e))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"apps": apps})
}

var (
	appTasksPath    = regexp.MustCompile(`^(.+)/tasks(?:/([^/]+))?$`)
	appVersionsPath = regexp.MustCompile(`^(.+)/versions(?:/([^/]+))?$`)
	appRestartPath  = regexp.MustCompile(`^(.+)/restart$`)
	groupAppsPath   = regexp.MustCompile(`^((?:.+/)|)\*$`)
)

// handleAppPath serves /v2/apps/{id} and its sub-resources; app ids hold
// slashes, and never end with tasks, versions or restart.
func (s *Server) handleAppPath(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/apps")
	if m := appTasksPath.FindStringSubmatch(rest); m != nil {
		s.handleAppTasks(w, r, canonicalID(m[1]), m[2])
		return
	}
	if m := appVersionsPath.FindStringSubmatch(rest); m != nil {
		s.handleAppVersions(w, r, canonicalID(m[1]), m[2])
		return
	}
	if m := appRestartPath.FindStringSubmatch(rest); m != nil && r.Method == http.MethodPost {
		s.mu.Lock()
		d, err := s.restartLocked(m[1], boolParam(r, "force", false))
		s.mu.Unlock()
		if err != nil {
			writeErr(w, err)
			return
		}
		writeDeployment(w, http.StatusOK, d)
		return
	}
	if m := groupAppsPath.FindStringSubmatch(strings.TrimPrefix(rest, "/")); m != nil && r.Method == http.MethodGet {
		prefix := canonicalID(m[1])
		s.mu.Lock()
		apps := []any{}
		for _, a := range s.sortedAppsLocked() {
			if prefix == "/" || strings.HasPrefix(a.id, prefix+"/") {
				apps = append(apps, s.appInfoJSONLocked(a, singleAppEmbed))
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"*": apps})
		return
	}
	id := canonicalID(rest)
	force := boolParam(r, "force", false)
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		var info map[string]any
		if a := s.apps[id]; a != nil {
			e := parseEmbeds(r.URL.Query()["embed"])
			e.tasks, e.lastTaskFailure = true, true
			info = s.appInfoJSONLocked(a, e)
		}
		s.mu.Unlock()
		if info == nil {
			writeErr(w, apiErr(http.StatusNotFound, "App '%s' does not exist", id))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"app": info})
	case http.MethodPut, http.MethodPatch:
		body, err := readObject(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		put := r.Method == http.MethodPut
		partial := !put || boolParam(r, "partialUpdate", true)
		s.mu.Lock()
		created, d, aerr := s.updateLocked(id, body, partial, put, force, requestOrigin(r))
		s.mu.Unlock()
		if aerr != nil {
			writeErr(w, aerr)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header().Set("Location", "http://"+r.Host+id)
		}
		writeDeployment(w, status, d)
	case http.MethodDelete:
		s.mu.Lock()
		d, err := s.deleteLocked(id, boolParam(r, "force", true)) // Marathon 1.5: force defaults to true here
		s.mu.Unlock()
		if err != nil {
			writeErr(w, err)
			return
		}
		writeDeployment(w, http.StatusOK, d)
	default:
		methodNotAllowed(w)
	}
}

func (s *Server) handleAppVersions(w http.ResponseWriter, r *http.Request, id, version string) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		writeErr(w, apiErr(http.StatusNotFound, "App '%s' does not exist", id))
		return
	}
	if version == "" {
		versions := make([]any, 0, len(a.history))
		for i := len(a.history) - 1; i >= 0; i-- {
			versions = append(versions, a.history[i].version)
		}
		writeJSON(w, http.StatusOK, map[string]any{"versions": versions})
		return
	}
	v := a.findVersion(version)
	if v == nil {
		writeErr(w, apiErr(http.StatusNotFound, "App '%s' does not exist in version %s", id, version))
		return
	}
	writeJSON(w, http.StatusOK, appDefJSON(&simApp{def: v.def, version: v.version, versionInfo: v.versionInfo}))
}

// handleAppTasks is AppTasksResource: list, kill many, kill one.
func (s *Server) handleAppTasks(w http.ResponseWriter, r *http.Request, id, taskID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		writeErr(w, apiErr(http.StatusNotFound, "App '%s' does not exist", id))
		return
	}
	switch {
	case r.Method == http.MethodGet && taskID == "":
		tasks := make([]any, 0, len(a.tasks))
		for _, t := range a.tasks {
			tasks = append(tasks, s.taskJSON(t, false))
		}
		writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks})
	case r.Method == http.MethodDelete:
		scale, force := boolParam(r, "scale", false), boolParam(r, "force", false)
		if scale && boolParam(r, "wipe", false) {
			writeErr(w, apiErr(http.StatusBadRequest, "You cannot use scale and wipe at the same time."))
			return
		}
		var victims []*simTask
		host := r.URL.Query().Get("host")
		for _, t := range a.tasks {
			switch {
			case taskID != "":
				if t.id == taskID || t.instanceID == taskID {
					victims = append(victims, t)
				}
			case host == "" || host == "*" || host == s.opts.TaskHost:
				victims = append(victims, t)
			}
		}
		if taskID != "" && len(victims) == 0 && !scale {
			writeErr(w, apiErr(http.StatusNotFound, "Task '%s' does not exist", taskID))
			return
		}
		if scale {
			d, err := s.killAndScaleLocked(victims, force)
			if err != nil {
				writeErr(w, err)
				return
			}
			writeDeployment(w, http.StatusOK, d)
			return
		}
		killed := make([]any, 0, len(victims))
		for _, t := range victims {
			killed = append(killed, s.taskJSON(t, false))
			s.killLocked(t)
		}
		if taskID != "" {
			writeJSON(w, http.StatusOK, map[string]any{"task": killed[0]})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"tasks": killed})
	default:
		methodNotAllowed(w)
	}
}

// handleTasks is GET /v2/tasks (?status=running|staging), with servicePorts.
func (s *Server) handleTasks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	want := map[string]bool{}
	for _, st := range append(r.URL.Query()["status"], r.URL.Query()["status[]"]...) {
		switch strings.ToLower(st) {
		case "running":
			want[marathon.TaskRunning] = true
		case "staging":
			want[marathon.TaskStaging] = true
		}
	}
	s.mu.Lock()
	tasks := []any{}
	for _, a := range s.sortedAppsLocked() {
		for _, t := range a.tasks {
			if len(want) == 0 || want[t.state] {
				tasks = append(tasks, s.taskJSON(t, true))
			}
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks})
}

// taskIDPattern is Task.Id's legacy and instance-era forms.
var taskIDPattern = regexp.MustCompile(`^(.+)[._]([^_.]+)$`)

// handleTasksDelete is POST /v2/tasks/delete?scale= {"ids":[...]}.
func (s *Server) handleTasksDelete(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w)
		return
	}
	scale, force := boolParam(r, "scale", false), boolParam(r, "force", false)
	if scale && boolParam(r, "wipe", false) {
		writeErr(w, apiErr(http.StatusBadRequest, "You cannot use scale and wipe at the same time."))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeErr(w, apiErr(http.StatusBadRequest, "%s", err.Error()))
		return
	}
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON", "details": err.Error()})
		return
	}
	for _, id := range body.IDs {
		if !taskIDPattern.MatchString(id) {
			writeErr(w, apiErr(http.StatusBadRequest, "Invalid task id '%s'. [taskId %s is no valid identifier]", id, id))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var victims []*simTask
	for _, id := range body.IDs {
		if t := s.findTaskLocked(id); t != nil && !t.app.dead {
			victims = append(victims, t)
		}
	}
	if scale {
		d, err := s.killAndScaleLocked(victims, force)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeDeployment(w, http.StatusOK, d)
		return
	}
	killed := make([]any, 0, len(victims))
	for _, t := range victims {
		killed = append(killed, s.taskJSON(t, false))
		s.killLocked(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": killed})
}

// handleDeployments is GET /v2/deployments.
func (s *Server) handleDeployments(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	s.mu.Lock()
	out := make([]any, 0, len(s.deployments))
	ds := append([]*deployment(nil), s.deployments...)
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].version < ds[j].version })
	for _, d := range ds {
		out = append(out, deploymentJSON(d))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleDeployment is DELETE /v2/deployments/{id}: roll back (a new,
// forced deployment to the apps as they were), or with force=true only
// stop it (202).
func (s *Server) handleDeployment(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		methodNotAllowed(w)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/v2/deployments/")
	s.mu.Lock()
	defer s.mu.Unlock()
	var d *deployment
	for _, x := range s.deployments {
		if x.id == id {
			d = x
		}
	}
	if d == nil {
		writeErr(w, apiErr(http.StatusNotFound, "DeploymentPlan %s does not exist", id))
		return
	}
	if boolParam(r, "force", false) {
		s.cancelLocked(d)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	nd, err := s.rollbackLocked(d)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeDeployment(w, http.StatusOK, nd)
}
