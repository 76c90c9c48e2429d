package sync

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// StepKind says how a step reaches HAProxy.
type StepKind string

const (
	// Runtime steps change a live value without a reload (the Data Plane
	// API applies server address/port/weight/maintenance through the
	// Runtime API and writes them to the file).
	Runtime StepKind = "runtime"
	// Transaction steps are structural and go into one transaction, whose
	// commit reloads HAProxy once.
	Transaction StepKind = "transaction"
	// Full steps change frontends or binds, what HAProxy listens on: the
	// whole configuration is rendered and committed at once (raw), with
	// one reload. A plan with one full step is applied that way entirely.
	Full StepKind = "full"
)

// Op is what a step does to its object.
type Op string

const (
	Create  Op = "create"
	Replace Op = "replace"
	Delete  Op = "delete"
)

// Object kinds, named after the Data Plane API endpoints.
const (
	ObjBackend       = "backend"
	ObjServer        = "server"
	ObjFrontend      = "frontend"
	ObjBind          = "bind"
	ObjACL           = "acl"
	ObjHTTPRequest   = "http_request_rule"
	ObjSwitchingRule = "backend_switching_rule"
	ObjHTTPResponse  = "http_response_rule"
	ObjTCPRequest    = "tcp_request_rule"
	ObjUserlist      = "userlist"
	ObjUser          = "user"
	parentFrontend   = "frontend"
	parentBackend    = "backend"
)

// Step is one change. Value holds the complete desired object for create
// and replace (the API's PUT replaces the whole object).
type Step struct {
	Kind       StepKind `json:"kind"`
	Op         Op       `json:"op"`
	Object     string   `json:"object"`
	ParentType string   `json:"parent_type,omitempty"`
	Parent     string   `json:"parent,omitempty"`
	Name       string   `json:"name,omitempty"`
	Index      int64    `json:"index,omitempty"`
	Value      any      `json:"value,omitempty"`
}

func (s Step) String() string {
	where := s.Name
	if s.Object == ObjACL || s.Object == ObjHTTPRequest || s.Object == ObjSwitchingRule {
		where = fmt.Sprintf("#%d", s.Index)
	}
	if s.Parent != "" {
		where = s.Parent + "/" + where
	}
	return fmt.Sprintf("%s %s %s %s", s.Kind, s.Op, s.Object, where)
}

// Plan is the ordered list of steps that makes current equal to desired.
type Plan struct {
	Steps []Step `json:"steps"`
	// Current and Desired are the states the steps lead from and to, and
	// Version the configuration version Current was read at. With them a
	// full commit renders the owned sections itself (render.go) instead
	// of through a transaction; without them (a plan built by hand) it
	// goes through a transaction.
	Current *State `json:"-"`
	Desired *State `json:"-"`
	Version int64  `json:"-"`
}

// Empty reports whether nothing needs to change.
func (p Plan) Empty() bool { return len(p.Steps) == 0 }

// Count returns the number of steps of kind k.
func (p Plan) Count(k StepKind) int {
	n := 0
	for _, s := range p.Steps {
		if s.Kind == k {
			n++
		}
	}
	return n
}

// NeedsReload reports whether applying the plan reloads HAProxy.
func (p Plan) NeedsReload() bool { return p.Count(Transaction)+p.Count(Full) > 0 }

// Strategy is how the plan is applied: full when a frontend or bind
// changes, else transaction when anything structural does, else runtime.
func (p Plan) Strategy() StepKind {
	switch {
	case p.Count(Full) > 0:
		return Full
	case p.Count(Transaction) > 0:
		return Transaction
	}
	return Runtime
}

