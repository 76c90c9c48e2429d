// Package deployments holds the files that run marathon-dataplane next to a
// stock HAProxy and Data Plane API. The Go code only embeds them, so the
// demo and the whole-stack tests use exactly the shipped reload script.
package deployments

import _ "embed"

// ReloadScript is reload-haproxy.sh, the Data Plane API reload_cmd that
// reports failed reloads.
//
//go:embed reload-haproxy.sh
var ReloadScript []byte

// DemoApps is demo-apps.json, the apps `marathon-dataplane demo` deploys.
//
//go:embed demo-apps.json
var DemoApps []byte
