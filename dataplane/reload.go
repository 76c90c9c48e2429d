package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Reload reads one reload's state. While pending the API answers
// {"status":"in_progress"} without an id; the id is filled in here.
func (c *Client) Reload(ctx context.Context, id string) (Reload, error) {
	var out Reload
	_, err := c.Do(ctx, "GET", svc+"/reloads/"+url.PathEscape(id), nil, nil, &out)
	if err == nil && out.ID == "" {
		out.ID = id
	}
	return out, err
}

// Reloads lists the failed reloads, the last success and any in progress.
// Forced reloads (force_reload=true) are never listed.
func (c *Client) Reloads(ctx context.Context) ([]Reload, error) {
	var out []Reload
	_, err := c.Do(ctx, "GET", svc+"/reloads", nil, nil, &out)
	return out, err
}

// WaitReload polls a reload every ReloadPollInterval until it succeeded
// (nil error), failed (an error wrapping ErrReloadFailed that carries the
// reload's response, i.e. the reload command's stderr), ctx ended or
// ReloadTimeout passed (an error wrapping context.DeadlineExceeded).
// Transport errors while polling are retried until then.
func (c *Client) WaitReload(ctx context.Context, id string) (Reload, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, c.cfg.ReloadTimeout)
	defer cancel()
	t := time.NewTicker(c.cfg.ReloadPollInterval)
	defer t.Stop()
	var last Reload
	for {
		r, err := c.Reload(wctx, id)
		switch {
		case err == nil:
			last = r
		case errors.Is(err, ErrUnreachable):
			c.log.Debug("reload poll failed; retrying", zap.String("reload_id", id), zap.Error(err))
		case wctx.Err() == nil:
			return r, fmt.Errorf("wait for reload %s: %w", id, err)
		}
		switch last.Status {
		case ReloadSucceeded:
			c.log.Debug("reload succeeded", zap.String("reload_id", id), zap.Duration("duration", time.Since(start)))
			return last, nil
		case ReloadFailed:
			c.log.Warn("reload failed", zap.String("reload_id", id), zap.String("response", strings.TrimSpace(last.Response)))
			return last, fmt.Errorf("reload %s: %w: %s", id, ErrReloadFailed, strings.TrimSpace(last.Response))
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return last, fmt.Errorf("wait for reload %s: %w", id, ctx.Err())
			}
			return last, fmt.Errorf("wait for reload %s: still %s after %s: %w", id, last.Status, c.cfg.ReloadTimeout, context.DeadlineExceeded)
		case <-t.C:
		}
	}
}
