package dataplane

import (
	"context"
	"net/url"
	"strconv"
)

// Every write below runs inside the transaction (transaction_id=) and
// answers 202 with the bare object (DELETE: empty body). PUT replaces the
// whole object: always send the complete desired object (notes §1).

func (tx *Tx) write(ctx context.Context, method, path string, q url.Values, body any) error {
	q.Set("transaction_id", tx.ID)
	_, err := tx.c.Do(ctx, method, svc+"/configuration/"+path, q, body, nil)
	return err
}

func parent(kind, name string) url.Values {
	return url.Values{"parent_type": {kind}, "parent_name": {name}}
}

func named(kind, name string) string { return kind + "/" + url.PathEscape(name) }

func indexed(kind string, i int64) string { return kind + "/" + strconv.FormatInt(i, 10) }

// CreateBackend adds a backend. Send From so it does not inherit the
// defaults section implicitly (notes §1).
func (tx *Tx) CreateBackend(ctx context.Context, b Backend) error {
	return tx.write(ctx, "POST", "backends", url.Values{}, b)
}

// ReplaceBackend replaces a backend; its servers and rules are kept.
func (tx *Tx) ReplaceBackend(ctx context.Context, b Backend) error {
	return tx.write(ctx, "PUT", named("backends", b.Name), url.Values{}, b)
}

// DeleteBackend removes a backend and its children.
func (tx *Tx) DeleteBackend(ctx context.Context, name string) error {
	return tx.write(ctx, "DELETE", named("backends", name), url.Values{}, nil)
}

// CreateServer adds a server to a backend.
func (tx *Tx) CreateServer(ctx context.Context, backend string, s Server) error {
	return tx.write(ctx, "POST", "servers", url.Values{"backend": {backend}}, s)
}

// ReplaceServer replaces a server (a missing field is removed from it).
func (tx *Tx) ReplaceServer(ctx context.Context, backend string, s Server) error {
	return tx.write(ctx, "PUT", named("servers", s.Name), url.Values{"backend": {backend}}, s)
}

// DeleteServer removes a server.
func (tx *Tx) DeleteServer(ctx context.Context, backend, name string) error {
	return tx.write(ctx, "DELETE", named("servers", name), url.Values{"backend": {backend}}, nil)
}

// CreateFrontend adds a frontend.
func (tx *Tx) CreateFrontend(ctx context.Context, f Frontend) error {
	return tx.write(ctx, "POST", "frontends", url.Values{}, f)
}

// ReplaceFrontend replaces a frontend; its binds and rules are kept.
func (tx *Tx) ReplaceFrontend(ctx context.Context, f Frontend) error {
	return tx.write(ctx, "PUT", named("frontends", f.Name), url.Values{}, f)
}

// DeleteFrontend removes a frontend and its children.
func (tx *Tx) DeleteFrontend(ctx context.Context, name string) error {
	return tx.write(ctx, "DELETE", named("frontends", name), url.Values{}, nil)
}

// CreateBind adds a bind to a frontend.
func (tx *Tx) CreateBind(ctx context.Context, frontend string, b Bind) error {
	return tx.write(ctx, "POST", "binds", url.Values{"frontend": {frontend}}, b)
}

// ReplaceBind replaces a bind.
func (tx *Tx) ReplaceBind(ctx context.Context, frontend string, b Bind) error {
	return tx.write(ctx, "PUT", named("binds", b.Name), url.Values{"frontend": {frontend}}, b)
}

// DeleteBind removes a bind.
func (tx *Tx) DeleteBind(ctx context.Context, frontend, name string) error {
	return tx.write(ctx, "DELETE", named("binds", name), url.Values{"frontend": {frontend}}, nil)
}

// CreateACL inserts an ACL at a.Index (the rest shift down; Index == len
// appends, Index > len answers 400).
func (tx *Tx) CreateACL(ctx context.Context, parentType, parentName string, a ACL) error {
	return tx.write(ctx, "POST", "acls", parent(parentType, parentName), a)
}

// ReplaceACL replaces the ACL at a.Index.
func (tx *Tx) ReplaceACL(ctx context.Context, parentType, parentName string, a ACL) error {
	return tx.write(ctx, "PUT", indexed("acls", a.Index), parent(parentType, parentName), a)
}

// DeleteACL removes the ACL at index (the rest shift up).
func (tx *Tx) DeleteACL(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", indexed("acls", index), parent(parentType, parentName), nil)
}

