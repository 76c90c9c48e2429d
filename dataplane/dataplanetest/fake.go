package dataplanetest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Fake.
type Options struct {
	// User and Password enable HTTP Basic auth; both empty disables it.
	User, Password string
	// InitialVersion is the starting configuration version (default 1:
	// a file without a "# _version=" line counts as 1, notes §2).
	InitialVersion int64
	// RawConfig is the initial raw configuration text.
	RawConfig string
	// ReloadDelay is how long a scheduled reload stays in_progress. With 0
	// a reload finishes at the next request (or counter call).
	ReloadDelay time.Duration
	// MaxOpenTransactions caps in_progress transactions (default 20).
	MaxOpenTransactions int
	// Now is the clock (default time.Now); reload ids and delays use it.
	Now func() time.Time
}

// Request is one request the fake answered.
type Request struct {
	Method string
	Path   string // URL path, /v2 included
	Query  url.Values
	Header http.Header
	Body   []byte
	// ContentLength is the request's declared length, -1 when chunked.
	ContentLength int64
	Status        int // 0 when the connection was dropped by FailNext
}

type fault struct {
	method, prefix string
	status         int
	body           string
}

type transaction struct {
	seq    int
	id     string
	base   int64
	status string
	cfg    *config
}

// Fake is an in-memory Data Plane API v2.9; it is an http.Handler.
// All requests are serialized, like the API's own commit mutex.
type Fake struct {
	mu      sync.Mutex
	opts    Options
	version int64
	live    *config // what the API has in memory
	running *config // what HAProxy runs (as of the last good reload)
	runtime map[string]*runtimeState
	txs     map[string]*transaction
	txSeq   int
	reloads reloadAgent

	faults         []fault
	failValidation []string
	requests       []Request
	writes         int
	extra          map[string]http.HandlerFunc
}

// New returns a Fake with an empty configuration.
func New(opts Options) *Fake {
	if opts.InitialVersion == 0 {
		opts.InitialVersion = 1
	}
	if opts.MaxOpenTransactions <= 0 {
		opts.MaxOpenTransactions = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fake{
		opts:    opts,
		version: opts.InitialVersion,
		live:    newConfig(),
		runtime: map[string]*runtimeState{},
		txs:     map[string]*transaction{},
		extra:   map[string]http.HandlerFunc{},
	}
	f.live.raw = stripHeader(opts.RawConfig)
	f.running = f.live.clone()
	f.reloads = reloadAgent{delay: opts.ReloadDelay, issued: map[string]*reload{}, pid: 1000, lastAt: opts.Now()}
	return f
}

// Server is a Fake listening on a local httptest server.
type Server struct {
	*Fake
	// URL is the base to give the client (without /v2).
	URL string
	srv *httptest.Server
}

// NewServer starts a Fake on a loopback port. Close it when done.
func NewServer(opts Options) *Server {
	f := New(opts)
	srv := httptest.NewServer(f)
	return &Server{Fake: f, URL: srv.URL, srv: srv}
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

func (f *Fake) now() time.Time { return f.opts.Now() }

// respWriter adds Configuration-Version to every answer, computed when
// the status is written (after the operation), as the API's middleware
// does: the transaction's base version for transaction_id=, 0 when that
// transaction is unknown or not in progress, else the current version.
type respWriter struct {
	w      http.ResponseWriter
	f      *Fake
	txID   string
	auto   bool
	status int
}

func (rw *respWriter) Header() http.Header { return rw.w.Header() }

func (rw *respWriter) WriteHeader(code int) {
	if rw.status != 0 {
		return
	}
	if rw.auto {
		rw.w.Header().Set("Configuration-Version", strconv.FormatInt(rw.f.headerVersion(rw.txID), 10))
	}
	rw.status = code
	rw.w.WriteHeader(code)
}

func (rw *respWriter) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.w.Write(b)
}

func (f *Fake) headerVersion(txID string) int64 {
	if txID == "" {
		return f.version
	}
	if t := f.txs[txID]; t != nil && t.status == "in_progress" {
		return t.base
	}
	return 0
}

// ServeHTTP answers one request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))

	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	rw := &respWriter{w: w, f: f, txID: r.URL.Query().Get("transaction_id"), auto: true}
	dropped := f.serve(rw, w, r, body)
	status := rw.status
	if dropped {
		status = 0
	}
	f.requests = append(f.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body, ContentLength: r.ContentLength, Status: status})
	if r.Method != http.MethodGet && status >= 200 && status < 300 {
		f.writes++
	}
}

