package marathontest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/internal/pause"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// simTask is one task (one instance of an app) and its "process".
type simTask struct {
	app        *simApp
	id         string
	instanceID string
	version    string       // the app version it was launched with
	cfg        marathon.App // the app as it was at launch
	state      string
	stagedAt   time.Time
	startedAt  time.Time
	ip         string // the address its ports listen on
	ipPerTask  bool
	ports      []int // host ports (host and bridge networking)
	proc       *taskProcess
	health     []*healthState // one per cfg.HealthChecks
	ctx        context.Context
	cancel     context.CancelFunc // ends its state timers and health checks
}

func (t *simTask) terminal() bool {
	switch t.state {
	case marathon.TaskKilled, marathon.TaskFailed, marathon.TaskFinished, marathon.TaskLost, marathon.TaskError,
		marathon.TaskDropped, marathon.TaskGone, marathon.TaskGoneByOperator:
		return true
	}
	return false
}

func (t *simTask) stopTimers() { t.cancel() }

// condition is Marathon's instance Condition for a task state.
func condition(state string) string {
	switch state {
	case marathon.TaskStaging:
		return "Staging"
	case marathon.TaskStarting:
		return "Starting"
	case marathon.TaskRunning:
		return "Running"
	case marathon.TaskKilling:
		return "Killing"
	case marathon.TaskKilled:
		return "Killed"
	case marathon.TaskFailed:
		return "Failed"
	case marathon.TaskFinished:
		return "Finished"
	}
	return "Unknown"
}

// uuidV1Locked makes a time-based UUID, the kind Marathon puts in task ids.
func (s *Server) uuidV1Locked() string {
	ts := uint64(time.Now().UnixNano()/100) + 0x01B21DD213814000 // 100ns since 1582-10-15
	if ts <= s.uuidTime {
		ts = s.uuidTime + 1
	}
	s.uuidTime = ts
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(ts), uint16(ts>>32), uint16(ts>>48)&0x0fff|0x1000,
		s.uuidClock|0x8000, s.uuidNode)
}

// launchLocked starts one task of app: its listeners open at once (Mesos
// knows a task's host ports from launch), TASK_STAGING now, then
// TASK_STARTING and TASK_RUNNING StateDelay apart.
func (s *Server) launchLocked(app *simApp) *simTask {
	uid := s.uuidV1Locked()
	t := &simTask{
		app: app, id: safeID(app.id) + "." + uid, instanceID: safeID(app.id) + ".marathon-" + uid,
		version: app.version, cfg: app.view, state: marathon.TaskStaging, stagedAt: time.Now(),
		ip: s.opts.TaskHost, ports: []int{},
	}
	t.ctx, t.cancel = context.WithCancel(s.ctx)
	if s.closed {
		t.state = marathon.TaskFailed
		return t
	}
	var addrs []string
	ports := portsOf(app.view)
	switch app.mode {
	case modeContainer:
		s.nextIP++
		n := s.nextIP - 1
		t.ip, t.ipPerTask = fmt.Sprintf("127.0.%d.%d", 1+n/254, 1+n%254), true
		for _, p := range ports {
			addrs = append(addrs, net.JoinHostPort(t.ip, strconv.Itoa(p.containerPort)))
		}
	default:
		for range ports {
			addrs = append(addrs, net.JoinHostPort(t.ip, "0"))
		}
	}
	for _, hc := range app.view.HealthChecks {
		t.health = append(t.health, &healthState{check: hc})
	}
	if app.view.Env[EnvNoListeners] == "true" && !t.ipPerTask {
		// Host ports without a process behind them (61000-65535, above
		// the kernel's ephemeral range and the ports tests take).
		for range ports {
			t.ports = append(t.ports, 61000+s.nextQuietPort%4536)
			s.nextQuietPort++
		}
		app.tasks = append(app.tasks, t)
		s.statusLocked(t, "")
		s.goLocked(func() { s.lifecycle(t) })
		return t
	}
	proc, err := startTaskProcess(app.id, t.id, addrs, healthPaths(app.view))
	if err == nil && app.view.Env[EnvUnhealthy] == "true" {
		// A broken build: its health checks fail from the start.
		proc.healthy.Store(false)
	}
	if err != nil {
		// No replacement is started from here: a port that cannot be bound
		// would fail again at once.
		s.log.Error("task failed to start", zap.String("app", app.id), zap.String("task", t.id), zap.Error(err))
		s.statusLocked(t, "")
		s.endLocked(t, marathon.TaskFailed, err.Error())
		return t
	}
	t.proc = proc
	if !t.ipPerTask {
		t.ports = proc.ports()
	}
	app.tasks = append(app.tasks, t)
	s.statusLocked(t, "")
	s.goLocked(func() { s.lifecycle(t) })
	return t
}

