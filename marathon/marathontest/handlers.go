package marathontest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Handler is the simulated Marathon HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "pong")
	})
	mux.HandleFunc("/v2/info", s.handleInfo)
	mux.HandleFunc("/v2/leader", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, marathon.Leader{Leader: s.listener.Addr().String()})
	})
	mux.HandleFunc("/v2/events", s.handleEvents)
	mux.HandleFunc("/v2/apps", s.handleApps)
	mux.HandleFunc("/v2/apps/", s.handleApp)
	mux.HandleFunc("/v2/tasks", s.handleTasks)
	mux.HandleFunc("/v2/tasks/delete", s.handleTasksDelete)
	mux.HandleFunc("/v2/deployments", s.handleDeployments)
	mux.HandleFunc("/v2/deployments/", s.handleDeployment)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.User != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.User)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="Mesosphere Marathon"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid username or password."})
				return
			}
		}
		s.mu.Lock()
		down := s.unavailable
		s.mu.Unlock()
		if down != 0 {
			writeJSON(w, down, map[string]string{"message": "Could not determine the current leader"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; qs=2")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiErr
	if errors.As(err, &ae) {
		writeJSON(w, ae.status, ae.body)
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
}

func force(r *http.Request) bool { return r.URL.Query().Get("force") == "true" }

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	addr := s.listener.Addr().String()
	writeJSON(w, 200, map[string]any{
		"name": "marathon", "version": "1.5.0-simulated", "buildref": "marathon-dataplane", "elected": true,
		"leader": addr, "frameworkId": "simulated-0000",
		"marathon_config":  map[string]any{"hostname": "127.0.0.1", "local_port_min": s.opts.ServicePortMin, "local_port_max": s.opts.ServicePortMax, "framework_name": "marathon", "ha": true},
		"zookeeper_config": map[string]any{"zk": "zk://localhost:2181/marathon"},
		"http_config":      map[string]any{"http_address": addr},
		"event_subscriber": map[string]any{"type": "http_callback"},
	})
}

func (s *Server) handleApps(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		embed := map[string]bool{}
		for _, e := range r.URL.Query()["embed"] {
			embed[e] = true
		}
		s.mu.Lock()
		apps := make([]marathon.App, 0, len(s.apps))
		for _, id := range s.sortedIDs() {
			if f := r.URL.Query().Get("id"); f != "" && !strings.Contains(id, f) {
				continue
			}
			a := s.appSnapshot(s.apps[id], embed["apps.tasks"])
			if !embed["apps.tasks"] {
				a.Tasks = nil
			}
			if sel := r.URL.Query().Get("label"); sel != "" && !matchLabel(a.Labels, sel) {
				continue
			}
			apps = append(apps, a)
		}
		s.mu.Unlock()
		writeJSON(w, 200, marathon.AppList{Apps: apps})
	case http.MethodPost:
		var app marathon.App
		if err := decode(r, &app); err != nil {
			writeErr(w, err)
			return
		}
		res, err := s.CreateApp(app)
		if err != nil {
			writeErr(w, err)
			return
		}
		got, _ := s.App(app.ID)
		w.Header().Set("Location", "/v2/apps"+got.ID)
		w.Header().Set("Marathon-Deployment-Id", res.DeploymentID)
		writeJSON(w, http.StatusCreated, got)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
	}
}

func matchLabel(l map[string]string, sel string) bool {
	if k, v, ok := strings.Cut(sel, "=="); ok {
		return l[k] == v
	}
	_, ok := l[sel]
	return ok
}

func decode(r *http.Request, v any) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return errMsg(400, err.Error())
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errMsg(400, "Invalid JSON: "+err.Error())
	}
	return nil
}

