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
)

// Sentinel errors; *APIError matches them with errors.Is by HTTP status.
var (
	ErrConflict            = errors.New("conflict (version mismatch or object exists)")
	ErrNotFound            = errors.New("not found")
	ErrBadRequest          = errors.New("bad request")
	ErrNotAcceptable       = errors.New("not acceptable (outdated or failed transaction)")
	ErrTooManyTransactions = errors.New("too many open transactions")
	ErrUnauthorized        = errors.New("unauthorized")
	ErrUnprocessable       = errors.New("schema validation failed")
	ErrReloadFailed        = errors.New("haproxy reload failed")
	ErrUnreachable         = errors.New("data plane api unreachable")
	ErrServer              = errors.New("data plane api internal error")
)

// APIError is a non-2xx answer. Code is the body's code (6xx for schema
// validation errors answered with 422).
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

// Is maps the status to the sentinels above.
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
	case ErrServer:
		return e.Status >= 500
	}
	return false
}
