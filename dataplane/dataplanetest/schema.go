package dataplanetest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// schema_v29.json holds the definitions of dataplaneapi-v2.9-spec.json
// that the fake serves (and everything they reference), stripped to the
// keywords validation needs. TestEmbeddedSchemaMatchesSpec keeps it honest.
//
//go:embed schema_v29.json
var schemaJSON []byte

// schemaNode is the subset of Swagger 2.0 schema keywords the fake uses.
type schemaNode struct {
	Type             string                 `json:"type"`
	Ref              string                 `json:"$ref"`
	Properties       map[string]*schemaNode `json:"properties"`
	Required         []string               `json:"required"`
	Enum             []any                  `json:"enum"`
	Pattern          string                 `json:"pattern"`
	Minimum          *float64               `json:"minimum"`
	Maximum          *float64               `json:"maximum"`
	ExclusiveMinimum bool                   `json:"exclusiveMinimum"`
	ExclusiveMaximum bool                   `json:"exclusiveMaximum"`
	Nullable         bool                   `json:"x-nullable"`
	Items            *schemaNode            `json:"items"`
	AllOf            []*schemaNode          `json:"allOf"`
	ReadOnly         bool                   `json:"readOnly"`

	re *regexp.Regexp
}

var (
	schemaOnce sync.Once
	schemaDefs map[string]*schemaNode
	schemaErr  error
)

// definitions returns the parsed, allOf-flattened definitions.
func definitions() (map[string]*schemaNode, error) {
	schemaOnce.Do(func() {
		var raw map[string]*schemaNode
		if err := json.Unmarshal(schemaJSON, &raw); err != nil {
			schemaErr = fmt.Errorf("dataplanetest: embedded schema: %w", err)
			return
		}
		schemaDefs = map[string]*schemaNode{}
		for name := range raw {
			schemaDefs[name] = flatten(raw, raw[name])
		}
		for _, d := range schemaDefs {
			if err := compile(schemaDefs, d, map[*schemaNode]bool{}); err != nil {
				schemaErr = err
				return
			}
		}
	})
	return schemaDefs, schemaErr
}

// flatten merges allOf members into one object schema.
func flatten(raw map[string]*schemaNode, n *schemaNode) *schemaNode {
	if len(n.AllOf) == 0 {
		return n
	}
	out := &schemaNode{Type: "object", Properties: map[string]*schemaNode{}}
	for _, part := range n.AllOf {
		if part.Ref != "" {
			part = flatten(raw, raw[refName(part.Ref)])
		}
		for k, v := range part.Properties {
			out.Properties[k] = v
		}
		out.Required = append(out.Required, part.Required...)
	}
	return out
}

func compile(defs map[string]*schemaNode, n *schemaNode, seen map[*schemaNode]bool) error {
	if n == nil || seen[n] {
		return nil
	}
	seen[n] = true
	if n.Pattern != "" && n.re == nil {
		re, err := regexp.Compile(n.Pattern)
		if err != nil {
			return fmt.Errorf("dataplanetest: pattern %q: %w", n.Pattern, err)
		}
		n.re = re
	}
	for _, p := range n.Properties {
		if err := compile(defs, p, seen); err != nil {
			return err
		}
	}
	return compile(defs, n.Items, seen)
}

func refName(ref string) string { return strings.TrimPrefix(ref, "#/definitions/") }

// apiError is an error answer: HTTP status, body code and message.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func newErr(status int, format string, args ...any) *apiError {
	return &apiError{status: status, code: status, msg: fmt.Sprintf(format, args...)}
}

// Validation codes of go-openapi/errors, answered with HTTP 422 (notes §1).
const (
	codeInvalidType = 601
	codeRequired    = 602
	codePattern     = 605
	codeEnum        = 606
	codeMax         = 608
	codeMin         = 609
)

func validationErr(code int, format string, args ...any) *apiError {
	return &apiError{status: 422, code: code, msg: fmt.Sprintf(format, args...)}
}

