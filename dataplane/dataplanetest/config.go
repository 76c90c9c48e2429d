package dataplanetest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// object is one configuration object as JSON (normalized by the schema).
type object = map[string]any

// kind describes one /configuration/{kind} endpoint.
type kind struct {
	name string // URL segment, e.g. "servers"
	def  string // schema definition, e.g. "server"

	// section is the HAProxy section for top-level kinds ("backend").
	section string

	// For child kinds: the allowed parent types, the shortcut query
	// parameter (backend=, frontend=, userlist=), and whether the
	// shortcut is the only way (required) or parent_type/parent_name are.
	parents       []string
	shortcut      string
	shortcutOnly  bool
	parentParamed bool // parent_type + parent_name are required

	keyField string // "name", "username"; "" for indexed kinds
	indexed  bool
	noPut    bool
}

var kinds = map[string]*kind{
	"backends":                {name: "backends", def: "backend", section: "backend", keyField: "name"},
	"frontends":               {name: "frontends", def: "frontend", section: "frontend", keyField: "name"},
	"userlists":               {name: "userlists", def: "userlist", section: "userlist", keyField: "name", noPut: true},
	"servers":                 {name: "servers", def: "server", parents: []string{"backend"}, shortcut: "backend", keyField: "name"},
	"binds":                   {name: "binds", def: "bind", parents: []string{"frontend"}, shortcut: "frontend", keyField: "name"},
	"users":                   {name: "users", def: "user", parents: []string{"userlist"}, shortcut: "userlist", shortcutOnly: true, keyField: "username"},
	"backend_switching_rules": {name: "backend_switching_rules", def: "backend_switching_rule", parents: []string{"frontend"}, shortcut: "frontend", shortcutOnly: true, indexed: true},
	"acls":                    {name: "acls", def: "acl", parents: []string{"frontend", "backend"}, parentParamed: true, indexed: true},
	"http_request_rules":      {name: "http_request_rules", def: "http_request_rule", parents: []string{"frontend", "backend"}, parentParamed: true, indexed: true},
	"http_response_rules":     {name: "http_response_rules", def: "http_response_rule", parents: []string{"frontend", "backend"}, parentParamed: true, indexed: true},
	"tcp_request_rules":       {name: "tcp_request_rules", def: "tcp_request_rule", parents: []string{"frontend", "backend"}, parentParamed: true, indexed: true},
}

// sectionKind maps a parent type to the kind holding such sections.
var sectionKind = map[string]string{"backend": "backends", "frontend": "frontends", "userlist": "userlists"}

type childKey struct{ kind, ptype, pname string }

// config is one view of the configuration: the live one, a
// transaction's copy, or the one HAProxy runs (last successful reload).
type config struct {
	sections map[string][]object // "backends" → ordered objects
	children map[childKey][]object
	raw      string // raw text as last posted, without the API's header
}

func newConfig() *config {
	return &config{sections: map[string][]object{}, children: map[childKey][]object{}}
}

func (c *config) clone() *config {
	out := newConfig()
	out.raw = c.raw
	for k, l := range c.sections {
		out.sections[k] = cloneList(l)
	}
	for k, l := range c.children {
		out.children[k] = cloneList(l)
	}
	return out
}

