package dataplanetest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// runtimeFields are the fields a PUT outside a transaction applies
// through the runtime API (200, no reload) when they are the only ones
// changed (dataplaneapi handlers/runtime.go, notes §4.1).
var runtimeFields = map[string]map[string]bool{
	"servers":   {"weight": true, "address": true, "port": true, "maintenance": true, "agent-check": true, "agent-addr": true, "agent-send": true, "health_check_port": true},
	"frontends": {"maxconn": true},
}

func boolParam(q url.Values, name string) (bool, *apiError) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, validationErr(codeInvalidType, "%s in query must be of type bool: %q", name, v)
	}
	return b, nil
}

func intParam(q url.Values, name string) (int64, bool, *apiError) {
	if !q.Has(name) {
		return 0, false, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, validationErr(codeInvalidType, "%s in query must be of type int64: %q", name, v)
	}
	return n, true, nil
}

var parentTypeEnum = map[string][]string{
	"servers": {"backend", "ring", "peers"},
	"binds":   {"frontend", "log_forward", "peers"},
}

// parentOf resolves the parent of a child kind from the query. Schema
// errors (422) come first; the API's own "parentType empty" (500) later.
func parentOf(k *kind, q url.Values) (ptype, pname string, schemaErr, handlerErr *apiError) {
	switch {
	case k.section != "":
		return "", "", nil, nil
	case k.shortcutOnly:
		v := q.Get(k.shortcut)
		if v == "" {
			return "", "", validationErr(codeRequired, "%s in query is required", k.shortcut), nil
		}
		return k.parents[0], v, nil, nil
	case k.parentParamed:
		pname, ptype = q.Get("parent_name"), q.Get("parent_type")
		if pname == "" {
			return "", "", validationErr(codeRequired, "parent_name in query is required"), nil
		}
		if ptype == "" {
			return "", "", validationErr(codeRequired, "parent_type in query is required"), nil
		}
		if !contains(k.parents, ptype) {
			return "", "", validationErr(codeEnum, "parent_type in query should be one of [%s]", strings.Join(k.parents, " ")), nil
		}
		return ptype, pname, nil, nil
	}
	if v := q.Get(k.shortcut); v != "" {
		return k.parents[0], v, nil, nil
	}
	ptype, pname = q.Get("parent_type"), q.Get("parent_name")
	if ptype != "" && !contains(parentTypeEnum[k.name], ptype) {
		return "", "", validationErr(codeEnum, "parent_type in query should be one of [%s]", strings.Join(parentTypeEnum[k.name], " ")), nil
	}
	if ptype == "" {
		return "", "", nil, newErr(500, "parentType empty")
	}
	if pname == "" {
		return "", "", nil, newErr(500, "parentName empty")
	}
	return ptype, pname, nil, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// configRequest serves /configuration/{kind}[/{key}].
func (f *Fake) configRequest(w http.ResponseWriter, r *http.Request, body []byte, k *kind, key string) {
	if r.Method == "GET" {
		f.configGet(w, r, k, key)
		return
	}
	if e := f.configWrite(w, r, body, k, key); e != nil {
		writeError(w, e)
	}
}

// view returns the configuration a request reads: a transaction's copy
// or the live one, and its version.
func (f *Fake) view(txID string) (*config, int64, *apiError) {
	if txID == "" {
		return f.live, f.version, nil
	}
	t := f.txs[txID]
	if t == nil || t.status != "in_progress" {
		return nil, 0, newErr(400, "transaction does not exist: %s", txID)
	}
	return t.cfg, t.base, nil
}

func (f *Fake) configGet(w http.ResponseWriter, r *http.Request, k *kind, key string) {
	q := r.URL.Query()
	ptype, pname, e422, e500 := parentOf(k, q)
	if e422 != nil {
		writeError(w, e422)
		return
	}
	if e500 != nil {
		writeError(w, e500)
		return
	}
	cfg, v, e := f.view(q.Get("transaction_id"))
	if e != nil {
		writeError(w, e)
		return
	}
	if key != "" {
		o, e := cfg.get(k, key, ptype, pname)
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, 200, map[string]any{"_version": v, "data": o})
		return
	}
	if k.section == "" && !cfg.hasParent(ptype, pname) {
		writeError(w, newErr(400, "missing parent: %s %s does not exist", ptype, pname))
		return
	}
	list := cfg.list(k, ptype, pname)
	if name := q.Get("acl_name"); k.name == "acls" && name != "" {
		var filtered []object
		for _, o := range list {
			if str(o, "acl_name") == name {
				filtered = append(filtered, o)
			}
		}
		list = filtered
	}
	if list == nil {
		list = []object{}
	}
	writeJSON(w, 200, map[string]any{"_version": v, "data": list})
}

