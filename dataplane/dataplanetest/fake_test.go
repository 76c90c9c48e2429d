package dataplanetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const S = "/v2/services/haproxy"

// clock is a manual clock for reload delays and ids.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type answer struct {
	Status int
	Body   string
	Header http.Header
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.Body), &m); err != nil {
		t.Fatalf("body %q: %v", a.Body, err)
	}
	return m
}

// errBody is the exact error body the notes quote.
func errBody(code int, msg string) string {
	b, _ := json.Marshal(map[string]any{"code": code, "message": msg})
	return string(b)
}

// call sends one request with admin:adminpwd and, for a body, JSON.
// hdr is pairs of header names and values ("Content-Type", "" removes it).
func call(t *testing.T, f *Fake, method, target, body string, hdr ...string) answer {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.SetBasicAuth("admin", "adminpwd")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	f.ServeHTTP(w, r)
	return answer{Status: w.Code, Body: strings.TrimSpace(w.Body.String()), Header: w.Header()}
}

// fixture is the base configuration of the notes: be_app with s1 and s2,
// fe_main with one bind and default_backend be_app, at version 2.
func fixture(t *testing.T, opts ...func(*Options)) (*Fake, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	o := Options{User: "admin", Password: "adminpwd", InitialVersion: 2, Now: clk.Now,
		RawConfig: "global\n  master-worker\ndefaults base\n  mode http\n"}
	for _, fn := range opts {
		fn(&o)
	}
	f := New(o)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.Seed("backends", "", "", map[string]any{"name": "be_app", "mode": "http", "balance": map[string]any{"algorithm": "roundrobin"}}))
	must(f.Seed("servers", "backend", "be_app", map[string]any{"name": "s1", "address": "127.0.0.1", "port": 21001, "weight": 31}))
	must(f.Seed("servers", "backend", "be_app", map[string]any{"name": "s2", "address": "127.0.0.1", "port": 21002}))
	must(f.Seed("frontends", "", "", map[string]any{"name": "fe_main", "mode": "http", "default_backend": "be_app"}))
	must(f.Seed("binds", "frontend", "fe_main", map[string]any{"name": "b0", "address": "127.0.0.1", "port": 21080}))
	return f, clk
}

func startTx(t *testing.T, f *Fake, version string) string {
	t.Helper()
	a := call(t, f, "POST", S+"/transactions?version="+version, "")
	if a.Status != 201 {
		t.Fatalf("start transaction: %d %s", a.Status, a.Body)
	}
	return a.json(t)["id"].(string)
}

var reloadIDRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}-\d+$`)

type step struct {
	name    string
	method  string
	target  string
	body    string
	hdr     []string
	status  int
	want    string // exact body when set
	has     string // substring of the body when set
	version string // Configuration-Version header when set
	reload  bool   // a Reload-Id header is expected
}

// run plays steps in order on one fake: later steps see earlier writes.
func run(t *testing.T, f *Fake, steps []step) {
	t.Helper()
	for _, s := range steps {
		a := call(t, f, s.method, s.target, s.body, s.hdr...)
		if a.Status != s.status {
			t.Errorf("%s: status %d, want %d (body %s)", s.name, a.Status, s.status, a.Body)
		}
		if s.want != "" && a.Body != s.want {
			t.Errorf("%s: body\n  %s\nwant\n  %s", s.name, a.Body, s.want)
		}
		if s.has != "" && !strings.Contains(a.Body, s.has) {
			t.Errorf("%s: body %s does not contain %s", s.name, a.Body, s.has)
		}
		if s.version != "" && a.Header.Get("Configuration-Version") != s.version {
			t.Errorf("%s: Configuration-Version %q, want %q", s.name, a.Header.Get("Configuration-Version"), s.version)
		}
		if a.Header.Get("Configuration-Version") == "" {
			t.Errorf("%s: no Configuration-Version header", s.name)
		}
		if got := a.Header.Get("Reload-Id"); s.reload != (got != "") || (got != "" && !reloadIDRe.MatchString(got)) {
			t.Errorf("%s: Reload-Id %q, want one: %v", s.name, got, s.reload)
		}
	}
}

// §1: protocol basics, with the bodies the notes quote.
func TestProtocolBasics(t *testing.T) {
	f, _ := fixture(t)
	run(t, f, []step{
		{name: "auth wrong password echoes it (§1)", method: "GET", target: S + "/configuration/version",
			hdr: []string{"Authorization", "Basic YWRtaW46d3Jvbmc="}, status: 401, want: errBody(401, "invalid password: wrong"), version: "2"},
		{name: "auth unknown user", method: "GET", target: S + "/configuration/version",
			hdr: []string{"Authorization", "Basic bm9ib2R5OmFkbWlucHdk"}, status: 401, want: errBody(401, "no configured users")},
		{name: "415 without JSON content type", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&version=2",
			body: `{"name":"s1","address":"127.0.0.1","port":21001}`, hdr: []string{"Content-Type", ""},
			status: 415, want: errBody(415, `unsupported media type "application/octet-stream", only [application/json] are allowed`)},
		{name: "unknown field ignored, weight 0 kept", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&version=2",
			body: `{"name":"s1","address":"127.0.0.1","port":21001,"weight":0,"foo":"bar"}`, status: 200,
			want: `{"address":"127.0.0.1","name":"s1","port":21001,"weight":0}`, version: "3"},
		{name: "GET wraps _version and data", method: "GET", target: S + "/configuration/servers/s1?backend=be_app", status: 200,
			want: `{"_version":3,"data":{"address":"127.0.0.1","name":"s1","port":21001,"weight":0}}`, version: "3"},
		{name: "404 missing object", method: "PUT", target: S + "/configuration/servers/zz?backend=be_app&version=3",
			body: `{"name":"zz","address":"127.0.0.1"}`, status: 404, want: errBody(404, "missing object: server zz does not exist in be_app backend")},
		{name: "409 already exists", method: "POST", target: S + "/configuration/servers?backend=be_app&version=3",
			body: `{"name":"s1","address":"127.0.0.1"}`, status: 409, want: errBody(409, "object already exists: server s1 already exists in be_app backend")},
		{name: "400 missing parent", method: "POST", target: S + "/configuration/servers?backend=be_nope&version=3",
			body: `{"name":"s9","address":"127.0.0.1"}`, status: 400, want: errBody(400, "missing parent: backend be_nope does not exist")},
		{name: "422 pattern 605", method: "POST", target: S + "/configuration/servers?backend=be_app&version=3",
			body: `{"name":"a b","address":"127.0.0.1"}`, status: 422, want: errBody(605, `name in body should match '^[^\s]+$'`)},
		{name: "422 maximum 608", method: "POST", target: S + "/configuration/servers?backend=be_app&version=3",
			body: `{"name":"s9","address":"127.0.0.1","port":70000}`, status: 422, want: errBody(608, "port in body should be less than or equal to 65535")},
		{name: "422 index required 602", method: "POST", target: S + "/configuration/acls?parent_type=frontend&parent_name=fe_main&version=3",
			body: `{"acl_name":"a","criterion":"hdr(host)"}`, status: 422, want: errBody(602, "index in body is required")},
		{name: "422 runtime enum 606", method: "PUT", target: S + "/runtime/servers/s1?backend=be_app",
			body: `{"admin_state":"bogus"}`, status: 422, want: errBody(606, "admin_state in body should be one of [ready maint drain]")},
		{name: "DELETE answers an empty body", method: "DELETE", target: S + "/configuration/servers/s2?backend=be_app&version=3",
			status: 202, want: "", reload: true, version: "4"},
		{name: "unknown path", method: "GET", target: "/v2/nope", status: 404, want: errBody(404, "path /v2/nope was not found")},
	})
	// no credentials at all
	r := httptest.NewRequest("GET", S+"/configuration/version", nil)
	w := httptest.NewRecorder()
	f.ServeHTTP(w, r)
	if w.Code != 401 || strings.TrimSpace(w.Body.String()) != errBody(401, "unauthenticated for invalid credentials") ||
		w.Header().Get("Www-Authenticate") != `Basic realm="API"` || w.Header().Get("Configuration-Version") == "" {
		t.Errorf("no auth: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
}

// §1: ACL index semantics (the same for every indexed kind).
func TestIndexSemantics(t *testing.T) {
	f, _ := fixture(t)
	acl := func(i int, name string) string {
		return `{"index":` + itoa(i) + `,"acl_name":"` + name + `","criterion":"hdr(host)","value":"-i ` + name + `"}`
	}
	q := "?parent_type=frontend&parent_name=fe_main&version="
	run(t, f, []step{
		{name: "append at len", method: "POST", target: S + "/configuration/acls" + q + "2", body: acl(0, "a"), status: 202, reload: true},
		{name: "append at len", method: "POST", target: S + "/configuration/acls" + q + "3", body: acl(1, "c"), status: 202, reload: true},
		{name: "insert shifts down", method: "POST", target: S + "/configuration/acls" + q + "4", body: acl(1, "b"), status: 202, reload: true},
		{name: "index > len", method: "POST", target: S + "/configuration/acls" + q + "5", body: acl(99, "z"), status: 400,
			want: errBody(400, "index out of range: Object with id 99 in frontend fe_main out of range")},
		{name: "PUT replaces in place", method: "PUT", target: S + "/configuration/acls/2" + q + "5", body: acl(2, "d"), status: 202, reload: true},
		{name: "DELETE 0 shifts up", method: "DELETE", target: S + "/configuration/acls/0" + q + "6", status: 202, reload: true},
		{name: "list", method: "GET", target: S + "/configuration/acls?parent_type=frontend&parent_name=fe_main", status: 200,
			want: `{"_version":7,"data":[{"acl_name":"b","criterion":"hdr(host)","index":0,"value":"-i b"},{"acl_name":"d","criterion":"hdr(host)","index":1,"value":"-i d"}]}`},
		{name: "PUT out of range", method: "PUT", target: S + "/configuration/acls/5" + q + "7", body: acl(5, "x"), status: 404,
			want: errBody(404, "missing object: Object 5 does not exist in frontend fe_main")},
		{name: "parent_type required", method: "GET", target: S + "/configuration/acls?parent_name=fe_main", status: 422,
			want: errBody(602, "parent_type in query is required")},
		{name: "missing parent", method: "POST", target: S + "/configuration/http_request_rules?parent_type=backend&parent_name=be_nope&version=7",
			body: `{"index":0,"type":"set-header","hdr_name":"X","hdr_format":"y"}`, status: 400, want: errBody(400, "missing parent: backend be_nope does not exist")},
		{name: "switching rule", method: "POST", target: S + "/configuration/backend_switching_rules?frontend=fe_main&version=7",
			body: `{"index":0,"name":"be_app","cond":"if","cond_test":"b"}`, status: 202, reload: true},
	})
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// §2: versioning.
func TestVersioning(t *testing.T) {
	f, _ := fixture(t)
	srv := `{"name":"s1","address":"127.0.0.1","port":21001,"weight":31}`
	run(t, f, []step{
		{name: "version is a bare integer", method: "GET", target: S + "/configuration/version", status: 200, want: "2", version: "2"},
		{name: "neither version nor transaction", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app", body: srv, status: 400,
			want: errBody(400, "version or transaction not specified: version or transaction not specified, specify only one")},
		{name: "both", method: "POST", target: S + "/configuration/servers?backend=be_app&version=2&transaction_id=x", body: srv, status: 400,
			want: errBody(400, "both version and transaction specified, specify only one")},
		{name: "stale", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&version=1", body: srv, status: 409,
			want: errBody(409, "version mismatch: version in configuration file is 2, given version is 1")},
		{name: "future", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&version=5", body: srv, status: 409,
			want: errBody(409, "version mismatch: version in configuration file is 2, given version is 5")},
		{name: "no-op PUT still +1 (and 200)", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&version=2", body: srv, status: 200, version: "3"},
		{name: "transactions need version", method: "POST", target: S + "/transactions", status: 422, want: errBody(602, "version in query is required")},
		{name: "stale transaction start", method: "POST", target: S + "/transactions?version=1", status: 409,
			want: errBody(409, "version mismatch: version in configuration file is 3, given version is 1")},
	})
	// skip_version adopts the posted "# _version=" (version goes down).
	a := call(t, f, "POST", S+"/configuration/raw?skip_version=true&skip_reload=true", "# _version=1\nglobal\n", "Content-Type", "text/plain")
	if a.Status != 201 || a.Header.Get("Configuration-Version") != "1" || f.Version() != 1 {
		t.Errorf("skip_version: %d version %s/%d", a.Status, a.Header.Get("Configuration-Version"), f.Version())
	}
}

// §3: transactions.
func TestTransactions(t *testing.T) {
	f, _ := fixture(t)
	id := startTx(t, f, "2")
	tq := "transaction_id=" + id
	run(t, f, []step{
		{name: "get", method: "GET", target: S + "/transactions/" + id, status: 200, want: `{"_version":2,"id":"` + id + `","status":"in_progress"}`},
		{name: "backend", method: "POST", target: S + "/configuration/backends?" + tq, status: 202, version: "2",
			body: `{"name":"be_new","mode":"http","balance":{"algorithm":"roundrobin"},"adv_check":"httpchk","httpchk_params":{"method":"GET","uri":"/health"}}`,
			want: `{"adv_check":"httpchk","balance":{"algorithm":"roundrobin"},"httpchk_params":{"method":"GET","uri":"/health"},"mode":"http","name":"be_new"}`},
		{name: "server", method: "POST", target: S + "/configuration/servers?backend=be_new&" + tq, status: 202,
			body: `{"name":"n1","address":"127.0.0.1","port":21003,"weight":100,"check":"enabled"}`},
		{name: "frontend", method: "POST", target: S + "/configuration/frontends?" + tq, status: 202, body: `{"name":"fe_new","mode":"http","default_backend":"be_app"}`},
		{name: "bind", method: "POST", target: S + "/configuration/binds?frontend=fe_new&" + tq, status: 202, body: `{"name":"b1","address":"127.0.0.1","port":21081}`},
		{name: "acl", method: "POST", target: S + "/configuration/acls?parent_type=frontend&parent_name=fe_new&" + tq, status: 202,
			body: `{"index":0,"acl_name":"host_new","criterion":"hdr(host)","value":"-i new.example.com"}`},
		{name: "use_backend", method: "POST", target: S + "/configuration/backend_switching_rules?frontend=fe_new&" + tq, status: 202,
			body: `{"index":0,"name":"be_new","cond":"if","cond_test":"host_new"}`},
		{name: "http-request", method: "POST", target: S + "/configuration/http_request_rules?parent_type=frontend&parent_name=fe_new&" + tq, status: 202,
			body: `{"index":0,"type":"set-header","hdr_name":"X-Forwarded-Port","hdr_format":"%[dst_port]"}`},
		{name: "http-response", method: "POST", target: S + "/configuration/http_response_rules?parent_type=backend&parent_name=be_new&" + tq, status: 202,
			body: `{"index":0,"type":"set-header","hdr_name":"X-Served-By","hdr_format":"be_new"}`},
		{name: "PUT server in tx", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&" + tq, status: 202,
			body: `{"name":"s1","address":"127.0.0.1","port":21001,"weight":5}`},
		{name: "DELETE acl in tx", method: "DELETE", target: S + "/configuration/acls/0?parent_type=frontend&parent_name=fe_new&" + tq, status: 202, want: ""},
		{name: "force_reload inside tx", method: "POST", target: S + "/configuration/backends?force_reload=true&" + tq, status: 400,
			body: `{"name":"be_x"}`, want: errBody(400, "Both force_reload and transaction specified, specify only one")},
		{name: "tx view", method: "GET", target: S + "/configuration/servers?backend=be_new&" + tq, status: 200, version: "2",
			want: `{"_version":2,"data":[{"address":"127.0.0.1","check":"enabled","name":"n1","port":21003,"weight":100}]}`},
		{name: "live view unchanged", method: "GET", target: S + "/configuration/backends/be_new", status: 404,
			want: errBody(404, "missing object: Backend be_new does not exist")},
		{name: "commit", method: "PUT", target: S + "/transactions/" + id, status: 202, reload: true, version: "3",
			want: `{"_version":2,"id":"` + id + `","status":"success"}`},
		{name: "committed is gone", method: "GET", target: S + "/transactions/" + id, status: 404,
			want: errBody(404, "transaction does not exist: transaction "+id+" does not exist")},
		{name: "live sees it", method: "GET", target: S + "/configuration/servers/n1?backend=be_new", status: 200, version: "3"},
	})

	// Empty transaction, force_reload commit: 200, no Reload-Id.
	id2 := startTx(t, f, "3")
	run(t, f, []step{{name: "force commit", method: "PUT", target: S + "/transactions/" + id2 + "?force_reload=true", status: 200, version: "4"}})

	// Delete, twice.
	id3 := startTx(t, f, "4")
	run(t, f, []step{
		{name: "delete", method: "DELETE", target: S + "/transactions/" + id3, status: 204, want: ""},
		{name: "delete again", method: "DELETE", target: S + "/transactions/" + id3, status: 404,
			want: errBody(404, "transaction does not exist: transaction file "+id3+" does not exist")},
	})
}

func TestTransactionFailedAndOutdated(t *testing.T) {
	f, _ := fixture(t)
	// invalid config at commit: 400, failed, then 406
	bad := startTx(t, f, "2")
	call(t, f, "POST", S+"/configuration/backend_switching_rules?frontend=fe_main&transaction_id="+bad, `{"index":0,"name":"be_missing"}`)
	a := call(t, f, "PUT", S+"/transactions/"+bad, "")
	if a.Status != 400 || !strings.HasPrefix(a.json(t)["message"].(string), "validation error: exit status 1: err transactionId="+bad) ||
		!strings.Contains(a.Body, `unable to find required use_backend: 'be_missing'.`) || f.Version() != 2 {
		t.Errorf("invalid commit: %d %s (version %d)", a.Status, a.Body, f.Version())
	}
	run(t, f, []step{
		{name: "failed has no _version", method: "GET", target: S + "/transactions/" + bad, status: 200, want: `{"id":"` + bad + `","status":"failed"}`},
		{name: "commit failed", method: "PUT", target: S + "/transactions/" + bad, status: 406,
			want: errBody(406, "transaction "+bad+" is failed and cannot be committed")},
		{name: "delete failed", method: "DELETE", target: S + "/transactions/" + bad, status: 204},
	})

	// outdated: A and B at 2, A commits, B is outdated
	a1, b1 := startTx(t, f, "2"), startTx(t, f, "2")
	run(t, f, []step{
		{name: "commit A", method: "PUT", target: S + "/transactions/" + a1, status: 202, reload: true},
		{name: "B listed outdated", method: "GET", target: S + "/transactions/" + b1, status: 200, want: `{"id":"` + b1 + `","status":"outdated"}`},
		{name: "op on outdated", method: "POST", target: S + "/configuration/backends?transaction_id=" + b1, body: `{"name":"x"}`,
			status: 400, want: errBody(400, "transaction does not exist: "+b1), version: "0"},
		{name: "commit outdated", method: "PUT", target: S + "/transactions/" + b1, status: 406,
			want: errBody(406, "transaction "+b1+" is outdated and cannot be committed")},
		{name: "status=outdated is not in the spec's enum", method: "GET", target: S + "/transactions?status=outdated", status: 422,
			want: errBody(606, "status in query should be one of [failed in_progress]")},
		{name: "delete outdated", method: "DELETE", target: S + "/transactions/" + b1, status: 204},
	})

	// moved by a write outside transactions: stays in_progress, 409 at commit, then outdated
	c1 := startTx(t, f, "3")
	run(t, f, []step{
		{name: "runtime-path PUT moves the version", method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&version=3",
			body: `{"name":"s1","address":"127.0.0.1","port":21001,"weight":40}`, status: 200, version: "4"},
		{name: "still in progress", method: "GET", target: S + "/transactions/" + c1, status: 200, want: `{"_version":3,"id":"` + c1 + `","status":"in_progress"}`},
		{name: "still accepts operations", method: "POST", target: S + "/configuration/backends?transaction_id=" + c1, body: `{"name":"be_c"}`, status: 202},
		{name: "commit 409", method: "PUT", target: S + "/transactions/" + c1, status: 409,
			want: errBody(409, "version mismatch: version mismatch, transaction version: 3, configured version: 4")},
		{name: "now outdated", method: "GET", target: S + "/transactions/" + c1, status: 200, want: `{"id":"` + c1 + `","status":"outdated"}`},
	})
}

func TestTransactionLimit(t *testing.T) {
	f, _ := fixture(t)
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, startTx(t, f, "2"))
	}
	run(t, f, []step{{name: "21st", method: "POST", target: S + "/transactions?version=2", status: 429,
		want: errBody(429, "cannot start a new transaction, reached the maximum amount of 20 active transactions available")}})
	// one commit outdates the other 19, which then do not count
	run(t, f, []step{{name: "commit", method: "PUT", target: S + "/transactions/" + ids[0], status: 202, reload: true}})
	startTx(t, f, "3")
	// five in parallel at the same version: one 202, four 406
	f2, _ := fixture(t)
	var five []string
	for i := 0; i < 5; i++ {
		five = append(five, startTx(t, f2, "2"))
	}
	codes := map[int]int{}
	for _, id := range five {
		codes[call(t, f2, "PUT", S+"/transactions/"+id, "").Status]++
	}
	if codes[202] != 1 || codes[406] != 4 {
		t.Errorf("parallel commits: %v", codes)
	}
}

// §4.1/4.2: 200 vs 202 outside transactions.
func TestSingleWrites(t *testing.T) {
	f, _ := fixture(t)
	put := func(v, body string) step {
		return step{method: "PUT", target: S + "/configuration/servers/s1?backend=be_app&version=" + v, body: body}
	}
	steps := []step{
		put("2", `{"name":"s1","address":"127.0.0.1","port":21005,"weight":31}`),
		put("3", `{"name":"s1","address":"127.0.0.1","port":21005,"weight":0}`),
		put("4", `{"name":"s1","address":"127.0.0.1","port":21005,"weight":0,"maintenance":"enabled"}`),
		put("5", `{"name":"s1","address":"127.0.0.1","port":21005,"weight":0,"maintenance":"enabled","health_check_port":21012}`),
		put("6", `{"name":"s1","address":"127.0.0.1","port":21005,"weight":0,"maintenance":"enabled","health_check_port":21012,"check":"enabled"}`),
		{method: "POST", target: S + "/configuration/servers?backend=be_app&version=7", body: `{"name":"s3","address":"127.0.0.1","port":21003}`},
		{method: "DELETE", target: S + "/configuration/servers/s3?backend=be_app&version=8"},
		{method: "PUT", target: S + "/configuration/backends/be_app?version=9", body: `{"name":"be_app","mode":"http","balance":{"algorithm":"roundrobin"}}`},
		{method: "PUT", target: S + "/configuration/frontends/fe_main?version=10", body: `{"name":"fe_main","mode":"http","default_backend":"be_app","maxconn":500}`},
		{method: "PUT", target: S + "/configuration/frontends/fe_main?version=11", body: `{"name":"fe_main","mode":"tcp","default_backend":"be_app","maxconn":500}`},
	}
	names := []string{"address+port", "weight 0", "maintenance", "health_check_port", "check added", "POST server", "DELETE server",
		"PUT identical backend", "frontend maxconn", "frontend mode"}
	statuses := []int{200, 200, 200, 200, 202, 202, 202, 202, 200, 202}
	for i := range steps {
		steps[i].name, steps[i].status, steps[i].reload = names[i], statuses[i], statuses[i] == 202
		steps[i].version = itoa(3 + i)
	}
	run(t, f, steps)
	if rs, _ := f.RuntimeState("be_app", "s1"); rs.Port != 21005 || rs.AdminState != "maint" {
		t.Errorf("runtime path did not reach the running server: %+v", rs)
	}
}

// §4.2/4.3/4.4: reload coalescing, force_reload, reload states.
func TestReloads(t *testing.T) {
	f, clk := fixture(t, func(o *Options) { o.ReloadDelay = time.Second })
	a1 := call(t, f, "POST", S+"/configuration/backends?version=2", `{"name":"be_a"}`)
	a2 := call(t, f, "POST", S+"/configuration/backends?version=3", `{"name":"be_b"}`)
	id := a1.Header.Get("Reload-Id")
	if id != "2026-11-24-0" || a2.Header.Get("Reload-Id") != id {
		t.Fatalf("coalesced ids: %q %q", id, a2.Header.Get("Reload-Id"))
	}
	run(t, f, []step{
		{name: "in progress has no id", method: "GET", target: S + "/reloads/" + id, status: 200, want: `{"status":"in_progress"}`},
		{name: "listed in progress", method: "GET", target: S + "/reloads", status: 200, want: `[{"id":"2026-11-24-0","status":"in_progress"}]`},
	})
	clk.Advance(time.Second)
	ts := itoa(int(clk.Now().Unix()))
	run(t, f, []step{{name: "succeeded", method: "GET", target: S + "/reloads/" + id, status: 200,
		want: `{"id":"2026-11-24-0","reload_timestamp":` + ts + `,"status":"succeeded"}`}})

	f.FailNextReload("haproxy master reports failed reload (failed: 1)\n")
	b := call(t, f, "DELETE", S+"/configuration/backends/be_b?version=4", "")
	clk.Advance(time.Second)
	run(t, f, []step{
		{name: "failed", method: "GET", target: S + "/reloads/" + b.Header.Get("Reload-Id"), status: 200,
			want: `{"id":"2026-11-24-1","reload_timestamp":` + ts2(clk) + `,"response":"haproxy master reports failed reload (failed: 1)\n","status":"failed"}`},
	})
	c := call(t, f, "DELETE", S+"/configuration/backends/be_a?version=5", "")
	clk.Advance(time.Second)
	run(t, f, []step{
		{name: "list: failed ones and the last success", method: "GET", target: S + "/reloads", status: 200,
			want: `[{"id":"2026-11-24-1","reload_timestamp":` + itoa(int(clk.Now().Unix())-1) + `,"response":"haproxy master reports failed reload (failed: 1)\n","status":"failed"},` +
				`{"id":"2026-11-24-2","reload_timestamp":` + ts2(clk) + `,"status":"succeeded"}]`},
		{name: "older success: no timestamp", method: "GET", target: S + "/reloads/2026-11-24-0", status: 200, want: `{"id":"2026-11-24-0","status":"succeeded"}`},
		{name: "future id", method: "GET", target: S + "/reloads/2026-11-24-7", status: 404, want: errBody(404, "Reload with ID 2026-11-24-7 does not exist")},
		{name: "malformed id", method: "GET", target: S + "/reloads/abc", status: 422, want: errBody(605, `id in path should match '^\d{4}-\d{2}-\d{2}-\d+$'`)},
	})
	_ = c
	if f.Reloads() != 3 {
		t.Errorf("Reloads() = %d, want 3", f.Reloads())
	}

	// force_reload: 201/200/204 without Reload-Id, not listed; a failure is a 400 and the version moved.
	run(t, f, []step{
		{name: "force POST", method: "POST", target: S + "/configuration/backends?version=6&force_reload=true", body: `{"name":"be_f"}`, status: 201, version: "7"},
		{name: "force PUT", method: "PUT", target: S + "/configuration/backends/be_f?version=7&force_reload=true", body: `{"name":"be_f","mode":"tcp"}`, status: 200},
		{name: "force DELETE", method: "DELETE", target: S + "/configuration/backends/be_f?version=8&force_reload=true", status: 204},
	})
	f.FailNextReload("executing reload-master.sh failed: exit status 1, haproxy master reports failed reload (failed: 1)\n")
	run(t, f, []step{{name: "forced reload fails", method: "POST", target: S + "/configuration/backends?version=9&force_reload=true", body: `{"name":"be_g"}`,
		status: 400, version: "10", want: errBody(400, "Reload failed: executing reload-master.sh failed: exit status 1, haproxy master reports failed reload (failed: 1)\n")}})
	if f.Reloads() != 7 {
		t.Errorf("Reloads() = %d, want 7", f.Reloads())
	}
}

func ts2(c *clock) string { return itoa(int(c.Now().Unix())) }

// §5: raw configuration.
func TestRawConfig(t *testing.T) {
	f, _ := fixture(t)
	cfg := "global\n  master-worker\nbackend be_app\n  server s1 127.0.0.1:21001\n"
	text := "text/plain"
	a := call(t, f, "GET", S+"/configuration/raw", "")
	m := a.json(t)
	if a.Status != 200 || m["_version"] != float64(2) || !strings.HasPrefix(m["data"].(string), "# _md5hash=") ||
		!strings.Contains(m["data"].(string), "\n# _version=2\n") || a.Header.Get("Configuration-Checksum") == "" {
		t.Errorf("GET raw: %d %s %v", a.Status, a.Body, a.Header)
	}
	run(t, f, []step{
		{name: "Accept text/plain", method: "GET", target: S + "/configuration/raw", hdr: []string{"Accept", "text/plain"}, status: 406,
			want: errBody(406, "unsupported media type requested, only [application/json] are available")},
		{name: "no version", method: "POST", target: S + "/configuration/raw", body: cfg, hdr: []string{"Content-Type", text}, status: 400,
			want: errBody(400, "version or transaction not specified: version or transaction not specified, specify only one")},
		{name: "stale", method: "POST", target: S + "/configuration/raw?version=1", body: cfg, hdr: []string{"Content-Type", text}, status: 409,
			want: errBody(409, "version mismatch: version in configuration file is 2, given version is 1")},
		{name: "no newline", method: "POST", target: S + "/configuration/raw?version=2", body: "global", hdr: []string{"Content-Type", text}, status: 400,
			want: errBody(400, "invalid configuration: no newline character found")},
		{name: "plain: 202 + reload, body is the file as a string", method: "POST", target: S + "/configuration/raw?version=2", body: cfg,
			hdr: []string{"Content-Type", text}, status: 202, reload: true, version: "3", has: `backend be_app\n  server s1 127.0.0.1:21001\n"`},
		{name: "force_reload: 201", method: "POST", target: S + "/configuration/raw?version=3&force_reload=true", body: cfg, hdr: []string{"Content-Type", text}, status: 201, version: "4"},
		{name: "skip_reload: 201", method: "POST", target: S + "/configuration/raw?version=4&skip_reload=true", body: cfg, hdr: []string{"Content-Type", text}, status: 201, version: "5"},
		{name: "only_validate: 202, version unchanged", method: "POST", target: S + "/configuration/raw?version=5&only_validate=true", body: cfg,
			hdr: []string{"Content-Type", text}, status: 202, version: "5"},
		{name: "JSON string accepted", method: "POST", target: S + "/configuration/raw?version=5&skip_reload=true", body: `"global\n"`, status: 201, version: "6"},
		{name: "415 for other types", method: "POST", target: S + "/configuration/raw?version=6", body: cfg, hdr: []string{"Content-Type", "application/xml"}, status: 415,
			want: errBody(415, `unsupported media type "application/xml", only [text/plain] are allowed`)},
	})
	if got := f.Transactions(); len(got) != 0 {
		t.Errorf("transactions before a failed raw POST: %v", got)
	}
	f.FailNextValidation("config parsing [haproxy.cfg:4] : unknown keyword 'bogus_keyword' in 'backend' section")
	run(t, f, []step{{name: "only_validate broken: no details", method: "POST", target: S + "/configuration/raw?version=6&only_validate=true",
		body: cfg, hdr: []string{"Content-Type", text}, status: 400, want: errBody(400, "validation error: exit status 1")}})
	f.FailNextValidation("config parsing [haproxy.cfg:4] : unknown keyword 'bogus_keyword' in 'backend' section")
	run(t, f, []step{{name: "broken: details and a failed transaction", method: "POST", target: S + "/configuration/raw?version=6",
		body: cfg, hdr: []string{"Content-Type", text}, status: 400, has: "unknown keyword 'bogus_keyword'", version: "6"}})
	if got := f.Transactions(); len(got) != 1 || got[0].Status != "failed" {
		t.Errorf("failed raw POST should leave a failed transaction: %v", got)
	}
}

