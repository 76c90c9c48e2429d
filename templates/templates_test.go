package templates

import (
	"errors"
	"reflect"
	"testing"
)

func TestFill(t *testing.T) {
	vars := map[string]string{"backend": "web_10000", "port": "80"}
	for _, tc := range []struct {
		in, want, err string
	}{
		{"backend {backend}\n  bind :{port}", "backend web_10000\n  bind :80", ""},
		{"acl a {{ ssl_fc }}", "acl a { ssl_fc }", ""},
		{"x {nosuch}", "", "line 1: invalid template: unknown placeholder {nosuch}"},
		{"a\nb {backend", "", "line 2: invalid template: unclosed '{'"},
		{"a }", "", "line 1: invalid template: single '}' (write '}}' for a brace)"},
	} {
		got, err := Fill(tc.in, vars)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errors.Is(err, ErrTemplate) {
				t.Errorf("Fill(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Fill(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	got, err := Parse("  option forwardfor\r\n\n  http-request set-header X-Name \"a b\" if { ssl_fc } # comment\\n  rspadd Strict-Transport-Security:\\ max-age=1\n  acl x path 'it''s'")
	if err != nil {
		t.Fatal(err)
	}
	want := []Directive{
		{Line: 1, Keyword: "option", Args: []string{"forwardfor"}},
		{Line: 3, Keyword: "http-request", Args: []string{"set-header", "X-Name", "a b", "if", "{", "ssl_fc", "}"}},
		{Line: 4, Keyword: "rspadd", Args: []string{"Strict-Transport-Security: max-age=1"}},
		{Line: 5, Keyword: "acl", Args: []string{"x", "path", "its"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"a \"open", "a b\\", "a \x01"} {
		if _, err := Parse(bad); !errors.Is(err, ErrTemplate) {
			t.Errorf("Parse(%q) = %v, want ErrTemplate", bad, err)
		}
	}
}

// FuzzParse: any text either parses or fails with ErrTemplate, and parsing
// never yields an empty keyword or a control character.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"option forwardfor", "http-request set-header A \"b c\"", "a 'b' \\ c # d", "x\r\ny\\nz", "\"", "{a}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("error %v does not wrap ErrTemplate", err)
			}
			return
		}
		for _, d := range ds {
			if d.Keyword == "" {
				t.Fatalf("empty keyword in %+v", d)
			}
			for _, w := range append([]string{d.Keyword}, d.Args...) {
				for _, c := range []byte(w) {
					if c == '\n' || c == '\r' {
						t.Fatalf("newline in word %q", w)
					}
				}
			}
		}
	})
}

// FuzzFill: Fill either fails with ErrTemplate or leaves no placeholder.
func FuzzFill(f *testing.F) {
	for _, s := range []string{"backend {backend}", "{{x}}", "{", "}", "{nosuch}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := Fill(s, map[string]string{"backend": "b"}); err != nil && !errors.Is(err, ErrTemplate) {
			t.Fatalf("error %v does not wrap ErrTemplate", err)
		}
	})
}
