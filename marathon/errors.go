package marathon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Sentinel errors: callers choose a retry policy with errors.Is.
var (
	// ErrUnreachable: no configured Marathon answered usefully (connection
	// errors, timeouts, 502/503/504 everywhere). Safe to retry later.
	ErrUnreachable = errors.New("marathon unreachable")
	// ErrNotFound matches an *APIError with status 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict matches an *APIError with status 409 (app locked by a
	// deployment; retry with force or after the deployment).
	ErrConflict = errors.New("conflict (app locked by a deployment)")
	// ErrUnauthorized matches an *APIError with status 401 or 403.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalidResponse: Marathon answered, but not with what the call
	// expects (bad JSON, missing field, body over the size limit).
	ErrInvalidResponse = errors.New("invalid response from marathon")
	// ErrOutcomeUnknown: a write was sent and no answer came back, so
	// Marathon may or may not have applied it. Such a write is never
	// repeated on another URL: a second POST could create a duplicate.
	ErrOutcomeUnknown = errors.New("outcome unknown: the request was sent but no answer came back")
)

// APIError is a non-2xx answer from Marathon.
type APIError struct {
	Method string
	URL    string
	Status int
	// Message is Marathon's {"message": ...}, or the start of the body when
	// the body is not Marathon's error JSON (e.g. a proxy's HTML page).
	Message string
	// Details is Marathon's "details" (validation errors on 422), if any.
	Details json.RawMessage
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("marathon %s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is lets errors.Is map the status to the sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	}
	return false
}

// maxErrorText bounds body excerpts quoted in errors, so a huge HTML page
// or a broken event does not end up whole in a log line.
const maxErrorText = 200

func newAPIError(method, u string, status int, body []byte) *APIError {
	e := &APIError{Method: method, URL: u, Status: status}
	var b APIErrorBody
	if json.Unmarshal(body, &b) == nil && b.Message != "" {
		e.Message, e.Details = b.Message, b.Details
		return e
	}
	e.Message = excerpt(strings.TrimSpace(string(body)), maxErrorText)
	return e
}

// excerpt cuts s to at most n bytes without splitting a UTF-8 sequence.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// jsonOffset names the byte offset of a decoding failure, which the json
// error texts themselves leave out.
func jsonOffset(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf(" (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf(" (at byte %d)", typ.Offset)
	}
	return ""
}
