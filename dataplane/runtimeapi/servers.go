package runtimeapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Administrative states for SetServerState.
const (
	StateReady = "ready"
	StateDrain = "drain"
	StateMaint = "maint"
)

// command runs cmd and checks its answer with ok (nil: any answer that
// CheckAnswer does not flag).
func (c *Client) command(ctx context.Context, cmd string, ok func(answer string) bool) (string, error) {
	out, err := c.Execute(ctx, cmd)
	if err != nil {
		return out, err
	}
	if ok != nil && !ok(out) {
		return out, failed(cmd, out)
	}
	return out, nil
}

// empty is the answer of set/enable/disable/add map… on success.
func empty(answer string) bool { return strings.TrimSpace(answer) == "" }

func opErr(op, ref string, err error) error {
	return fmt.Errorf("runtimeapi: %s %s: %w", op, ref, err)
}

// SetServerAddr moves a server: "set server <b>/<s> addr <ip> port <port>".
// addr must be an IP address.
func (c *Client) SetServerAddr(ctx context.Context, backend, server, addr string, port int) error {
	ref, err := serverRef(backend, server)
	if err == nil {
		err = validIP(addr)
	}
	if err == nil {
		err = validPort(port)
	}
	if err != nil {
		return opErr("set address of server", backend+"/"+server, err)
	}
	// Success answers: "IP changed from 'a' to 'b', port changed from …",
	// "no need to change the addr, no need to change the port by 'stats
	// socket command'". Failures: "Invalid addr '…'", "invalid port '…'",
	// "can't change <port> …".
	_, err = c.command(ctx, "set server "+ref+" addr "+addr+" port "+strconv.Itoa(port), func(a string) bool {
		l := strings.ToLower(a)
		return (strings.Contains(l, "changed from") || strings.Contains(l, "no need to change")) &&
			!strings.Contains(l, "invalid") && !strings.Contains(l, "can't") && !strings.Contains(l, "cannot")
	})
	return err
}

// SetServerState sets the administrative state: StateReady, StateDrain
// (no new load-balanced requests, checks and persistent requests continue)
// or StateMaint (no traffic, no checks).
func (c *Client) SetServerState(ctx context.Context, backend, server, state string) error {
	ref, err := serverRef(backend, server)
	if err == nil && state != StateReady && state != StateDrain && state != StateMaint {
		err = fmt.Errorf("state %q: want ready, drain or maint: %w", state, ErrInvalidArgument)
	}
	if err != nil {
		return opErr("set state of server", backend+"/"+server, err)
	}
	_, err = c.command(ctx, "set server "+ref+" state "+state, empty)
	return err
}

// SetServerWeight sets the user weight (0..256; 0 takes the server out of
// load balancing). Backends with a static algorithm only accept 0 and the
// initial weight ("… only accepts weights '0%' and '100%'.").
func (c *Client) SetServerWeight(ctx context.Context, backend, server string, weight int) error {
	ref, err := serverRef(backend, server)
	if err == nil {
		err = validWeight(weight)
	}
	if err != nil {
		return opErr("set weight of server", backend+"/"+server, err)
	}
	_, err = c.command(ctx, "set server "+ref+" weight "+strconv.Itoa(weight), empty)
	return err
}

// SetServerHealth forces the health state: "up", "stopping" or "down".
func (c *Client) SetServerHealth(ctx context.Context, backend, server, health string) error {
	ref, err := serverRef(backend, server)
	if err == nil && health != "up" && health != "stopping" && health != "down" {
		err = fmt.Errorf("health %q: want up, stopping or down: %w", health, ErrInvalidArgument)
	}
	if err != nil {
		return opErr("set health of server", backend+"/"+server, err)
	}
	_, err = c.command(ctx, "set server "+ref+" health "+health, empty)
	return err
}

// SetServerAgent forces the agent state: "up" or "down".
func (c *Client) SetServerAgent(ctx context.Context, backend, server, agent string) error {
	ref, err := serverRef(backend, server)
	if err == nil && agent != "up" && agent != "down" {
		err = fmt.Errorf("agent %q: want up or down: %w", agent, ErrInvalidArgument)
	}
	if err != nil {
		return opErr("set agent of server", backend+"/"+server, err)
	}
	_, err = c.command(ctx, "set server "+ref+" agent "+agent, empty)
	return err
}

