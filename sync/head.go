package sync

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// marathon-lb's HAPROXY_HEAD template is the global, defaults and stats
// sections, text the Data Plane API has no structured home for that a swap
// to its models would keep (the global and defaults endpoints replace the
// whole section and hold hundreds of fields). They are the one place this
// tool passes operator text to HAProxy as text: through the full
// configuration commit, section by section, validated here and by HAProxy
// (the API checks the configuration before it replaces the file). The text
// comes from the operator ($HAPROXY_HEAD, --templates-dir), never from an
// app label.

// ObjSection is a whole configuration section replaced as text (HEAD).
const ObjSection = "section"

// Section is one configuration section: its keyword, its name ("" for
// global and an unnamed defaults) and its lines, trimmed, without blank
// lines and comments.
type Section struct {
	Kind  string   `json:"kind"`
	Name  string   `json:"name,omitempty"`
	Lines []string `json:"lines"`
	// Replaces is the header of the section this one takes the place of
	// when that is not its own ("frontend stats" for "listen stats").
	Replaces string `json:"replaces,omitempty"`
}

// Key is the section's header line, "defaults base" or "global".
func (s Section) Key() string { return strings.TrimSpace(s.Kind + " " + s.Name) }

// Text renders the section as it goes into haproxy.cfg.
func (s Section) Text() string {
	var b strings.Builder
	b.WriteString(s.Key() + "\n")
	for _, l := range s.Lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// sectionKeywords start a section in haproxy.cfg (HAProxy 2.6).
var sectionKeywords = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"userlist": true, "peers": true, "resolvers": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true, "fcgi-app": true,
}

// proxySections may carry traffic; a head section must come before them.
var proxySections = map[string]bool{"frontend": true, "backend": true, "listen": true}

// ParseSections splits configuration text into sections. Text before the
// first section keyword other than comments is an error.
func ParseSections(text string) ([]Section, error) {
	var out []Section
	for i, raw := range strings.Split(text, "\n") {
		l := strings.TrimSpace(raw)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if sectionKeywords[f[0]] && !strings.HasPrefix(raw, " ") && !strings.HasPrefix(raw, "\t") {
			out = append(out, Section{Kind: f[0], Name: strings.Join(f[1:], " "), Lines: []string{}})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("line %d %q: not inside a section", i+1, l)
		}
		s := &out[len(out)-1]
		s.Lines = append(s.Lines, strings.Join(f, " "))
	}
	return out, nil
}

