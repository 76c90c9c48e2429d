package bluegreen

import "errors"

// Failure classes, one per marathon-lb exit code (§9.4). ExitCode maps an
// error wrapping one of them to that code.
var (
	ErrDeclined      = errors.New("declined")                       // 1: the operator answered no
	ErrInProgress    = errors.New("a deployment is in progress")    // 2
	ErrHook          = errors.New("pre-kill hook failed")           // 2
	ErrRolledBack    = errors.New("deployment failed, rolled back") // 2 (ours: the new colour never became healthy)
	ErrInvalidArgs   = errors.New("invalid arguments")              // 3
	ErrMissingField  = errors.New("missing field")                  // 4
	ErrLoadBalancer  = errors.New("load balancer stats")            // 5
	ErrMarathonQuery = errors.New("marathon query failed")          // 6
	ErrCreate        = errors.New("create failed")                  // 7
	ErrDelete        = errors.New("delete failed")                  // 8
	ErrScale         = errors.New("scale or kill failed")           // 9
)

// Exit codes, as marathon-lb's zdd.
const (
	ExitOK           = 0
	ExitDeclined     = 1
	ExitFailed       = 2
	ExitInvalidArgs  = 3
	ExitMissingField = 4
	ExitLBError      = 5
	ExitMarathon     = 6
	ExitCreate       = 7
	ExitDelete       = 8
	ExitScale        = 9
)

// ExitCode is the process exit code for err (nil → 0; unclassified → 2).
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrDeclined):
		return ExitDeclined
	case errors.Is(err, ErrInvalidArgs):
		return ExitInvalidArgs
	case errors.Is(err, ErrMissingField):
		return ExitMissingField
	case errors.Is(err, ErrLoadBalancer):
		return ExitLBError
	case errors.Is(err, ErrMarathonQuery):
		return ExitMarathon
	case errors.Is(err, ErrCreate):
		return ExitCreate
	case errors.Is(err, ErrDelete):
		return ExitDelete
	case errors.Is(err, ErrScale):
		return ExitScale
	}
	return ExitFailed
}
