package labels

import (
	"fmt"
	"strings"
)

// RefEntry is one label or template in the reference (`--longhelp`,
// docs/labels.md).
type RefEntry struct {
	Name string
	// Scope: "app", "port" for labels; "G" (global only), "P" (also per
	// port), "dead" (never emitted by marathon-lb) for templates.
	Scope string
	// Default is marathon-lb's default, as HAProxy directives.
	Default string
	// Here is what marathon-dataplane makes of it.
	Here string
}

// LabelReference lists the 8 app-level and 20 per-port behaviour labels.
var LabelReference = []RefEntry{
	{"HAPROXY_GROUP", "app", "none", "groups matched against --group; `*` matches every app"},
	{"HAPROXY_DEPLOYMENT_GROUP", "app", "none", "the apps of group G become one app /G: one backend with both colours' servers, the replaced old ones disabled (§3.2); the zdd command is issue #6"},
	{"HAPROXY_DEPLOYMENT_STARTED_AT", "app", "none", "which colour is old (the earlier one)"},
	{"HAPROXY_DEPLOYMENT_TARGET_INSTANCES", "app", "none", "the target size of a traffic split"},
	{"HAPROXY_DEPLOYMENT_NEW_INSTANCES", "app", "none", "marks a traffic split (the target is then required)"},
	{"HAPROXY_DEPLOYMENT_ALT_PORT", "app", "none", "blue/green alternate service port (issue #6)"},
	{"HAPROXY_DEPLOYMENT_COLOUR", "app", "none", "blue/green colour (issue #6)"},
	{"HAPROXY_APP_ID", "app", "none", "written by zdd, read by nothing"},
	{"HAPROXY_{n}_VHOST", "port", "none", "host ACLs and use_backend rules in marathon_http_in / marathon_https_in (SNI), or map entries with --haproxy-map; makes the mode http"},
	{"HAPROXY_{n}_PATH", "port", "none", "`acl path_<backend> path_beg <path>` with the vhost; raises the weight 0 to 1"},
	{"HAPROXY_{n}_AUTH", "port", "none", "userlist user_<backend>, `acl auth_… http_auth(user_<backend>)`, `http-request auth realm <realm>`"},
	{"HAPROXY_{n}_REDIRECT_TO_HTTPS", "port", "false", "`http-request redirect scheme https code 301 if !{ ssl_fc } <host> [<path>]`"},
	{"HAPROXY_{n}_USE_HSTS", "port", "false", "`http-response add-header Strict-Transport-Security max-age=15768000`"},
	{"HAPROXY_{n}_SSL_CERT", "port", "none", "service-port bind `ssl` + `ssl_certificate`; vhost frontend certificate with --group-https-by-vhost"},
	{"HAPROXY_{n}_BIND_OPTIONS", "port", "none", "structured bind fields (accept-proxy, v4v6, v6only, transparent, defer-accept, tfo, ssl, crt, alpn, ciphers, ssl-min-ver, ssl-max-ver, verify, ca-file, maxconn, interface); others rejected"},
	{"HAPROXY_{n}_BIND_ADDR", "port", "*", "service-port bind address"},
	{"HAPROXY_{n}_PORT", "port", "the service port", "bind port and the backend/frontend names"},
	{"HAPROXY_{n}_MODE", "port", "http with an HTTP check or VHOST, else tcp", "frontend and backend mode (http or tcp)"},
	{"HAPROXY_{n}_BALANCE", "port", "roundrobin", "backend balance"},
	{"HAPROXY_{n}_STICKY", "port", "false", "`cookie mesosphere_server_id insert indirect nocache`; servers `check cookie <sha1[:10]>`"},
	{"HAPROXY_{n}_BACKEND_WEIGHT", "port", "0 (1 with PATH)", "order of the service's rules in the shared frontends, larger first"},
	{"HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL", "port", "none", "`acl network_allowed src …`, then http-request allow/deny or tcp-request content accept/reject"},
	{"HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX", "port", "none", "check of port k when the port has none; servers `port` = the task's port k"},
	{"HAPROXY_{n}_HTTP_BACKEND_PROXYPASS_PATH", "port", "none", "`http-request set-header Host <vhost>`, `http-request replace-path (?i)^<prefix>/?(.*) /\\1`"},
	{"HAPROXY_{n}_HTTP_BACKEND_REVPROXY_PATH", "port", "none", "`acl hdr_location res.hdr(Location) -m found`, `http-response replace-header Location … <path>`"},
	{"HAPROXY_{n}_HTTP_BACKEND_REDIR", "port", "none", "`acl is_root path -i /`, `acl is_domain hdr(host) -i <vhost>`, `http-request redirect location <path> code 301`"},
	{"HAPROXY_{n}_GROUP", "port", "HAPROXY_GROUP", "groups of this port"},
	{"HAPROXY_{n}_ENABLED", "port", "not --strict-mode", "exposes the port or not"},
}

