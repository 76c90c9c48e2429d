// Package dataplanetest is an in-memory HAProxy Data Plane API v2.9 (an
// http.Handler) for tests and demos. It reproduces what
// shared/reference/dataplaneapi-v2.9-notes.md observed of a real
// dataplaneapi v2.9.25 in front of HAProxy 2.6, and validates request bodies
// against the v2.9 specification (schema_v29.json, a checked extract).
// fake_test.go replays the notes' requests and compares the exact bodies.
//
// Use New (a handler) or NewServer (on a loopback port), preload with Seed
// and SeedRaw, drive failures with FailNext, FailNextReload,
// FailNextValidation and ExternalEdit, and inspect with Reloads, Writes,
// Version, Requests, Transactions, Objects, RunningObjects, RuntimeState.
//
// Reproduced (section numbers of the notes):
//
//   - §1 Error bodies {"code","message"}; schema errors as 422 with the
//     go-openapi codes and texts (602 required, 605 pattern, 606 enum, 608
//     maximum, 609 minimum, 601 query type), the first error only; a body of
//     the wrong JSON type is a 400 parse error. 401 "unauthenticated for
//     invalid credentials" with Www-Authenticate: Basic realm="API", and
//     "invalid password: <the password sent>" (the real API echoes it), "no
//     configured users" for an unknown user [source]. 415 for a body that is
//     not application/json (raw: text/plain or a JSON string), 406 when
//     Accept has no JSON. Unknown body fields are dropped; unset fields are
//     omitted and an explicit 0 kept where the model has a pointer.
//     Configuration-Version on every answer (the transaction's base version
//     with transaction_id=, 0 for an unknown or outdated one). GET wraps
//     {"_version","data"}, POST/PUT answer the bare object, DELETE nothing.
//     404/409/400 messages of client-native ("missing object: server zz
//     does not exist in be_app backend", "object already exists: …",
//     "missing parent: backend be_nope does not exist"). Parent addressing:
//     servers backend= (or parent_type/parent_name; neither is a 500
//     "parentType empty" [source]), binds frontend=, backend_switching_rules
//     frontend=, users userlist=, acls and http_request/http_response/
//     tcp_request rules parent_type+parent_name. Index semantics: POST
//     inserts at index and shifts, index == len appends, index > len is 400
//     "index out of range: …", PUT/DELETE out of range 404. PUT replaces the
//     whole object; a section PUT keeps its children; a server PUT with
//     another name renames it. Deleting a section deletes its children.
//   - §2 GET version is a bare integer. Writes need exactly one of version
//     and transaction_id (the two 400 texts), a stale or future version is
//     409 "version mismatch: version in configuration file is N, given
//     version is M". Every successful write adds 1, a no-op PUT included; a
//     commit adds 1 whatever its size; runtime endpoints and only_validate
//     add nothing; raw skip_version adopts the posted "# _version=" (the
//     version can go down). ExternalEdit stands for an edit of haproxy.cfg
//     or another client's write.
//   - §3 Transactions: 201 create (422 without version, 409 stale, 429 at
//     the 21st in_progress, MaxOpenTransactions; outdated and failed ones do
//     not count), operations answer 202 with no Reload-Id and change only
//     the transaction's copy, reads with transaction_id= see it (raw
//     included). Commit: 202 + Reload-Id, body _version = base, header =
//     new version, the transaction is gone (404); force_reload 200;
//     force_reload on an operation inside a transaction 400. A commit that
//     fails validation is 400 "validation error: exit status 1: err
//     transactionId=… msg=…" and leaves it failed (406 "… is failed and
//     cannot be committed", no _version). On commit, every other in_progress
//     transaction with base <= the committed base becomes outdated (op: 400
//     "transaction does not exist: <id>" with version 0; commit: 406). A
//     version moved outside transactions leaves them in_progress; their
//     commit answers 409 "version mismatch: version mismatch, transaction
//     version: N, configured version: M" and marks them outdated. GET
//     /transactions?status= accepts only failed|in_progress, as the spec's
//     enum says (outdated → 422) [spec]. DELETE 204, again 404.
//   - §4.1/§4.2 Outside transactions a server PUT whose only changed fields
//     are weight, address, port, maintenance, agent-check, agent-addr,
//     agent-send or health_check_port (or nothing) answers 200 and is
//     applied to the running HAProxy at once; a frontend PUT changing only
//     maxconn likewise. Changed arrays are not detected, like the API's
//     compareObjects. Everything else (POST/DELETE server, any backend PUT,
//     rules, ACLs) answers 202 + Reload-Id. Writes within one pending reload
//     share its id (coalescing).
//   - §4.3 force_reload: POST 201, PUT 200, DELETE 204, commit 200, raw 201,
//     no Reload-Id, not listed in /reloads; a failed forced reload is 400
//     "Reload failed: <output>" and the version has moved anyway.
//   - §4.4 /reloads/{id}: {"status":"in_progress"} (no id) for ReloadDelay,
//     then {"id","reload_timestamp","status":"succeeded"} or failed with
//     "response" (FailNextReload). /reloads lists failed reloads, the last
//     success and the pending one; an older success answers without
//     timestamp; an unknown id 404 "Reload with ID … does not exist"; a
//     malformed one 422 605. Ids are <YYYY-MM-DD>-<counter from 0>.
//   - §5 Raw: GET {"_version","data"} with the API's header lines and
//     Configuration-Checksum; POST needs version (or skip_version), refuses a
//     text without newline, replaces the header lines, answers 202 +
//     Reload-Id (plain), 201 (force_reload, skip_reload), 202 with the
//     current file and no version change (only_validate); a text that fails
//     validation (FailNextValidation) is 400 with details and leaves a failed
//     transaction, or 400 "validation error: exit status 1" with
//     only_validate. X-Runtime-Actions with skip_reload: split on ";" then
//     on single spaces, "; X" and unknown actions skipped, SetServerWeight/
//     Addr/State applied to the running servers, a failing action 500
//     "cannot execute …" after the file was written.
//   - §6.1 /runtime/servers reflects what HAProxy runs (the configuration of
//     the last successful reload plus runtime changes), not the API's model:
//     a server added with a 202 appears after its reload. Unknown backend
//     []; PUT admin_state/operational_state 200 (maint → down), unknown
//     server 500 "no data for be/s: not found", bad enum 422 606. Runtime-only
//     state is lost at the next successful reload.
//   - §6.2 /runtime/info: one process whose pid changes at every successful
//     reload.
//
// Not reproduced:
//
//   - Structured objects and the raw text are separate stores: structured
//     writes do not rewrite the raw text (only its header version). There is
//     no haproxy.cfg parser or renderer, and no canonical rewriting of the
//     file (§1). In their place, a served text starts with a
//     "# dataplanetest-model" comment line holding the view's objects, and a
//     posted text that has it replaces the objects: a text rendered inside a
//     transaction and posted back (a full commit, or persisting runtime
//     changes with skip_reload) carries that transaction's objects, as with
//     the real API. A posted text without the line leaves the objects alone.
//   - `haproxy -c` is approximated by one check (default_backend and
//     use_backend without "%[" must name an existing backend) plus
//     FailNextValidation; ACL names in conditions, duplicate names, keyword
//     semantics and busy ports are not checked.
//   - The drift after a failed reload (§4.4: file restored from .lkg, model
//     ahead, raw body _version ≠ header) is not modelled: the fake's model
//     stays authoritative and HAProxy keeps running the last good config.
//   - Only the kinds above; maps and storage (§7), certificates (§8),
//     stats (§6.3), POST/DELETE /runtime/servers and their defects (§6.1,
//     §10.2), server templates (§6.6), defaults sections and their "from"
//     warnings (§1), Cluster-Version. Handle can add an endpoint.
//   - Reload scheduling is one delay per reload, not a reload_delay tick;
//     reload ids do not restart (no API restart, §0); no reload_retention.
//     Timing (§9) is not simulated.
//   - With several schema errors the real API reports go-openapi's first;
//     the fake reports the first in property-name order.
//   - A GET list under a missing parent answers 400 "missing parent" [inf].
package dataplanetest
