package sync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// ConfigAPI is what sync needs from the Data Plane API.
type ConfigAPI interface {
	Version(ctx context.Context) (int64, error)
	Backends(ctx context.Context, txID string) ([]dataplane.Backend, error)
	Servers(ctx context.Context, txID, backend string) ([]dataplane.Server, error)
	Frontends(ctx context.Context, txID string) ([]dataplane.Frontend, error)
	Binds(ctx context.Context, txID, frontend string) ([]dataplane.Bind, error)
	ACLs(ctx context.Context, txID, parentType, parentName string) ([]dataplane.ACL, error)
	BackendSwitchingRules(ctx context.Context, txID, frontend string) ([]dataplane.BackendSwitchingRule, error)
	HTTPRequestRules(ctx context.Context, txID, parentType, parentName string) ([]dataplane.HTTPRequestRule, error)
	HTTPResponseRules(ctx context.Context, txID, parentType, parentName string) ([]dataplane.HTTPResponseRule, error)
	TCPRequestRules(ctx context.Context, txID, parentType, parentName string) ([]dataplane.TCPRequestRule, error)
	Userlists(ctx context.Context, txID string) ([]dataplane.Userlist, error)
	Users(ctx context.Context, txID, userlist string) ([]dataplane.User, error)
	StartTransaction(ctx context.Context, version int64) (*dataplane.Tx, error)
	ReplaceServer(ctx context.Context, version int64, backend string, s dataplane.Server) (dataplane.WriteResult, error)
	WaitReload(ctx context.Context, id string) (dataplane.Reload, error)
	CleanupTransactions(ctx context.Context) (int, error)
	RawConfig(ctx context.Context, txID string) (string, int64, error)
	RawConfigDetail(ctx context.Context, txID string) (dataplane.RawConfigDetail, error)
	PostRawConfig(ctx context.Context, version int64, text string, opt dataplane.RawOptions) (dataplane.WriteResult, error)
}

// ReadCurrent reads the objects this tool owns, and the ports bound by
// frontends it does not own (so that a service never steals them).
func ReadCurrent(ctx context.Context, api ConfigAPI) (*State, map[int]string, error) {
	st := NewState()
	foreign := map[int]string{}
	bes, err := api.Backends(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("read backends: %w", err)
	}
	for _, be := range bes {
		app, owned := ownedApp(be.Description)
		if !owned {
			continue
		}
		b := &Backend{Backend: be, AppID: app}
		if b.Servers, err = api.Servers(ctx, "", be.Name); err != nil {
			return nil, nil, fmt.Errorf("read servers of backend %s: %w", be.Name, err)
		}
		if b.ACLs, err = api.ACLs(ctx, "", parentBackend, be.Name); err != nil {
			return nil, nil, fmt.Errorf("read acls of backend %s: %w", be.Name, err)
		}
		if b.HTTPRequestRules, err = api.HTTPRequestRules(ctx, "", parentBackend, be.Name); err != nil {
			return nil, nil, fmt.Errorf("read http-request rules of backend %s: %w", be.Name, err)
		}
		if b.HTTPResponseRules, err = api.HTTPResponseRules(ctx, "", parentBackend, be.Name); err != nil {
			return nil, nil, fmt.Errorf("read http-response rules of backend %s: %w", be.Name, err)
		}
		if b.TCPRequestRules, err = api.TCPRequestRules(ctx, "", parentBackend, be.Name); err != nil {
			return nil, nil, fmt.Errorf("read tcp-request rules of backend %s: %w", be.Name, err)
		}
		st.Backends[be.Name] = b
	}
	uls, err := api.Userlists(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("read userlists: %w", err)
	}
	for _, ul := range uls {
		// Userlists have no description: one is ours when it is the
		// userlist of a backend we own.
		be := st.Backends[strings.TrimPrefix(ul.Name, userlistPrefix)]
		if !strings.HasPrefix(ul.Name, userlistPrefix) || be == nil {
			continue
		}
		users, err := api.Users(ctx, "", ul.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("read users of userlist %s: %w", ul.Name, err)
		}
		st.Userlists[ul.Name] = &Userlist{Users: users, AppID: be.AppID}
	}
	fes, err := api.Frontends(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("read frontends: %w", err)
	}
	for _, fe := range fes {
		binds, err := api.Binds(ctx, "", fe.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("read binds of frontend %s: %w", fe.Name, err)
		}
		app, owned := ownedApp(fe.Description)
		if !owned {
			for _, b := range binds {
				if b.Port != nil {
					foreign[int(*b.Port)] = fe.Name
				}
			}
			continue
		}
		f := &Frontend{Frontend: fe, Binds: binds, AppID: app}
		if f.ACLs, err = api.ACLs(ctx, "", parentFrontend, fe.Name); err != nil {
			return nil, nil, fmt.Errorf("read acls of frontend %s: %w", fe.Name, err)
		}
		if f.HTTPRequestRules, err = api.HTTPRequestRules(ctx, "", parentFrontend, fe.Name); err != nil {
			return nil, nil, fmt.Errorf("read http-request rules of frontend %s: %w", fe.Name, err)
		}
		if f.SwitchingRules, err = api.BackendSwitchingRules(ctx, "", fe.Name); err != nil {
			return nil, nil, fmt.Errorf("read switching rules of frontend %s: %w", fe.Name, err)
		}
		if f.TCPRequestRules, err = api.TCPRequestRules(ctx, "", parentFrontend, fe.Name); err != nil {
			return nil, nil, fmt.Errorf("read tcp-request rules of frontend %s: %w", fe.Name, err)
		}
		st.Frontends[fe.Name] = f
	}
	return st, foreign, nil
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	// Strategy is how the plan was applied (Plan.Strategy).
	Strategy         StepKind
	FullSteps        int
	TransactionSteps int
	RuntimeSteps     int
	// ReloadID is the reload the transaction commit scheduled ("" if none).
	ReloadID string
	Version  int64
	// Routable is how long the Runtime API took to make runtime steps live;
	// Persist how long writing them to haproxy.cfg took afterwards.
	Routable, Persist time.Duration
	// Draining counts removed servers left in maint because requests were
	// still in flight; Busy names them (backend/server).
	Draining int
	Busy     map[string]bool
	// Deferred is set when the runtime changes are being written to the
	// file in the background (Syncer.DeferPersist).
	Deferred bool
}