// serve routes a request; it reports whether the connection was dropped.
func (f *Fake) serve(rw *respWriter, w http.ResponseWriter, r *http.Request, body []byte) bool {
	if e := f.authenticate(rw, r); e != nil {
		writeError(rw, e)
		return false
	}
	if ft, ok := f.takeFault(r); ok {
		if ft.status <= 0 {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return true
				}
			}
			ft.status = http.StatusBadGateway
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(ft.status)
		if ft.body == "" {
			b, _ := json.Marshal(map[string]any{"code": ft.status, "message": http.StatusText(ft.status)})
			ft.body = string(b)
		}
		_, _ = io.WriteString(rw, ft.body)
		return false
	}
	path := r.URL.Path
	if h, ok := f.extra[r.Method+" "+strings.TrimPrefix(path, "/v2")]; ok {
		rw.Header().Set("Configuration-Version", strconv.FormatInt(f.headerVersion(rw.txID), 10))
		rw.auto = false
		f.mu.Unlock()
		h(rw, r)
		f.mu.Lock()
		if rw.status == 0 {
			rw.WriteHeader(http.StatusOK)
		}
		return false
	}
	if e := checkAccept(r); e != nil {
		writeError(rw, e)
		return false
	}
	f.route(rw, r, body)
	return false
}

func (f *Fake) authenticate(w http.ResponseWriter, r *http.Request) *apiError {
	if f.opts.User == "" && f.opts.Password == "" {
		return nil
	}
	user, pass, ok := r.BasicAuth()
	var e *apiError
	switch {
	case !ok:
		e = newErr(401, "unauthenticated for invalid credentials")
	case user != f.opts.User:
		e = newErr(401, "no configured users")
	case pass != f.opts.Password:
		// The real API echoes the password it was sent (notes §1,
		// dataplaneapi configuration/user.go AuthenticateUser).
		e = newErr(401, "invalid password: %s", pass)
	default:
		return nil
	}
	w.Header().Set("Www-Authenticate", `Basic realm="API"`)
	return e
}

func (f *Fake) takeFault(r *http.Request) (fault, bool) {
	path := strings.TrimPrefix(r.URL.Path, "/v2")
	for i, ft := range f.faults {
		if ft.method != "" && !strings.EqualFold(ft.method, r.Method) {
			continue
		}
		if !strings.HasPrefix(path, strings.TrimPrefix(ft.prefix, "/v2")) {
			continue
		}
		f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
		return ft, true
	}
	return fault{}, false
}

// checkAccept answers 406 when the client accepts no JSON (notes §5).
func checkAccept(r *http.Request) *apiError {
	acc := r.Header.Get("Accept")
	if acc == "" {
		return nil
	}
	for _, part := range strings.Split(acc, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == "application/json" || mt == "*/*" || mt == "application/*" {
			return nil
		}
	}
	return newErr(406, "unsupported media type requested, only [application/json] are available")
}