// configWrite serves POST, PUT and DELETE on a configuration kind, in the
// order the API checks things: schema (422), force_reload with a
// transaction (400), parent parameters (500), then version or transaction
// (400/409), then the object itself (400/404/409), then haproxy -c (400).
func (f *Fake) configWrite(w http.ResponseWriter, r *http.Request, body []byte, k *kind, key string) *apiError {
	q := r.URL.Query()
	if e := checkContentType(r, body, "application/json"); e != nil {
		return e
	}
	ptype, pname, e422, e500 := parentOf(k, q)
	if e422 != nil {
		return e422
	}
	var obj object
	if r.Method != "DELETE" {
		var e *apiError
		if obj, e = decodeBody(k.def, body); e != nil {
			return e
		}
	}
	if k.indexed && key != "" {
		if _, err := strconv.ParseInt(key, 10, 64); err != nil {
			return validationErr(codeInvalidType, "index in path must be of type int64: %q", key)
		}
	}
	force, e := boolParam(q, "force_reload")
	if e != nil {
		return e
	}
	version, _, e := intParam(q, "version")
	if e != nil {
		return e
	}
	txID := q.Get("transaction_id")
	if txID != "" && force {
		return newErr(400, "Both force_reload and transaction specified, specify only one")
	}
	if e500 != nil {
		return e500
	}
	// PUT server/frontend first reads the object (for the runtime diff).
	var before object
	if r.Method == "PUT" && runtimeFields[k.name] != nil {
		cfg, _, e := f.view(txID)
		if e != nil {
			return e
		}
		if before, e = cfg.get(k, key, ptype, pname); e != nil {
			return e
		}
	}
	switch {
	case txID != "" && version != 0:
		return newErr(400, "both version and transaction specified, specify only one")
	case txID == "" && version == 0:
		return newErr(400, "version or transaction not specified: version or transaction not specified, specify only one")
	}
	o := op{k: k, method: r.Method, key: key, ptype: ptype, pname: pname, body: obj}

	if txID != "" {
		t := f.txs[txID]
		if t == nil || t.status != "in_progress" {
			return newErr(400, "transaction does not exist: %s", txID)
		}
		if e := t.cfg.apply(o); e != nil {
			return e
		}
		// Inside a transaction: 202, bare object, no Reload-Id (notes §3).
		if obj == nil {
			w.WriteHeader(http.StatusAccepted)
		} else {
			writeJSON(w, http.StatusAccepted, obj)
		}
		return nil
	}

	if version != f.version {
		return newErr(409, "version mismatch: version in configuration file is %d, given version is %d", f.version, version)
	}
	cfg := f.live.clone()
	if e := cfg.apply(o); e != nil {
		return e
	}
	if e := f.validate(cfg, newID()); e != nil {
		return e
	}
	f.live = cfg
	f.version++ // every successful write, a no-op PUT included (notes §2)

	if before != nil && f.runtimeOnly(k, before, obj, key, pname) {
		writeJSON(w, http.StatusOK, obj)
		return nil
	}
	return f.reloadAnswer(w, r.Method, obj, force)
}

// runtimeOnly applies a PUT through the runtime when only runtime fields
// changed and HAProxy runs the object; it reports whether it did.
func (f *Fake) runtimeOnly(k *kind, before, after object, key, backend string) bool {
	for _, field := range diffFields(before, after) {
		if !runtimeFields[k.name][field] {
			return false
		}
	}
	if k.name == "frontends" {
		i, fe := f.running.findSection("frontends", key)
		if fe == nil {
			return false // the runtime command fails: fall back to a reload
		}
		if v, ok := after["maxconn"]; ok {
			fe["maxconn"] = v
		} else {
			delete(fe, "maxconn")
		}
		f.running.sections["frontends"][i] = fe
		return true
	}
	pos, srv := f.findRunning(backend, key)
	if srv == nil {
		return false
	}
	f.running.servers(backend)[pos] = deepCopy(after).(object)
	if st := f.runtime[rtKey(backend, key)]; st != nil {
		st.weight, st.address, st.port = nil, "", nil
		if _, changed := diffSet(before, after)["maintenance"]; changed {
			st.adminState, st.operationalState = "", ""
		}
	}
	return true
}

func diffSet(a, b object) map[string]struct{} {
	out := map[string]struct{}{}
	for _, k := range diffFields(a, b) {
		out[k] = struct{}{}
	}
	return out
}

// reloadAnswer answers a write that needs a reload: 202 + Reload-Id, or
// with force_reload the reload runs now (POST 201, PUT 200, DELETE 204,
// commit 200, raw 201) or fails with 400 "Reload failed" (notes §4.3).
func (f *Fake) reloadAnswer(w http.ResponseWriter, method string, body any, force bool) *apiError {
	if force {
		if e := f.forceReload(); e != nil {
			return e
		}
		status := map[string]int{"POST": http.StatusCreated, "PUT": http.StatusOK, "DELETE": http.StatusNoContent}[method]
		if body == nil || status == http.StatusNoContent {
			w.WriteHeader(status)
			return nil
		}
		writeJSON(w, status, body)
		return nil
	}
	w.Header().Set("Reload-Id", f.scheduleReload())
	if body == nil {
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	writeJSON(w, http.StatusAccepted, body)
	return nil
}

// validate stands for `haproxy -c` on cfg: the built-in checks of
// config.check plus any FailNextValidation. The message has the shape of
// the API's (notes §3).
func (f *Fake) validate(cfg *config, txID string) *apiError {
	msgs := cfg.check()
	if len(f.failValidation) > 0 {
		msgs = append(msgs, f.failValidation[0])
		f.failValidation = f.failValidation[1:]
	}
	if len(msgs) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("validation error: exit status 1: err transactionId=" + txID + " ")
	for _, m := range msgs {
		b.WriteString("\nmsg=\"" + m + "\"")
	}
	b.WriteString("\nmsg=\"config Fatal errors found in configuration.\"")
	return newErr(400, "%s", b.String())
}