// KeepRejected copies into desired the objects current has for the apps in
// rejected, so that an unreadable or invalid app definition never removes
// what HAProxy already serves for it. In shared frontends, the switching
// rules that point at a kept backend are kept too, with the ACLs they use.
func KeepRejected(current, desired *State, rejected map[string][]error) {
	if len(rejected) == 0 {
		return
	}
	kept := map[string]bool{}
	for name, ul := range current.Userlists {
		if _, bad := rejected[ul.AppID]; bad && desired.Userlists[name] == nil {
			if desired.Userlists == nil {
				desired.Userlists = map[string]*Userlist{}
			}
			desired.Userlists[name] = ul
		}
	}
	for name, be := range current.Backends {
		if _, bad := rejected[be.AppID]; bad && desired.Backends[name] == nil {
			desired.Backends[name] = be
			kept[name] = true
		}
	}
	for name, fe := range current.Frontends {
		if fe.AppID != "" {
			if _, bad := rejected[fe.AppID]; bad && desired.Frontends[name] == nil {
				desired.Frontends[name] = fe
			}
			continue
		}
		want := desired.Frontends[name]
		if want == nil {
			continue
		}
		// The rejected apps' ACLs are recognised by name (host_…_<app>,
		// auth_…_<app>, path_<backend>); their rules are the switching
		// rules to their backends and the http-request rules (auth,
		// redirect) that test their ACLs. An app rejected for a bad label
		// must not lose its authentication.
		owned := func(acl string) bool {
			if strings.HasPrefix(acl, "path_") && kept[strings.TrimPrefix(acl, "path_")] {
				return true
			}
			if !strings.HasPrefix(acl, "host_") && !strings.HasPrefix(acl, "auth_") {
				return false
			}
			for app := range rejected {
				if strings.HasSuffix(acl, "_"+appIDName(app)) {
					return true
				}
			}
			return false
		}
		have := map[string]bool{}
		for _, a := range want.ACLs {
			have[a.ACLName+" "+a.Criterion+" "+a.Value] = true
		}
		used := map[string]bool{}
		tests := func(cond string) bool {
			hit := false
			for _, w := range strings.Fields(cond) {
				name := strings.TrimPrefix(w, "!")
				if owned(name) {
					used[name], hit = true, true
				}
			}
			return hit
		}
		for _, r := range fe.SwitchingRules {
			if kept[r.Name] {
				want.SwitchingRules = append(want.SwitchingRules, r)
				for _, w := range strings.Fields(r.CondTest) {
					used[strings.TrimPrefix(w, "!")] = true
				}
			}
		}
		for _, r := range fe.HTTPRequestRules {
			if tests(r.CondTest) && !containsRequest(want.HTTPRequestRules, r) {
				want.HTTPRequestRules = append(want.HTTPRequestRules, r)
			}
		}
		for _, a := range fe.ACLs {
			key := a.ACLName + " " + a.Criterion + " " + a.Value
			if (used[a.ACLName] || owned(a.ACLName)) && !have[key] {
				want.ACLs = append(want.ACLs, a)
				have[key] = true
			}
		}
		reindexACLs(want.ACLs)
		reindexHTTPRequest(want.HTTPRequestRules)
		reindexSwitching(want.SwitchingRules)
	}
}

func containsRequest(l []dataplane.HTTPRequestRule, r dataplane.HTTPRequestRule) bool {
	for _, x := range l {
		if eqHTTPRequest(x, r) {
			return true
		}
	}
	return false
}

// DiffOptions say what the apply side can do.
type DiffOptions struct {
	// DynamicServers is true when a Runtime API is available: servers
	// added to or removed from an existing backend whose balance
	// algorithm allows it become runtime steps instead of a reload.
	DynamicServers bool
	// Incremental limits the diff to the Changed backends: the caller
	// knows every other object of desired is current's own (an
	// incremental build whose Base is current).
	Incremental bool
	Changed     []string
}

// Diff computes the steps that turn current into desired, with no Runtime
// API for server churn (DiffWith with zero options).
func Diff(current, desired *State) Plan { return DiffWith(current, desired, DiffOptions{}) }