// checkContentType answers 415 for a body in a media type not allowed.
func checkContentType(r *http.Request, body []byte, allowed ...string) *apiError {
	if len(body) == 0 {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt := "application/octet-stream"
	if ct != "" {
		if m, _, err := mime.ParseMediaType(ct); err == nil {
			mt = m
		} else {
			mt = ct
		}
	}
	for _, a := range allowed {
		if mt == a {
			return nil
		}
	}
	return newErr(415, "unsupported media type %q, only [%s] are allowed", mt, strings.Join(allowed, " "))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"code": e.code, "message": e.msg})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) {
	writeError(w, newErr(405, "method %s is not allowed, but [%s] are", r.Method, strings.Join(allowed, ",")))
}

// route dispatches on the path below /v2.
func (f *Fake) route(w *respWriter, r *http.Request, body []byte) {
	notFound := func() { writeError(w, newErr(404, "path %s was not found", r.URL.Path)) }
	if !strings.HasPrefix(r.URL.Path, "/v2/") {
		notFound()
		return
	}
	seg := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v2"), "/"), "/")
	allow := func(methods ...string) bool {
		for _, m := range methods {
			if r.Method == m {
				return true
			}
		}
		methodNotAllowed(w, r, methods...)
		return false
	}
	if len(seg) == 1 && seg[0] == "info" {
		if allow("GET") {
			writeJSON(w, 200, map[string]any{"api": map[string]any{"build_date": "2025-01-01T00:00:00.000Z", "version": "v2.9.25 dataplanetest"}, "system": map[string]any{}})
		}
		return
	}
	if len(seg) < 3 || seg[0] != "services" || seg[1] != "haproxy" {
		notFound()
		return
	}
	rest := seg[2:]
	switch {
	case rest[0] == "configuration" && len(rest) == 2 && rest[1] == "version":
		if allow("GET") {
			f.getVersion(w, r)
		}
	case rest[0] == "configuration" && len(rest) == 2 && rest[1] == "raw":
		if allow("GET", "POST") {
			if r.Method == "GET" {
				f.getRaw(w, r)
			} else {
				f.postRaw(w, r, body)
			}
		}
	case rest[0] == "configuration" && (len(rest) == 2 || len(rest) == 3) && kinds[rest[1]] != nil:
		k := kinds[rest[1]]
		if len(rest) == 2 {
			if allow("GET", "POST") {
				f.configRequest(w, r, body, k, "")
			}
			return
		}
		methods := []string{"GET", "PUT", "DELETE"}
		if k.noPut {
			methods = []string{"GET", "DELETE"}
		}
		if allow(methods...) {
			f.configRequest(w, r, body, k, rest[2])
		}
	case rest[0] == "transactions" && len(rest) == 1:
		if allow("GET", "POST") {
			if r.Method == "GET" {
				f.listTransactions(w, r)
			} else {
				f.startTransaction(w, r)
			}
		}
	case rest[0] == "transactions" && len(rest) == 2:
		if allow("GET", "PUT", "DELETE") {
			f.transactionRequest(w, r, rest[1])
		}
	case rest[0] == "reloads" && len(rest) == 1:
		if allow("GET") {
			writeJSON(w, 200, f.reloadList())
		}
	case rest[0] == "reloads" && len(rest) == 2:
		if allow("GET") {
			out, e := f.getReload(rest[1])
			if e != nil {
				writeError(w, e)
				return
			}
			writeJSON(w, 200, out)
		}
	case rest[0] == "runtime" && len(rest) == 2 && rest[1] == "info":
		if allow("GET") {
			f.runtimeInfo(w)
		}
	case rest[0] == "runtime" && len(rest) == 2 && rest[1] == "servers":
		if allow("GET") {
			f.runtimeServers(w, r, "")
		}
	case rest[0] == "runtime" && len(rest) == 3 && rest[1] == "servers":
		if allow("GET", "PUT") {
			if r.Method == "GET" {
				f.runtimeServers(w, r, rest[2])
			} else {
				f.putRuntimeServer(w, r, body, rest[2])
			}
		}
	default:
		notFound()
	}
}