// HeadSections validates a HAPROXY_HEAD override and returns its sections.
// An unnamed defaults section is given defaultsName: the proxies this tool
// creates name their defaults ("from"), as HAProxy 2.6 wants.
//
// marathon-lb refused a HEAD with `daemon` or without `expose-fd
// listeners`; here the global section must keep a `stats socket` at admin
// level, which both the Data Plane API and the Runtime API path need, and
// `daemon` is refused (HAProxy runs in the foreground in its container).
func HeadSections(head, defaultsName string) ([]Section, error) {
	secs, err := ParseSections(head)
	if err != nil {
		return nil, fmt.Errorf("HAPROXY_HEAD: %w", err)
	}
	seen := map[string]bool{}
	var errs []error
	hasGlobal := false
	for i := range secs {
		s := &secs[i]
		if s.Kind == "defaults" && s.Name == "" {
			s.Name = defaultsName
		}
		if seen[s.Key()] {
			errs = append(errs, fmt.Errorf("section %q appears twice", s.Key()))
		}
		seen[s.Key()] = true
		switch {
		case s.Kind == "global":
			hasGlobal = true
			if !slices.ContainsFunc(s.Lines, func(l string) bool {
				return strings.HasPrefix(l, "stats socket ") && strings.Contains(l, "level admin")
			}) {
				errs = append(errs, errors.New("the global section needs a `stats socket <path> level admin` line: the Data Plane API and the Runtime API use it"))
			}
			if slices.Contains(s.Lines, "daemon") {
				errs = append(errs, errors.New("the global section must not say `daemon`: HAProxy runs in the foreground next to the Data Plane API"))
			}
		case proxySections[s.Kind] && (strings.HasPrefix(s.Name, "marathon_") || isOwnedName(s.Name)):
			errs = append(errs, fmt.Errorf("section %q: that name belongs to the proxies marathon-dataplane manages", s.Key()))
		}
	}
	if !hasGlobal {
		errs = append(errs, errors.New("a global section is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("HAPROXY_HEAD: %w", err)
	}
	return secs, nil
}

// isOwnedName reports whether a proxy name has the shape of the ones built
// from apps (<app>_<port>); HEAD must not define those.
func isOwnedName(name string) bool {
	i := strings.LastIndexByte(name, '_')
	if i < 0 || i == len(name)-1 {
		return false
	}
	for _, c := range name[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// WithDefaultOptions is HAPROXY_GLOBAL_DEFAULT_OPTIONS applied to a
// defaults section: its argument-less `option X` and `no option X` lines
// are replaced by one `option X` per entry, in the list's order (sorted
// by the caller, as marathon-lb sorts it).
func WithDefaultOptions(s Section, options []string) Section {
	out := Section{Kind: s.Kind, Name: s.Name, Lines: []string{}}
	for _, l := range s.Lines {
		f := strings.Fields(l)
		if (len(f) == 2 && f[0] == "option") || (len(f) == 3 && f[0] == "no" && f[1] == "option") {
			continue
		}
		out.Lines = append(out.Lines, l)
	}
	for _, o := range options {
		out.Lines = append(out.Lines, "option "+o)
	}
	return out
}

// headSteps compares the wanted head sections with the configuration text
// and returns a full step for each that differs or is missing.
func headSteps(current string, want []Section) ([]Step, error) {
	have, err := ParseSections(current)
	if err != nil {
		return nil, fmt.Errorf("read the configuration's sections: %w", err)
	}
	byKey := map[string]Section{}
	for _, s := range have {
		byKey[s.Key()] = s
	}
	var steps []Step
	for _, w := range want {
		h, ok := byKey[w.Key()]
		if !ok {
			// A proxy name is taken by a listen section and by a frontend
			// or backend alike: marathon-lb's HEAD has `listen stats`
			// where the base configuration has `frontend stats`.
			for _, k := range namesakes(w) {
				if h, ok = byKey[k]; ok {
					w.Replaces = k
					break
				}
			}
		}
		switch {
		case !ok:
			steps = append(steps, Step{Kind: Full, Op: Create, Object: ObjSection, Name: w.Key(), Value: w})
		case w.Replaces != "" || !sameDirectives(h.Lines, w.Lines):
			steps = append(steps, Step{Kind: Full, Op: Replace, Object: ObjSection, Name: w.Key(), Value: w})
		}
	}
	return steps, nil
}

// namesakes are the sections whose proxy name a section would collide
// with in HAProxy.
func namesakes(s Section) []string {
	switch s.Kind {
	case "listen":
		return []string{"frontend " + s.Name, "backend " + s.Name}
	case "frontend", "backend":
		return []string{"listen " + s.Name}
	}
	return nil
}

// wantedHead is the head this configuration asks for given the current
// configuration text: HEAD's sections, or the defaults section with
// HAPROXY_GLOBAL_DEFAULT_OPTIONS applied. Nil when neither is set.
func wantedHead(cfg Config, current string) ([]Section, error) {
	if len(cfg.Head) > 0 {
		return cfg.Head, nil
	}
	if cfg.DefaultOptions == nil {
		return nil, nil
	}
	have, err := ParseSections(current)
	if err != nil {
		return nil, fmt.Errorf("read the configuration's sections: %w", err)
	}
	key := strings.TrimSpace("defaults " + cfg.DefaultsName)
	for _, s := range have {
		if s.Key() == key {
			return []Section{WithDefaultOptions(s, cfg.DefaultOptions)}, nil
		}
	}
	return nil, fmt.Errorf("HAPROXY_GLOBAL_DEFAULT_OPTIONS: the configuration has no section %q to set them in", key)
}

// ReplaceSections puts sections into configuration text: a section with
// the same header is replaced where it stands (its comments go with it); a
// new one goes before the first frontend, backend or listen section, so a
// defaults section precedes the proxies that use it.
func ReplaceSections(text string, secs []Section) string {
	if len(secs) == 0 {
		return text
	}
	want := map[string]Section{}
	for _, s := range secs {
		if s.Replaces != "" {
			want[s.Replaces] = s
		} else {
			want[s.Key()] = s
		}
	}
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	placed := map[string]bool{}
	// Sections that replace one in the text are placed there, not before.
	present, _ := ParseSections(text)
	for _, p := range present {
		if s, ok := want[p.Key()]; ok {
			placed[s.Key()] = false
		}
	}
	inText := func(s Section) bool { _, ok := placed[s.Key()]; return ok }
	insertNew := func() {
		for _, s := range secs {
			if !inText(s) {
				placed[s.Key()] = true
				b.WriteString(s.Text())
			}
		}
	}
	skipping := false
	for _, raw := range lines {
		trimmed := strings.TrimSpace(raw)
		indented := strings.HasPrefix(raw, " ") || strings.HasPrefix(raw, "\t")
		if f := strings.Fields(trimmed); len(f) > 0 && !indented && sectionKeywords[f[0]] {
			key := strings.TrimSpace(f[0] + " " + strings.Join(f[1:], " "))
			if proxySections[f[0]] {
				insertNew()
			}
			if s, ok := want[key]; ok && !placed[s.Key()] {
				placed[s.Key()] = true
				b.WriteString(s.Text())
				skipping = true
				continue
			}
			skipping = false
		}
		if skipping && indented {
			continue
		}
		if trimmed != "" {
			// A comment or section at the margin ends the replaced one.
			skipping = false
		}
		b.WriteString(raw)
	}
	if !strings.HasSuffix(b.String(), "\n") && b.Len() > 0 {
		b.WriteString("\n")
	}
	insertNew()
	for _, s := range secs {
		if !placed[s.Key()] {
			// In the text but not reached (an unparsable tail): append.
			placed[s.Key()] = true
			b.WriteString(s.Text())
		}
	}
	return b.String()
}

// sameDirectives compares two sections' lines the way the Data Plane API
// can change them without changing their meaning: when it re-renders the
// file (every transaction commit) directives come out in its own order.
// Only the order among rules, which HAProxy evaluates in sequence, counts.
func sameDirectives(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	return slices.Equal(canonicalOrder(a), canonicalOrder(b))
}

// orderedKeywords are the directives whose relative order is meaningful.
var orderedKeywords = map[string]bool{
	"http-request": true, "http-response": true, "http-after-response": true, "tcp-request": true,
	"tcp-response": true, "use_backend": true, "use-server": true, "redirect": true, "stick": true,
	"filter": true, "http-check": true, "tcp-check": true,
}

func canonicalOrder(lines []string) []string {
	sortKey := func(l string) string {
		k, _, _ := strings.Cut(l, " ")
		if orderedKeywords[k] {
			return k
		}
		return k + "\x00" + l
	}
	out := slices.Clone(lines)
	slices.SortStableFunc(out, func(x, y string) int { return strings.Compare(sortKey(x), sortKey(y)) })
	return out
}