// decodeBody parses a JSON request body the way go-swagger does for a
// body parameter of definition def: unknown fields are dropped, the first
// validation failure is answered (go-openapi serves the first error of a
// composite), zero values the generated Go model would omit are omitted.
func decodeBody(def string, body []byte) (map[string]any, *apiError) {
	defs, err := definitions()
	if err != nil {
		return nil, newErr(500, "%s", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, validationErr(codeRequired, "data in body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, newErr(400, "parsing data body from \"\" failed, because %s", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, newErr(400, "parsing data body from \"\" failed, because json: cannot unmarshal %s into Go value of type models.%s", jsonKind(v), goName(def))
	}
	s := defs[def]
	if e := validate(defs, s, "", obj, def); e != nil {
		return nil, e
	}
	return normalize(defs, s, obj).(map[string]any), nil
}

func goName(def string) string {
	parts := strings.Split(def, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func resolve(defs map[string]*schemaNode, s *schemaNode) *schemaNode {
	for s != nil && s.Ref != "" {
		s = defs[refName(s.Ref)]
	}
	return s
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// validate checks v against s; path names the field as go-openapi does
// ("balance.algorithm").
func validate(defs map[string]*schemaNode, s *schemaNode, path string, v any, model string) *apiError {
	s = resolve(defs, s)
	if s == nil || v == nil {
		return nil
	}
	typeErr := func(goType string) *apiError {
		return newErr(400, "parsing data body from \"\" failed, because json: cannot unmarshal %s into Go struct field %s.%s of type %s",
			jsonKind(v), goName(model), path, goType)
	}
	switch {
	case s.Type == "object" || s.Properties != nil:
		obj, ok := v.(map[string]any)
		if !ok {
			return typeErr("object")
		}
		req := map[string]bool{}
		for _, r := range s.Required {
			req[r] = true
		}
		names := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			val, present := obj[k]
			p := resolve(defs, s.Properties[k])
			if req[k] && (!present || val == nil || (val == "" && !p.Nullable)) {
				// go-openapi's RequiredString also refuses ""
				return validationErr(codeRequired, "%s in body is required", join(path, k))
			}
			if present && !req[k] && !p.Nullable && isZero(val) {
				continue // go-swagger skips zero values of optional fields
			}
			if present {
				if e := validate(defs, s.Properties[k], join(path, k), val, model); e != nil {
					return e
				}
			}
		}
	case s.Type == "array":
		arr, ok := v.([]any)
		if !ok {
			return typeErr("array")
		}
		for i, item := range arr {
			if e := validate(defs, s.Items, join(path, strconv.Itoa(i)), item, model); e != nil {
				return e
			}
		}
	case s.Type == "string":
		str, ok := v.(string)
		if !ok {
			return typeErr("string")
		}
		if len(s.Enum) > 0 && !inEnum(s.Enum, str) {
			return validationErr(codeEnum, "%s in body should be one of %s", path, enumList(s.Enum))
		}
		if s.re != nil && !s.re.MatchString(str) {
			return validationErr(codePattern, "%s in body should match '%s'", path, s.Pattern)
		}
	case s.Type == "integer" || s.Type == "number":
		num, ok := v.(json.Number)
		if !ok {
			return typeErr("int64")
		}
		f, err := num.Float64()
		if err != nil || (s.Type == "integer" && (f != math.Trunc(f) || strings.ContainsAny(num.String(), ".eE"))) {
			return typeErr("int64")
		}
		if len(s.Enum) > 0 && !inEnum(s.Enum, num) {
			return validationErr(codeEnum, "%s in body should be one of %s", path, enumList(s.Enum))
		}
		if s.Maximum != nil && (f > *s.Maximum || (s.ExclusiveMaximum && f == *s.Maximum)) {
			return validationErr(codeMax, "%s in body should be less than or equal to %s", path, fmtNum(*s.Maximum))
		}
		if s.Minimum != nil && (f < *s.Minimum || (s.ExclusiveMinimum && f == *s.Minimum)) {
			return validationErr(codeMin, "%s in body should be greater than or equal to %s", path, fmtNum(*s.Minimum))
		}
	case s.Type == "boolean":
		if _, ok := v.(bool); !ok {
			return typeErr("bool")
		}
	}
	return nil
}

func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	}
	return false
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func inEnum(enum []any, v any) bool {
	for _, e := range enum {
		if fmt.Sprint(e) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

func enumList(enum []any) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = fmt.Sprint(e)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// normalize keeps the known properties and drops the zero values that
// the generated Go model omits (omitempty on non-pointer fields): "" and
// false and 0 unless the field is required or x-nullable, empty arrays.
// An explicit 0 on an x-nullable integer is kept (notes §1).
func normalize(defs map[string]*schemaNode, s *schemaNode, v any) any {
	s = resolve(defs, s)
	if s == nil {
		return v
	}
	switch {
	case s.Type == "object" || s.Properties != nil:
		obj, ok := v.(map[string]any)
		if !ok {
			return v
		}
		if len(s.Properties) == 0 {
			return obj
		}
		req := map[string]bool{}
		for _, r := range s.Required {
			req[r] = true
		}
		out := map[string]any{}
		for k, val := range obj {
			p, known := s.Properties[k]
			if !known || val == nil {
				continue
			}
			rp := resolve(defs, p)
			keep := req[k] || rp.Nullable
			switch x := val.(type) {
			case string:
				if x == "" && !keep {
					continue
				}
			case bool:
				if !x && !keep {
					continue
				}
			case json.Number:
				if x.String() == "0" && !keep {
					continue
				}
			case []any:
				if len(x) == 0 {
					continue
				}
			}
			out[k] = normalize(defs, p, val)
		}
		return out
	case s.Type == "array":
		arr, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(arr))
		for i, item := range arr {
			out[i] = normalize(defs, s.Items, item)
		}
		return out
	}
	return v
}