const (
	hereBackend  = "structured backend objects; overridable per port (HAPROXY_{n}_<NAME>), translated directive by directive"
	hereServer   = "structured server fields; overridable per port, one `server` line keeping the name and address (options: backup, check, check-ssl, cookie, disabled, fall, id, inter, maxconn, port, rise, send-proxy, send-proxy-v2, ssl, verify, weight)"
	hereFrontend = "structured service frontend; overridable per port: name, bind port, mode and backend stay (bind options, option httplog|tcplog, timeout client, maxconn, acl, http-request, tcp-request)"
	hereRouting  = "ACLs, http-request rules and use_backend in the shared frontends; overridable per port (acl, use_backend of its own backend, redirect, http-request), defaults identical to the built-in rules"
	hereBuiltIn  = "built in as structured objects; an override is rejected until translated (issue #5)"
	hereGlobal   = "the base haproxy.cfg (deployments/haproxy.cfg); an override's sections (global, defaults, listen ...) replace the configuration's sections of the same name as text, through a full configuration commit, checked by HAProxy"
	hereDead     = "never emitted by marathon-lb; an override is rejected"
	hereMapLabel = "built in (--haproxy-map); the per-port MAP_* label is accepted and ignored, as in marathon-lb"
)

// TemplateReference lists marathon-lb's 53 templates (§5.2).
var TemplateReference = []RefEntry{
	{"BACKEND_HEAD", "P", "backend {backend} / balance {balance} / mode {mode}", hereBackend + " (name and mode must stay)"},
	{"BACKEND_HSTS_OPTIONS", "P", "rspadd Strict-Transport-Security:\\ max-age=15768000", hereBackend},
	{"BACKEND_HTTP_HEALTHCHECK_OPTIONS", "P", "option httpchk GET {healthCheckPath} / timeout check {healthCheckTimeoutSeconds}s", hereBackend},
	{"BACKEND_HTTP_OPTIONS", "P", "option forwardfor / http-request set-header X-Forwarded-Port %[dst_port] / http-request add-header X-Forwarded-Proto https if { ssl_fc }", hereBackend},
	{"BACKEND_REDIRECT_HTTP_TO_HTTPS", "P", "redirect scheme https code 301 if !{ ssl_fc } host_{cleanedUpHostname}", hereRouting},
	{"BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH", "P", "redirect scheme https code 301 if !{ ssl_fc } host_{cleanedUpHostname} path_{backend}", hereRouting},
	{"BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS", "P", "check inter {healthCheckIntervalSeconds}s fall {healthCheckFalls}{healthCheckPortOptions}", hereServer},
	{"BACKEND_SERVER_OPTIONS", "P", "server {serverName} {host_ipv4}:{port} id {serverId}{cookieOptions}{healthCheckOptions}{otherOptions}", hereServer},
	{"BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS", "P", "check inter {healthCheckIntervalSeconds}s fall {healthCheckFalls}{healthCheckPortOptions}", hereServer},
	{"BACKEND_STICKY_OPTIONS", "P", "cookie mesosphere_server_id insert indirect nocache", hereBackend},
	{"BACKEND_TCP_HEALTHCHECK_OPTIONS", "P", "(empty)", hereBackend},
	{"FRONTEND_BACKEND_GLUE", "P", "use_backend {backend}", hereFrontend + " (default_backend, or conditional use_backend of its own backend)"},
	{"FRONTEND_HEAD", "P", "frontend {backend} / bind {bindAddr}:{servicePort}{sslCert}{bindOptions} / mode {mode}", hereFrontend},
	{"HEAD", "G", "global, defaults and listen stats (§5.4)", hereGlobal},
	{"HTTPS_FRONTEND_ACL", "P", "use_backend {backend} if { ssl_fc_sni {hostname} }", hereRouting},
	{"HTTPS_FRONTEND_ACL_ONLY_WITH_PATH", "P", "acl path_{backend} path_beg {path}", hereRouting},
	{"HTTPS_FRONTEND_ACL_WITH_AUTH", "P", "acl auth_… http_auth(user_{backend}) / http-request auth realm \"{realm}\" if { ssl_fc_sni H } !auth_… / use_backend", hereRouting},
	{"HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH", "P", "as WITH_AUTH with path_{backend}", hereRouting},
	{"HTTPS_FRONTEND_ACL_WITH_PATH", "P", "use_backend {backend} if { ssl_fc_sni {hostname} } path_{backend}", hereRouting},
	{"HTTPS_FRONTEND_AUTH_ACL_ONLY", "dead", "acl auth_… http_auth(user_…)", hereDead},
	{"HTTPS_FRONTEND_AUTH_REQUEST_ONLY", "dead", "http-request auth … if { ssl_fc_sni H } !auth_…", hereDead},
	{"HTTPS_FRONTEND_HEAD", "G", "frontend marathon_https_in / bind *:443 ssl {sslCerts} / mode http", "structured :443 frontend; a global override keeps the name, the port (--https-bind), mode http and `ssl {sslCerts}` (--ssl-certs); bind options, option httplog|tcplog, timeout client, maxconn, acl, http-request, tcp-request come first, before the apps' routing"},
	{"HTTPS_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH", "dead", "http-request auth … / use_backend …", hereDead},
	{"HTTPS_GROUPED_FRONTEND_HEAD", "G", "frontend marathon_https_in / bind *:443 / mode tcp / tcp-request inspect-delay 5s / tcp-request content accept if { req_ssl_hello_type 1 }", "structured tcp splitter (--group-https-by-vhost); a global override keeps the name, the port, mode tcp and no TLS; tcp-request rules, acl, timeout client, maxconn"},
	{"HTTPS_GROUPED_VHOST_BACKEND_HEAD", "G", "backend {name} / server loopback-for-tls abns@{name} send-proxy-v2", "structured tcp backend per vhost (--group-https-by-vhost); a global override keeps the name, mode tcp and `server loopback-for-tls abns@{name}` with send-proxy-v2|send-proxy (abns@{name} becomes a socket file); timeouts and other backend directives"},
	{"HTTPS_GROUPED_VHOST_FRONTEND_ACL", "G", "use_backend {backend} if { req_ssl_sni -i {host} }", "switching rule in the :443 splitter; a global override may add acl lines and change the condition, not the backend"},
	{"HTTPS_GROUPED_VHOST_FRONTEND_HEAD", "G", "frontend {name} / mode http / bind abns@{name} accept-proxy ssl {sslCerts}{bindOpts}", "structured TLS frontend per vhost; a global override keeps the name, mode http, `bind abns@{name} accept-proxy ssl {sslCerts}` (a socket file); bind options, logging, timeout client, maxconn, acl, http-request, tcp-request"},
	{"HTTP_BACKEND_ACL_ALLOW_DENY", "G", "http-request allow if network_allowed / http-request deny", "backend http_request_rules after BACKEND_NETWORK_ALLOWED_ACL's ACLs; a global override replaces the pair"},
	{"HTTP_BACKEND_NETWORK_ALLOWED_ACL", "P", "acl network_allowed src {network_allowed}", hereBackend + " (filled once per network)"},
	{"HTTP_BACKEND_PROXYPASS_GLUE", "P", "http-request set-header Host {hostname} / reqirep \"^([^ :]*)\\ {proxypath}/?(.*)\" \"\\1\\ /\\2\"", hereBackend + " (reqirep/rspirep are refused with the rule to write instead)"},
	{"HTTP_BACKEND_REDIR", "P (label)", "acl is_root path -i / / acl is_domain hdr(host) -i {hostname} / redirect code 301 location {redirpath} if is_domain is_root", "the label is the redirect path, as in marathon-lb"},
	{"HTTP_BACKEND_REVPROXY_GLUE", "P", "acl hdr_location res.hdr(Location) -m found / rspirep \"^Location: (https?://{hostname}(:[0-9]+)?)?(/.*)\" \"Location:   {rootpath}\" if hdr_location", hereBackend + " (reqirep/rspirep are refused with the rule to write instead)"},
	{"HTTP_FRONTEND_ACL", "P", "acl host_{cleanedUpHostname} hdr(host) -i {hostname} / use_backend {backend} if host_{cleanedUpHostname}", hereRouting},
	{"HTTP_FRONTEND_ACL_ONLY", "P", "acl host_{cleanedUpHostname} hdr(host) -i {hostname}", hereRouting},
	{"HTTP_FRONTEND_ACL_ONLY_WITH_PATH", "P", "acl path_{backend} path_beg {path}", hereRouting},
	{"HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH", "P", "acl path_{backend} path_beg {path} / acl auth_… http_auth(user_{backend})", hereRouting},
	{"HTTP_FRONTEND_ACL_WITH_AUTH", "P", "host acl, auth acl, http-request auth realm \"{realm}\" if host_X !auth_X, use_backend", hereRouting},
	{"HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH", "P", "host, auth and path acls; auth rule and use_backend with host_X path_B", hereRouting},
	{"HTTP_FRONTEND_ACL_WITH_PATH", "P", "host acl, path acl, use_backend {backend} if host_X path_B", hereRouting},
	{"HTTP_FRONTEND_APPID_ACL", "P", "acl app_{cleanedUpAppId} hdr(x-marathon-app-id) -i {appId} / use_backend {backend} if app_…", hereRouting},
	{"HTTP_FRONTEND_APPID_HEAD", "G", "frontend marathon_http_appid_in / bind *:9091 / mode http", "structured :9091 frontend; a global override keeps the name, the port (--appid-bind) and mode http; bind options, logging, timeout client, maxconn, acl, http-request, tcp-request"},
	{"HTTP_FRONTEND_HEAD", "G", "frontend marathon_http_in / bind *:80 / mode http", "structured :80 frontend; a global override keeps the name, the port (--http-bind) and mode http; bind options, logging, timeout client, maxconn, acl, http-request, tcp-request"},
	{"HTTP_FRONTEND_ROUTING_ONLY", "P", "use_backend {backend} if host_{cleanedUpHostname}", hereRouting},
	{"HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH", "P", "auth acl, auth rule, use_backend", hereRouting},
	{"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH", "P", "use_backend {backend} if host_X path_B", hereRouting},
	{"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH", "P", "auth rule and use_backend with host_X path_B", hereRouting},
	{"MAP_HTTPS_FRONTEND_ACL", "G", "use_backend %[ssl_fc_sni,lower,map({haproxy_dir}/domain2backend.map)]", hereMapLabel},
	{"MAP_HTTP_FRONTEND_ACL", "G", "use_backend %[req.hdr(host),lower,regsub(:.*$,,),map({haproxy_dir}/domain2backend.map)]", hereMapLabel},
	{"MAP_HTTP_FRONTEND_ACL_ONLY", "G", "as MAP_HTTP_FRONTEND_ACL", hereMapLabel},
	{"MAP_HTTP_FRONTEND_APPID_ACL", "G", "use_backend %[req.hdr(x-marathon-app-id),lower,map({haproxy_dir}/app2backend.map)]", hereMapLabel},
	{"TCP_BACKEND_ACL_ALLOW_DENY", "G", "tcp-request content accept if network_allowed / tcp-request content reject", "backend tcp_request_rules after BACKEND_NETWORK_ALLOWED_ACL's ACLs; a global override replaces the pair"},
	{"TCP_BACKEND_NETWORK_ALLOWED_ACL", "P", "acl network_allowed src {network_allowed}", hereBackend + " (filled once per network)"},
	{"USERLIST_HEAD", "P", "userlist user_{backend} / user {user} password {passwd}", "userlist and users; overridable per port (userlist user_{backend}, user <name> password|insecure-password <password>, several users allowed)"},
}

// Reference renders both lists as Markdown: `marathon-dataplane --longhelp`
// prints it and docs/labels.md holds it.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Labels and templates\n\n")
	b.WriteString("Generated by `marathon-dataplane --longhelp` (`make docs`); a test fails when this file is stale.\n")
	b.WriteString("marathon-lb's behaviour is the spec; \"here\" says what marathon-dataplane makes of each, always as\n")
	b.WriteString("structured Data Plane API objects, never configuration text.\n\n")
	b.WriteString("## Labels (8 app-level, 20 per service port)\n\n| label | scope | default | here |\n|---|---|---|---|\n")
	for _, e := range LabelReference {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", e.Name, e.Scope, mdCell(e.Default), e.Here)
	}
	fmt.Fprintf(&b, "\n## Templates (%d)\n\nScope: G global only, P also per port (`HAPROXY_{n}_<NAME>`), dead never emitted.\n", len(TemplateReference))
	b.WriteString("Defaults are marathon-lb's, lines separated by ` / `.\n\n| template | scope | marathon-lb default | here |\n|---|---|---|---|\n")
	for _, e := range TemplateReference {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", e.Name, e.Scope, strings.ReplaceAll(e.Default, "|", "\\|"), e.Here)
	}
	return b.String()
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