func (f *Fake) getVersion(w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("transaction_id"); id != "" {
		t := f.txs[id]
		if t == nil || t.status != "in_progress" {
			writeError(w, newErr(400, "transaction does not exist: %s", id))
			return
		}
		writeJSON(w, 200, t.base)
		return
	}
	writeJSON(w, 200, f.version)
}

func (f *Fake) runtimeInfo(w http.ResponseWriter) {
	writeJSON(w, 200, []any{map[string]any{
		"info": map[string]any{
			"version": "2.6.12-dataplanetest", "release_date": "2023/03/28", "pid": f.reloads.pid,
			"uptime": int64(f.now().Sub(f.reloads.lastAt).Seconds()), "nbthread": 1, "curr_conns": 0,
			"max_conn": 9980, "cum_req": 0, "stopping": 0,
		},
		"runtimeAPI": runtimeAPIPath,
	}})
}

func (f *Fake) runtimeServers(w http.ResponseWriter, r *http.Request, name string) {
	backend := r.URL.Query().Get("backend")
	if backend == "" {
		writeError(w, validationErr(codeRequired, "backend in query is required"))
		return
	}
	if name != "" {
		pos, srv := f.findRunning(backend, name)
		if srv == nil {
			writeError(w, newErr(404, "no data for %s/%s: not found", backend, name))
			return
		}
		writeJSON(w, 200, runtimeJSON(f.runtimeServer(backend, srv), serverID(pos, srv)))
		return
	}
	out := []any{}
	for i, srv := range f.running.servers(backend) {
		out = append(out, runtimeJSON(f.runtimeServer(backend, srv), serverID(i, srv)))
	}
	writeJSON(w, 200, out)
}

func (f *Fake) putRuntimeServer(w http.ResponseWriter, r *http.Request, body []byte, name string) {
	backend := r.URL.Query().Get("backend")
	if backend == "" {
		writeError(w, validationErr(codeRequired, "backend in query is required"))
		return
	}
	if e := checkContentType(r, body, "application/json"); e != nil {
		writeError(w, e)
		return
	}
	obj, e := decodeBody("runtime_server", body)
	if e != nil {
		writeError(w, e)
		return
	}
	out, e := f.setRuntimeServer(backend, name, obj)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, 200, out)
}

// newID returns a random UUID v4, like the API's transaction ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ---- hooks and inspection -------------------------------------------------

// FailNext makes the next request matching method ("" = any) and a path
// prefix (relative to /v2; a leading /v2 is accepted) answer status with
// body (default {"code":status,"message":<status text>}). Status 0 drops
// the connection without an answer (the client sees it unreachable).
// Faults are consumed once, in the order they were added, after auth.
// Go's transport silently retries an idempotent request (GET, DELETE…)
// once when a reused connection drops, so queue two drops for those.
func (f *Fake) FailNext(method, pathPrefix string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault{method: method, prefix: pathPrefix, status: status, body: body})
}

// FailNextReload makes the next reload (scheduled or forced) fail with
// response as the reload command's output. Calls queue up.
func (f *Fake) FailNextReload(response string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads.failNext = append(f.reloads.failNext, response)
}

// FailNextValidation makes the next `haproxy -c` (a commit, a raw POST or
// a structured write outside a transaction) fail with message as its
// output. Calls queue up.
func (f *Fake) FailNextValidation(message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failValidation = append(f.failValidation, message)
}

// ExternalEdit simulates an edit of haproxy.cfg outside the API (or any
// write by another client): the version goes up by one, no reload, open
// transactions stay in_progress and their commit will answer 409 (§2, §3).
func (f *Fake) ExternalEdit() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
}

// FinishReloads ends the pending reload now, whatever ReloadDelay says.
func (f *Fake) FinishReloads() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.reloads.pending; r != nil {
		f.reloads.pending = nil
		f.finishReload(r)
	}
}

