package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Tx is an open Data Plane API transaction. Writes inside it answer 202
// and are applied only by Commit.
type Tx struct {
	ID string
	// Version is the configuration version the transaction is based on.
	Version int64
	c       *Client
}

// StartTransaction opens a transaction at version.
func (c *Client) StartTransaction(ctx context.Context, version int64) (*Tx, error) {
	var t Transaction
	q := url.Values{"version": {strconv.FormatInt(version, 10)}}
	if _, err := c.Do(ctx, "POST", svc+"/transactions", q, nil, &t); err != nil {
		return nil, fmt.Errorf("start transaction: %w", err)
	}
	return &Tx{ID: t.ID, Version: version, c: c}, nil
}

// Transactions lists transactions, optionally by status.
func (c *Client) Transactions(ctx context.Context, status string) ([]Transaction, error) {
	var out []Transaction
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	_, err := c.Do(ctx, "GET", svc+"/transactions", q, nil, &out)
	return out, err
}

// DeleteTransaction removes a transaction.
func (c *Client) DeleteTransaction(ctx context.Context, id string) error {
	_, err := c.Do(ctx, "DELETE", svc+"/transactions/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// CleanupTransactions deletes failed and outdated transactions (they stay
// listed until deleted; raw POST failures leave failed ones too).
func (c *Client) CleanupTransactions(ctx context.Context) (int, error) {
	n := 0
	for _, status := range []string{TransactionFailed, TransactionOutdated} {
		txs, err := c.Transactions(ctx, status)
		if err != nil {
			return n, err
		}
		for _, t := range txs {
			if t.Status != status {
				continue
			}
			if err := c.DeleteTransaction(ctx, t.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Commit applies the transaction. A 202 carries the scheduled ReloadID.
func (tx *Tx) Commit(ctx context.Context) (WriteResult, error) {
	resp, err := tx.c.Do(ctx, "PUT", svc+"/transactions/"+url.PathEscape(tx.ID), nil, nil, nil)
	if err != nil {
		return WriteResult{}, err
	}
	return writeResult(resp), nil
}

// Delete discards the transaction.
func (tx *Tx) Delete(ctx context.Context) error { return tx.c.DeleteTransaction(ctx, tx.ID) }

func (tx *Tx) write(ctx context.Context, method, path string, q url.Values, body any) error {
	q.Set("transaction_id", tx.ID)
	_, err := tx.c.Do(ctx, method, svc+"/configuration/"+path, q, body, nil)
	return err
}

func parent(kind, name string) url.Values {
	return url.Values{"parent_type": {kind}, "parent_name": {name}}
}

func idx(i int64) string { return strconv.FormatInt(i, 10) }

// CreateBackend adds a backend.
func (tx *Tx) CreateBackend(ctx context.Context, b Backend) error {
	return tx.write(ctx, "POST", "backends", url.Values{}, b)
}

// ReplaceBackend replaces a backend (PUT replaces the whole object).
func (tx *Tx) ReplaceBackend(ctx context.Context, b Backend) error {
	return tx.write(ctx, "PUT", "backends/"+url.PathEscape(b.Name), url.Values{}, b)
}

// DeleteBackend removes a backend and its children.
func (tx *Tx) DeleteBackend(ctx context.Context, name string) error {
	return tx.write(ctx, "DELETE", "backends/"+url.PathEscape(name), url.Values{}, nil)
}

// CreateServer adds a server to a backend.
func (tx *Tx) CreateServer(ctx context.Context, backend string, s Server) error {
	return tx.write(ctx, "POST", "servers", url.Values{"backend": {backend}}, s)
}

// ReplaceServer replaces a server.
func (tx *Tx) ReplaceServer(ctx context.Context, backend string, s Server) error {
	return tx.write(ctx, "PUT", "servers/"+url.PathEscape(s.Name), url.Values{"backend": {backend}}, s)
}

// DeleteServer removes a server.
func (tx *Tx) DeleteServer(ctx context.Context, backend, name string) error {
	return tx.write(ctx, "DELETE", "servers/"+url.PathEscape(name), url.Values{"backend": {backend}}, nil)
}

// CreateFrontend adds a frontend.
func (tx *Tx) CreateFrontend(ctx context.Context, f Frontend) error {
	return tx.write(ctx, "POST", "frontends", url.Values{}, f)
}

// ReplaceFrontend replaces a frontend.
func (tx *Tx) ReplaceFrontend(ctx context.Context, f Frontend) error {
	return tx.write(ctx, "PUT", "frontends/"+url.PathEscape(f.Name), url.Values{}, f)
}

// DeleteFrontend removes a frontend and its children.
func (tx *Tx) DeleteFrontend(ctx context.Context, name string) error {
	return tx.write(ctx, "DELETE", "frontends/"+url.PathEscape(name), url.Values{}, nil)
}

// CreateBind adds a bind to a frontend.
func (tx *Tx) CreateBind(ctx context.Context, frontend string, b Bind) error {
	return tx.write(ctx, "POST", "binds", url.Values{"frontend": {frontend}}, b)
}

// ReplaceBind replaces a bind.
func (tx *Tx) ReplaceBind(ctx context.Context, frontend string, b Bind) error {
	return tx.write(ctx, "PUT", "binds/"+url.PathEscape(b.Name), url.Values{"frontend": {frontend}}, b)
}

// DeleteBind removes a bind.
func (tx *Tx) DeleteBind(ctx context.Context, frontend, name string) error {
	return tx.write(ctx, "DELETE", "binds/"+url.PathEscape(name), url.Values{"frontend": {frontend}}, nil)
}

// CreateACL inserts an ACL at a.Index.
func (tx *Tx) CreateACL(ctx context.Context, parentType, parentName string, a ACL) error {
	return tx.write(ctx, "POST", "acls", parent(parentType, parentName), a)
}

// ReplaceACL replaces the ACL at a.Index.
func (tx *Tx) ReplaceACL(ctx context.Context, parentType, parentName string, a ACL) error {
	return tx.write(ctx, "PUT", "acls/"+idx(a.Index), parent(parentType, parentName), a)
}

// DeleteACL removes the ACL at index (the rest shift up).
func (tx *Tx) DeleteACL(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", "acls/"+idx(index), parent(parentType, parentName), nil)
}

// CreateBackendSwitchingRule inserts a use_backend rule at r.Index.
func (tx *Tx) CreateBackendSwitchingRule(ctx context.Context, frontend string, r BackendSwitchingRule) error {
	return tx.write(ctx, "POST", "backend_switching_rules", url.Values{"frontend": {frontend}}, r)
}

// ReplaceBackendSwitchingRule replaces the rule at r.Index.
func (tx *Tx) ReplaceBackendSwitchingRule(ctx context.Context, frontend string, r BackendSwitchingRule) error {
	return tx.write(ctx, "PUT", "backend_switching_rules/"+idx(r.Index), url.Values{"frontend": {frontend}}, r)
}

// DeleteBackendSwitchingRule removes the rule at index.
func (tx *Tx) DeleteBackendSwitchingRule(ctx context.Context, frontend string, index int64) error {
	return tx.write(ctx, "DELETE", "backend_switching_rules/"+idx(index), url.Values{"frontend": {frontend}}, nil)
}

// CreateHTTPRequestRule inserts an http-request rule at r.Index.
func (tx *Tx) CreateHTTPRequestRule(ctx context.Context, parentType, parentName string, r HTTPRequestRule) error {
	return tx.write(ctx, "POST", "http_request_rules", parent(parentType, parentName), r)
}

// ReplaceHTTPRequestRule replaces the rule at r.Index.
func (tx *Tx) ReplaceHTTPRequestRule(ctx context.Context, parentType, parentName string, r HTTPRequestRule) error {
	return tx.write(ctx, "PUT", "http_request_rules/"+idx(r.Index), parent(parentType, parentName), r)
}

// DeleteHTTPRequestRule removes the rule at index.
func (tx *Tx) DeleteHTTPRequestRule(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", "http_request_rules/"+idx(index), parent(parentType, parentName), nil)
}

// CreateHTTPResponseRule inserts an http-response rule at r.Index.
func (tx *Tx) CreateHTTPResponseRule(ctx context.Context, parentType, parentName string, r HTTPResponseRule) error {
	return tx.write(ctx, "POST", "http_response_rules", parent(parentType, parentName), r)
}

// ReplaceHTTPResponseRule replaces the rule at r.Index.
func (tx *Tx) ReplaceHTTPResponseRule(ctx context.Context, parentType, parentName string, r HTTPResponseRule) error {
	return tx.write(ctx, "PUT", "http_response_rules/"+idx(r.Index), parent(parentType, parentName), r)
}

// DeleteHTTPResponseRule removes the rule at index.
func (tx *Tx) DeleteHTTPResponseRule(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", "http_response_rules/"+idx(index), parent(parentType, parentName), nil)
}

// CreateTCPRequestRule inserts a tcp-request rule at r.Index.
func (tx *Tx) CreateTCPRequestRule(ctx context.Context, parentType, parentName string, r TCPRequestRule) error {
	return tx.write(ctx, "POST", "tcp_request_rules", parent(parentType, parentName), r)
}

// DeleteTCPRequestRule removes the rule at index.
func (tx *Tx) DeleteTCPRequestRule(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", "tcp_request_rules/"+idx(index), parent(parentType, parentName), nil)
}

// CreateUserlist adds a userlist.
func (tx *Tx) CreateUserlist(ctx context.Context, u Userlist) error {
	return tx.write(ctx, "POST", "userlists", url.Values{}, u)
}

// DeleteUserlist removes a userlist.
func (tx *Tx) DeleteUserlist(ctx context.Context, name string) error {
	return tx.write(ctx, "DELETE", "userlists/"+url.PathEscape(name), url.Values{}, nil)
}

// CreateUser adds a user to a userlist.
func (tx *Tx) CreateUser(ctx context.Context, userlist string, u User) error {
	return tx.write(ctx, "POST", "users", url.Values{"userlist": {userlist}}, u)
}

// DeleteUser removes a user.
func (tx *Tx) DeleteUser(ctx context.Context, userlist, username string) error {
	return tx.write(ctx, "DELETE", "users/"+url.PathEscape(username), url.Values{"userlist": {userlist}}, nil)
}

// WithTransaction reads the version, opens a transaction, runs fn and
// commits. On any error the transaction is deleted (with a fresh context,
// so a cancelled caller still cleans up). A 409 at start or commit and a
// 406 (outdated) at commit retry the whole thing, calling fn again, up to
// MaxConflictRetries. With wait, a scheduled reload is awaited.
func (c *Client) WithTransaction(ctx context.Context, wait bool, fn func(ctx context.Context, tx *Tx) error) (WriteResult, error) {
	var lastErr error
	for attempt := 0; attempt <= c.cfg.MaxConflictRetries; attempt++ {
		res, err := c.transactionOnce(ctx, fn)
		if err == nil {
			if wait && res.ReloadID != "" {
				if _, err := c.WaitReload(ctx, res.ReloadID); err != nil {
					return res, err
				}
			}
			return res, nil
		}
		lastErr = err
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotAcceptable) {
			return WriteResult{}, err
		}
		c.log.Info("transaction conflicted; retrying", zap.Int("attempt", attempt+1), zap.Error(err))
	}
	return WriteResult{}, fmt.Errorf("transaction: %d retries: %w", c.cfg.MaxConflictRetries, lastErr)
}

func (c *Client) transactionOnce(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (WriteResult, error) {
	v, err := c.Version(ctx)
	if err != nil {
		return WriteResult{}, err
	}
	tx, err := c.StartTransaction(ctx, v)
	if err != nil {
		return WriteResult{}, err
	}
	if err := fn(ctx, tx); err != nil {
		tx.discard(c.log)
		return WriteResult{}, err
	}
	res, err := tx.Commit(ctx)
	if err != nil {
		tx.discard(c.log)
		return WriteResult{}, fmt.Errorf("commit transaction %s: %w", tx.ID, err)
	}
	return res, nil
}

// discard deletes the transaction with its own short deadline.
func (tx *Tx) discard(log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tx.Delete(ctx); err != nil && !errors.Is(err, ErrNotFound) {
		log.Warn("could not delete transaction", zap.String("transaction", tx.ID), zap.Error(err))
	}
}
