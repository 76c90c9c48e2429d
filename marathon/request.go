package marathon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"go.uber.org/zap"
)

// call is one REST request, relative to whichever base URL serves it.
type call struct {
	method string
	path   string // below the base URL, e.g. /v2/apps
	query  url.Values
	body   []byte // JSON; nil for none
	accept string // default application/json
	// stream, when set, reads a 2xx answer's body as it arrives (the
	// reply then has none); an error from it is the call's.
	stream func(body io.Reader) error
}

// reply is a 2xx answer.
type reply struct {
	url    string // base URL + path that answered
	status int
	body   []byte
}

// idempotent methods may be repeated on another URL after the request was
// sent; a write may already have been applied, so it is not.
func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// failoverStatus reports whether an HTTP status means "try the next
// Marathon". Marathon answers 503 when it knows no leader (elections) and a
// proxy or a non-leader answers 502/504 when the leader is gone. marathon-lb
// failed over on connection errors only and then failed the whole
// regeneration; moving on avoids that. 502/504 may hide an applied write, so
// writes fail over on 503 only.
func failoverStatus(method string, status int) bool {
	switch status {
	case http.StatusServiceUnavailable:
		return true
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return idempotent(method)
	}
	return false
}

// do sends cl to the preferred URL, then to the others in order on
// connection errors, timeouts and failoverStatus. A URL other than the
// preferred one that answers becomes preferred. Non-2xx answers are
// *APIError.
func (c *Client) do(ctx context.Context, cl call) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, fmt.Errorf("marathon %s %s: %w", cl.method, cl.path, err)
	}
	c.mu.Lock()
	start := c.preferred
	c.mu.Unlock()
	n := len(c.urls)
	failures := make([]string, 0, n)
	var last error
	for i := range n {
		idx := (start + i) % n
		base := c.urls[idx]
		target := base + cl.path
		began := time.Now()
		resp, wrote, err := c.send(ctx, cl, target)
		if err != nil {
			if ctx.Err() != nil {
				return reply{}, fmt.Errorf("marathon %s %s: %w", cl.method, target, ctx.Err())
			}
			if errors.Is(err, resty.ErrResponseBodyTooLarge) {
				return reply{}, fmt.Errorf("marathon %s %s: %w: body larger than %d bytes", cl.method, target, ErrInvalidResponse, c.maxBody)
			}
			if wrote && !idempotent(cl.method) {
				return reply{}, fmt.Errorf("marathon %s %s: %w: %w", cl.method, target, ErrOutcomeUnknown, err)
			}
			c.log.Warn("marathon request failed; trying the next URL",
				zap.String("method", cl.method), zap.String("url", target), zap.Duration("duration", time.Since(began)), zap.Error(err))
			failures = append(failures, base+": "+shortCause(err))
			last = err
			continue
		}
		status := resp.StatusCode()
		if failoverStatus(cl.method, status) {
			apiErr := newAPIError(cl.method, target, status, c.answerBody(cl, resp))
			c.log.Warn("marathon unavailable; trying the next URL",
				zap.String("method", cl.method), zap.String("url", target), zap.Int("status", status), zap.String("message", apiErr.Message))
			failures = append(failures, fmt.Sprintf("%s: %d %s: %s", base, status, http.StatusText(status), apiErr.Message))
			last = apiErr
			continue
		}
		if status == http.StatusBadGateway || status == http.StatusGatewayTimeout {
			// Only writes get here (see failoverStatus): the write may have
			// been applied, and this URL is no better than the preferred one.
			return reply{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, newAPIError(cl.method, target, status, c.answerBody(cl, resp)))
		}
		if idx != start {
			c.mu.Lock()
			c.preferred = idx
			c.mu.Unlock()
			c.log.Info("marathon failover: preferring another URL", zap.String("url", base), zap.String("previous", c.urls[start]))
		}
		c.log.Debug("marathon request", zap.String("method", cl.method), zap.String("url", target),
			zap.Int("status", status), zap.Duration("duration", time.Since(began)))
		if status < 200 || status > 299 {
			return reply{}, newAPIError(cl.method, target, status, c.answerBody(cl, resp))
		}
		if cl.stream != nil {
			err := c.readStream(cl, resp)
			if err != nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			if err != nil {
				return reply{}, fmt.Errorf("marathon %s %s: %w", cl.method, target, err)
			}
			return reply{url: target, status: status}, nil
		}
		return reply{url: target, status: status, body: resp.Body()}, nil
	}
	return reply{}, &unreachableError{
		msg:  fmt.Sprintf("marathon %s %s: %v: every URL failed: %s", cl.method, cl.path, ErrUnreachable, strings.Join(failures, "; ")),
		last: last,
	}
}

