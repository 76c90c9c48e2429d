package dataplanetest

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// schemaRoots are the definitions the fake serves; schema_v29.json holds
// them and everything they reference.
var schemaRoots = []string{"backend", "server", "frontend", "bind", "acl", "backend_switching_rule",
	"http_request_rule", "http_response_rule", "tcp_request_rule", "userlist", "user", "runtime_server"}

var schemaKeep = map[string]bool{"type": true, "properties": true, "required": true, "enum": true, "pattern": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "x-nullable": true, "items": true,
	"$ref": true, "allOf": true, "additionalProperties": true, "readOnly": true, "x-omitempty": true, "maxLength": true, "minLength": true}

func stripSchema(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if !schemaKeep[k] {
				continue
			}
			if k == "properties" {
				props := map[string]any{}
				for pk, pv := range e.(map[string]any) {
					props[pk] = stripSchema(pv)
				}
				out[k] = props
				continue
			}
			out[k] = stripSchema(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripSchema(e)
		}
		return out
	}
	return v
}

func collectRefs(v any, defs map[string]any, seen map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" && strings.HasPrefix(s, "#/definitions/") {
				name := strings.TrimPrefix(s, "#/definitions/")
				if !seen[name] {
					seen[name] = true
					collectRefs(defs[name], defs, seen)
				}
				continue
			}
			collectRefs(e, defs, seen)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, defs, seen)
		}
	}
}

// TestEmbeddedSchemaMatchesSpec checks schema_v29.json against the saved
// specification (DATAPLANE_SPEC, default ../../../shared/reference/…).
func TestEmbeddedSchemaMatchesSpec(t *testing.T) {
	path := os.Getenv("DATAPLANE_SPEC")
	if path == "" {
		path = "../../../shared/reference/dataplaneapi-v2.9-spec.json"
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no specification to compare with: %v", err)
	}
	var spec struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range schemaRoots {
		seen[r] = true
		collectRefs(spec.Definitions[r], spec.Definitions, seen)
	}
	want := map[string]any{}
	for name := range seen {
		want[name] = stripSchema(spec.Definitions[name])
	}
	var got map[string]any
	if err := json.Unmarshal(schemaJSON, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for name := range want {
			if !reflect.DeepEqual(got[name], want[name]) {
				t.Errorf("definition %s differs from the specification", name)
			}
		}
		t.Fatalf("schema_v29.json is out of date (%d definitions, spec gives %d)", len(got), len(want))
	}
}

func TestSchemaCompiles(t *testing.T) {
	defs, err := definitions()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range schemaRoots {
		if defs[r] == nil {
			t.Errorf("definition %s missing", r)
		}
	}
	if p := defs["server"].Properties; p["weight"] == nil || p["name"] == nil || p["agent-check"] == nil {
		t.Errorf("server is not flattened from allOf: %d properties", len(p))
	}
}

func TestDecodeBody(t *testing.T) {
	cases := []struct {
		def, body string
		want      string
		status    int
		code      int
		msg       string
	}{
		{def: "server", body: `{"name":"s1","address":"a","weight":0,"check":"","backup":"disabled","foo":1}`,
			want: `{"address":"a","backup":"disabled","name":"s1","weight":0}`},
		{def: "bind", body: `{"name":"b","ssl":false,"port":80}`, want: `{"name":"b","port":80}`},
		{def: "backend", body: `{"name":"b","balance":{"algorithm":"roundrobin","foo":1}}`, want: `{"balance":{"algorithm":"roundrobin"},"name":"b"}`},
		{def: "backend", body: `{"name":"b","balance":{}}`, status: 422, code: 602, msg: "balance.algorithm in body is required"},
		{def: "server", body: `{"name":"s1"}`, status: 422, code: 602, msg: "address in body is required"},
		{def: "server", body: `{"name":"s1","address":"a","port":0}`, status: 422, code: 609, msg: "port in body should be greater than or equal to 1"},
		{def: "server", body: `{"name":"s1","address":"a","port":"80"}`, status: 400, code: 400,
			msg: `parsing data body from "" failed, because json: cannot unmarshal string into Go struct field Server.port of type int64`},
		{def: "server", body: `{"name":"s1","address":"a","check":"true"}`, status: 422, code: 606, msg: "check in body should be one of [enabled disabled]"},
		{def: "server", body: ``, status: 422, code: 602, msg: "data in body is required"},
		{def: "acl", body: `{"index":0,"acl_name":"a","criterion":"hdr(host)"}`, want: `{"acl_name":"a","criterion":"hdr(host)","index":0}`},
	}
	for _, c := range cases {
		got, e := decodeBody(c.def, []byte(c.body))
		if c.status != 0 {
			if e == nil || e.status != c.status || e.code != c.code || e.msg != c.msg {
				t.Errorf("%s %s: got %+v, want %d/%d %q", c.def, c.body, e, c.status, c.code, c.msg)
			}
			continue
		}
		if e != nil {
			t.Errorf("%s %s: %v", c.def, c.body, e)
			continue
		}
		b, _ := json.Marshal(got)
		if string(b) != c.want {
			t.Errorf("%s %s: %s, want %s", c.def, c.body, b, c.want)
		}
	}
}