func cloneList(l []object) []object {
	out := make([]object, len(l))
	for i, o := range l {
		out[i] = deepCopy(o).(object)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func str(o object, key string) string { s, _ := o[key].(string); return s }

func (c *config) findSection(kindName, name string) (int, object) {
	for i, o := range c.sections[kindName] {
		if str(o, "name") == name {
			return i, o
		}
	}
	return -1, nil
}

func (c *config) hasParent(ptype, pname string) bool {
	k, ok := sectionKind[ptype]
	if !ok {
		return false
	}
	_, o := c.findSection(k, pname)
	return o != nil
}

func findNamed(l []object, field, name string) int {
	for i, o := range l {
		if str(o, field) == name {
			return i
		}
	}
	return -1
}

// list returns the objects of a kind (indexed ones carry their index).
func (c *config) list(k *kind, ptype, pname string) []object {
	var l []object
	if k.section != "" {
		l = c.sections[k.name]
	} else {
		l = c.children[childKey{k.name, ptype, pname}]
	}
	out := cloneList(l)
	if k.indexed {
		for i, o := range out {
			o["index"] = json.Number(strconv.Itoa(i))
		}
	}
	return out
}

// op is one structured write.
type op struct {
	k            *kind
	method       string // POST, PUT, DELETE
	key          string // path key (name or index); "" for POST
	ptype, pname string
	body         object
}

func (o op) parentLabel() string { return o.ptype + " " + o.pname }

// apply runs op on c, with the error answers client-native gives.
func (c *config) apply(o op) *apiError {
	if o.k.section != "" {
		return c.applySection(o)
	}
	if o.k.indexed {
		return c.applyIndexed(o)
	}
	return c.applyNamedChild(o)
}

func (c *config) applySection(o op) *apiError {
	k := o.k
	switch o.method {
	case "POST":
		name := str(o.body, "name")
		if _, ex := c.findSection(k.name, name); ex != nil {
			return newErr(409, "object already exists: %s %s already exists", k.section, name)
		}
		c.sections[k.name] = append(c.sections[k.name], deepCopy(o.body).(object))
	case "PUT":
		i, ex := c.findSection(k.name, o.key)
		if ex == nil {
			return newErr(404, "missing object: %s %s does not exist", k.section, o.key)
		}
		// The section keeps its path name; children are kept (notes §1).
		nb := deepCopy(o.body).(object)
		nb["name"] = o.key
		c.sections[k.name][i] = nb
	case "DELETE":
		i, ex := c.findSection(k.name, o.key)
		if ex == nil {
			return newErr(404, "missing object: %s %s does not exist", k.section, o.key)
		}
		c.sections[k.name] = append(c.sections[k.name][:i:i], c.sections[k.name][i+1:]...)
		for ck := range c.children {
			if ck.ptype == k.section && ck.pname == o.key {
				delete(c.children, ck)
			}
		}
	}
	return nil
}

func (c *config) applyNamedChild(o op) *apiError {
	k := o.k
	key := childKey{k.name, o.ptype, o.pname}
	l := c.children[key]
	switch o.method {
	case "POST":
		name := str(o.body, k.keyField)
		if findNamed(l, k.keyField, name) >= 0 {
			return alreadyExists(k, name, o)
		}
		if !c.hasParent(o.ptype, o.pname) {
			return newErr(400, "missing parent: %s does not exist", o.parentLabel())
		}
		c.children[key] = append(l, deepCopy(o.body).(object))
	case "PUT":
		i := findNamed(l, k.keyField, o.key)
		if i < 0 {
			return missingChild(k, o.key, o)
		}
		// A different name in the body renames the object (notes §1).
		l[i] = deepCopy(o.body).(object)
	case "DELETE":
		i := findNamed(l, k.keyField, o.key)
		if i < 0 {
			return missingChild(k, o.key, o)
		}
		c.children[key] = append(l[:i:i], l[i+1:]...)
	}
	return nil
}

func alreadyExists(k *kind, name string, o op) *apiError {
	switch k.name {
	case "servers":
		return newErr(409, "object already exists: server %s already exists in %s %s", name, o.pname, o.ptype)
	case "binds":
		return newErr(409, "object already exists: bind %s already exists in %s %s", name, o.pname, o.ptype)
	default:
		return newErr(409, "object already exists: user %s already exists", name)
	}
}

func missingChild(k *kind, name string, o op) *apiError {
	switch k.name {
	case "servers":
		return newErr(404, "missing object: server %s does not exist in %s %s", name, o.pname, o.ptype)
	case "binds":
		return newErr(404, "missing object: Bind %s does not exist in %s %s", name, o.pname, o.ptype)
	default:
		return newErr(404, "missing object: user %s does not exist", name)
	}
}

func (c *config) applyIndexed(o op) *apiError {
	if !c.hasParent(o.ptype, o.pname) {
		return newErr(400, "missing parent: %s does not exist", o.parentLabel())
	}
	key := childKey{o.k.name, o.ptype, o.pname}
	l := c.children[key]
	stored := func() object {
		b := deepCopy(o.body).(object)
		delete(b, "index") // positions are the list order
		return b
	}
	switch o.method {
	case "POST":
		idx, _ := strconv.Atoi(fmt.Sprint(o.body["index"]))
		if idx < 0 || idx > len(l) {
			return newErr(400, "index out of range: Object with id %d in %s out of range", idx, o.parentLabel())
		}
		l = append(l, nil)
		copy(l[idx+1:], l[idx:])
		l[idx] = stored()
		c.children[key] = l
	case "PUT", "DELETE":
		idx, err := strconv.Atoi(o.key)
		if err != nil || idx < 0 || idx >= len(l) {
			return newErr(404, "missing object: Object %s does not exist in %s", o.key, o.parentLabel())
		}
		if o.method == "PUT" {
			l[idx] = stored()
		} else {
			c.children[key] = append(l[:idx:idx], l[idx+1:]...)
		}
	}
	return nil
}

// get returns one object for GET /{kind}/{key}.
func (c *config) get(k *kind, key, ptype, pname string) (object, *apiError) {
	if k.section != "" {
		_, o := c.findSection(k.name, key)
		if o == nil {
			label := strings.ToUpper(k.section[:1]) + k.section[1:]
			return nil, newErr(404, "missing object: %s %s does not exist", label, key)
		}
		return deepCopy(o).(object), nil
	}
	l := c.list(k, ptype, pname)
	if k.indexed {
		if !c.hasParent(ptype, pname) {
			return nil, newErr(400, "missing parent: %s %s does not exist", ptype, pname)
		}
		idx, err := strconv.Atoi(key)
		if err != nil || idx < 0 || idx >= len(l) {
			return nil, newErr(404, "missing object: Object %s does not exist in %s %s", key, ptype, pname)
		}
		return l[idx], nil
	}
	i := findNamed(l, k.keyField, key)
	if i < 0 {
		return nil, missingChild(k, key, op{ptype: ptype, pname: pname})
	}
	return l[i], nil
}

// check approximates the part of `haproxy -c` the fake can know about:
// every default_backend and every use_backend without a format string
// must name an existing backend. It returns haproxy's messages.
func (c *config) check() []string {
	var msgs []string
	for _, fe := range c.sections["frontends"] {
		name := str(fe, "name")
		if db := str(fe, "default_backend"); db != "" && !strings.Contains(db, "%[") && !c.hasParent("backend", db) {
			msgs = append(msgs, fmt.Sprintf("config Proxy '%s': unable to find required default_backend: '%s'.", name, db))
		}
		for _, r := range c.children[childKey{"backend_switching_rules", "frontend", name}] {
			if be := str(r, "name"); !strings.Contains(be, "%[") && !c.hasParent("backend", be) {
				msgs = append(msgs, fmt.Sprintf("config Proxy '%s': unable to find required use_backend: '%s'.", name, be))
			}
		}
	}
	return msgs
}

// servers returns the servers of a backend in order (for the runtime view).
func (c *config) servers(backend string) []object {
	return c.children[childKey{"servers", "backend", backend}]
}

// diffFields lists the fields that differ between a and b the way the
// API's compareObjects does: nested objects are compared field by field
// (reported by the nested name), arrays are not compared at all.
func diffFields(a, b object) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []object{a, b} {
		for k := range m {
			if seen[k] {
				continue
			}
			seen[k] = true
			va, oka := a[k]
			vb, okb := b[k]
			ma, isMapA := va.(map[string]any)
			mb, isMapB := vb.(map[string]any)
			_, isArrA := va.([]any)
			_, isArrB := vb.([]any)
			switch {
			case isArrA || isArrB:
				continue
			case isMapA && isMapB:
				out = append(out, diffFields(ma, mb)...)
			case oka != okb:
				out = append(out, k)
			case fmt.Sprint(va) != fmt.Sprint(vb):
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
