package runtimeapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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
	cmd := "show servers state"
	if backend != "" {
		if err := validName("backend", backend); err != nil {
			return nil, opErr("show servers state of", backend, err)
		}
		cmd += " " + backend
	}
	out, err := c.Execute(ctx, cmd)
	if err != nil {
		return nil, err
	}
	states, err := ParseServersState(out)
	if err != nil {
		return nil, fmt.Errorf("runtimeapi: %q: %w", cmd, err)
	}
	return states, nil
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
	lines := strings.Split(strings.TrimRight(answer, "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("%w: want format version 1, got %q", ErrProtocol, firstLine(answer))
	}
	var cols map[string]int
	var out []ServerState
	for _, line := range lines[1:] {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			if cols == nil {
				cols = map[string]int{}
				for i, name := range strings.Fields(h) {
					cols[name] = i
				}
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if cols == nil {
			return nil, fmt.Errorf("%w: server line before the header: %q", ErrProtocol, line)
		}
		f := strings.Fields(line)
		p := fieldParser{cols: cols, f: f}
		s := ServerState{
			BackendID:          p.int("be_id"),
			BackendName:        p.str("be_name"),
			ID:                 p.int("srv_id"),
			Name:               p.str("srv_name"),
			Address:            p.str("srv_addr"),
			OpState:            OpState(p.int("srv_op_state")),
			AdminState:         AdminState(p.int("srv_admin_state")),
			UserWeight:         p.int("srv_uweight"),
			InitialWeight:      p.int("srv_iweight"),
			SecondsSinceChange: int64(p.int("srv_time_since_last_change")),
			CheckStatus:        p.int("srv_check_status"),
			CheckResult:        p.int("srv_check_result"),
			CheckHealth:        p.int("srv_check_health"),
			CheckState:         p.int("srv_check_state"),
			AgentState:         p.int("srv_agent_state"),
			BackendForcedID:    p.int("bk_f_forced_id") != 0,
			ForcedID:           p.int("srv_f_forced_id") != 0,
			FQDN:               p.str("srv_fqdn"),
			Port:               p.int("srv_port"),
			SRVRecord:          p.str("srvrecord"),
			UseSSL:             p.int("srv_use_ssl") != 0,
			CheckPort:          p.int("srv_check_port"),
			CheckAddr:          p.str("srv_check_addr"),
			AgentAddr:          p.str("srv_agent_addr"),
			AgentPort:          p.int("srv_agent_port"),
		}
		if p.err != nil {
			return nil, fmt.Errorf("%w: line %q: %w", ErrProtocol, line, p.err)
		}
		out = append(out, s)
	}
	if cols == nil {
		return nil, fmt.Errorf("%w: no header line in %q", ErrProtocol, firstLine(answer))
	}
	return out, nil
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
