// Package marathontest is a faithful Marathon (1.5) simulator for tests and
// the demo. It owns Marathon's REST API and its SSE event bus (shapes and
// messages taken from Marathon's own source and RAML types), deployments
// with Marathon's locking, rolling restarts and rollbacks, and tasks that are
// real loopback servers going through Marathon's task states and answering
// real HTTP/TCP health checks. It never talks to a real Marathon or Mesos.
//
// Everything it starts (HTTP server, event streams, task listeners, health
// checkers, state timers) is owned by the Server and stopped by Close.
package marathontest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	Logger *zap.Logger // nil = nop
	// TaskHost is the address tasks listen on and report as task.host;
	// default "127.0.0.1".
	TaskHost string
	// TimeScale multiplies every Marathon duration (health-check intervals,
	// grace periods, delays); default 0.01, so intervalSeconds 10 is 100ms.
	TimeScale float64
	// StateDelay is the time between STAGING, STARTING and RUNNING, and
	// between KILLING and KILLED; default 20ms.
	StateDelay time.Duration
	// KeepaliveInterval is the SSE heartbeat period; default Marathon's
	// (Jetty's) 10s times TimeScale, at least 50ms.
	KeepaliveInterval time.Duration
	// ServicePortMin/Max is Marathon's local_port_min/max range [min, max)
	// for auto-assigned service ports; default 10000-20000.
	ServicePortMin, ServicePortMax int
	// User and Password, when User is set, are required as HTTP basic auth.
	User, Password string
	// Leader is what /v2/info and /v2/leader report; default the server's
	// own host:port.
	Leader string
}

// APIError is an answer Marathon gives with a non-2xx status; the direct
// control methods return it so tests can see the status REST would give.
type APIError struct {
	Status int
	Body   map[string]any // the JSON body, always with "message"
}

func (e *APIError) Error() string {
	return fmt.Sprintf("marathon simulator: %d %v", e.Status, e.Body["message"])
}

// Message is Marathon's "message" field.
func (e *APIError) Message() string { s, _ := e.Body["message"].(string); return s }

func apiErr(status int, format string, args ...any) *APIError {
	return &APIError{Status: status, Body: map[string]any{"message": fmt.Sprintf(format, args...)}}
}

// errClosed answers calls made after Close.
var errClosed = &APIError{Status: http.StatusServiceUnavailable, Body: map[string]any{"message": "simulator closed"}}

// Server is one simulated Marathon.
type Server struct {
	opts       Options
	log        *zap.Logger
	agentID    string
	framework  string
	ctx        context.Context // cancelled by Close; parent of every goroutine
	cancel     context.CancelFunc
	wg         sync.WaitGroup // every goroutine the simulator starts
	healthHTTP *http.Client

	mu            sync.Mutex
	closed        bool
	apps          map[string]*simApp
	dying         map[*simApp]bool // deleted apps whose tasks are still being killed
	deployments   []*deployment    // running, oldest first
	servicePort   map[int]string   // assigned service port -> app id
	nextIP        int              // last IP-per-task address handed out
	nextQuietPort int              // next port of a task without listeners (EnvNoListeners)
	lastVersion   time.Time        // versions are unique and increasing
	rootVersion   string           // version of the root group
	uuidTime      uint64           // last time-based UUID timestamp
	uuidClock     uint16
	uuidNode      uint64
	unavailable   int
	bus           bus

	ln  net.Listener
	srv *http.Server
}

// New returns a Server with opts' defaults applied; call Start or StartOn.
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
		opts.KeepaliveInterval = max(time.Duration(float64(10*time.Second)*opts.TimeScale), 50*time.Millisecond)
	}
	if opts.ServicePortMin <= 0 {
		opts.ServicePortMin = 10000
	}
	if opts.ServicePortMax <= opts.ServicePortMin {
		opts.ServicePortMax = opts.ServicePortMin + 10000
	}
	ctx, cancel := context.WithCancel(context.Background())
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	return &Server{
		uuidClock: (uint16(seed[0])<<8 | uint16(seed[1])) & 0x3fff,
		uuidNode:  (uint64(seed[2])<<40 | uint64(seed[3])<<32 | uint64(seed[4])<<24 | uint64(seed[5])<<16 | uint64(seed[6])<<8 | uint64(seed[7])) | 1<<40,
		opts:      opts,
		log:       opts.Logger,
		agentID:   uuid() + "-S0",
		framework: uuid() + "-0000",
		ctx:       ctx,
		cancel:    cancel,
		healthHTTP: &http.Client{Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
		}},
		apps:        map[string]*simApp{},
		dying:       map[*simApp]bool{},
		servicePort: map[int]string{},
		bus:         bus{subs: map[*subscriber]bool{}},
	}
}

// Start listens on 127.0.0.1 with an ephemeral port.
func (s *Server) Start() error { return s.StartOn("127.0.0.1:0") }

// T is what Started needs of a *testing.T (the simulator also runs in the
// CLI's demo, which must not pull package testing in).
type T interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// Started returns a Server already listening on loopback, closed when the
// test ends (as httptest.NewServer, for the packages that test against the
// simulator).
func Started(t T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// StartOn listens on addr, e.g. "127.0.0.1:8080".
func (s *Server) StartOn(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("marathon simulator: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(s.log)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("simulator HTTP server stopped", zap.Error(err))
		}
	}()
	s.log.Debug("marathon simulator listening", zap.String("addr", ln.Addr().String()))
	return nil
}

// URL is the simulator's base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return "http://" + s.hostPort() }

