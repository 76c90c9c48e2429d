// Package dataplane is the HAProxy Data Plane API v2 client and the models
// it sends, named as in the v2.9 specification. It tracks the configuration
// version from every response, runs transactions (always deleting them on
// failure) and follows reloads. It never decides what to change: that is
// package sync.
package dataplane

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors; *APIError matches them with errors.Is by HTTP status.
var (
	// ErrConflict is a 409: version mismatch or object already exists.
	ErrConflict = errors.New("conflict (version mismatch or object exists)")
	// ErrNotFound is a 404: missing object, transaction or reload.
	ErrNotFound = errors.New("not found")
	// ErrBadRequest is a 400: missing parent, unknown transaction, index
	// out of range, both or neither of version/transaction_id, or a
	// configuration that fails haproxy -c.
	ErrBadRequest = errors.New("bad request")
	// ErrNotAcceptable is a 406: commit of an outdated or failed transaction.
	ErrNotAcceptable = errors.New("not acceptable (outdated or failed transaction)")
	// ErrTooManyTransactions is a 429: max_open_transactions reached.
	ErrTooManyTransactions = errors.New("too many open transactions")
	// ErrUnauthorized is a 401 (or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnprocessable is a 422: schema validation (codes 6xx).
	ErrUnprocessable = errors.New("schema validation failed")
	// ErrReloadFailed is a reload reported as failed, or a 400 "Reload
	// failed" answer to a force_reload write.
	ErrReloadFailed = errors.New("haproxy reload failed")
	// ErrUnreachable is a transport failure: refused, reset, timed out.
	ErrUnreachable = errors.New("data plane api unreachable")
	// ErrServer is any 5xx (runtime command failures answer 500).
	ErrServer = errors.New("data plane api internal error")
	// ErrInvalidConfig is a 400 "validation error": haproxy -c refused
	// the configuration the write would produce.
	ErrInvalidConfig = errors.New("haproxy refused the configuration")
)

// APIError is a non-2xx answer. Code is the body's code (6xx for schema
// validation errors answered with 422). Message never holds the password.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("data plane api %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// Is maps the status (and, for reload failures, the message) to the
// sentinels above.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrNotAcceptable:
		return e.Status == http.StatusNotAcceptable
	case ErrTooManyTransactions:
		return e.Status == http.StatusTooManyRequests
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrUnprocessable:
		return e.Status == http.StatusUnprocessableEntity
	case ErrReloadFailed:
		// force_reload answers 400 "Reload failed: <reload_cmd output>" (notes §4.3).
		return e.Status == http.StatusBadRequest && strings.HasPrefix(e.Message, "Reload failed")
	case ErrServer:
		return e.Status >= 500
	case ErrInvalidConfig:
		return e.Status == http.StatusBadRequest && strings.HasPrefix(e.Message, "validation error")
	}
	return false
}

// IsOutdated reports whether err is a 406 for an outdated transaction (as
// opposed to a failed one, which must not be retried).
func IsOutdated(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotAcceptable && strings.Contains(apiErr.Message, "outdated")
}

const redacted = "[REDACTED]"

// redactor removes a secret from text that ends up in errors and logs. The
// API echoes a wrong password in its 401 body ("invalid password: <pass>",
// dataplaneapi configuration/user.go), so every message goes through it.
type redactor struct{ secret string }

func (r redactor) String(s string) string {
	if i := strings.Index(s, "invalid password:"); i >= 0 {
		s = s[:i] + "invalid password: " + redacted
	}
	// Very short secrets would mangle every message; they are only ever
	// echoed by the 401 handled above.
	if len(r.secret) >= 4 {
		s = strings.ReplaceAll(s, r.secret, redacted)
	}
	return s
}

// redactedError keeps the chain for errors.Is/As but prints redacted text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (r redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := r.String(msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}