// DiffWith computes the steps that turn current into desired. Both must
// hold only objects this tool owns. Creates come parent first; deletes of
// list items come from the end so indexes stay valid.
func DiffWith(current, desired *State, opt DiffOptions) Plan {
	var p Plan
	add := func(s Step) { p.Steps = append(p.Steps, s) }

	if opt.Incremental {
		for _, name := range opt.Changed {
			diffBackend(name, current.Backends[name], desired.Backends[name], opt, add)
		}
		p.settle()
		return p
	}
	for _, name := range desired.BackendNames() {
		diffBackend(name, current.Backends[name], desired.Backends[name], opt, add)
	}

	// Userlists before the frontends whose auth rules name them.
	for _, name := range sortedKeys(desired.Userlists) {
		want, have := desired.Userlists[name], current.Userlists[name]
		if have == nil {
			add(Step{Kind: Transaction, Op: Create, Object: ObjUserlist, Name: name})
			have = &Userlist{}
		}
		diffUsers(name, have.Users, want.Users, add)
	}

	for _, name := range desired.FrontendNames() {
		want, have := desired.Frontends[name], current.Frontends[name]
		if want == have {
			continue
		}
		if have == nil {
			add(Step{Kind: Full, Op: Create, Object: ObjFrontend, Name: name, Value: want.Frontend})
			have = &Frontend{}
		} else if !reflect.DeepEqual(have.Frontend, want.Frontend) {
			add(Step{Kind: Full, Op: Replace, Object: ObjFrontend, Name: name, Value: want.Frontend})
		}
		diffBinds(name, have.Binds, want.Binds, add)
		diffIndexed(have.ACLs, want.ACLs, eqACL,
			Step{Kind: Transaction, Object: ObjACL, ParentType: parentFrontend, Parent: name}, add)
		diffIndexed(have.HTTPRequestRules, want.HTTPRequestRules, eqHTTPRequest,
			Step{Kind: Transaction, Object: ObjHTTPRequest, ParentType: parentFrontend, Parent: name}, add)
		diffIndexed(have.SwitchingRules, want.SwitchingRules, eqSwitching,
			Step{Kind: Transaction, Object: ObjSwitchingRule, Parent: name}, add)
		diffIndexed(have.TCPRequestRules, want.TCPRequestRules, eqTCPRequest,
			Step{Kind: Transaction, Object: ObjTCPRequest, ParentType: parentFrontend, Parent: name}, add)
	}

	// Frontends go before backends: a backend still named by a use_backend
	// cannot be removed.
	for _, name := range current.FrontendNames() {
		if desired.Frontends[name] == nil {
			add(Step{Kind: Full, Op: Delete, Object: ObjFrontend, Name: name})
		}
	}
	for _, name := range current.BackendNames() {
		if desired.Backends[name] == nil {
			add(Step{Kind: Transaction, Op: Delete, Object: ObjBackend, Name: name})
		}
	}
	for _, name := range sortedKeys(current.Userlists) {
		if desired.Userlists[name] == nil {
			add(Step{Kind: Transaction, Op: Delete, Object: ObjUserlist, Name: name})
		}
	}

	p.settle()
	return p
}

// settle gives every step the plan's strategy: with a reload coming
// anyway, every step rides in the one write that needs it (one version,
// one reload).
func (p *Plan) settle() {
	if k := p.Strategy(); k != Runtime {
		for i := range p.Steps {
			p.Steps[i].Kind = k
		}
	}
}

// diffIndexed diffs an ordered list of indexed objects (ACLs, rules) by
// position, emitting steps shaped like tmpl.
func diffIndexed[T any](have, want []T, equal func(a, b T) bool, tmpl Step, add func(Step)) {
	diffList(len(have), len(want), func(i int) bool { return equal(have[i], want[i]) }, func(op Op, i int) {
		s := tmpl
		s.Op, s.Index = op, int64(i)
		if op != Delete {
			s.Value = want[i]
		}
		add(s)
	})
}

// diffList emits replace for differing positions, then creates (ascending)
// or deletes (descending) for the length difference.
func diffList(have, want int, equal func(i int) bool, emit func(op Op, i int)) {
	n := min(have, want)
	for i := 0; i < n; i++ {
		if !equal(i) {
			emit(Replace, i)
		}
	}
	for i := have; i < want; i++ {
		emit(Create, i)
	}
	for i := have - 1; i >= want; i-- {
		emit(Delete, i)
	}
}

func diffServers(backend string, have, want []dataplane.Server, dynamic bool, add func(Step)) {
	if serversEqual(have, want) {
		return // the common case: one event touches one backend of many
	}
	churn := Transaction
	if dynamic {
		churn = Runtime
	}
	cur := map[string]dataplane.Server{}
	for _, s := range have {
		cur[s.Name] = s
	}
	next := map[string]bool{}
	for _, w := range want {
		next[w.Name] = true
		h, ok := cur[w.Name]
		switch {
		case !ok:
			add(Step{Kind: churn, Op: Create, Object: ObjServer, Parent: backend, Name: w.Name, Value: w})
		case serverEqual(h, w):
		case runtimeOnly(h, w):
			add(Step{Kind: Runtime, Op: Replace, Object: ObjServer, Parent: backend, Name: w.Name, Value: w})
		default:
			add(Step{Kind: Transaction, Op: Replace, Object: ObjServer, Parent: backend, Name: w.Name, Value: w})
		}
	}
	for _, h := range have {
		if !next[h.Name] {
			add(Step{Kind: churn, Op: Delete, Object: ObjServer, Parent: backend, Name: h.Name})
		}
	}
}

// runtimeOnly reports whether only the fields the Data Plane API applies at
// runtime differ (notes §4.1: weight, address, port, maintenance).
func runtimeOnly(a, b dataplane.Server) bool {
	a.Address, a.Port, a.Weight, a.Maintenance = b.Address, b.Port, b.Weight, b.Maintenance
	return serverEqual(a, b)
}