func (s *Server) lifecycle(t *simTask) {
	if pause.For(t.ctx, s.opts.StateDelay) != nil {
		return
	}
	s.mu.Lock()
	if t.state != marathon.TaskStaging {
		s.mu.Unlock()
		return
	}
	t.state = marathon.TaskStarting
	s.statusLocked(t, "")
	s.mu.Unlock()
	if pause.For(t.ctx, s.opts.StateDelay) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.state != marathon.TaskStarting || s.closed {
		return
	}
	t.state = marathon.TaskRunning
	t.startedAt = time.Now()
	s.statusLocked(t, "")
	for i := range t.health {
		s.goLocked(func() { s.healthLoop(t, i) })
	}
	s.touchLocked(t.app)
}

// killLocked kills a task as Marathon does through Mesos: TASK_KILLING at
// once, then after StateDelay the process gets its grace period to finish
// in-flight requests (new connections are refused), then TASK_KILLED.
func (s *Server) killLocked(t *simTask) {
	if t.terminal() || t.state == marathon.TaskKilling {
		return
	}
	t.stopTimers()
	t.state = marathon.TaskKilling
	s.statusLocked(t, "")
	grace := s.scaled(3) // Mesos' default kill grace period
	if g := t.cfg.TaskKillGracePeriod; g != nil {
		grace = s.scaled(float64(*g))
	}
	grace = max(grace, s.opts.StateDelay)
	s.goLocked(func() {
		// The process models an app built for zero-downtime: on SIGTERM
		// it keeps serving through the kill grace period, which is the
		// window a load balancer has to take it out, then drains and exits.
		if !s.sleep(grace) {
			return
		}
		if t.proc != nil {
			t.proc.stop(max(s.opts.StateDelay, 100*time.Millisecond))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			s.terminalLocked(t, marathon.TaskKilled, "")
		}
	})
}

// terminalLocked moves a task to a terminal state: the task is expunged
// (a failure is kept as the app's lastTaskFailure) and its app reacts
// (deployment progress or a replacement).
func (s *Server) terminalLocked(t *simTask, state, message string) {
	if t.terminal() {
		return
	}
	s.endLocked(t, state, message)
	s.touchLocked(t.app)
}

func (s *Server) endLocked(t *simTask, state, message string) {
	t.stopTimers()
	t.state = state
	if state == marathon.TaskFailed {
		t.app.lastFailure = map[string]any{
			"appId": t.app.id, "host": s.opts.TaskHost, "message": message, "state": state,
			"taskId": t.id, "timestamp": now(), "version": t.version, "slaveId": s.agentID,
		}
	}
	s.statusLocked(t, message)
	for i, x := range t.app.tasks {
		if x == t {
			t.app.tasks = append(t.app.tasks[:i], t.app.tasks[i+1:]...)
			break
		}
	}
}

// statusLocked posts what Marathon posts for a task status update:
// status_update_event, then instance_changed_event.
func (s *Server) statusLocked(t *simTask, message string) {
	s.emitLocked("status_update_event", map[string]any{
		"slaveId": s.agentID, "taskId": t.id, "taskStatus": t.state, "message": message,
		"appId": t.app.id, "host": s.opts.TaskHost, "ipAddresses": ipAddressesJSON(t),
		"ports": t.ports, "version": t.version,
	})
	s.emitLocked("instance_changed_event", map[string]any{
		"instanceId": t.instanceID, "condition": condition(t.state), "runSpecId": t.app.id,
		"agentId": s.agentID, "host": s.opts.TaskHost, "runSpecVersion": t.version,
	})
}

// EnvUnhealthy set to "true" in an app's env makes its tasks start
// unhealthy: their health-check paths answer 503 (every path when the app
// has no HTTP check), as a version that never passes its checks.
const EnvUnhealthy = "MARATHONTEST_UNHEALTHY"

// EnvNoListeners set to "true" in an app's env gives its tasks host ports
// that nothing listens on: Marathon reports them running as usual (and a
// health check of theirs fails). Scale tests use it beyond what the open
// files limit allows: every other task is a real server with a listener.
const EnvNoListeners = "MARATHONTEST_NO_LISTENERS"

// healthPaths are the paths of the app's HTTP health checks; nil means
// the app has none, and an unhealthy task then fails every path.
func healthPaths(app marathon.App) map[string]bool {
	var out map[string]bool
	for _, hc := range app.HealthChecks {
		switch strings.ToUpper(hc.Protocol) {
		case "HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS":
			if out == nil {
				out = map[string]bool{}
			}
			p := hc.Path
			if p == "" {
				p = "/"
			}
			out[p] = true
		}
	}
	return out
}