// CreateBackendSwitchingRule inserts a use_backend rule at r.Index.
func (tx *Tx) CreateBackendSwitchingRule(ctx context.Context, frontend string, r BackendSwitchingRule) error {
	return tx.write(ctx, "POST", "backend_switching_rules", url.Values{"frontend": {frontend}}, r)
}

// ReplaceBackendSwitchingRule replaces the rule at r.Index.
func (tx *Tx) ReplaceBackendSwitchingRule(ctx context.Context, frontend string, r BackendSwitchingRule) error {
	return tx.write(ctx, "PUT", indexed("backend_switching_rules", r.Index), url.Values{"frontend": {frontend}}, r)
}

// DeleteBackendSwitchingRule removes the rule at index.
func (tx *Tx) DeleteBackendSwitchingRule(ctx context.Context, frontend string, index int64) error {
	return tx.write(ctx, "DELETE", indexed("backend_switching_rules", index), url.Values{"frontend": {frontend}}, nil)
}

// CreateHTTPRequestRule inserts an http-request rule at r.Index.
func (tx *Tx) CreateHTTPRequestRule(ctx context.Context, parentType, parentName string, r HTTPRequestRule) error {
	return tx.write(ctx, "POST", "http_request_rules", parent(parentType, parentName), r)
}

// ReplaceHTTPRequestRule replaces the rule at r.Index.
func (tx *Tx) ReplaceHTTPRequestRule(ctx context.Context, parentType, parentName string, r HTTPRequestRule) error {
	return tx.write(ctx, "PUT", indexed("http_request_rules", r.Index), parent(parentType, parentName), r)
}

// DeleteHTTPRequestRule removes the rule at index.
func (tx *Tx) DeleteHTTPRequestRule(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", indexed("http_request_rules", index), parent(parentType, parentName), nil)
}

// CreateHTTPResponseRule inserts an http-response rule at r.Index.
func (tx *Tx) CreateHTTPResponseRule(ctx context.Context, parentType, parentName string, r HTTPResponseRule) error {
	return tx.write(ctx, "POST", "http_response_rules", parent(parentType, parentName), r)
}

// ReplaceHTTPResponseRule replaces the rule at r.Index.
func (tx *Tx) ReplaceHTTPResponseRule(ctx context.Context, parentType, parentName string, r HTTPResponseRule) error {
	return tx.write(ctx, "PUT", indexed("http_response_rules", r.Index), parent(parentType, parentName), r)
}

// DeleteHTTPResponseRule removes the rule at index.
func (tx *Tx) DeleteHTTPResponseRule(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", indexed("http_response_rules", index), parent(parentType, parentName), nil)
}

// CreateTCPRequestRule inserts a tcp-request rule at r.Index.
func (tx *Tx) CreateTCPRequestRule(ctx context.Context, parentType, parentName string, r TCPRequestRule) error {
	return tx.write(ctx, "POST", "tcp_request_rules", parent(parentType, parentName), r)
}

// ReplaceTCPRequestRule replaces the rule at r.Index.
func (tx *Tx) ReplaceTCPRequestRule(ctx context.Context, parentType, parentName string, r TCPRequestRule) error {
	return tx.write(ctx, "PUT", indexed("tcp_request_rules", r.Index), parent(parentType, parentName), r)
}

// DeleteTCPRequestRule removes the rule at index.
func (tx *Tx) DeleteTCPRequestRule(ctx context.Context, parentType, parentName string, index int64) error {
	return tx.write(ctx, "DELETE", indexed("tcp_request_rules", index), parent(parentType, parentName), nil)
}

// CreateUserlist adds a userlist. The API has no PUT for userlists.
func (tx *Tx) CreateUserlist(ctx context.Context, u Userlist) error {
	return tx.write(ctx, "POST", "userlists", url.Values{}, u)
}

// DeleteUserlist removes a userlist and its users.
func (tx *Tx) DeleteUserlist(ctx context.Context, name string) error {
	return tx.write(ctx, "DELETE", named("userlists", name), url.Values{}, nil)
}

// CreateUser adds a user to a userlist.
func (tx *Tx) CreateUser(ctx context.Context, userlist string, u User) error {
	return tx.write(ctx, "POST", "users", url.Values{"userlist": {userlist}}, u)
}

// ReplaceUser replaces a user.
func (tx *Tx) ReplaceUser(ctx context.Context, userlist string, u User) error {
	return tx.write(ctx, "PUT", named("users", u.Username), url.Values{"userlist": {userlist}}, u)
}

// DeleteUser removes a user.
func (tx *Tx) DeleteUser(ctx context.Context, userlist, username string) error {
	return tx.write(ctx, "DELETE", named("users", username), url.Values{"userlist": {userlist}}, nil)
}