// §5: X-Runtime-Actions, §6: runtime endpoints.
func TestRuntime(t *testing.T) {
	f, _ := fixture(t)
	cfg := "global\n"
	text := []string{"Content-Type", "text/plain", "X-Runtime-Actions", "SetServerWeight be_app s1 33;SetServerAddr be_app s1 127.0.0.1 21003;SetServerState be_app s2 drain"}
	run(t, f, []step{
		{name: "list", method: "GET", target: S + "/runtime/servers?backend=be_app", status: 200, version: "2",
			want: `[{"address":"127.0.0.1","admin_state":"ready","id":"1","name":"s1","operational_state":"up","port":21001},{"address":"127.0.0.1","admin_state":"ready","id":"2","name":"s2","operational_state":"up","port":21002}]`},
		{name: "unknown backend", method: "GET", target: S + "/runtime/servers?backend=nope", status: 200, want: `[]`},
		{name: "actions with skip_reload", method: "POST", target: S + "/configuration/raw?version=2&skip_reload=true", body: cfg, hdr: text, status: 201},
		{name: "applied", method: "GET", target: S + "/runtime/servers?backend=be_app", status: 200,
			want: `[{"address":"127.0.0.1","admin_state":"ready","id":"1","name":"s1","operational_state":"up","port":21003},{"address":"127.0.0.1","admin_state":"drain","id":"2","name":"s2","operational_state":"up","port":21002}]`},
		{name: "maint", method: "PUT", target: S + "/runtime/servers/s1?backend=be_app", body: `{"admin_state":"maint"}`, status: 200,
			want: `{"address":"127.0.0.1","admin_state":"maint","id":"1","name":"s1","operational_state":"down","port":21003}`, version: "3"},
		{name: "unknown server", method: "PUT", target: S + "/runtime/servers/s9?backend=be_app", body: `{"admin_state":"drain"}`, status: 500,
			want: errBody(500, "no data for be_app/s9: not found")},
		{name: "one", method: "GET", target: S + "/runtime/servers/s9?backend=be_app", status: 404, want: errBody(404, "no data for be_app/s9: not found")},
		{name: "failing action: 500, file already written", method: "POST", target: S + "/configuration/raw?version=3&skip_reload=true", body: cfg,
			hdr: []string{"Content-Type", "text/plain", "X-Runtime-Actions", "SetServerWeight be_app nosuch 41"}, status: 500, version: "4",
			want: errBody(500, "cannot execute SetServerWeight: /run/dataplanetest/haproxy.sock [3]  No such server. [set server be_app/nosuch weight 41]")},
		{name: "'; ' skips the next action, unknown ones are ignored", method: "POST", target: S + "/configuration/raw?version=4&skip_reload=true", body: cfg,
			hdr: []string{"Content-Type", "text/plain", "X-Runtime-Actions", "FooBar be_app s1;SetServerWeight be_app s1 50; SetServerWeight be_app s1 60"}, status: 201},
	})
	if rs, _ := f.RuntimeState("be_app", "s1"); rs.Weight != 50 {
		t.Errorf("weight %d, want 50", rs.Weight)
	}
	info := call(t, f, "GET", S+"/runtime/info", "")
	pid := func(a answer) float64 {
		var v []map[string]map[string]any
		_ = json.Unmarshal([]byte(a.Body), &v)
		return v[0]["info"]["pid"].(float64)
	}
	// a reload loses runtime-only state and changes the worker pid
	call(t, f, "PUT", S+"/configuration/backends/be_app?version=5", `{"name":"be_app","mode":"http","balance":{"algorithm":"roundrobin"}}`)
	if f.Reloads() != 1 {
		t.Fatalf("Reloads() = %d", f.Reloads())
	}
	if rs, _ := f.RuntimeState("be_app", "s2"); rs.AdminState != "ready" {
		t.Errorf("drain survived the reload: %+v", rs)
	}
	if after := call(t, f, "GET", S+"/runtime/info", ""); pid(after) == pid(info) {
		t.Errorf("pid did not change across a reload")
	}
}