// bulkSteps is the size past which a transaction plan is committed as
// rendered text: a transaction's operations each re-parse the whole file
// (notes: 145 ms per write at 1,000 backends).
const bulkSteps = 200

// Apply executes plan by its strategy. Full: the whole configuration is
// rendered with the steps applied and committed at once (raw), one reload.
// Transaction: the steps go into one transaction (deleted on any failure,
// so no half-applied state is left), one reload. Runtime: through the
// Runtime API when rt is set (then persisted without reload), else through
// the Data Plane API's runtime path one server at a time.
func Apply(ctx context.Context, api ConfigAPI, rt RuntimeAPI, dr *drainer, plan Plan, log *zap.Logger) (ApplyResult, error) {
	return apply(ctx, api, rt, dr, plan, log, nil)
}

// apply is Apply; with deferred set, runtime changes are written to the
// file in the background.
func apply(ctx context.Context, api ConfigAPI, rt RuntimeAPI, dr *drainer, plan Plan, log *zap.Logger, deferred *persister) (ApplyResult, error) {
	switch {
	case plan.Empty():
		return ApplyResult{}, nil
	case plan.Strategy() == Full:
		return applyFull(ctx, api, plan, log, deferred)
	case plan.Strategy() == Transaction && len(plan.Steps) > bulkSteps && plan.Desired != nil:
		// One operation of a transaction costs a parse and a write of the
		// whole file; past a few hundred a rendered commit is far faster,
		// and both reload once.
		res, err := applyFull(ctx, api, plan, log, deferred)
		res.Strategy, res.TransactionSteps, res.FullSteps = Transaction, res.FullSteps, 0
		return res, err
	case plan.Strategy() == Transaction:
		return applyTransaction(ctx, api, plan, log)
	case rt != nil:
		return applyRuntime(ctx, api, rt, dr, plan, log, deferred)
	}
	return applyRuntimeThroughAPI(ctx, api, plan, log)
}

func applyTransaction(ctx context.Context, api ConfigAPI, plan Plan, log *zap.Logger) (ApplyResult, error) {
	res := ApplyResult{Strategy: Transaction}
	start := time.Now()
	version, err := api.Version(ctx)
	if err != nil {
		return res, fmt.Errorf("read configuration version: %w", err)
	}
	res.Version = version
	tx, err := api.StartTransaction(ctx, version)
	if err != nil {
		return res, fmt.Errorf("start transaction at version %d: %w", version, err)
	}
	for _, s := range plan.Steps {
		if err := applyTxStep(ctx, tx, s); err != nil {
			tx.Discard()
			return res, fmt.Errorf("%s: %w", s, err)
		}
	}
	wr, err := tx.Commit(ctx)
	if err != nil {
		tx.Discard()
		return res, fmt.Errorf("commit transaction %s: %w", tx.ID, err)
	}
	res.TransactionSteps, res.ReloadID, res.Version = len(plan.Steps), wr.ReloadID, wr.Version
	log.Info("transaction committed", zap.String("transaction", tx.ID), zap.Int("steps", len(plan.Steps)),
		zap.Int64("version", wr.Version), zap.String("reload_id", wr.ReloadID), zap.Duration("duration", time.Since(start)))
	return res, waitReload(ctx, api, wr.ReloadID, "transaction "+tx.ID, log)
}