// EnableServer puts the server in rotation ("set server … state ready",
// the non-deprecated form of "enable server").
func (c *Client) EnableServer(ctx context.Context, backend, server string) error {
	return c.SetServerState(ctx, backend, server, StateReady)
}

// DisableServer puts the server in maintenance ("set server … state maint").
func (c *Client) DisableServer(ctx context.Context, backend, server string) error {
	return c.SetServerState(ctx, backend, server, StateMaint)
}

// EnableHealth starts the health checks of a server configured with
// "check" (dynamic servers start with them disabled). ErrNoHealthCheck
// when it has none.
func (c *Client) EnableHealth(ctx context.Context, backend, server string) error {
	return c.simple(ctx, "enable health", backend, server)
}

// DisableHealth stops the health checks of a server.
func (c *Client) DisableHealth(ctx context.Context, backend, server string) error {
	return c.simple(ctx, "disable health", backend, server)
}

// EnableAgent starts the agent checks of a server configured with
// "agent-check". ErrNoAgentCheck when it has none.
func (c *Client) EnableAgent(ctx context.Context, backend, server string) error {
	return c.simple(ctx, "enable agent", backend, server)
}

// DisableAgent stops the agent checks of a server.
func (c *Client) DisableAgent(ctx context.Context, backend, server string) error {
	return c.simple(ctx, "disable agent", backend, server)
}

func (c *Client) simple(ctx context.Context, verb, backend, server string) error {
	ref, err := serverRef(backend, server)
	if err != nil {
		return opErr(verb, backend+"/"+server, err)
	}
	_, err = c.command(ctx, verb+" "+ref, empty)
	return err
}

// AddServer creates a dynamic server: "add server <b>/<s> <ip>:<port>
// [opts…]". It starts in maintenance: bring it up with EnableServer (and
// EnableHealth when opts have "check"), or use AddServerReady.
//
// The "enabled" option is refused: on HAProxy 2.6.12 a server added with
// it looks ready but gets no traffic, and it corrupts the backend's count
// of active servers (deleting it later underflows that count, after which
// correctly added servers get no traffic either). Dynamic servers need a
// dynamic algorithm (roundrobin, leastconn, first, random, or a hash with
// "hash-type consistent"): otherwise ErrDynamicServersUnsupported. They do
// not inherit default-server settings, never resolve names (init-addr
// none: addr must be an IP) and are gone after a reload.
func (c *Client) AddServer(ctx context.Context, backend, server, addr string, port int, opts []string) error {
	ref, err := serverRef(backend, server)
	if err == nil {
		err = validIP(addr)
	}
	if err == nil {
		err = validPort(port)
	}
	for _, o := range opts {
		if err != nil {
			break
		}
		if err = validToken("server option", o); err == nil && o == "enabled" {
			err = fmt.Errorf(`option "enabled" refused: on HAProxy 2.6 a server added with it gets no traffic and corrupts the backend's active-server count; the server starts in maint, use EnableServer: %w`, ErrInvalidArgument)
		}
	}
	if err != nil {
		return opErr("add server", backend+"/"+server, err)
	}
	cmd := "add server " + ref + " " + net.JoinHostPort(addr, strconv.Itoa(port))
	if len(opts) > 0 {
		cmd += " " + strings.Join(opts, " ")
	}
	_, err = c.command(ctx, cmd, func(a string) bool { return strings.HasPrefix(a, "New server registered.") })
	return classifyIDInUse(err, server)
}

// classifyIDInUse names what an "id" clash means. HAProxy checks a custom
// id before the name, so re-adding a server that exists with the same id
// answers "'id' : custom id 42 already used at h.cfg:10 ('server s1')."
// rather than "Already exists a server with the same name".
func classifyIDInUse(err error, server string) error {
	var ce *CommandError
	if !errors.As(err, &ce) || !errors.Is(ce.Err, ErrCommandFailed) {
		return err
	}
	line := firstLine(ce.Output)
	if !strings.HasPrefix(line, "'id' : custom id ") || !strings.Contains(line, " already used at ") {
		return err
	}
	if strings.HasSuffix(line, "('server "+server+"').") {
		ce.Err = ErrServerExists
	} else {
		ce.Err = ErrServerIDInUse
	}
	return ce
}

// AddServerReady adds a dynamic server and brings it into rotation, in the
// order that works on 2.6.12: add server (in maint), enable health when
// opts have "check", enable agent when they have "agent-check", then state
// ready. If a later step fails it removes the half-added server and
// returns the step's error.
func (c *Client) AddServerReady(ctx context.Context, backend, server, addr string, port int, opts []string) error {
	if err := c.AddServer(ctx, backend, server, addr, port, opts); err != nil {
		return err
	}
	undo := func(cause error) error {
		// The caller's ctx may be what failed: give the cleanup its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		if err := c.RemoveServer(cctx, backend, server); err != nil {
			c.log.Warn("runtime api: could not remove half-added server",
				zap.String("backend", backend), zap.String("server", server), zap.Error(err))
			return errors.Join(cause, fmt.Errorf("runtimeapi: remove half-added server %s/%s: %w", backend, server, err))
		}
		return cause
	}
	if slices.Contains(opts, "check") {
		if err := c.EnableHealth(ctx, backend, server); err != nil {
			return undo(err)
		}
	}
	if slices.Contains(opts, "agent-check") {
		if err := c.EnableAgent(ctx, backend, server); err != nil {
			return undo(err)
		}
	}
	if err := c.EnableServer(ctx, backend, server); err != nil {
		return undo(err)
	}
	return nil
}

// DelServer deletes a server (dynamic, or static until the next reload).
// HAProxy requires maintenance (ErrServerNotInMaint) and no active or idle
// connection nor queued request (ErrServerHasConnections).
func (c *Client) DelServer(ctx context.Context, backend, server string) error {
	ref, err := serverRef(backend, server)
	if err != nil {
		return opErr("delete server", backend+"/"+server, err)
	}
	_, err = c.command(ctx, "del server "+ref, func(a string) bool { return strings.HasPrefix(a, "Server deleted.") })
	return err
}

// RemoveServer puts the server in maintenance and deletes it. Draining it
// first is the caller's job. With sessions still running or queued it
// returns ErrServerHasConnections and leaves the server in maintenance:
// retry later (WaitServerIdle).
//
// HAProxy 2.6 also refuses to delete a server that only has idle pooled
// connections left (after any keep-alive traffic), and purges those only
// after two or three pool-purge-delay periods (about 15 s by default).
// Changing a server's address closes its idle connections at once, so when
// "show stat" reports no session and no queue, RemoveServer points the
// server (in maintenance, about to go) at 192.0.2.1:9 (TEST-NET-1) and
// deletes it again.
func (c *Client) RemoveServer(ctx context.Context, backend, server string) error {
	if err := c.DisableServer(ctx, backend, server); err != nil {
		return err
	}
	err := c.DelServer(ctx, backend, server)
	if !errors.Is(err, ErrServerHasConnections) {
		return err
	}
	st, serr := c.ServerState(ctx, backend, server)
	if serr != nil {
		return err
	}
	if busy, serr := c.serverBusy(ctx, backend, server); serr != nil || busy {
		return err
	}
	parking := "192.0.2.1"
	if st.Address == parking {
		parking = "192.0.2.2"
	}
	c.log.Debug("runtime api: closing idle connections before deleting the server",
		zap.String("backend", backend), zap.String("server", server), zap.String("old_addr", st.Address))
	if serr := c.SetServerAddr(ctx, backend, server, parking, 9); serr != nil {
		return err
	}
	return c.DelServer(ctx, backend, server)
}

// serverBusy reports current sessions or queued requests on the server.
func (c *Client) serverBusy(ctx context.Context, backend, server string) (bool, error) {
	rows, err := c.ShowStat(ctx, backend)
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if r.Type == StatTypeServer && r.Server == server {
			return r.Scur != 0 || r.Qcur != 0, nil
		}
	}
	return false, &CommandError{Command: "show stat " + backend + " -1 -1", Err: ErrNoSuchServer}
}

// WaitServerIdle polls "show stat" until the server has no current
// session and no queued request, or ctx ends. Useful between a drain and
// RemoveServer.
func (c *Client) WaitServerIdle(ctx context.Context, backend, server string, every time.Duration) error {
	if _, err := serverRef(backend, server); err != nil {
		return opErr("wait for idle server", backend+"/"+server, err)
	}
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	for {
		busy, err := c.serverBusy(ctx, backend, server)
		if err != nil || !busy {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runtimeapi: wait for idle server %s/%s: %w", backend, server, ctx.Err())
		case <-time.After(every):
		}
	}
}