func TestFaultsAndCounters(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	s.FailNext("POST", "/services/haproxy/transactions", 503, "")
	s.FailNext("", "/v2/services/haproxy/configuration/version", 0, "")
	resp, err := http.Post(s.URL+S+"/transactions?version=1", "application/json", nil)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Configuration-Version") != "1" {
		t.Fatalf("fault: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	if _, err := http.Get(s.URL + S + "/configuration/version"); err == nil {
		t.Errorf("dropped connection: want an error")
	}
	resp, err = http.Post(s.URL+S+"/transactions?version=1", "application/json", nil)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("after faults: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	if s.Writes() != 1 || len(s.Requests()) != 3 {
		t.Errorf("Writes %d Requests %d", s.Writes(), len(s.Requests()))
	}
	s.Handle("GET", "/services/haproxy/storage/maps", func(w http.ResponseWriter, r *http.Request) {
		_ = s.Version() // may call back into the fake
		_, _ = w.Write([]byte(`[]`))
	})
	resp, err = http.Get(s.URL + S + "/storage/maps")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Configuration-Version") != "1" {
		t.Fatalf("extra handler: %v %v", resp, err)
	}
	_ = resp.Body.Close()
}

func TestSeedValidates(t *testing.T) {
	f := New(Options{})
	if err := f.Seed("servers", "backend", "nope", map[string]any{"name": "s", "address": "a"}); err == nil || !strings.Contains(err.Error(), "missing parent") {
		t.Errorf("seed without parent: %v", err)
	}
	if err := f.Seed("backends", "", "", map[string]any{"name": "b", "mode": "bogus"}); err == nil || !strings.Contains(err.Error(), "mode in body should be one of") {
		t.Errorf("seed with bad enum: %v", err)
	}
}

