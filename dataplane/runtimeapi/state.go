package runtimeapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// OpState is srv_op_state of "show servers state".
type OpState int

// Operational states (SRV_ST_*).
const (
	OpStopped  OpState = 0 // down
	OpStarting OpState = 1 // warming up (slowstart)
	OpRunning  OpState = 2 // fully up
	OpStopping OpState = 3 // up but soft-stopping
)

func (s OpState) String() string {
	switch s {
	case OpStopped:
		return "stopped"
	case OpStarting:
		return "starting"
	case OpRunning:
		return "running"
	case OpStopping:
		return "stopping"
	}
	return "opstate(" + strconv.Itoa(int(s)) + ")"
}

// AdminState is the srv_admin_state bit mask (SRV_ADMF_*).
type AdminState int

// Administrative state bits.
const (
	AdminForcedMaint     AdminState = 0x01 // set maint from the CLI (or "disabled" in the config)
	AdminInheritedMaint  AdminState = 0x02 // tracks a server in maintenance
	AdminConfigMaint     AdminState = 0x04 // "disabled" in the configuration
	AdminForcedDrain     AdminState = 0x08 // set drain from the CLI
	AdminInheritedDrain  AdminState = 0x10 // tracks a draining server
	AdminResolutionMaint AdminState = 0x20 // address resolution failed
	AdminFQDNSet         AdminState = 0x40 // FQDN set from the CLI (not a maintenance)

	adminMaint = AdminForcedMaint | AdminInheritedMaint | AdminConfigMaint | AdminResolutionMaint
	adminDrain = AdminForcedDrain | AdminInheritedDrain
)

// ServerState is one line of "show servers state" (format version 1).
// "-" in string columns is returned as "".
type ServerState struct {
	BackendID   int
	BackendName string
	ID          int
	Name        string
	Address     string
	OpState     OpState
	AdminState  AdminState
	// UserWeight is the current weight, InitialWeight the configured one.
	UserWeight, InitialWeight int
	SecondsSinceChange        int64
	// Check columns are HAProxy's numbers: CheckStatus is HCHK_STATUS_*,
	// CheckResult 0 unknown 1 neutral 2 failed 3 passed 4 condpass,
	// CheckState/AgentState a CHK_ST_* mask (0x04 enabled, 0x08 paused).
	CheckStatus, CheckResult, CheckHealth, CheckState, AgentState int
	BackendForcedID, ForcedID                                     bool
	FQDN                                                          string
	Port                                                          int
	SRVRecord                                                     string
	UseSSL                                                        bool
	CheckPort                                                     int
	CheckAddr                                                     string
	AgentAddr                                                     string
	AgentPort                                                     int
}

// InMaint reports any maintenance bit (forced, inherited, configured, or
// failed resolution).
func (s ServerState) InMaint() bool { return s.AdminState&adminMaint != 0 }

// Draining reports a forced or inherited drain.
func (s ServerState) Draining() bool { return s.AdminState&adminDrain != 0 }

// Ready reports a server in rotation: neither in maintenance nor draining,
// and operationally up or starting.
func (s ServerState) Ready() bool {
	return !s.InMaint() && !s.Draining() && (s.OpState == OpRunning || s.OpState == OpStarting)
}

// ShowServersState runs "show servers state [<backend>]" ("" = all
// backends). ErrNoSuchBackend for an unknown backend.
func (c *Client) ShowServersState(ctx context.Context, backend string) ([]ServerState, error) {
	var out []ServerState
	if err := c.EachServerState(ctx, backend, func(s ServerState) error {
		out = append(out, s)
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// EachServerState runs "show servers state [<backend>]" ("" = all
// backends) and calls fn with each server as its line arrives, never
// holding the whole answer: about 7 MB of text, and twice that parsed, at
// 50,000 servers. An error from fn ends it with that error;
// ErrNoSuchBackend for an unknown backend.
func (c *Client) EachServerState(ctx context.Context, backend string, fn func(ServerState) error) error {
	cmd := "show servers state"
	if backend != "" {
		if err := validName("backend", backend); err != nil {
			return opErr("show servers state of", backend, err)
		}
		cmd += " " + backend
	}
	if err := checkCommand(cmd); err != nil {
		return err
	}
	start := time.Now()
	var (
		p     serversStateParser
		other strings.Builder // an answer that is not the table (an error)
	)
	lines := &lineWriter{fn: func(line string) error {
		if other.Len() > 0 || (p.lines == 0 && strings.TrimSpace(line) != "1") {
			if other.Len() < 64<<10 {
				other.WriteString(line + "\n")
			}
			return nil
		}
		s, ok, err := p.line(line)
		if err != nil || !ok {
			return err
		}
		return fn(s)
	}}
	err := c.exchangeTo(ctx, []byte(cmd+"\n"), true, lines)
	if err == nil {
		err = lines.flush()
	}
	switch {
	case err != nil:
	case other.Len() > 0:
		if err = CheckAnswer(cmd, other.String()); err == nil {
			err = fmt.Errorf("%w: want format version 1, got %q", ErrProtocol, firstLine(other.String()))
		}
	default:
		err = p.end()
	}
	// fn's own errors go back as they are.
	switch {
	case err == nil:
	case errors.Is(err, ErrUnreachable):
		err = fmt.Errorf("runtimeapi: %s: %q: %w", c.Address(), cmd, err)
	case errors.Is(err, ErrProtocol):
		err = fmt.Errorf("runtimeapi: %q: %w", cmd, err)
	}
	c.log.Debug("runtime api", zap.String("op", "each server state"), zap.String("command", cmd), zap.Int("lines", p.lines),
		zap.Duration("duration", time.Since(start)), zap.Error(err))
	return err
}

// lineWriter calls fn with each complete line written to it (without its
// newline).
type lineWriter struct {
	partial []byte
	fn      func(line string) error
}

func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.partial = append(w.partial, b...)
			return n, nil
		}
		var line string
		if len(w.partial) > 0 {
			w.partial = append(w.partial, b[:i]...)
			line, w.partial = string(w.partial), w.partial[:0]
		} else {
			line = string(b[:i])
		}
		if err := w.fn(line); err != nil {
			return 0, err
		}
		b = b[i+1:]
	}
}