// taskProcess is what a task runs: one real listener per app port. Each
// answers HTTP with the app and task ids; a TCP client that sends nothing
// for bannerAfter gets the same line as a banner, so TCP-mode apps can be
// tested too.
type taskProcess struct {
	appID, taskID string
	healthPaths   map[string]bool
	healthy       atomic.Bool
	listeners     []*sniffListener
	servers       []*http.Server
	wg            sync.WaitGroup
}

const bannerAfter = 200 * time.Millisecond

func startTaskProcess(appID, taskID string, addrs []string, healthPaths map[string]bool) (*taskProcess, error) {
	p := &taskProcess{appID: appID, taskID: taskID, healthPaths: healthPaths}
	p.healthy.Store(true)
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			p.kill()
			return nil, fmt.Errorf("task %s port index %d: %w", taskID, i, err)
		}
		sl := &sniffListener{Listener: ln, banner: []byte(p.banner(i)), conns: make(chan net.Conn),
			done: make(chan struct{}), pending: map[net.Conn]bool{}, wg: &p.wg}
		srv := &http.Server{Handler: p.handler(i), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: log.New(io.Discard, "", 0)}
		p.listeners = append(p.listeners, sl)
		p.servers = append(p.servers, srv)
		p.wg.Add(2)
		go sl.run()
		go func() {
			defer p.wg.Done()
			_ = srv.Serve(sl)
		}()
	}
	return p, nil
}

func (p *taskProcess) banner(index int) string {
	return fmt.Sprintf("app=%s task=%s port=%d\n", p.appID, p.taskID, index)
}

func (p *taskProcess) ports() []int {
	out := make([]int, len(p.listeners))
	for i, l := range p.listeners {
		out[i] = l.Addr().(*net.TCPAddr).Port
	}
	return out
}

// handler answers every path with the task's identity; /slow?ms=N waits
// N ms first; /redirect?to=URL answers 302 with that Location (for
// response-rewriting tests); /header?name=N echoes request header N; health-check paths answer 503 while the task
// is unhealthy.
func (p *taskProcess) handler(index int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Marathon-App-Id", p.appID)
		w.Header().Set("X-Task-Id", p.taskID)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !p.healthy.Load() && (p.healthPaths == nil || p.healthPaths[r.URL.Path]) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "unhealthy\n%s", p.banner(index))
			return
		}
		if name := r.URL.Query().Get("name"); r.URL.Path == "/header" && name != "" {
			_, _ = fmt.Fprintf(w, "%s%s=%s\n", p.banner(index), name, r.Header.Get(name))
			return
		}
		if to := r.URL.Query().Get("to"); r.URL.Path == "/redirect" && to != "" {
			w.Header().Set("Location", to)
			w.WriteHeader(http.StatusFound)
			_, _ = fmt.Fprint(w, p.banner(index))
			return
		}
		if r.URL.Path == "/slow" {
			ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
			if pause.For(r.Context(), time.Duration(ms)*time.Millisecond) != nil {
				return
			}
		}
		_, _ = fmt.Fprintf(w, "%shost=%s path=%s\n", p.banner(index), r.Host, r.URL.Path)
	})
}

// stop is a graceful exit: no new connections, in-flight requests get up
// to grace, then everything closes.
func (p *taskProcess) stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range p.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
		}()
	}
	wg.Wait()
	p.kill()
}

// kill is an abrupt exit: listeners and connections close now.
func (p *taskProcess) kill() {
	for _, srv := range p.servers {
		_ = srv.Close()
	}
	for _, l := range p.listeners {
		_ = l.Close()
	}
	p.wg.Wait()
}

// sniffListener hands http.Server the connections whose client speaks
// first; a client silent for bannerAfter gets the banner and is closed.
type sniffListener struct {
	net.Listener
	banner  []byte
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	pending map[net.Conn]bool
	wg      *sync.WaitGroup
}

func (l *sniffListener) run() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			_ = l.Close()
			return
		}
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			_ = c.Close()
			continue
		default:
		}
		l.pending[c] = true
		l.wg.Add(1)
		l.mu.Unlock()
		go l.sniff(c)
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	defer l.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(bannerAfter))
	br := bufio.NewReader(c)
	_, err := br.Peek(1)
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(l.banner)
		}
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case l.conns <- &peekedConn{Conn: c, r: br}:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	var err error
	l.once.Do(func() {
		err = l.Listener.Close()
		l.mu.Lock()
		close(l.done)
		for c := range l.pending {
			_ = c.Close()
		}
		l.mu.Unlock()
	})
	return err
}

// peekedConn reads through the reader that sniffed the first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }
