// Package pause holds the one way this project pauses: for a while, or
// until the context ends, whichever comes first.
package pause

import (
	"context"
	"time"
)

// For waits d, or until ctx ends (returning its error).
func For(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
