// Package templates reads marathon-lb template text (HAPROXY_<NAME>
// environment variables and HAPROXY_{n}_<NAME> labels, marathon-lb
// behaviour spec §5) into directives: filled placeholders, HAProxy's word
// splitting, one directive per line. It is pure: no I/O. Turning
// directives into Data Plane API objects is sync's job; nothing here is
// ever passed to HAProxy as text.
package templates

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTemplate is wrapped by every error of this package.
var ErrTemplate = errors.New("invalid template")

// Directive is one configuration line: a keyword and its arguments, with
// quotes and escapes resolved as HAProxy does.
type Directive struct {
	// Line is the 1-based line of the template it came from.
	Line    int
	Keyword string
	Args    []string
}

// String renders the directive for messages.
func (d Directive) String() string {
	return strings.TrimSpace(d.Keyword + " " + strings.Join(d.Args, " "))
}

// Error is a template error at a line.
type Error struct {
	Line int
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Fill replaces marathon-lb's placeholders as Python's str.format does:
// "{name}" is vars[name], "{{" and "}}" are literal braces; an unknown
// placeholder, a format spec or an unbalanced brace is an error (marathon-lb
// aborted the whole regeneration on one).
func Fill(text string, vars map[string]string) (string, error) {
	var b strings.Builder
	line := 1
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\n':
			line++
			b.WriteByte(c)
		case c == '{' && i+1 < len(text) && text[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(text) && text[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(text[i:], '}')
			if end < 0 {
				return "", &Error{Line: line, Err: fmt.Errorf("%w: unclosed '{'", ErrTemplate)}
			}
			name := text[i+1 : i+end]
			v, ok := vars[name]
			if !ok {
				return "", &Error{Line: line, Err: fmt.Errorf("%w: unknown placeholder {%s}", ErrTemplate, name)}
			}
			b.WriteString(v)
			i += end
		case c == '}':
			return "", &Error{Line: line, Err: fmt.Errorf("%w: single '}' (write '}}' for a brace)", ErrTemplate)}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// Parse splits template text into directives. "\r\n" and a literal "\n"
// (how environment variables carry newlines) end lines; "#" starts a
// comment outside quotes; words are split on spaces and tabs, with "..."
// and '...' quoting and backslash escapes as in haproxy.cfg.
func Parse(text string) ([]Directive, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, `\n`, "\n")
	var out []Directive
	for i, raw := range strings.Split(text, "\n") {
		words, err := splitWords(raw)
		if err != nil {
			return nil, &Error{Line: i + 1, Err: err}
		}
		if len(words) == 0 {
			continue
		}
		if words[0] == "" {
			return nil, &Error{Line: i + 1, Err: fmt.Errorf("%w: a line starts with an empty word", ErrTemplate)}
		}
		out = append(out, Directive{Line: i + 1, Keyword: words[0], Args: words[1:]})
	}
	return out, nil
}

func splitWords(line string) ([]string, error) {
	for _, c := range []byte(line) {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return nil, fmt.Errorf("%w: control character %q", ErrTemplate, c)
		}
	}
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == '\'':
			cur.WriteByte(c)
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("%w: a line ends with a backslash", ErrTemplate)
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case quote == '"':
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%w: unclosed %c quote", ErrTemplate, quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
