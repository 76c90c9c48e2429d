package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

// defaultGlobalOptions is marathon-lb's HAPROXY_GLOBAL_DEFAULT_OPTIONS,
// which deployments/haproxy.cfg's defaults section already holds.
const defaultGlobalOptions = "dontlognull,http-server-close,redispatch"

// globalTemplates reads marathon-lb's global template overrides (§5.1):
// $HAPROXY_<NAME> (a literal \n is a newline), else the file
// <dir>/HAPROXY_<NAME>. They are validated here, at startup: one that
// cannot be honoured stops the command instead of rejecting every app.
func globalTemplates(dir string, env func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range labels.TemplateReference {
		key := "HAPROXY_" + e.Name
		if v := env(key); v != "" {
			out[e.Name] = strings.ReplaceAll(v, `\n`, "\n")
			continue
		}
		if dir == "" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, key))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("--templates-dir: %w", err)
		default:
			out[e.Name] = string(raw)
		}
	}
	if v := env("HAPROXY_GLOBAL_DEFAULT_OPTIONS"); v != "" && normalizeOptions(v) != defaultGlobalOptions {
		return nil, fmt.Errorf("HAPROXY_GLOBAL_DEFAULT_OPTIONS=%q: the defaults section belongs to the base haproxy.cfg (deployments/haproxy.cfg); set the options there", v)
	}
	if err := sync.ValidateTemplates(out); err != nil {
		return nil, err
	}
	return out, nil
}

// normalizeOptions is marathon-lb's treatment of the option list: trimmed,
// deduplicated, sorted.
func normalizeOptions(v string) string {
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
	return strings.Join(out, ",")
}