// applyFull commits the whole configuration at once: the steps are
// rendered through a transaction that is never committed, and the text is
// posted (raw) at the version it was rendered from, so a concurrent writer
// gets a conflict instead of being overwritten. With deferred set, the
// text committed is where the background writes after it start: they
// need not read 6 MB of it back at 10,000 apps (seconds, and tens of MB
// of garbage right after the initial sync).
func applyFull(ctx context.Context, api ConfigAPI, plan Plan, log *zap.Logger, deferred *persister) (ApplyResult, error) {
	res := ApplyResult{Strategy: Full}
	start := time.Now()
	version, text, prefix, err := renderRead(ctx, api, plan, nil, nil, deferred.idleCache())
	if err != nil {
		return res, err
	}
	res.Version = version
	wr, err := api.PostRawConfig(ctx, version, text, dataplane.RawOptions{})
	if err != nil {
		return res, fmt.Errorf("commit the full configuration at version %d: %w", version, err)
	}
	res.FullSteps, res.ReloadID, res.Version = len(plan.Steps), wr.ReloadID, wr.Version
	log.Info("full configuration committed", zap.Int("steps", len(plan.Steps)), zap.Int64("version", wr.Version),
		zap.String("reload_id", wr.ReloadID), zap.Duration("duration", time.Since(start)))
	if err := waitReload(ctx, api, wr.ReloadID, "full configuration commit", log); err != nil {
		return res, err
	}
	if prefix != "" {
		deferred.seed(writtenText{prefix: strings.Clone(prefix), version: wr.Version})
	}
	return res, nil
}

// waitReload follows a scheduled reload ("" when none) to its end; a failed
// one gets the API's model repaired.
func waitReload(ctx context.Context, api ConfigAPI, id, after string, log *zap.Logger) error {
	if id == "" {
		return nil
	}
	if _, err := api.WaitReload(ctx, id); err != nil {
		if errors.Is(err, dataplane.ErrReloadFailed) {
			repairModel(ctx, api, log)
		}
		return fmt.Errorf("reload %s after %s: %w", id, after, err)
	}
	return nil
}

// applyRuntimeThroughAPI applies server changes through the Data Plane
// API's runtime path, used without a stats socket.
func applyRuntimeThroughAPI(ctx context.Context, api ConfigAPI, plan Plan, log *zap.Logger) (ApplyResult, error) {
	res := ApplyResult{Strategy: Runtime}
	version, err := api.Version(ctx)
	if err != nil {
		return res, fmt.Errorf("read configuration version: %w", err)
	}
	res.Version = version
	for _, s := range plan.Steps {
		srv, ok := s.Value.(dataplane.Server)
		if s.Object != ObjServer || s.Op != Replace || !ok {
			return res, fmt.Errorf("%s: not a runtime step", s)
		}
		wr, err := api.ReplaceServer(ctx, version, s.Parent, srv)
		if err != nil {
			return res, fmt.Errorf("%s: %w", s, err)
		}
		version = wr.Version
		res.RuntimeSteps++
		res.Version = version
		if wr.ReloadID != "" {
			// The API fell back to a reload (a runtime command failed);
			// wait so the caller sees the final state.
			log.Warn("runtime change needed a reload", zap.String("backend", s.Parent), zap.String("server", s.Name), zap.String("reload_id", wr.ReloadID))
			if _, err := api.WaitReload(ctx, wr.ReloadID); err != nil {
				return res, fmt.Errorf("reload %s after %s: %w", wr.ReloadID, s, err)
			}
			res.ReloadID = wr.ReloadID
		}
	}
	return res, nil
}

// repairModel undoes what a failed reload leaves behind: HAProxy keeps
// running the last good file, and the API restores that file, but its
// in-memory model keeps the rejected change and would write it back with
// the next write of any kind (notes §4.4). Posting the file's own text
// (skip_reload) makes the model match the file and HAProxy again.
func repairModel(ctx context.Context, api ConfigAPI, log *zap.Logger) {
	d, err := api.RawConfigDetail(ctx, "")
	if err != nil {
		log.Error("could not read the configuration after a failed reload", zap.Error(err))
		return
	}
	if d.FileVersion == d.Version {
		return
	}
	if _, err := api.PostRawConfig(ctx, d.Version, d.Text, dataplane.RawOptions{SkipReload: true}); err != nil {
		log.Error("could not repair the Data Plane API's model after a failed reload", zap.Int64("model_version", d.Version),
			zap.Int64("file_version", d.FileVersion), zap.Error(err))
		return
	}
	log.Warn("failed reload: the Data Plane API's model was reset to the file HAProxy runs",
		zap.Int64("model_version", d.Version), zap.Int64("file_version", d.FileVersion))
}