// §6.1: the runtime view is what HAProxy runs, which changes at a reload.
func TestRunningFollowsReloads(t *testing.T) {
	f, clk := fixture(t, func(o *Options) { o.ReloadDelay = time.Second })
	a := call(t, f, "POST", S+"/configuration/servers?backend=be_app&version=2", `{"name":"s3","address":"127.0.0.1","port":21003}`)
	if a.Status != 202 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if n := len(f.Objects("servers", "backend", "be_app")); n != 3 {
		t.Errorf("live servers: %d", n)
	}
	if n := len(f.RunningObjects("servers", "backend", "be_app")); n != 2 {
		t.Errorf("running servers before the reload: %d", n)
	}
	if _, ok := f.RuntimeState("be_app", "s3"); ok {
		t.Errorf("s3 runs before its reload")
	}
	if f.PendingReload() != a.Header.Get("Reload-Id") {
		t.Errorf("pending %q", f.PendingReload())
	}
	clk.Advance(time.Second)
	if _, ok := f.RuntimeState("be_app", "s3"); !ok || f.Reloads() != 1 || f.PendingReload() != "" {
		t.Errorf("s3 should run after the reload (reloads %d)", f.Reloads())
	}
	// a runtime-path PUT changes the running server at once, no reload
	call(t, f, "PUT", S+"/configuration/servers/s3?backend=be_app&version=3", `{"name":"s3","address":"127.0.0.1","port":21009}`)
	if rs, _ := f.RuntimeState("be_app", "s3"); rs.Port != 21009 || f.PendingReload() != "" {
		t.Errorf("runtime path: %+v pending %q", rs, f.PendingReload())
	}
	if f.Writes() != 2 {
		t.Errorf("Writes() = %d", f.Writes())
	}
}