func (s *Server) hostPort() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *Server) leader() string {
	if s.opts.Leader != "" {
		return s.opts.Leader
	}
	return s.hostPort()
}

// leaderFor is leader(), or the request's Host when Handler is served by
// something other than Start.
func (s *Server) leaderFor(r *http.Request) string {
	if l := s.leader(); l != "" {
		return l
	}
	return r.Host
}

// Close stops the HTTP server, every event stream, health checker and task
// listener, and waits for every goroutine the simulator started.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.bus.closeAll()
	var procs []*taskProcess
	for _, a := range s.allAppsLocked() {
		for _, t := range a.tasks {
			if t.proc != nil {
				procs = append(procs, t.proc)
			}
		}
	}
	s.mu.Unlock()

	s.cancel()
	var err error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err = s.srv.Shutdown(ctx); err != nil {
			err = s.srv.Close()
		}
		cancel()
	}
	for _, p := range procs {
		p.kill()
	}
	s.wg.Wait()
	s.healthHTTP.CloseIdleConnections()
	return err
}

// allAppsLocked lists live and dying apps.
func (s *Server) allAppsLocked() []*simApp {
	out := make([]*simApp, 0, len(s.apps)+len(s.dying))
	for _, a := range s.apps {
		out = append(out, a)
	}
	for a := range s.dying {
		out = append(out, a)
	}
	return out
}

// SetUnavailable makes every call (including /ping and /v2/events) answer
// status with Marathon's no-leader message; 0 restores normal service. Like
// a Marathon that lost leadership, it also closes the open event streams.
func (s *Server) SetUnavailable(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = status
	if status != 0 {
		s.bus.closeAll()
	}
}

// CloseEventStreams cuts every open /v2/events stream; clients may reconnect.
func (s *Server) CloseEventStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bus.closeAll()
}

// SetSilentStreams keeps event streams open but sends nothing on them, not
// even keepalives, until called with false. Events meanwhile are lost.
func (s *Server) SetSilentStreams(silent bool) { s.bus.silent.Store(silent) }

// Handler is the simulated Marathon HTTP API (leader check, auth, routes).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", s.handlePing)
	mux.HandleFunc("/v2/info", s.handleInfo)
	mux.HandleFunc("/v2/leader", s.handleLeader)
	mux.HandleFunc("/v2/events", s.handleEvents)
	mux.HandleFunc("/v2/apps", s.handleApps)
	mux.HandleFunc("/v2/apps/", s.handleAppPath)
	mux.HandleFunc("/v2/tasks", s.handleTasks)
	mux.HandleFunc("/v2/tasks/delete", s.handleTasksDelete)
	mux.HandleFunc("/v2/deployments", s.handleDeployments)
	mux.HandleFunc("/v2/deployments/", s.handleDeployment)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.unavailable
		s.mu.Unlock()
		if down != 0 {
			// LeaderProxyFilter runs before everything else, /ping included.
			writeJSON(w, down, map[string]any{"message": "Could not determine the current leader"})
			return
		}
		if s.opts.User != "" && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Mesosphere Marathon"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Invalid username or password."})
			return
		}
		if l := s.leader(); l != "" {
			w.Header().Set("X-Marathon-Leader", "http://"+l)
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.User)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1
}

// LoadApps reads app definitions for the demo: {"apps":[...]} or [...].
// Fields the file leaves out that marathon.App cannot leave out (instances,
// health-check grace period and failure limit) get Marathon's defaults.
func LoadApps(path string) ([]marathon.App, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load apps: %w", err)
	}
	var wrapped struct {
		Apps []map[string]any `json:"apps"`
	}
	defs := wrapped.Apps
	if err := json.Unmarshal(raw, &wrapped); err == nil && wrapped.Apps != nil {
		defs = wrapped.Apps
	} else if err := json.Unmarshal(raw, &defs); err != nil {
		return nil, fmt.Errorf("load apps %s: want {\"apps\":[...]} or [...]: %w", path, err)
	}
	apps := make([]marathon.App, len(defs))
	for i, def := range defs {
		setDefault(def, "instances", 1)
		for _, hc := range objects(def["healthChecks"]) {
			setDefault(hc, "gracePeriodSeconds", 300)
			setDefault(hc, "maxConsecutiveFailures", 3)
		}
		b, _ := json.Marshal(def)
		if err := json.Unmarshal(b, &apps[i]); err != nil {
			return nil, fmt.Errorf("load apps %s: app %d: %w", path, i, err)
		}
	}
	return apps, nil
}

// timeFormat is Marathon's Timestamp format: ISO-8601, milliseconds, Z.
const timeFormat = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func now() string { return fmtTime(time.Now()) }

// newVersionLocked returns a version timestamp later than every earlier one,
// so that versions order and never collide.
func (s *Server) newVersionLocked() (time.Time, string) {
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(s.lastVersion) {
		t = s.lastVersion.Add(time.Millisecond)
	}
	s.lastVersion = t
	return t, fmtTime(t)
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// scaled turns Marathon seconds into simulated time, at least 1ms.
func (s *Server) scaled(seconds float64) time.Duration {
	return max(time.Duration(seconds*float64(time.Second)*s.opts.TimeScale), time.Millisecond)
}

// sleep waits d or until the simulator closes; false means it closed.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// goLocked runs f on a goroutine Close waits for. Callers hold s.mu, so
// the goroutine is counted before Close (which sets closed under s.mu) can
// start waiting; after Close it runs nothing.
func (s *Server) goLocked(f func()) {
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}