// flush hands over a last line without a newline.
func (w *lineWriter) flush() error {
	if len(w.partial) == 0 {
		return nil
	}
	line := string(w.partial)
	w.partial = nil
	return w.fn(line)
}

// ServerState returns one server's line; ErrNoSuchServer when the backend
// has no such server.
func (c *Client) ServerState(ctx context.Context, backend, server string) (ServerState, error) {
	if _, err := serverRef(backend, server); err != nil {
		return ServerState{}, opErr("show state of server", backend+"/"+server, err)
	}
	states, err := c.ShowServersState(ctx, backend)
	if err != nil {
		return ServerState{}, err
	}
	for _, s := range states {
		if s.Name == server {
			return s, nil
		}
	}
	return ServerState{}, &CommandError{Command: "show servers state " + backend, Err: ErrNoSuchServer}
}

// ParseServersState parses a "show servers state" answer: a version line
// ("1"), a "# "-prefixed header naming the columns, then one line per
// server. Columns are read by header name, so columns added by later
// versions are ignored.
func ParseServersState(answer string) ([]ServerState, error) {
	var p serversStateParser
	out := make([]ServerState, 0, strings.Count(answer, "\n"))
	for line := range strings.Lines(answer) {
		s, ok, err := p.line(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// serversStateParser reads a "show servers state" answer line by line.
type serversStateParser struct {
	first string // the first line, for errors
	lines int
	cols  map[string]int
}

// line parses one line of the answer (without its newline); ok is set
// for a server's line.
func (p *serversStateParser) line(line string) (s ServerState, ok bool, err error) {
	p.lines++
	if p.lines == 1 {
		p.first = line
		if strings.TrimSpace(line) != "1" {
			return s, false, fmt.Errorf("%w: want format version 1, got %q", ErrProtocol, line)
		}
		return s, false, nil
	}
	if h, isHeader := strings.CutPrefix(line, "#"); isHeader {
		if p.cols == nil {
			p.cols = map[string]int{}
			for i, name := range strings.Fields(h) {
				p.cols[name] = i
			}
		}
		return s, false, nil
	}
	if strings.TrimSpace(line) == "" {
		return s, false, nil
	}
	if p.cols == nil {
		return s, false, fmt.Errorf("%w: server line before the header: %q", ErrProtocol, line)
	}
	f := fieldParser{cols: p.cols, f: strings.Fields(line)}
	s = ServerState{
		BackendID:          f.int("be_id"),
		BackendName:        f.str("be_name"),
		ID:                 f.int("srv_id"),
		Name:               f.str("srv_name"),
		Address:            f.str("srv_addr"),
		OpState:            OpState(f.int("srv_op_state")),
		AdminState:         AdminState(f.int("srv_admin_state")),
		UserWeight:         f.int("srv_uweight"),
		InitialWeight:      f.int("srv_iweight"),
		SecondsSinceChange: int64(f.int("srv_time_since_last_change")),
		CheckStatus:        f.int("srv_check_status"),
		CheckResult:        f.int("srv_check_result"),
		CheckHealth:        f.int("srv_check_health"),
		CheckState:         f.int("srv_check_state"),
		AgentState:         f.int("srv_agent_state"),
		BackendForcedID:    f.int("bk_f_forced_id") != 0,
		ForcedID:           f.int("srv_f_forced_id") != 0,
		FQDN:               f.str("srv_fqdn"),
		Port:               f.int("srv_port"),
		SRVRecord:          f.str("srvrecord"),
		UseSSL:             f.int("srv_use_ssl") != 0,
		CheckPort:          f.int("srv_check_port"),
		CheckAddr:          f.str("srv_check_addr"),
		AgentAddr:          f.str("srv_agent_addr"),
		AgentPort:          f.int("srv_agent_port"),
	}
	if f.err != nil {
		return ServerState{}, false, fmt.Errorf("%w: line %q: %w", ErrProtocol, line, f.err)
	}
	return s, true, nil
}

// end reports an answer that never had its header.
func (p *serversStateParser) end() error {
	if p.lines == 0 {
		return fmt.Errorf("%w: want format version 1, got an empty answer", ErrProtocol)
	}
	if p.cols == nil {
		return fmt.Errorf("%w: no header line in %q", ErrProtocol, p.first)
	}
	return nil
}

type fieldParser struct {
	cols map[string]int
	f    []string
	err  error
}

func (p *fieldParser) str(name string) string {
	i, ok := p.cols[name]
	if !ok || i >= len(p.f) || p.f[i] == "-" {
		return ""
	}
	return p.f[i]
}

func (p *fieldParser) int(name string) int {
	s := p.str(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("column %s: %w", name, err)
	}
	return n
}