func serversEqual(a, b []dataplane.Server) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !serverEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func diffBinds(frontend string, have, want []dataplane.Bind, add func(Step)) {
	if reflect.DeepEqual(have, want) {
		return
	}
	cur := map[string]dataplane.Bind{}
	for _, b := range have {
		cur[b.Name] = b
	}
	next := map[string]bool{}
	for _, w := range want {
		next[w.Name] = true
		h, ok := cur[w.Name]
		if !ok {
			add(Step{Kind: Full, Op: Create, Object: ObjBind, Parent: frontend, Name: w.Name, Value: w})
		} else if !reflect.DeepEqual(h, w) {
			add(Step{Kind: Full, Op: Replace, Object: ObjBind, Parent: frontend, Name: w.Name, Value: w})
		}
	}
	for _, h := range have {
		if !next[h.Name] {
			add(Step{Kind: Full, Op: Delete, Object: ObjBind, Parent: frontend, Name: h.Name})
		}
	}
}

func eqACL(a, b dataplane.ACL) bool {
	a.Index, b.Index = 0, 0
	return a == b
}

func eqSwitching(a, b dataplane.BackendSwitchingRule) bool {
	a.Index, b.Index = 0, 0
	return a == b
}

func eqHTTPRequest(a, b dataplane.HTTPRequestRule) bool {
	a.Index, b.Index = 0, 0
	return reflect.DeepEqual(a, b)
}

func eqHTTPResponse(a, b dataplane.HTTPResponseRule) bool {
	a.Index, b.Index = 0, 0
	return a == b
}

func eqTCPRequest(a, b dataplane.TCPRequestRule) bool {
	a.Index, b.Index = 0, 0
	return reflect.DeepEqual(a, b)
}

// diffUsers diffs a userlist's users by name.
func diffUsers(userlist string, have, want []dataplane.User, add func(Step)) {
	cur := map[string]dataplane.User{}
	for _, u := range have {
		cur[u.Username] = u
	}
	next := map[string]bool{}
	for _, w := range want {
		next[w.Username] = true
		h, ok := cur[w.Username]
		switch {
		case !ok:
			add(Step{Kind: Transaction, Op: Create, Object: ObjUser, Parent: userlist, Name: w.Username, Value: w})
		case h != w:
			add(Step{Kind: Transaction, Op: Replace, Object: ObjUser, Parent: userlist, Name: w.Username, Value: w})
		}
	}
	for _, h := range have {
		if !next[h.Username] {
			add(Step{Kind: Transaction, Op: Delete, Object: ObjUser, Parent: userlist, Name: h.Username})
		}
	}
}

// allHavePorts is false for servers on sockets (abns@…), which the Runtime
// API steps here do not add.
func allHavePorts(servers []dataplane.Server) bool {
	for i := range servers {
		if servers[i].Port == nil {
			return false
		}
	}
	return true
}

// diffBackend emits the steps that turn have (nil: absent) into want.
func diffBackend(name string, have, want *Backend, opt DiffOptions, add func(Step)) {
	if want == have {
		// The same object (a cached build, remembered as applied):
		// nothing to compare.
		return
	}
	// Servers can come and go live only in a backend HAProxy already
	// runs unchanged, with an algorithm that accepts dynamic servers.
	dynamic := opt.DynamicServers && have != nil && supportsDynamicServers(want.Backend) && allHavePorts(want.Servers)
	if have == nil {
		add(Step{Kind: Transaction, Op: Create, Object: ObjBackend, Name: name, Value: want.Backend})
		have = &Backend{}
	} else if !backendEqual(have.Backend, want.Backend) {
		add(Step{Kind: Transaction, Op: Replace, Object: ObjBackend, Name: name, Value: want.Backend})
		dynamic = false
	}
	diffServers(name, have.Servers, want.Servers, dynamic, add)
	diffIndexed(have.ACLs, want.ACLs, eqACL,
		Step{Kind: Transaction, Object: ObjACL, ParentType: parentBackend, Parent: name}, add)
	diffIndexed(have.HTTPRequestRules, want.HTTPRequestRules, eqHTTPRequest,
		Step{Kind: Transaction, Object: ObjHTTPRequest, ParentType: parentBackend, Parent: name}, add)
	diffIndexed(have.HTTPResponseRules, want.HTTPResponseRules, eqHTTPResponse,
		Step{Kind: Transaction, Object: ObjHTTPResponse, ParentType: parentBackend, Parent: name}, add)
	diffIndexed(have.TCPRequestRules, want.TCPRequestRules, eqTCPRequest,
		Step{Kind: Transaction, Object: ObjTCPRequest, ParentType: parentBackend, Parent: name}, add)
}
