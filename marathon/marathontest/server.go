// Package marathontest is a Marathon simulator for tests and the demo:
// Marathon's REST API and SSE event bus (shapes from Marathon's RAML types
// and examples), deployments with Marathon's locking, and tasks that are
// real loopback servers going through Marathon's task states, with real
// HTTP/TCP health checks. It stands in for Marathon everywhere Marathon
// cannot run.
package marathontest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Options configure a Server.
type Options struct {
	Logger *zap.Logger
	// TaskHost is the address tasks listen on and report as task.host.
	TaskHost string
	// TimeScale multiplies Marathon's durations (health intervals, grace).
	TimeScale float64
	// StateDelay is the time between task states (STAGING→STARTING→RUNNING).
	StateDelay time.Duration
	// KeepaliveInterval is the SSE keepalive period.
	KeepaliveInterval time.Duration
	// ServicePortMin/Max is the range of auto-assigned service ports.
	ServicePortMin, ServicePortMax int
	// User/Password, when set, are required as HTTP basic auth.
	User, Password string
}

// Server is a running simulator.
type Server struct {
	opts Options
	log  *zap.Logger

	mu          sync.Mutex
	apps        map[string]*simApp
	deployments map[string]*deployment
	nextIP      int
	usedPorts   map[int]bool
	unavailable int
	silent      bool
	subs        map[*subscriber]bool

	srv      *http.Server
	listener net.Listener
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type simApp struct {
	def      marathon.App
	tasks    []*simTask
	deployID string
}

type simTask struct {
	task    marathon.Task
	server  *taskServer
	healthy *bool
	fails   int
	cancel  context.CancelFunc
}

type deployment struct {
	d      marathon.Deployment
	appID  string
	target int
}

// New returns a Server; call Start or StartOn.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.TaskHost == "" {
		opts.TaskHost = "127.0.0.1"
	}
	if opts.TimeScale <= 0 {
		opts.TimeScale = 0.01
	}
	if opts.StateDelay <= 0 {
		opts.StateDelay = 20 * time.Millisecond
	}
	if opts.KeepaliveInterval <= 0 {
		opts.KeepaliveInterval = max(time.Duration(float64(15*time.Second)*opts.TimeScale), 50*time.Millisecond)
	}
	if opts.ServicePortMin == 0 {
		opts.ServicePortMin, opts.ServicePortMax = 10000, 20000
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts: opts, log: opts.Logger, apps: map[string]*simApp{}, deployments: map[string]*deployment{},
		usedPorts: map[int]bool{}, subs: map[*subscriber]bool{}, ctx: ctx, cancel: cancel,
	}
}

// Start listens on 127.0.0.1 with an ephemeral port.
func (s *Server) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn listens on addr.
func (s *Server) StartOn(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("simulator listen %s: %w", addr, err)
	}
	s.listener = l
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(l)
	}()
	return nil
}

// URL is the simulator's base URL.
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() }

// Close stops the API, the event streams, the health checks and every task.
func (s *Server) Close() error {
	s.cancel()
	var err error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.CloseEventStreams()
		err = s.srv.Shutdown(ctx)
	}
	s.mu.Lock()
	var tasks []*simTask
	for _, a := range s.apps {
		tasks = append(tasks, a.tasks...)
	}
	s.mu.Unlock()
	for _, t := range tasks {
		t.stop()
	}
	s.wg.Wait()
	return err
}

func (t *simTask) stop() {
	if t.cancel != nil {
		t.cancel()
	}
	if t.server != nil {
		t.server.close()
	}
}

// SetUnavailable makes every API call answer status (0 = normal), e.g. 503
// as a Marathon without a leader does.
func (s *Server) SetUnavailable(status int) {
	s.mu.Lock()
	s.unavailable = status
	s.mu.Unlock()
}

// SetSilentStreams keeps event streams open but sends nothing at all.
func (s *Server) SetSilentStreams(silent bool) {
	s.mu.Lock()
	s.silent = silent
	s.mu.Unlock()
}

