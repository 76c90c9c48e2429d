package runtimeapi

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. A *CommandError wraps one of the answer sentinels, so
// callers decide with errors.Is.
var (
	ErrNoSuchServer              = errors.New("no such server")
	ErrNoSuchBackend             = errors.New("no such backend")
	ErrDynamicServersUnsupported = errors.New("backend does not support dynamic servers (static load-balancing algorithm)")
	ErrServerNotInMaint          = errors.New("server is not in maintenance mode")
	ErrServerHasConnections      = errors.New("server still has connections")
	ErrServerExists              = errors.New("server already exists")
	ErrServerIDInUse             = errors.New("server id already used by another server")
	ErrNoHealthCheck             = errors.New("no health check configured on the server")
	ErrNoAgentCheck              = errors.New("no agent check configured on the server")
	ErrPermissionDenied          = errors.New("permission denied (stats socket level too low)")
	ErrUnknownCommand            = errors.New("unknown command")
	ErrNoSuchMap                 = errors.New("no such map")
	ErrMapEntryNotFound          = errors.New("map entry not found")
	ErrMapVersion                = errors.New("map version out of range")
	// ErrCommandFailed is any other answer that means failure.
	ErrCommandFailed = errors.New("command failed")

	// ErrInvalidArgument is returned before anything is sent.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnreachable means the socket could not be reached or the
	// exchange broke off (dial, write, read, timeout).
	ErrUnreachable = errors.New("haproxy runtime api unreachable")
	// ErrProtocol means the answer could not be framed or parsed.
	ErrProtocol = errors.New("unexpected haproxy runtime api answer")
)

// CommandError is a command HAProxy answered with a failure.
type CommandError struct {
	Command string
	// Output is HAProxy's answer, without trailing newlines.
	Output string
	// Err is one of the sentinels above (ErrCommandFailed when the
	// answer is not one we recognise).
	Err error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("haproxy runtime api: %q: %v: %s", e.Command, e.Err, firstLine(e.Output))
}

func (e *CommandError) Unwrap() error { return e.Err }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// failureAnswers are answers HAProxy 2.6 only prints on failure, matched
// against the answer's first line (exactly, or as a prefix when the line
// continues with details).
var failureAnswers = []struct {
	text   string
	prefix bool
	err    error
}{
	{"No such server.", false, ErrNoSuchServer},
	{"No such backend.", false, ErrNoSuchBackend},
	{"Can't find backend.", false, ErrNoSuchBackend}, // show servers state <unknown>
	{"No such proxy.", false, ErrNoSuchBackend},      // show stat <unknown> -1 -1
	{"Require 'backend/server'.", false, ErrInvalidArgument},
	{"Unknown command", true, ErrUnknownCommand}, // ", but maybe one of the following ones is a better match:" + help
	{"Backend must use a dynamic load balancing to support dynamic servers.", false, ErrDynamicServersUnsupported},
	{"Only servers in maintenance mode can be deleted.", false, ErrServerNotInMaint},
	{"Server still has connections attached to it, cannot remove it.", false, ErrServerHasConnections},
	{"Already exists a server with the same name in backend.", false, ErrServerExists},
	{"Health check was not configured on this server, cannot enable.", false, ErrNoHealthCheck},
	{"Agent was not configured on this server, cannot enable.", false, ErrNoAgentCheck},
	{"Permission denied", true, ErrPermissionDenied},
	{"Unknown map identifier.", true, ErrNoSuchMap},
	{"Key not found.", false, ErrMapEntryNotFound},   // del map
	{"entry not found.", false, ErrMapEntryNotFound}, // set map
	{"Version number out of range.", false, ErrMapVersion},
	{"Version number in the future", true, ErrMapVersion},
	{"Missing version number.", false, ErrMapVersion},
}

// CheckAnswer returns a *CommandError when answer is one HAProxy prints
// only on failure, and nil otherwise. Nil does not prove success: most
// failures are command-specific, which the typed helpers check.
func CheckAnswer(cmd, answer string) error {
	if err := classify(answer); err != nil {
		return &CommandError{Command: cmd, Output: strings.TrimRight(answer, "\n"), Err: err}
	}
	return nil
}

func classify(answer string) error {
	line := strings.TrimSpace(answer)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if line == "" {
		return nil
	}
	for _, f := range failureAnswers {
		if line == f.text || (f.prefix && strings.HasPrefix(line, f.text)) {
			return f.err
		}
	}
	return nil
}

// failed builds the error for an answer a typed helper did not expect.
func failed(cmd, answer string) error {
	err := classify(answer)
	if err == nil {
		err = ErrCommandFailed
	}
	return &CommandError{Command: cmd, Output: strings.TrimRight(answer, "\n"), Err: err}
}
