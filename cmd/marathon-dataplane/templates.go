package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

// globalSettings are the template overrides read at startup.
type globalSettings struct {
	templates      map[string]string
	head           []sync.Section
	defaultOptions []string
	warnings       []string
}

// globalTemplates reads marathon-lb's global template overrides (§5.1):
// $HAPROXY_<NAME> (a literal \n is a newline), else the file
// <dir>/HAPROXY_<NAME>, and $HAPROXY_GLOBAL_DEFAULT_OPTIONS. They are
// validated here, at startup: one that cannot be honoured stops the
// command instead of rejecting every app.
func globalTemplates(dir, defaultsName string, env func(string) string) (globalSettings, error) {
	g := globalSettings{templates: map[string]string{}}
	for _, e := range labels.TemplateReference {
		key := "HAPROXY_" + e.Name
		if v := env(key); v != "" {
			g.templates[e.Name] = strings.ReplaceAll(v, `\n`, "\n")
			continue
		}
		if dir == "" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, key))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return g, fmt.Errorf("--templates-dir: %w", err)
		default:
			g.templates[e.Name] = string(raw)
		}
	}
	if head, ok := g.templates["HEAD"]; ok {
		// HEAD is not formatted (§5.1): its sections go in as text.
		delete(g.templates, "HEAD")
		secs, err := sync.HeadSections(head, defaultsName)
		if err != nil {
			return g, err
		}
		g.head = secs
		g.warnings = append(g.warnings, "HAPROXY_HEAD replaces the configuration's "+sectionList(secs)+" through full configuration commits (text, checked by HAProxy)")
	}
	if v := env("HAPROXY_GLOBAL_DEFAULT_OPTIONS"); v != "" {
		switch opts := normalizeOptions(v); {
		case g.head != nil:
			// marathon-lb: "no effect when HAPROXY_HEAD is overridden".
			g.warnings = append(g.warnings, "HAPROXY_GLOBAL_DEFAULT_OPTIONS has no effect with HAPROXY_HEAD set (as in marathon-lb)")
		case len(opts) == 0:
			return g, fmt.Errorf("HAPROXY_GLOBAL_DEFAULT_OPTIONS=%q: no option named", v)
		default:
			g.defaultOptions = opts
		}
	}
	if err := sync.ValidateTemplates(g.templates); err != nil {
		return g, err
	}
	return g, nil
}

func sectionList(secs []sync.Section) string {
	var keys []string
	for _, s := range secs {
		keys = append(keys, strconv.Quote(s.Key()))
	}
	return "section(s) " + strings.Join(keys, ", ")
}

// normalizeOptions is marathon-lb's treatment of the option list: trimmed,
// deduplicated, sorted.
func normalizeOptions(v string) []string {
	set := map[string]bool{}
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			set[o] = true
		}
	}
	var out []string
	for o := range set {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}
