// Package sync turns Marathon apps into the HAProxy objects this tool owns,
// compares them with what HAProxy has, and applies the difference: runtime
// changes without a reload, structural changes in one Data Plane API
// transaction. The translation (BuildDesired, Diff) is pure; only Syncer and
// Apply touch the network, through small interfaces declared here.
package sync

import (
	"sort"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// State is a set of HAProxy objects owned by this tool: what we want
// (desired) or what HAProxy has (current). Maps are keyed by object name.
type State struct {
	Backends  map[string]*Backend  `json:"backends"`
	Frontends map[string]*Frontend `json:"frontends"`
	// Userlists hold the HAPROXY_{n}_AUTH users, one per backend
	// (user_<backend>); owned because their backend is.
	Userlists map[string]*Userlist `json:"userlists,omitempty"`
}

// Userlist is one userlist with its users.
type Userlist struct {
	Users []dataplane.User `json:"users"`
	AppID string           `json:"-"`
}

// Backend is one backend with its children.
type Backend struct {
	Backend           dataplane.Backend            `json:"backend"`
	Servers           []dataplane.Server           `json:"servers"`
	ACLs              []dataplane.ACL              `json:"acls,omitempty"`
	HTTPRequestRules  []dataplane.HTTPRequestRule  `json:"http_request_rules,omitempty"`
	HTTPResponseRules []dataplane.HTTPResponseRule `json:"http_response_rules,omitempty"`
	TCPRequestRules   []dataplane.TCPRequestRule   `json:"tcp_request_rules,omitempty"`
	// AppID is the Marathon app the backend serves (from its description).
	AppID string `json:"-"`
}

// Frontend is one frontend with its children. ACLs and rules are ordered
// lists; HAProxy evaluates switching rules in this order.
type Frontend struct {
	Frontend         dataplane.Frontend               `json:"frontend"`
	Binds            []dataplane.Bind                 `json:"binds"`
	ACLs             []dataplane.ACL                  `json:"acls,omitempty"`
	HTTPRequestRules []dataplane.HTTPRequestRule      `json:"http_request_rules,omitempty"`
	SwitchingRules   []dataplane.BackendSwitchingRule `json:"backend_switching_rules,omitempty"`
	TCPRequestRules  []dataplane.TCPRequestRule       `json:"tcp_request_rules,omitempty"`
	AppID            string                           `json:"-"`
}

// NewState returns an empty State.
func NewState() *State {
	return &State{Backends: map[string]*Backend{}, Frontends: map[string]*Frontend{}, Userlists: map[string]*Userlist{}}
}

// BackendNames returns the backend names in order.
func (s *State) BackendNames() []string { return sortedKeys(s.Backends) }

// FrontendNames returns the frontend names in order.
func (s *State) FrontendNames() []string { return sortedKeys(s.Frontends) }

// ServerCount is the number of servers over all backends.
func (s *State) ServerCount() int {
	n := 0
	for _, b := range s.Backends {
		n += len(b.Servers)
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// reindex sets each element's Index to its position, as the API expects.
func reindexACLs(l []dataplane.ACL) {
	for i := range l {
		l[i].Index = int64(i)
	}
}

func reindexSwitching(l []dataplane.BackendSwitchingRule) {
	for i := range l {
		l[i].Index = int64(i)
	}
}

func reindexHTTPRequest(l []dataplane.HTTPRequestRule) {
	for i := range l {
		l[i].Index = int64(i)
	}
}

func reindexHTTPResponse(l []dataplane.HTTPResponseRule) {
	for i := range l {
		l[i].Index = int64(i)
	}
}

func reindexTCPRequest(l []dataplane.TCPRequestRule) {
	for i := range l {
		l[i].Index = int64(i)
	}
}
