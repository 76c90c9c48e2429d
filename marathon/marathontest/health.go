package marathontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/internal/pause"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// healthState is Marathon's Health for one task and one health check.
// Results exist (has) only once a check counted: failures in the grace
// period before the first success are ignored, as Marathon does.
type healthState struct {
	check               marathon.HealthCheck
	has                 bool
	firstSuccess        time.Time
	lastSuccess         time.Time
	lastFailure         time.Time
	lastFailureCause    string
	consecutiveFailures int
}

// alive is Health.alive: a success later than any failure.
func (h *healthState) alive() bool {
	return !h.lastSuccess.IsZero() && (h.lastFailure.IsZero() || h.lastSuccess.After(h.lastFailure))
}

func protocolOf(hc marathon.HealthCheck) string {
	if hc.Protocol == "" {
		return "HTTP"
	}
	return strings.ToUpper(hc.Protocol)
}

// healthLoop performs one health check of one task for real, as Marathon's
// HealthCheckActor ticks: the first check after min(interval, 5s) (Mesos
// checks: after delaySeconds), then every interval, until the task stops.
func (s *Server) healthLoop(t *simTask, i int) {
	hc := t.health[i].check
	proto := protocolOf(hc)
	interval := s.scaled(float64(max(hc.IntervalSeconds, 1)))
	delay := min(interval, s.scaled(5))
	if strings.HasPrefix(proto, "MESOS_") {
		delay = s.scaled(float64(hc.DelaySeconds))
	}
	timeout := s.scaled(float64(max(hc.TimeoutSeconds, 1)))
	for {
		if pause.For(t.ctx, delay) != nil {
			return
		}
		delay = interval
		err := s.probe(t, hc, proto, timeout)
		if t.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if t.state != marathon.TaskRunning || s.closed {
			s.mu.Unlock()
			return
		}
		s.healthResultLocked(t, i, err)
		s.mu.Unlock()
	}
}

// probe runs one check against the task's real listener.
func (s *Server) probe(t *simTask, hc marathon.HealthCheck, proto string, timeout time.Duration) error {
	if proto == "COMMAND" || proto == "MESOS_CMD" {
		return nil // no command runs here: a command check always passes
	}
	host, port, err := checkTarget(t, hc)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	if proto == "TCP" || proto == "MESOS_TCP" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return checkError(err)
		}
		return c.Close()
	}
	path := hc.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.healthHTTP.Do(req)
	if err != nil {
		return checkError(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return errors.New(strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode))
	}
	return nil
}

// checkTarget is where a check connects: the port, or the task's port at
// portIndex; IP-per-task apps are checked on the task's IP and container port.
func checkTarget(t *simTask, hc marathon.HealthCheck) (string, int, error) {
	if hc.Port != nil {
		return t.ip, *hc.Port, nil
	}
	idx := 0
	if hc.PortIndex != nil {
		idx = *hc.PortIndex
	}
	if t.ipPerTask {
		ports := portsOf(t.cfg)
		if idx >= len(ports) {
			return "", 0, fmt.Errorf("no port at index %d", idx)
		}
		return t.ip, ports[idx].containerPort, nil
	}
	if idx >= len(t.ports) {
		return "", 0, fmt.Errorf("no port at index %d", idx)
	}
	return t.ip, t.ports[idx], nil
}

// checkError words a failed connection as Marathon's checks do.
func checkError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("Connection refused") //nolint:staticcheck // the cause Marathon reports
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return errors.New("Request timed out") //nolint:staticcheck // the cause Marathon reports
	}
	return err
}

// healthResultLocked is HealthCheckActor.handleHealthResult: update the
// task's Health, kill it after too many consecutive failures, and post
// health_status_changed_event when alive flips.
func (s *Server) healthResultLocked(t *simTask, i int, err error) {
	h := t.health[i]
	wasAlive := h.alive()
	at := time.Now()
	if err == nil {
		if h.firstSuccess.IsZero() {
			h.firstSuccess = at
		}
		h.lastSuccess = at
		h.consecutiveFailures = 0
		h.has = true
	} else {
		if h.firstSuccess.IsZero() && at.Before(t.startedAt.Add(s.scaled(float64(h.check.GracePeriodSeconds)))) {
			return // the grace period hides failures until the first success
		}
		s.emitLocked("failed_health_check_event", map[string]any{
			"appId": t.app.id, "taskId": t.instanceID, "healthCheck": healthCheckJSON(h.check),
		})
		// Marathon compares the count before this failure: the kill comes
		// with the first failure past maxConsecutiveFailures.
		if maxF := h.check.MaxConsecutiveFailures; maxF > 0 && h.consecutiveFailures >= maxF {
			s.emitLocked("unhealthy_instance_kill_event", map[string]any{
				"appId": t.app.id, "taskId": t.id, "instanceId": t.instanceID, "version": t.version,
				"reason": h.lastFailureCause, "host": s.opts.TaskHost, "slaveId": s.agentID,
				"timestamp": fmtTime(h.lastFailure),
			})
			s.killLocked(t)
		}
		h.lastFailure = at
		h.lastFailureCause = err.Error()
		h.consecutiveFailures++
		h.has = true
	}
	if alive := h.alive(); alive != wasAlive {
		s.emitLocked("health_status_changed_event", map[string]any{
			"appId": t.app.id, "instanceId": t.instanceID, "version": t.version, "alive": alive,
		})
		if strings.HasPrefix(protocolOf(h.check), "MESOS_") {
			s.emitLocked("instance_health_changed_event", map[string]any{
				"instanceId": t.instanceID, "runSpecId": t.app.id, "healthy": alive, "runSpecVersion": t.version,
			})
		}
	}
	s.touchLocked(t.app)
}

func healthCheckJSON(hc marathon.HealthCheck) map[string]any {
	raw, _ := json.Marshal(hc)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}