// handleApp serves /v2/apps/{id}, /v2/apps/{id}/tasks and
// /v2/apps/{id}/tasks/{taskId}; app ids contain slashes.
func (s *Server) handleApp(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/apps")
	id, taskPart, hasTasks := strings.Cut(rest, "/tasks")
	if hasTasks && taskPart != "" && !strings.HasPrefix(taskPart, "/") {
		id, hasTasks = rest, false // an app whose name merely starts with "tasks"
	}
	id = normalizeID(id)
	if hasTasks {
		s.handleAppTasks(w, r, id, strings.TrimPrefix(taskPart, "/"))
		return
	}
	switch r.Method {
	case http.MethodGet:
		app, ok := s.App(id)
		if !ok {
			writeJSON(w, 404, map[string]string{"message": fmt.Sprintf("App '%s' does not exist", id)})
			return
		}
		writeJSON(w, 200, marathon.AppSingle{App: app})
	case http.MethodPut, http.MethodPatch:
		var patch map[string]json.RawMessage
		if err := decode(r, &patch); err != nil {
			writeErr(w, err)
			return
		}
		_, existed := s.App(id)
		res, err := s.UpdateApp(id, patch, force(r))
		if err != nil {
			writeErr(w, err)
			return
		}
		status := http.StatusOK
		if !existed {
			status = http.StatusCreated
		}
		w.Header().Set("Marathon-Deployment-Id", res.DeploymentID)
		writeJSON(w, status, res)
	case http.MethodDelete:
		res, err := s.DeleteApp(id, force(r))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, res)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
	}
}

func (s *Server) handleAppTasks(w http.ResponseWriter, r *http.Request, appID, taskID string) {
	app, ok := s.App(appID)
	if !ok {
		writeJSON(w, 404, map[string]string{"message": fmt.Sprintf("App '%s' does not exist", appID)})
		return
	}
	switch {
	case r.Method == http.MethodGet && taskID == "":
		writeJSON(w, 200, marathon.TaskList{Tasks: app.Tasks})
	case r.Method == http.MethodDelete && taskID != "":
		var task *marathon.Task
		for i := range app.Tasks {
			if app.Tasks[i].ID == taskID {
				task = &app.Tasks[i]
			}
		}
		if task == nil {
			writeJSON(w, 404, map[string]string{"message": fmt.Sprintf("Task '%s' does not exist", taskID)})
			return
		}
		scale := r.URL.Query().Get("scale") == "true"
		if err := s.KillTask(taskID, scale); err != nil {
			writeErr(w, err)
			return
		}
		if scale {
			after, _ := s.App(appID)
			writeJSON(w, 200, marathon.DeploymentResult{DeploymentID: firstDeployment(after), Version: after.Version})
			return
		}
		writeJSON(w, 200, map[string]any{"task": task})
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
	}
}

func firstDeployment(a marathon.App) string {
	if len(a.Deployments) > 0 {
		return a.Deployments[0].ID
	}
	return ""
}

func (s *Server) handleTasks(w http.ResponseWriter, r *http.Request) {
	var tasks []marathon.Task
	for _, a := range s.Apps() {
		tasks = append(tasks, a.Tasks...)
	}
	if tasks == nil {
		tasks = []marathon.Task{}
	}
	writeJSON(w, 200, marathon.TaskList{Tasks: tasks})
}

func (s *Server) handleTasksDelete(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
		return
	}
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := decode(r, &body); err != nil {
		writeErr(w, err)
		return
	}
	scale := r.URL.Query().Get("scale") == "true"
	for _, id := range body.IDs {
		if err := s.KillTask(id, scale); err != nil {
			writeErr(w, err)
			return
		}
	}
	writeJSON(w, 200, map[string]any{"deploymentId": "", "version": now()})
}

func (s *Server) handleDeployments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]marathon.Deployment, 0, len(s.deployments))
	for _, d := range s.deployments {
		out = append(out, d.d)
	}
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

func (s *Server) handleDeployment(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/v2/deployments/")
	if r.Method != http.MethodDelete {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
		return
	}
	s.mu.Lock()
	d, ok := s.deployments[id]
	if !ok {
		s.mu.Unlock()
		writeJSON(w, 404, map[string]string{"message": fmt.Sprintf("DeploymentPlan %s does not exist", id)})
		return
	}
	delete(s.deployments, id)
	s.emit("deployment_failed", map[string]any{"id": d.d.ID, "plan": s.planJSON(d)})
	s.mu.Unlock()
	if force(r) {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	// Without force Marathon rolls back with a new deployment; the
	// simulator keeps the current target (no version history).
	writeJSON(w, 200, marathon.DeploymentResult{DeploymentID: uuid(), Version: now()})
}