// A text rendered inside a transaction and posted back carries the
// transaction's objects, standing in for the real API's render and parse.
func TestRawRenderedFromATransactionCarriesItsObjects(t *testing.T) {
	f, _ := fixture(t)
	id := startTx(t, f, "2")
	if a := call(t, f, "POST", S+"/configuration/servers?backend=be_app&transaction_id="+id,
		`{"name":"s3","address":"127.0.0.1","port":21003}`, "Content-Type", "application/json"); a.Status != 202 {
		t.Fatalf("add server in transaction: %d %s", a.Status, a.Body)
	}
	rendered := call(t, f, "GET", S+"/configuration/raw?transaction_id="+id, "").json(t)["data"].(string)
	call(t, f, "DELETE", S+"/transactions/"+id, "")
	if n := len(f.Objects("servers", "backend", "be_app")); n != 2 {
		t.Fatalf("the discarded transaction leaked: %d servers", n)
	}
	a := call(t, f, "POST", S+"/configuration/raw?version=2&skip_reload=true", rendered, "Content-Type", "text/plain")
	if a.Status != 201 {
		t.Fatalf("post rendered text: %d %s", a.Status, a.Body)
	}
	if n := len(f.Objects("servers", "backend", "be_app")); n != 3 {
		t.Fatalf("after posting the rendered text: %d servers, want 3", n)
	}
	// The stored text is the posted one without the model line.
	text := call(t, f, "GET", S+"/configuration/raw", "").json(t)["data"].(string)
	if strings.Count(text, hdrModel) != 1 || !strings.HasSuffix(text, "global\n  master-worker\ndefaults base\n  mode http\n") {
		t.Fatalf("stored text: %q", text)
	}
}