// unreachableError names every URL tried and why each failed; it wraps
// ErrUnreachable and the last cause (an *APIError for a 503, say).
type unreachableError struct {
	msg  string
	last error
}

func (e *unreachableError) Error() string   { return e.msg }
func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.last} }

// shortCause drops the "Get <url>:" prefix net/http puts on errors: the
// summary names the URL already.
func shortCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// send makes one attempt. wrote reports whether the request reached the
// wire, which decides whether a failed write may be repeated elsewhere.
func (c *Client) send(ctx context.Context, cl call, target string) (*resty.Response, bool, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			wrote.Store(true)
		}
	}}
	accept := cl.accept
	if accept == "" {
		accept = "application/json"
	}
	req := c.rest.R().SetContext(httptrace.WithClientTrace(ctx, trace)).SetHeader("Accept", accept)
	if cl.query != nil {
		req.SetQueryParamsFromValues(cl.query)
	}
	if cl.body != nil {
		req.SetHeader("Content-Type", "application/json").SetBody(cl.body)
	}
	if c.authValue != "" {
		req.SetHeader("Authorization", c.authValue)
	}
	if cl.stream != nil {
		req.SetDoNotParseResponse(true)
	}
	resp, err := req.Execute(cl.method, target)
	return resp, wrote.Load(), err
}

// answerBody is resp's body for an error message: read here (bounded) and
// closed when the call streams its answer.
func (c *Client) answerBody(cl call, resp *resty.Response) []byte {
	if cl.stream == nil {
		return resp.Body()
	}
	raw := resp.RawBody()
	if raw == nil {
		return nil
	}
	defer raw.Close()
	b, _ := io.ReadAll(io.LimitReader(raw, 64<<10))
	return b
}

// readStream hands a streamed 2xx body to cl.stream, no larger than the
// client's response limit, and closes it.
func (c *Client) readStream(cl call, resp *resty.Response) error {
	raw := resp.RawBody()
	if raw == nil {
		return fmt.Errorf("%w: empty body", ErrInvalidResponse)
	}
	defer raw.Close()
	limited := &limitedReader{r: raw, left: c.maxBody}
	err := cl.stream(limited)
	if limited.over {
		return fmt.Errorf("%w: body larger than %d bytes", ErrInvalidResponse, c.maxBody)
	}
	return err
}

// limitedReader fails once more than left bytes were read.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 && errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		l.over = true
		return 0, errors.New("response body too large")
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// doJSON sends cl and decodes the 2xx body into out.
func (c *Client) doJSON(ctx context.Context, cl call, out any) error {
	r, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	return decodeBody(cl.method, r, out, false)
}

// decodeBody decodes r.body into out; emptyOK accepts an empty body (some
// writes answer 202 with nothing) and leaves out untouched.
func decodeBody(method string, r reply, out any, emptyOK bool) error {
	if len(bytes.TrimSpace(r.body)) == 0 {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("marathon %s %s: %w: empty body", method, r.url, ErrInvalidResponse)
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return fmt.Errorf("marathon %s %s: %w: %w%s", method, r.url, ErrInvalidResponse, err, jsonOffset(err))
	}
	return nil
}