// Handle serves an endpoint the fake does not model (e.g. "PUT",
// "/services/haproxy/storage/maps/hosts.map"; exact path below /v2). Auth,
// faults, Configuration-Version and the request log still apply; h runs
// without the fake's lock, so it may call the fake's methods.
func (f *Fake) Handle(method, path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extra[method+" "+strings.TrimPrefix(path, "/v2")] = h
}

// Reloads counts finished reloads (succeeded and failed, forced ones
// included). A pending reload whose time has come is finished first.
func (f *Fake) Reloads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	return f.reloads.finished
}

// PendingReload returns the id of the reload still in progress, or "".
func (f *Fake) PendingReload() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	if f.reloads.pending == nil {
		return ""
	}
	return f.reloads.pending.id
}

// Writes counts successful (2xx) requests other than GET: configuration
// writes inside and outside transactions, transaction starts, commits and
// deletes, raw POSTs and runtime changes.
func (f *Fake) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// Version is the current configuration version.
func (f *Fake) Version() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

// Requests returns the requests answered so far, in order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// TransactionInfo is one transaction as the fake holds it.
type TransactionInfo struct {
	ID      string
	Status  string
	Version int64
}

// Transactions lists the transactions the fake holds, oldest first.
func (f *Fake) Transactions() []TransactionInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []TransactionInfo
	for _, t := range f.sortedTxs() {
		out = append(out, TransactionInfo{ID: t.id, Status: t.status, Version: t.base})
	}
	return out
}

func (f *Fake) sortedTxs() []*transaction {
	out := make([]*transaction, 0, len(f.txs))
	for _, t := range f.txs {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// Objects returns the live objects of a configuration kind ("backends",
// "servers", "acls", …; the URL segment) as JSON maps. Child kinds need
// their parent: ("servers", "backend", "be_app"), ("acls", "frontend",
// "fe_main"), ("users", "userlist", "ul").
func (f *Fake) Objects(kindName, parentType, parentName string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := kinds[kindName]
	if k == nil {
		return nil
	}
	return f.live.list(k, parentType, parentName)
}

// Seed adds obj (any JSON-marshalable value, e.g. a dataplane.Backend) to
// the configuration as if it had been in haproxy.cfg at start-up: live
// and running, no version change, no reload. Indexed objects without an
// index are appended. It validates obj against the v2.9 schema.
func (f *Fake) Seed(kindName, parentType, parentName string, obj any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := kinds[kindName]
	if k == nil {
		return fmt.Errorf("dataplanetest: unknown kind %q", kindName)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if k.indexed {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		if _, ok := m["index"]; !ok {
			m["index"] = len(f.live.children[childKey{k.name, parentType, parentName}])
			b, _ = json.Marshal(m)
		}
	}
	body, e := decodeBody(k.def, b)
	if e != nil {
		return fmt.Errorf("dataplanetest: seed %s: %s", kindName, e.msg)
	}
	if e := f.live.apply(op{k: k, method: "POST", ptype: parentType, pname: parentName, body: body}); e != nil {
		return fmt.Errorf("dataplanetest: seed %s: %s", kindName, e.msg)
	}
	f.running = f.live.clone()
	return nil
}

// SeedRaw sets the raw configuration text (live and running), as if
// haproxy.cfg held it at start-up.
func (f *Fake) SeedRaw(text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live.raw = stripHeader(text)
	f.running.raw = f.live.raw
}

// RuntimeState returns a server as the running HAProxy has it: the
// configuration of the last successful reload plus runtime changes.
func (f *Fake) RuntimeState(backend, server string) (RuntimeServer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	_, srv := f.findRunning(backend, server)
	if srv == nil {
		return RuntimeServer{}, false
	}
	return f.runtimeServer(backend, srv), true
}

// RunningObjects is Objects for the configuration HAProxy runs (as of the
// last successful reload or runtime change).
func (f *Fake) RunningObjects(kindName, parentType, parentName string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	k := kinds[kindName]
	if k == nil {
		return nil
	}
	return f.running.list(k, parentType, parentName)
}