func applyTxStep(ctx context.Context, tx *dataplane.Tx, s Step) error {
	switch s.Object {
	case ObjBackend:
		switch s.Op {
		case Create:
			return tx.CreateBackend(ctx, s.Value.(dataplane.Backend))
		case Replace:
			return tx.ReplaceBackend(ctx, s.Value.(dataplane.Backend))
		case Delete:
			return tx.DeleteBackend(ctx, s.Name)
		}
	case ObjServer:
		switch s.Op {
		case Create:
			return tx.CreateServer(ctx, s.Parent, s.Value.(dataplane.Server))
		case Replace:
			return tx.ReplaceServer(ctx, s.Parent, s.Value.(dataplane.Server))
		case Delete:
			return tx.DeleteServer(ctx, s.Parent, s.Name)
		}
	case ObjFrontend:
		switch s.Op {
		case Create:
			return tx.CreateFrontend(ctx, s.Value.(dataplane.Frontend))
		case Replace:
			return tx.ReplaceFrontend(ctx, s.Value.(dataplane.Frontend))
		case Delete:
			return tx.DeleteFrontend(ctx, s.Name)
		}
	case ObjBind:
		switch s.Op {
		case Create:
			return tx.CreateBind(ctx, s.Parent, s.Value.(dataplane.Bind))
		case Replace:
			return tx.ReplaceBind(ctx, s.Parent, s.Value.(dataplane.Bind))
		case Delete:
			return tx.DeleteBind(ctx, s.Parent, s.Name)
		}
	case ObjACL:
		switch s.Op {
		case Create:
			return tx.CreateACL(ctx, s.ParentType, s.Parent, s.Value.(dataplane.ACL))
		case Replace:
			return tx.ReplaceACL(ctx, s.ParentType, s.Parent, s.Value.(dataplane.ACL))
		case Delete:
			return tx.DeleteACL(ctx, s.ParentType, s.Parent, s.Index)
		}
	case ObjHTTPRequest:
		switch s.Op {
		case Create:
			return tx.CreateHTTPRequestRule(ctx, s.ParentType, s.Parent, s.Value.(dataplane.HTTPRequestRule))
		case Replace:
			return tx.ReplaceHTTPRequestRule(ctx, s.ParentType, s.Parent, s.Value.(dataplane.HTTPRequestRule))
		case Delete:
			return tx.DeleteHTTPRequestRule(ctx, s.ParentType, s.Parent, s.Index)
		}
	case ObjSwitchingRule:
		switch s.Op {
		case Create:
			return tx.CreateBackendSwitchingRule(ctx, s.Parent, s.Value.(dataplane.BackendSwitchingRule))
		case Replace:
			return tx.ReplaceBackendSwitchingRule(ctx, s.Parent, s.Value.(dataplane.BackendSwitchingRule))
		case Delete:
			return tx.DeleteBackendSwitchingRule(ctx, s.Parent, s.Index)
		}
	case ObjHTTPResponse:
		switch s.Op {
		case Create:
			return tx.CreateHTTPResponseRule(ctx, s.ParentType, s.Parent, s.Value.(dataplane.HTTPResponseRule))
		case Replace:
			return tx.ReplaceHTTPResponseRule(ctx, s.ParentType, s.Parent, s.Value.(dataplane.HTTPResponseRule))
		case Delete:
			return tx.DeleteHTTPResponseRule(ctx, s.ParentType, s.Parent, s.Index)
		}
	case ObjTCPRequest:
		switch s.Op {
		case Create:
			return tx.CreateTCPRequestRule(ctx, s.ParentType, s.Parent, s.Value.(dataplane.TCPRequestRule))
		case Replace:
			return tx.ReplaceTCPRequestRule(ctx, s.ParentType, s.Parent, s.Value.(dataplane.TCPRequestRule))
		case Delete:
			return tx.DeleteTCPRequestRule(ctx, s.ParentType, s.Parent, s.Index)
		}
	case ObjUserlist:
		switch s.Op {
		case Create:
			return tx.CreateUserlist(ctx, dataplane.Userlist{Name: s.Name})
		case Delete:
			return tx.DeleteUserlist(ctx, s.Name)
		}
	case ObjUser:
		switch s.Op {
		case Create:
			return tx.CreateUser(ctx, s.Parent, s.Value.(dataplane.User))
		case Replace:
			return tx.ReplaceUser(ctx, s.Parent, s.Value.(dataplane.User))
		case Delete:
			return tx.DeleteUser(ctx, s.Parent, s.Name)
		}
	}
	return fmt.Errorf("unsupported step %s %s (index %s)", s.Op, s.Object, strconv.FormatInt(s.Index, 10))
}
