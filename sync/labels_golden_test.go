package sync

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// labelGolden is what one label case produces: the objects of the app
// (its backend, service frontend and userlist) and its chunks of the shared
// :80 and :443 frontends.
type labelGolden struct {
	Backend       *Backend             `json:"backend"`
	Frontend      *Frontend            `json:"frontend"`
	Userlists     map[string]*Userlist `json:"userlists,omitempty"`
	HTTPFrontend  *Frontend            `json:"marathon_http_in"`
	HTTPSFrontend *Frontend            `json:"marathon_https_in"`
	AppIDFrontend *Frontend            `json:"marathon_http_appid_in"`
	Rejected      []string             `json:"rejected,omitempty"`
}

// TestLabelsToModelsGolden runs each per-port behaviour label (§4.2) on
// one app, /shop with two tasks, and keeps what it becomes in
// testdata/labels/<case>.golden.
func TestLabelsToModelsGolden(t *testing.T) {
	zero := 0
	for _, tc := range []struct {
		name   string
		labels map[string]string
		checks bool // the app has an HTTP check on port 0 and a TCP check on port 1
		// firstCheckOnly drops the TCP check on port 1.
		firstCheckOnly bool
	}{
		{"plain_vhost", map[string]string{"HAPROXY_0_VHOST": "shop.example.com"}, false, false},
		{"auth", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_AUTH": "shop:admin:$6$salt$hash"}, false, false},
		{"auth_path", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_PATH": "/cart", "HAPROXY_0_AUTH": "shop:admin:$6$salt$hash"}, false, false},
		{"auth_hosts", map[string]string{"HAPROXY_0_VHOST": "shop.example.com,store.example.com", "HAPROXY_0_AUTH": "shop:admin:$6$salt$hash"}, false, false},
		{"auth_path_hosts", map[string]string{"HAPROXY_0_VHOST": "shop.example.com,store.example.com", "HAPROXY_0_PATH": "/cart", "HAPROXY_0_AUTH": "shop:admin:$6$salt$hash"}, false, false},
		{"path_hosts", map[string]string{"HAPROXY_0_VHOST": "shop.example.com,store.example.com", "HAPROXY_0_PATH": "/cart"}, false, false},
		{"redirect", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_REDIRECT_TO_HTTPS": "true"}, false, false},
		{"redirect_path", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_PATH": "/cart", "HAPROXY_0_REDIRECT_TO_HTTPS": "yes"}, false, false},
		{"redirect_hosts", map[string]string{"HAPROXY_0_VHOST": "shop.example.com,store.example.com", "HAPROXY_0_REDIRECT_TO_HTTPS": "t"}, false, false},
		{"hsts", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_USE_HSTS": "true"}, false, false},
		{"sticky", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_STICKY": "true"}, false, false},
		{"ssl_cert", map[string]string{"HAPROXY_0_SSL_CERT": "/etc/ssl/shop.pem"}, false, false},
		{"bind_options", map[string]string{"HAPROXY_0_BIND_OPTIONS": "accept-proxy alpn h2,http/1.1 maxconn 100"}, false, false},
		{"bind_options_two_certs", map[string]string{"HAPROXY_0_SSL_CERT": "/etc/ssl/a.pem", "HAPROXY_0_BIND_OPTIONS": "crt /etc/ssl/b.pem"}, false, false},
		{"network_allowed_http", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8 127.0.0.1"}, false, false},
		{"network_allowed_tcp", map[string]string{"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8 ::1"}, false, false},
		{"proxypass", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH": "/shop.v1"}, false, false},
		{"revproxy", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH": "/shop/"}, false, false},
		{"backend_redir", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_HTTP_BACKEND_REDIR": "/store"}, false, false},
		{"healthcheck_port_index", map[string]string{"HAPROXY_1_BACKEND_HEALTHCHECK_PORT_INDEX": "0", "HAPROXY_1_MODE": "tcp"}, true, false},
		// Port 1 borrows port 0's HTTP check, which forces http over the label (§3.11 step 3).
		{"healthcheck_port_index_borrowed", map[string]string{"HAPROXY_1_BACKEND_HEALTHCHECK_PORT_INDEX": "0", "HAPROXY_1_MODE": "tcp"}, true, true},
		{"bad_auth", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_AUTH": "shop:admin"}, false, false},
		// Template overrides (§5), as marathon-lb's documentation uses them.
		{"tmpl_backend_head", map[string]string{"HAPROXY_0_VHOST": "shop.example.com",
			"HAPROXY_0_BACKEND_HEAD": "\nbackend {backend}\n  balance leastconn\n  mode {mode}\n  timeout server 30m\n  timeout tunnel 1h\n"}, false, false},
		{"tmpl_http_options", map[string]string{"HAPROXY_0_VHOST": "shop.example.com",
			"HAPROXY_0_BACKEND_HTTP_OPTIONS": "  option forwardfor except 127.0.0.0/8\n  http-request set-header X-Shop yes\n  http-request del-header X-Debug\n  http-response set-header X-Backend {backend}\n"}, false, false},
		{"tmpl_hsts_rspadd", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_USE_HSTS": "true",
			"HAPROXY_0_BACKEND_HSTS_OPTIONS": "  rspadd  Strict-Transport-Security:\\ max-age=31536000;\\ includeSubDomains\n"}, false, false},
		{"tmpl_sticky", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_STICKY": "true",
			"HAPROXY_0_BACKEND_STICKY_OPTIONS": "  cookie SHOPID insert indirect nocache httponly secure\n"}, false, false},
		{"tmpl_healthcheck", map[string]string{"HAPROXY_1_BACKEND_HEALTHCHECK_PORT_INDEX": "0",
			"HAPROXY_1_BACKEND_HTTP_HEALTHCHECK_OPTIONS": "  option httpchk GET {healthCheckPath} HTTP/1.1\n  timeout check {healthCheckTimeoutSeconds}s\n"}, true, true},
		{"tmpl_unsupported_directive", map[string]string{"HAPROXY_0_VHOST": "shop.example.com",
			"HAPROXY_0_BACKEND_HTTP_OPTIONS": "  option forwardfor\n  stick-table type ip size 1m\n"}, false, false},
		{"tmpl_unknown_placeholder", map[string]string{"HAPROXY_0_BACKEND_HEAD": "backend {backend}\n  balance {algorithm}\n"}, false, false},
		{"tmpl_userlist", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_AUTH": "shop:admin:$6$salt$hash",
			"HAPROXY_0_USERLIST_HEAD": "userlist user_{backend}\n  user {user} password {passwd}\n  user ops insecure-password letmein\n"}, false, false},
		{"tmpl_appid", map[string]string{"HAPROXY_0_VHOST": "shop.example.com",
			"HAPROXY_0_HTTP_FRONTEND_APPID_ACL": "  acl app_{cleanedUpAppId} hdr(x-marathon-app-id) -i {appId} /store\n  use_backend {backend} if app_{cleanedUpAppId}\n"}, false, false},
		{"tmpl_http_frontend_acl", map[string]string{"HAPROXY_0_VHOST": "shop.example.com",
			"HAPROXY_0_HTTP_FRONTEND_ACL": "  acl host_{cleanedUpHostname} hdr_beg(host) -i {hostname}\n  http-request set-header X-Via-Template 1 if host_{cleanedUpHostname}\n  use_backend {backend} if host_{cleanedUpHostname}\n"}, false, false},
		{"tmpl_https_frontend_acl", map[string]string{"HAPROXY_0_VHOST": "shop.example.com",
			"HAPROXY_0_HTTPS_FRONTEND_ACL": "  use_backend {backend} if {{ ssl_fc_sni -i {hostname} }}\n"}, false, false},
		{"tmpl_frontend_acl_other_backend", map[string]string{"HAPROXY_0_VHOST": "shop.example.com",
			"HAPROXY_0_HTTP_FRONTEND_ACL": "  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n  use_backend other_10000 if host_{cleanedUpHostname}\n"}, false, false},
		{"tmpl_server_options", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_STICKY": "true",
			"HAPROXY_0_BACKEND_SERVER_OPTIONS": "  server {serverName} {host_ipv4}:{port} id {serverId}{cookieOptions}{healthCheckOptions}{otherOptions} maxconn 200 weight 5\n"}, false, false},
		{"tmpl_server_check", map[string]string{"HAPROXY_1_BACKEND_HEALTHCHECK_PORT_INDEX": "0",
			"HAPROXY_1_BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS": "  check inter {healthCheckIntervalSeconds}s fall {healthCheckFalls} rise 3{healthCheckPortOptions}\n"}, true, true},
		{"tmpl_server_rename", map[string]string{"HAPROXY_0_BACKEND_SERVER_OPTIONS": "  server web1 {host_ipv4}:{port}\n"}, false, false},
		{"tmpl_frontend_head", map[string]string{"HAPROXY_0_BIND_OPTIONS": "accept-proxy",
			"HAPROXY_0_FRONTEND_HEAD": "\nfrontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n  mode {mode}\n  option tcplog\n  timeout client 1h\n  tcp-request inspect-delay 1s\n"}, false, false},
		{"tmpl_frontend_glue", map[string]string{
			"HAPROXY_0_FRONTEND_BACKEND_GLUE": "  acl blocked src 10.9.0.0/16\n  tcp-request content reject if blocked\n  use_backend {backend}\n"}, false, false},
		{"tmpl_frontend_other_port", map[string]string{"HAPROXY_0_FRONTEND_HEAD": "frontend {backend}\n  bind *:8080\n  mode {mode}\n"}, false, false},
		{"tmpl_proxypass_glue", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH": "/shop",
			"HAPROXY_0_HTTP_BACKEND_PROXYPASS_GLUE": "  http-request set-header Host {hostname}\n  http-request replace-path ^{proxypath}(/.*) \\\\1\n"}, false, false},
		{"tmpl_proxypass_reqirep", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH": "/shop",
			"HAPROXY_0_HTTP_BACKEND_PROXYPASS_GLUE": "  http-request set-header Host {hostname}\n  reqirep  \"^([^ :]*)\\\\ {proxypath}/?(.*)\" \"\\\\1\\\\ /\\\\2\"\n"}, false, false},
		{"tmpl_network_acl", map[string]string{"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8 192.168.0.0/16",
			"HAPROXY_0_TCP_BACKEND_NETWORK_ALLOWED_ACL": "  acl network_allowed src {network_allowed}\n  acl network_allowed dst {network_allowed}\n"}, false, false},
		{"tmpl_mode_mismatch", map[string]string{"HAPROXY_0_VHOST": "shop.example.com", "HAPROXY_0_BACKEND_HEAD": "backend {backend}\n  mode tcp\n"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lbls := map[string]string{"HAPROXY_GROUP": "external"}
			for k, v := range tc.labels {
				lbls[k] = v
			}
			app := marathon.App{ID: "/shop", Labels: lbls,
				PortDefinitions: []marathon.PortDefinition{{Port: 10100}, {Port: 10101}},
				Tasks: []marathon.Task{
					{ID: "shop.1", AppID: "/shop", Host: "127.0.0.1", Ports: []int{31001, 31002}, State: marathon.TaskRunning},
					{ID: "shop.2", AppID: "/shop", Host: "127.0.0.2", Ports: []int{31003, 31004}, State: marathon.TaskRunning},
				}}
			if tc.checks {
				one := 1
				app.HealthChecks = []marathon.HealthCheck{
					{Protocol: "HTTP", Path: "/health", PortIndex: &zero, IntervalSeconds: 10, TimeoutSeconds: 5, MaxConsecutiveFailures: 2},
					{Protocol: "TCP", PortIndex: &one, IntervalSeconds: 10, TimeoutSeconds: 5, MaxConsecutiveFailures: 2},
				}
				if tc.firstCheckOnly {
					app.HealthChecks = app.HealthChecks[:1]
				}
			}
			cfg := testConfig()
			cfg.HTTPSBindAddr, cfg.HTTPSPort, cfg.SSLCerts = "*", 443, []string{"/etc/ssl/cert.pem"}
			b := BuildDesired([]marathon.App{app}, cfg, fakeResolver{}, Existing{})
			port := 0
			if tc.checks {
				port = 1
			}
			name := BackendName("/shop", 10100+port)
			g := labelGolden{Backend: b.State.Backends[name], Frontend: b.State.Frontends[name],
				Userlists: b.State.Userlists, HTTPFrontend: b.State.Frontends[HTTPFrontend], HTTPSFrontend: b.State.Frontends[HTTPSFrontend],
				AppIDFrontend: b.State.Frontends[AppIDFrontend]}
			for _, e := range b.Rejected["/shop"] {
				g.Rejected = append(g.Rejected, e.Error())
			}
			out, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "labels", tc.name+".golden"), append(out, '\n'))
		})
	}
}

// TestFrontendTemplateDefaultsMatchTheBuiltInChunks: marathon-lb's default
// routing templates, read and translated, give exactly the chunks built in
// code for every combination of hosts, PATH, AUTH and REDIRECT_TO_HTTPS.
func TestFrontendTemplateDefaultsMatchTheBuiltInChunks(t *testing.T) {
	for _, hosts := range [][]string{{"a.example.com"}, {"a.example.com", "b.example.com"}} {
		for _, path := range []string{"", "/cart"} {
			for _, auth := range []bool{false, true} {
				for _, redirect := range []bool{false, true} {
					s := &service{appID: "/shop", backend: "shop_10100", mode: "http"}
					s.lbl.VHosts, s.lbl.Path, s.lbl.RedirectToHTTPS = hosts, path, redirect
					if auth {
						s.lbl.Auth = &labels.Auth{Realm: "shop", User: "u", PasswordHash: "h"}
					}
					name := fmt.Sprintf("hosts=%d path=%q auth=%v redirect=%v", len(hosts), path, auth, redirect)
					for _, tc := range []struct {
						port   string
						pieces []piece
						want   chunk
					}{
						{":80", vhostPieces(s), vhostChunk(s)},
						{":443", sniPieces(s, hosts), sniChunk(s)},
					} {
						got, err := chunkFromTemplates(s, tc.pieces)
						if err != nil {
							t.Fatalf("%s %s: %v", name, tc.port, err)
						}
						if !reflect.DeepEqual(got, tc.want) {
							t.Errorf("%s %s:\ntemplates %+v\nbuilt in  %+v", name, tc.port, got, tc.want)
						}
					}
				}
			}
		}
	}
}