// LoadApps reads app definitions: {"apps":[...]} or [...].
func LoadApps(path string) ([]marathon.App, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var wrapped marathon.AppList
	if err := json.Unmarshal(raw, &wrapped); err == nil && wrapped.Apps != nil {
		return wrapped.Apps, nil
	}
	var list []marathon.App
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s: want {\"apps\":[...]} or [...]: %w", path, err)
	}
	return list, nil
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var appIDPattern = regexp.MustCompile(`^(/[a-z0-9]([a-z0-9-.]*[a-z0-9])?)+$`)

func normalizeID(id string) string {
	if !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return strings.TrimSuffix(id, "/")
}

// Errors with the HTTP status Marathon answers.
type apiErr struct {
	status int
	body   map[string]any
}

func (e *apiErr) Error() string { return fmt.Sprintf("%d %v", e.status, e.body["message"]) }

// Status is the HTTP status Marathon would answer.
func (e *apiErr) Status() int { return e.status }

func errMsg(status int, msg string) *apiErr {
	return &apiErr{status: status, body: map[string]any{"message": msg}}
}

// CreateApp creates an app and starts its deployment.
func (s *Server) CreateApp(app marathon.App) (marathon.DeploymentResult, error) {
	app.ID = normalizeID(app.ID)
	if !appIDPattern.MatchString(app.ID) {
		return marathon.DeploymentResult{}, &apiErr{status: 422, body: map[string]any{"message": "Object is not valid",
			"details": []map[string]any{{"path": "/id", "errors": []string{"error.path.invalid: " + app.ID}}}}}
	}
	if app.Instances < 0 {
		return marathon.DeploymentResult{}, &apiErr{status: 422, body: map[string]any{"message": "Object is not valid",
			"details": []map[string]any{{"path": "/instances", "errors": []string{"error.min"}}}}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[app.ID]; ok {
		return marathon.DeploymentResult{}, errMsg(409, fmt.Sprintf("An app with id [%s] already exists.", app.ID))
	}
	s.assignServicePorts(&app)
	v := now()
	app.Version = v
	app.VersionInfo = &marathon.VersionInfo{LastScalingAt: v, LastConfigChangeAt: v}
	if app.Labels == nil {
		app.Labels = map[string]string{}
	}
	a := &simApp{def: app}
	s.apps[app.ID] = a
	s.emit("api_post_event", map[string]any{"clientIp": "127.0.0.1", "uri": "/v2/apps", "appDefinition": s.appJSON(a, false)})
	return s.startDeployment(a, "StartApplication"), nil
}

// assignServicePorts gives port-0 service ports a free port, as Marathon does.
func (s *Server) assignServicePorts(app *marathon.App) {
	next := func() int {
		for p := s.opts.ServicePortMin; p <= s.opts.ServicePortMax; p++ {
			if !s.usedPorts[p] {
				s.usedPorts[p] = true
				return p
			}
		}
		return 0
	}
	for i := range app.PortDefinitions {
		if app.PortDefinitions[i].Port == 0 {
			app.PortDefinitions[i].Port = next()
		} else {
			s.usedPorts[app.PortDefinitions[i].Port] = true
		}
	}
	for _, pms := range [][]marathon.PortMapping{containerMappings(app)} {
		for i := range pms {
			if pms[i].Labels == nil {
				pms[i].Labels = map[string]string{}
			}
			if pms[i].ServicePort == nil || *pms[i].ServicePort == 0 {
				p := next()
				pms[i].ServicePort = &p
			} else {
				s.usedPorts[*pms[i].ServicePort] = true
			}
		}
	}
	if len(app.PortDefinitions) == 0 && len(containerMappings(app)) == 0 && app.IPAddress == nil && app.Ports == nil && app.Container == nil {
		// Marathon gives an app without any port definition one port.
		app.PortDefinitions = []marathon.PortDefinition{{Port: next(), Protocol: "tcp"}}
	}
}

func containerMappings(app *marathon.App) []marathon.PortMapping {
	if app.Container == nil {
		return nil
	}
	if app.Container.Docker != nil && len(app.Container.Docker.PortMappings) > 0 {
		return app.Container.Docker.PortMappings
	}
	return app.Container.PortMappings
}

// UpdateApp merges the given definition (instances, labels, ports, checks)
// into the app, creating it when missing.
func (s *Server) UpdateApp(id string, patch map[string]json.RawMessage, force bool) (marathon.DeploymentResult, error) {
	id = normalizeID(id)
	s.mu.Lock()
	a, ok := s.apps[id]
	s.mu.Unlock()
	if !ok {
		var app marathon.App
		raw, _ := json.Marshal(patch)
		if err := json.Unmarshal(raw, &app); err != nil {
			return marathon.DeploymentResult{}, errMsg(400, "Invalid JSON: "+err.Error())
		}
		app.ID = id
		return s.CreateApp(app)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkLock(a, force); err != nil {
		return marathon.DeploymentResult{}, err
	}
	cur, _ := json.Marshal(a.def)
	var merged map[string]json.RawMessage
	_ = json.Unmarshal(cur, &merged)
	scaleOnly := true
	for k, v := range patch {
		if k == "id" {
			continue
		}
		if k != "instances" {
			scaleOnly = false
		}
		merged[k] = v
	}
	raw, _ := json.Marshal(merged)
	var next marathon.App
	if err := json.Unmarshal(raw, &next); err != nil {
		return marathon.DeploymentResult{}, errMsg(400, "Invalid JSON: "+err.Error())
	}
	if next.Instances < 0 {
		return marathon.DeploymentResult{}, errMsg(422, "Object is not valid: instances must be >= 0")
	}
	v := now()
	next.Version = v
	vi := *a.def.VersionInfo
	if scaleOnly {
		vi.LastScalingAt = v
	} else {
		vi.LastConfigChangeAt, vi.LastScalingAt = v, v
		s.assignServicePorts(&next)
	}
	next.VersionInfo = &vi
	a.def = next
	s.emit("api_post_event", map[string]any{"clientIp": "127.0.0.1", "uri": "/v2/apps" + id, "appDefinition": s.appJSON(a, false)})
	action := "ScaleApplication"
	if !scaleOnly {
		action = "RestartApplication"
		// A config change replaces every task with one of the new version.
		for _, t := range a.tasks {
			s.killLocked(a, t)
		}
	}
	return s.startDeployment(a, action), nil
}

// ScaleApp sets the instance count.
func (s *Server) ScaleApp(id string, instances int, force bool) (marathon.DeploymentResult, error) {
	raw, _ := json.Marshal(instances)
	return s.UpdateApp(id, map[string]json.RawMessage{"instances": raw}, force)
}

// DeleteApp kills every task and removes the app.
func (s *Server) DeleteApp(id string, force bool) (marathon.DeploymentResult, error) {
	id = normalizeID(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[id]
	if !ok {
		return marathon.DeploymentResult{}, errMsg(404, fmt.Sprintf("App '%s' does not exist", id))
	}
	if err := s.checkLock(a, force); err != nil {
		return marathon.DeploymentResult{}, err
	}
	for _, t := range a.tasks {
		s.killLocked(a, t)
	}
	delete(s.apps, id)
	s.emit("app_terminated_event", map[string]any{"appId": id})
	d := s.newDeployment(id, "StopApplication", 0)
	delete(s.deployments, d.d.ID)
	s.emit("deployment_success", map[string]any{"id": d.d.ID, "plan": s.planJSON(d)})
	return marathon.DeploymentResult{DeploymentID: d.d.ID, Version: now()}, nil
}

func (s *Server) checkLock(a *simApp, force bool) error {
	if a.deployID == "" {
		return nil
	}
	if _, running := s.deployments[a.deployID]; !running {
		return nil
	}
	if force {
		// force cancels the running deployment in favour of the new one.
		d := s.deployments[a.deployID]
		delete(s.deployments, a.deployID)
		s.emit("deployment_failed", map[string]any{"id": d.d.ID, "plan": s.planJSON(d)})
		return nil
	}
	return &apiErr{status: 409, body: map[string]any{
		"message":     fmt.Sprintf("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/%s'.", a.deployID),
		"deployments": []map[string]string{{"id": a.deployID}},
	}}
}

func (s *Server) newDeployment(appID, action string, target int) *deployment {
	d := &deployment{appID: appID, target: target, d: marathon.Deployment{
		ID: uuid(), Version: now(), AffectedApps: []string{appID}, AffectedPods: []string{},
		Steps:          []marathon.DeploymentStep{{Actions: []marathon.DeploymentAction{{Action: action, App: appID}}}},
		CurrentActions: []marathon.DeploymentAction{{Action: action, App: appID, ReadinessCheckResults: []marathon.ReadinessCheckResult{}}},
		CurrentStep:    1, TotalSteps: 1,
	}}
	s.deployments[d.d.ID] = d
	return d
}

// startDeployment records a deployment for a and converges its tasks.
func (s *Server) startDeployment(a *simApp, action string) marathon.DeploymentResult {
	d := s.newDeployment(a.def.ID, action, a.def.Instances)
	a.deployID = d.d.ID
	s.emit("deployment_info", map[string]any{"plan": s.planJSON(d), "currentStep": d.d.Steps[0]})
	s.converge(a)
	return marathon.DeploymentResult{DeploymentID: d.d.ID, Version: a.def.Version}
}

func (s *Server) planJSON(d *deployment) map[string]any {
	return map[string]any{"id": d.d.ID, "version": d.d.Version, "original": map[string]any{}, "target": map[string]any{},
		"steps": d.d.Steps}
}

// live counts tasks that are not on their way out.
func live(a *simApp) []*simTask {
	var out []*simTask
	for _, t := range a.tasks {
		if t.task.State != marathon.TaskKilling && t.task.State != marathon.TaskKilled && t.task.State != marathon.TaskFailed {
			out = append(out, t)
		}
	}
	return out
}

// converge starts or kills tasks until the app has Instances live tasks
// (youngest killed first, Marathon's default killSelection).
func (s *Server) converge(a *simApp) {
	l := live(a)
	for i := len(l); i < a.def.Instances; i++ {
		s.launchLocked(a)
	}
	if extra := len(l) - a.def.Instances; extra > 0 {
		sort.SliceStable(l, func(i, j int) bool { return l[i].task.StagedAt > l[j].task.StagedAt })
		for _, t := range l[:extra] {
			s.killLocked(a, t)
		}
	}
	s.checkDeploymentLocked(a)
}

// checkDeploymentLocked ends a's deployment when every live task runs (and
// is healthy when the app has health checks).
func (s *Server) checkDeploymentLocked(a *simApp) {
	d, ok := s.deployments[a.deployID]
	if !ok {
		return
	}
	running := 0
	for _, t := range live(a) {
		if t.task.State == marathon.TaskRunning && (len(a.def.HealthChecks) == 0 || (t.healthy != nil && *t.healthy)) {
			running++
		}
	}
	if running != a.def.Instances || len(live(a)) != a.def.Instances {
		return
	}
	for _, t := range a.tasks {
		if t.task.State == marathon.TaskKilling {
			return
		}
	}
	delete(s.deployments, d.d.ID)
	a.deployID = ""
	s.emit("deployment_step_success", map[string]any{"plan": s.planJSON(d), "currentStep": d.d.Steps[0]})
	s.emit("deployment_success", map[string]any{"id": d.d.ID, "plan": s.planJSON(d)})
}

func (s *Server) taskAddrs(a *simApp, ip string) []string {
	n := len(a.def.PortDefinitions)
	if n == 0 {
		n = len(containerMappings(&a.def))
	}
	if n == 0 {
		n = len(a.def.Ports)
	}
	if a.def.IPAddress != nil && a.def.IPAddress.Discovery != nil && len(a.def.IPAddress.Discovery.Ports) > 0 {
		n = len(a.def.IPAddress.Discovery.Ports)
	}
	addrs := make([]string, n)
	for i := range addrs {
		port := 0
		if ip != s.opts.TaskHost {
			// IP-per-task: listen on the container port of the task's own IP.
			if m := containerMappings(&a.def); i < len(m) {
				port = m[i].ContainerPort
			} else if a.def.IPAddress != nil && a.def.IPAddress.Discovery != nil {
				port = a.def.IPAddress.Discovery.Ports[i].Number
			}
		}
		addrs[i] = net.JoinHostPort(ip, fmt.Sprint(port))
	}
	return addrs
}

func ipPerTask(app *marathon.App) bool {
	if app.IPAddress != nil {
		return true
	}
	for _, n := range app.Networks {
		if n.Mode == "" || n.Mode == "container" {
			return true
		}
	}
	return false
}

// launchLocked starts one task: STAGING now, STARTING and RUNNING after
// StateDelay each, the listeners open before RUNNING.
func (s *Server) launchLocked(a *simApp) {
	id := strings.ReplaceAll(strings.TrimPrefix(a.def.ID, "/"), "/", "_") + "." + uuid()
	ip := s.opts.TaskHost
	if ipPerTask(&a.def) {
		s.nextIP++
		ip = fmt.Sprintf("127.0.%d.%d", 1+s.nextIP/250, 1+s.nextIP%250)
	}
	var servicePorts []int
	for _, d := range a.def.PortDefinitions {
		servicePorts = append(servicePorts, d.Port)
	}
	for _, m := range containerMappings(&a.def) {
		if m.ServicePort != nil {
			servicePorts = append(servicePorts, *m.ServicePort)
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	t := &simTask{cancel: cancel, task: marathon.Task{
		ID: id, AppID: a.def.ID, Host: s.opts.TaskHost, State: marathon.TaskStaging, StagedAt: now(),
		Version: a.def.Version, SlaveID: "simulated-agent-S0", ServicePorts: servicePorts, Role: "*",
		Region: "local", Zone: "a", Ports: []int{},
	}}
	// Marathon 1.5 reports the agent's address for host tasks and the
	// container's for IP-per-task ones.
	t.task.IPAddresses = []marathon.TaskIPAddress{{IPAddress: ip, Protocol: "IPv4"}}
	a.tasks = append(a.tasks, t)
	s.emitStatus(t)
	addrs := s.taskAddrs(a, ip)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if !sleep(ctx, s.opts.StateDelay) {
			return
		}
		s.mu.Lock()
		if t.task.State != marathon.TaskStaging { // killed meanwhile
			s.mu.Unlock()
			return
		}
		t.task.State = marathon.TaskStarting
		s.emitStatus(t)
		s.mu.Unlock()
		srv, err := startTaskServer(a.def.ID, id, addrs, healthPaths(&a.def))
		if !sleep(ctx, s.opts.StateDelay) {
			if srv != nil {
				srv.close()
			}
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil && t.task.State == marathon.TaskStarting {
			s.log.Warn("task failed to start", zap.String("task", id), zap.Error(err))
			t.task.State = marathon.TaskFailed
			s.emitStatus(t)
			s.removeLocked(a, t)
			s.converge(a)
			return
		}
		if t.task.State != marathon.TaskStarting { // killed meanwhile
			if srv != nil {
				srv.close()
			}
			return
		}
		t.server = srv
		if ip == s.opts.TaskHost {
			t.task.Ports = srv.ports()
		} else {
			t.task.Ports = []int{}
		}
		t.task.State = marathon.TaskRunning
		t.task.StartedAt = now()
		s.emitStatus(t)
		if len(a.def.HealthChecks) > 0 {
			s.wg.Add(1)
			go s.healthLoop(ctx, a, t, ip)
		}
		s.checkDeploymentLocked(a)
	}()
}

func healthPaths(app *marathon.App) map[string]bool {
	paths := map[string]bool{}
	for _, hc := range app.HealthChecks {
		switch hc.Protocol {
		case "HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS", "":
			p := hc.Path
			if p == "" {
				p = "/"
			}
			paths[p] = true
		}
	}
	return paths
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// killLocked moves a task through KILLING to KILLED, closing its listeners.
func (s *Server) killLocked(a *simApp, t *simTask) {
	if t.task.State == marathon.TaskKilling || t.task.State == marathon.TaskKilled {
		return
	}
	t.task.State = marathon.TaskKilling
	s.emitStatus(t)
	// Like Mesos, the process gets taskKillGracePeriodSeconds (real time,
	// not scaled) between SIGTERM and SIGKILL: it keeps serving meanwhile,
	// which is the window a load balancer has to take it out.
	grace := s.opts.StateDelay
	if a.def.TaskKillGracePeriod != nil {
		grace = max(grace, time.Duration(*a.def.TaskKillGracePeriod)*time.Second)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sleep(s.ctx, grace)
		t.stop()
		s.mu.Lock()
		defer s.mu.Unlock()
		t.task.State = marathon.TaskKilled
		s.emitStatus(t)
		s.removeLocked(a, t)
		if _, ok := s.apps[a.def.ID]; ok {
			s.checkDeploymentLocked(a)
		}
	}()
}

func (s *Server) removeLocked(a *simApp, t *simTask) {
	for i, x := range a.tasks {
		if x == t {
			a.tasks = append(a.tasks[:i], a.tasks[i+1:]...)
			return
		}
	}
}

// KillTask kills a task; with scale the app shrinks, else Marathon starts
// a replacement.
func (s *Server) KillTask(taskID string, scale bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, t := s.findTask(taskID)
	if t == nil {
		return errMsg(404, fmt.Sprintf("Task '%s' does not exist", taskID))
	}
	s.killLocked(a, t)
	if scale {
		a.def.Instances--
		a.def.VersionInfo.LastScalingAt = now()
		a.def.Version = a.def.VersionInfo.LastScalingAt
		d := s.newDeployment(a.def.ID, "ScaleApplication", a.def.Instances)
		a.deployID = d.d.ID
		s.emit("deployment_info", map[string]any{"plan": s.planJSON(d), "currentStep": d.d.Steps[0]})
		s.checkDeploymentLocked(a)
		return nil
	}
	s.converge(a)
	return nil
}

// CrashTask makes a task's process die (TASK_FAILED); Marathon replaces it.
func (s *Server) CrashTask(taskID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, t := s.findTask(taskID)
	if t == nil {
		return errMsg(404, fmt.Sprintf("Task '%s' does not exist", taskID))
	}
	t.stop()
	t.task.State = marathon.TaskFailed
	s.emitStatus(t)
	s.removeLocked(a, t)
	s.converge(a)
	return nil
}

// SetTaskHealthy makes the task's health-check paths answer 200 (true) or
// 503, so its real HTTP health check passes or fails; other paths keep
// serving, as an app reporting itself unhealthy usually does. Without an
// HTTP health check every path fails.
func (s *Server) SetTaskHealthy(taskID string, healthy bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, t := s.findTask(taskID)
	if t == nil || t.server == nil {
		return errMsg(404, fmt.Sprintf("Task '%s' is not running", taskID))
	}
	t.server.healthy.Store(healthy)
	return nil
}

func (s *Server) findTask(id string) (*simApp, *simTask) {
	for _, a := range s.apps {
		for _, t := range a.tasks {
			if t.task.ID == id {
				return a, t
			}
		}
	}
	return nil, nil
}

// healthLoop runs the app's first health check against the task for real.
func (s *Server) healthLoop(ctx context.Context, a *simApp, t *simTask, ip string) {
	defer s.wg.Done()
	s.mu.Lock()
	hc := a.def.HealthChecks[0]
	ports := append([]int(nil), t.task.Ports...)
	s.mu.Unlock()
	scale := func(sec int) time.Duration {
		return max(time.Duration(float64(sec)*float64(time.Second)*s.opts.TimeScale), 10*time.Millisecond)
	}
	interval := scale(max(hc.IntervalSeconds, 1))
	for {
		port := 0
		switch {
		case hc.Port != nil:
			port = *hc.Port
		case hc.PortIndex != nil && *hc.PortIndex < len(ports):
			port = ports[*hc.PortIndex]
		case len(ports) > 0:
			port = ports[0]
		}
		cctx, cancel := context.WithTimeout(ctx, scale(max(hc.TimeoutSeconds, 1)))
		err := t.server.check(cctx, hc.Protocol, ip, hc.Path, port)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		alive := err == nil
		ts := now()
		r := marathon.HealthCheckResult{Alive: alive, TaskID: t.task.ID, InstanceID: "instance-" + t.task.ID}
		if len(t.task.HealthCheckResults) > 0 {
			r = t.task.HealthCheckResults[0]
		}
		r.Alive = alive
		if alive {
			t.fails = 0
			r.LastSuccess = ts
			if r.FirstSuccess == "" {
				r.FirstSuccess = ts
			}
		} else {
			t.fails++
			r.LastFailure, r.LastFailureCause = ts, err.Error()
		}
		r.ConsecutiveFailures = t.fails
		t.task.HealthCheckResults = []marathon.HealthCheckResult{r}
		if t.healthy == nil || *t.healthy != alive {
			t.healthy = &alive
			s.emit("health_status_changed_event", map[string]any{"appId": a.def.ID, "taskId": t.task.ID,
				"instanceId": r.InstanceID, "version": t.task.Version, "alive": alive})
		}
		if hc.MaxConsecutiveFailures > 0 && t.fails >= hc.MaxConsecutiveFailures {
			s.emit("unhealthy_instance_kill_event", map[string]any{"appId": a.def.ID, "taskId": t.task.ID,
				"instanceId": r.InstanceID, "version": t.task.Version, "reason": r.LastFailureCause, "host": t.task.Host, "slaveId": t.task.SlaveID})
			s.killLocked(a, t)
			s.converge(a)
			s.mu.Unlock()
			return
		}
		s.checkDeploymentLocked(a)
		s.mu.Unlock()
		if !sleep(ctx, interval) {
			return
		}
	}
}

// App returns a snapshot of one app with its tasks.
func (s *Server) App(id string) (marathon.App, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[normalizeID(id)]
	if !ok {
		return marathon.App{}, false
	}
	return s.appSnapshot(a, true), true
}

// Apps returns snapshots of every app, sorted by id.
func (s *Server) Apps() []marathon.App {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]marathon.App, 0, len(s.apps))
	for _, id := range s.sortedIDs() {
		out = append(out, s.appSnapshot(s.apps[id], true))
	}
	return out
}

func (s *Server) sortedIDs() []string {
	ids := make([]string, 0, len(s.apps))
	for id := range s.apps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (s *Server) appSnapshot(a *simApp, withTasks bool) marathon.App {
	raw, _ := json.Marshal(a.def)
	var app marathon.App
	_ = json.Unmarshal(raw, &app)
	app.Deployments = []marathon.DeploymentRef{}
	if _, ok := s.deployments[a.deployID]; ok {
		app.Deployments = append(app.Deployments, marathon.DeploymentRef{ID: a.deployID})
	}
	app.Tasks = nil
	for _, t := range a.tasks {
		switch t.task.State {
		case marathon.TaskStaging, marathon.TaskStarting:
			app.TasksStaged++
		case marathon.TaskRunning:
			app.TasksRunning++
		}
		if t.healthy != nil {
			if *t.healthy {
				app.TasksHealthy++
			} else {
				app.TasksUnhealthy++
			}
		}
		if withTasks {
			app.Tasks = append(app.Tasks, t.task)
		}
	}
	if withTasks && app.Tasks == nil {
		app.Tasks = []marathon.Task{}
	}
	return app
}

func (s *Server) appJSON(a *simApp, withTasks bool) marathon.App { return s.appSnapshot(a, withTasks) }

// WaitDeployments blocks until no deployment runs.
func (s *Server) WaitDeployments(ctx context.Context) error {
	for {
		s.mu.Lock()
		n := len(s.deployments)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		if !sleep(ctx, 10*time.Millisecond) {
			return fmt.Errorf("deployments still running: %w", ctx.Err())
		}
	}
}
