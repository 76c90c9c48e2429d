package sync

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// Reconcile syncs (configuration drift moves the version, so it is re-read
// and repaired), then compares HAProxy's live servers with the desired
// state and repairs every difference someone made out of band: a server
// deleted, moved or put in maintenance on the socket, or one added by
// hand. Each repair is logged and returned.
func (s *Syncer) Reconcile(ctx context.Context) (Result, []LiveDiff, error) {
	r, err := s.Sync(ctx)
	if err != nil || s.Runtime == nil {
		return r, nil, err
	}
	diffs, err := LiveDiffs(ctx, s.Runtime, r.Build.State)
	if err != nil {
		return r, nil, err
	}
	var repaired []LiveDiff
	for _, d := range diffs {
		if d.Kind == LiveUnwanted && s.drains != nil && s.drains.draining(d.Backend, d.Server) {
			continue // on its way out already
		}
		if d.Kind == LiveMissing && d.Server != "" && d.Want.Port == nil {
			s.log().Error("server on a socket missing from HAProxy; it needs a reload", zap.String("backend", d.Backend), zap.String("server", d.Server))
			continue
		}
		if d.Kind == LiveMissing && d.Server == "" {
			// A whole backend missing is a configuration the running
			// HAProxy does not have: only a reload can fix it.
			s.log().Error("backend not running in HAProxy; it needs a reload", zap.String("backend", d.Backend))
			continue
		}
		if err := s.repair(ctx, d); err != nil {
			return r, repaired, fmt.Errorf("repair %s: %w", d, err)
		}
		s.log().Warn("repaired a change made out of band", zap.String("backend", d.Backend), zap.String("server", d.Server),
			zap.String("kind", d.Kind), zap.String("difference", d.String()))
		repaired = append(repaired, d)
	}
	return r, repaired, nil
}

func (s *Syncer) repair(ctx context.Context, d LiveDiff) error {
	switch d.Kind {
	case LiveMissing:
		return s.Runtime.AddServerReady(ctx, d.Backend, d.Want.Name, d.Want.Address, int(*d.Want.Port), serverOptions(*d.Want))
	case LiveAddress:
		return s.Runtime.SetServerAddr(ctx, d.Backend, d.Server, d.Want.Address, int(*d.Want.Port))
	case LiveMaint:
		return s.Runtime.SetServerState(ctx, d.Backend, d.Server, "ready")
	case LiveUnwanted:
		_, err := s.drainer().remove(ctx, s.Runtime, d.Backend, d.Server, s.log())
		return err
	}
	return nil
}
