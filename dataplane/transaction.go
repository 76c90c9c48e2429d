package dataplane

import (
	"context"
	"errors"
	"fmt"
	"github.com/marathon-dataplane/marathon-dataplane/internal/pause"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Tx is an open Data Plane API transaction. Writes inside it answer 202
// with the bare object, change only the transaction's copy, and are applied
// by Commit. Reads with txID = tx.ID see that copy.
type Tx struct {
	ID string
	// Version is the configuration version the transaction is based on.
	Version int64
	c       *Client
}

// cleanupTimeout bounds the DELETE of a transaction after a failure; it
// runs on a fresh context so a cancelled caller still cleans up.
const cleanupTimeout = 10 * time.Second

// StartTransaction opens a transaction at version (409 when stale, 429
// when 20 are already in progress).
func (c *Client) StartTransaction(ctx context.Context, version int64) (*Tx, error) {
	var t Transaction
	q := url.Values{"version": {strconv.FormatInt(version, 10)}}
	if _, err := c.Do(ctx, "POST", svc+"/transactions", q, nil, &t); err != nil {
		return nil, fmt.Errorf("start transaction at version %d: %w", version, err)
	}
	if t.ID == "" {
		return nil, errors.New("start transaction: answer has no id")
	}
	base := t.Version
	if base == 0 {
		base = version
	}
	return &Tx{ID: t.ID, Version: base, c: c}, nil
}

// Transactions lists transactions, optionally by status (in_progress,
// failed, outdated; "" = all).
func (c *Client) Transactions(ctx context.Context, status string) ([]Transaction, error) {
	var out []Transaction
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	_, err := c.Do(ctx, "GET", svc+"/transactions", q, nil, &out)
	return out, err
}

// DeleteTransaction removes a transaction of any status (204).
func (c *Client) DeleteTransaction(ctx context.Context, id string) error {
	_, err := c.Do(ctx, "DELETE", svc+"/transactions/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// CleanupTransactions deletes every failed and outdated transaction: they
// stay listed until deleted, and failed raw POSTs leave failed ones too
// (notes §3, §10.5). It returns how many it deleted.
func (c *Client) CleanupTransactions(ctx context.Context) (int, error) {
	txs, err := c.Transactions(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range txs {
		if t.Status != TransactionFailed && t.Status != TransactionOutdated {
			continue
		}
		if err := c.DeleteTransaction(ctx, t.ID); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // someone else cleaned it up
			}
			return n, err
		}
		c.log.Info("deleted stale transaction", zap.String("transaction", t.ID), zap.String("status", t.Status))
		n++
	}
	return n, nil
}

// Commit applies the transaction: 202 with the scheduled ReloadID (it does
// not wait). An invalid configuration answers 400 and leaves the
// transaction failed; an outdated or failed one answers 406; a version
// moved by a write outside transactions answers 409.
func (tx *Tx) Commit(ctx context.Context) (WriteResult, error) {
	return tx.commit(ctx, false)
}

// CommitForceReload commits and reloads inside the request (200, no
// ReloadID). A failed reload answers 400 "Reload failed: …", which matches
// ErrReloadFailed; the version has moved anyway (notes §4.3).
func (tx *Tx) CommitForceReload(ctx context.Context) (WriteResult, error) {
	return tx.commit(ctx, true)
}

func (tx *Tx) commit(ctx context.Context, force bool) (WriteResult, error) {
	var q url.Values
	if force {
		q = url.Values{"force_reload": {"true"}}
	}
	resp, err := tx.c.Do(ctx, "PUT", svc+"/transactions/"+url.PathEscape(tx.ID), q, nil, nil)
	if err != nil {
		return WriteResult{}, fmt.Errorf("commit transaction %s: %w", tx.ID, err)
	}
	return writeResult(resp), nil
}

// Delete discards the transaction.
func (tx *Tx) Delete(ctx context.Context) error { return tx.c.DeleteTransaction(ctx, tx.ID) }

// Discard deletes the transaction with its own short deadline, so that a
// cancelled caller context still cleans up.
func (tx *Tx) Discard() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := tx.Delete(ctx); err != nil && !errors.Is(err, ErrNotFound) {
		tx.c.log.Warn("could not delete transaction", zap.String("transaction", tx.ID), zap.Error(err))
		return
	}
	tx.c.log.Debug("deleted transaction", zap.String("transaction", tx.ID))
}

// WithTransaction reads the version, opens a transaction, runs fn and
// commits. On any error the transaction is deleted (with a fresh context,
// so a cancelled caller still cleans up). A 409 at start or commit and a
// 406 "outdated" at commit retry the whole thing, calling fn again, up to
// MaxConflictRetries; then the error wraps ErrConflict. An operation in fn
// answering 400 "transaction does not exist" for this transaction (outdated
// by another commit meanwhile) is retried the same way. With wait, a
// scheduled reload is awaited and a failed one returns ErrReloadFailed
// (the result is returned too: the configuration was committed).
func (c *Client) WithTransaction(ctx context.Context, wait bool, fn func(ctx context.Context, tx *Tx) error) (WriteResult, error) {
	var lastErr error
	for attempt := 0; attempt <= c.cfg.MaxConflictRetries; attempt++ {
		if attempt > 0 {
			if err := pause.For(ctx, time.Duration(attempt)*10*time.Millisecond); err != nil {
				return WriteResult{}, fmt.Errorf("transaction: %w (after %w)", err, lastErr)
			}
		}
		res, retry, err := c.transactionOnce(ctx, fn)
		if err == nil {
			if wait && res.ReloadID != "" {
				if _, err := c.WaitReload(ctx, res.ReloadID); err != nil {
					return res, err
				}
			}
			return res, nil
		}
		if !retry {
			return WriteResult{}, err
		}
		lastErr = err
		c.log.Info("transaction conflicted; retrying", zap.Int("attempt", attempt+1),
			zap.Int("max_retries", c.cfg.MaxConflictRetries), zap.Error(err))
	}
	if errors.Is(lastErr, ErrConflict) {
		return WriteResult{}, fmt.Errorf("transaction: gave up after %d retries: %w", c.cfg.MaxConflictRetries, lastErr)
	}
	return WriteResult{}, fmt.Errorf("transaction: gave up after %d retries: %w: %w", c.cfg.MaxConflictRetries, ErrConflict, lastErr)
}

// transactionOnce runs one attempt; retry reports a conflict worth
// retrying: 409 at start or commit, 406 outdated at commit, or an
// operation on this transaction after another commit outdated it.
func (c *Client) transactionOnce(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (WriteResult, bool, error) {
	v, err := c.Version(ctx)
	if err != nil {
		return WriteResult{}, false, err
	}
	tx, err := c.StartTransaction(ctx, v)
	if err != nil {
		return WriteResult{}, errors.Is(err, ErrConflict), err
	}
	if err := fn(ctx, tx); err != nil {
		tx.Discard()
		return WriteResult{}, txGone(err, tx.ID), err
	}
	res, err := tx.Commit(ctx)
	if err != nil {
		tx.Discard()
		return WriteResult{}, errors.Is(err, ErrConflict) || IsOutdated(err), err
	}
	c.log.Debug("transaction committed", zap.String("transaction", tx.ID), zap.Int64("base_version", tx.Version),
		zap.Int64("version", res.Version), zap.String("reload_id", res.ReloadID))
	return res, false, nil
}

// txGone reports the answer to an operation on a transaction that another
// commit outdated meanwhile: 400 "transaction does not exist: <id>" (notes
// §3). It is the same conflict as a 406 at commit, seen earlier.
func txGone(err error, id string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest &&
		strings.HasPrefix(apiErr.Message, "transaction does not exist") && strings.Contains(apiErr.Message, id)
}
