package dataplanetest

import (
	"net/http"
)

func txJSON(t *transaction) map[string]any {
	m := map[string]any{"id": t.id, "status": t.status}
	if t.status == "in_progress" || t.status == "success" {
		m["_version"] = t.base // failed and outdated ones have no _version (notes §3)
	}
	return m
}

func (f *Fake) inProgress() int {
	n := 0
	for _, t := range f.txs {
		if t.status == "in_progress" {
			n++
		}
	}
	return n
}

// startTransaction is POST $S/transactions?version=.
func (f *Fake) startTransaction(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	version, ok, e := intParam(q, "version")
	if e == nil && !ok {
		e = validationErr(codeRequired, "version in query is required")
	}
	if e == nil && f.inProgress() >= f.opts.MaxOpenTransactions {
		e = newErr(429, "cannot start a new transaction, reached the maximum amount of %d active transactions available", f.opts.MaxOpenTransactions)
	}
	if e == nil && version != f.version {
		e = newErr(409, "version mismatch: version in configuration file is %d, given version is %d", f.version, version)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	f.txSeq++
	t := &transaction{seq: f.txSeq, id: newID(), base: version, status: "in_progress", cfg: f.live.clone()}
	f.txs[t.id] = t
	writeJSON(w, http.StatusCreated, txJSON(t))
}

// listTransactions is GET $S/transactions[?status=] (a plain array).
func (f *Fake) listTransactions(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	// The spec's enum for this parameter has no "outdated".
	if status != "" && status != "failed" && status != "in_progress" {
		writeError(w, validationErr(codeEnum, "status in query should be one of [failed in_progress]"))
		return
	}
	out := []any{}
	for _, t := range f.sortedTxs() {
		if status == "" || t.status == status {
			out = append(out, txJSON(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// transactionRequest serves GET, PUT (commit) and DELETE on one
// transaction.
func (f *Fake) transactionRequest(w http.ResponseWriter, r *http.Request, id string) {
	t := f.txs[id]
	switch r.Method {
	case "GET":
		if t == nil {
			writeError(w, newErr(404, "transaction does not exist: transaction %s does not exist", id))
			return
		}
		writeJSON(w, http.StatusOK, txJSON(t))
	case "DELETE":
		if t == nil {
			writeError(w, newErr(404, "transaction does not exist: transaction file %s does not exist", id))
			return
		}
		delete(f.txs, id)
		w.WriteHeader(http.StatusNoContent)
	case "PUT":
		if e := f.commit(w, r, t, id); e != nil {
			writeError(w, e)
		}
	}
}

// commit reproduces PUT $S/transactions/{id} (dataplaneapi
// handlers/transaction.go and client-native commitTransaction).
func (f *Fake) commit(w http.ResponseWriter, r *http.Request, t *transaction, id string) *apiError {
	force, e := boolParam(r.URL.Query(), "force_reload")
	if e != nil {
		return e
	}
	if t == nil {
		return newErr(404, "transaction does not exist: transaction %s does not exist", id)
	}
	switch t.status {
	case "outdated", "failed":
		return newErr(406, "transaction %s is %s and cannot be committed", id, t.status)
	}
	if t.base != f.version {
		// moved by a write outside transactions: 409, and only now outdated
		t.status, t.cfg = "outdated", nil
		return newErr(409, "version mismatch: version mismatch, transaction version: %d, configured version: %d", t.base, f.version)
	}
	if e := f.validate(t.cfg, id); e != nil {
		t.status, t.cfg = "failed", nil
		return e
	}
	f.live = t.cfg
	f.version++ // one per commit, whatever the number of operations
	delete(f.txs, id)
	for _, o := range f.txs {
		if o.status == "in_progress" && o.base <= t.base {
			o.status, o.cfg = "outdated", nil
		}
	}
	t.status = "success"
	return f.reloadAnswer(w, "PUT", txJSON(t), force)
}
