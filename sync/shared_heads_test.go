package sync

import (
	"strings"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

func TestSharedHeadOverrides(t *testing.T) {
	f := loadFixture(t, "vhosts")
	cfg := testConfig()
	cfg.HTTPBindAddr, cfg.HTTPPort = "127.0.0.1", 8080
	cfg.HTTPSPort, cfg.SSLCerts = 8443, []string{"/certs/a.pem"}
	cfg.Templates = map[string]string{
		"HTTP_FRONTEND_HEAD": "frontend marathon_http_in\n  bind *:8080 maxconn 500\n  mode http\n  option httplog\n  timeout client 5s\n" +
			"  acl from_lb src 10.0.0.0/8\n  http-request set-header X-From-LB yes if from_lb\n",
		"HTTPS_FRONTEND_HEAD": "frontend marathon_https_in\n  bind *:8443 ssl {sslCerts} alpn h2,http/1.1\n  mode http\n  maxconn 100\n",
	}
	if err := ValidateSharedHeads(cfg); err != nil {
		t.Fatal(err)
	}
	b := BuildDesired(f.Apps, cfg, fakeResolver{}, Existing{})
	if len(b.Rejected) != 0 || len(b.Warnings) != 0 {
		t.Fatalf("rejected %v warnings %v", b.Rejected, b.Warnings)
	}
	http := b.State.Frontends[HTTPFrontend]
	if len(http.Binds) != 1 || http.Binds[0].Address != "*" || http.Binds[0].Maxconn == nil || *http.Binds[0].Maxconn != 500 {
		t.Fatalf(":80 binds %+v", http.Binds)
	}
	if !http.Frontend.Httplog || http.Frontend.ClientTimeout == nil || *http.Frontend.ClientTimeout != 5000 {
		t.Fatalf(":80 frontend %+v", http.Frontend)
	}
	// The head's ACL and rule come first, then the apps' routing.
	if http.ACLs[0].ACLName != "from_lb" || http.HTTPRequestRules[0].HdrName != "X-From-LB" || len(http.SwitchingRules) == 0 {
		t.Fatalf(":80 acls %+v rules %+v", http.ACLs, http.HTTPRequestRules)
	}
	for i, a := range http.ACLs {
		if a.Index != int64(i) {
			t.Fatalf("acl %d index %v", i, a.Index)
		}
	}
	https := b.State.Frontends[HTTPSFrontend]
	if bd := https.Binds[0]; !bd.SSL || bd.SSLCertificate != "/certs/a.pem" || bd.Alpn != "h2,http/1.1" || https.Frontend.Maxconn == nil {
		t.Fatalf(":443 %+v binds %+v", https.Frontend, https.Binds)
	}
	// Without overrides the built-in heads are unchanged.
	cfg.Templates = nil
	plain := BuildDesired(f.Apps, cfg, fakeResolver{}, Existing{}).State.Frontends[HTTPFrontend]
	if plain.Binds[0].Address != "127.0.0.1" || plain.Frontend.Httplog || plain.Binds[0].Maxconn != nil {
		t.Fatalf("built-in :80 %+v %+v", plain.Frontend, plain.Binds)
	}
}

func TestSharedHeadErrors(t *testing.T) {
	cfg := testConfig()
	cfg.HTTPPort, cfg.AppIDPort, cfg.HTTPSPort, cfg.SSLCerts = 80, 9091, 443, []string{"/c.pem"}
	for _, tc := range []struct{ name, text, want string }{
		{"HTTP_FRONTEND_HEAD", "frontend marathon_http_in\n bind *:81\n mode http\n", "line 2 \"bind *:81\": the bind must stay on port 80"},
		{"HTTP_FRONTEND_HEAD", "frontend web\n bind *:80\n", "the frontend must keep its name marathon_http_in"},
		{"HTTP_FRONTEND_HEAD", "frontend marathon_http_in\n bind *:80 ssl crt /x.pem\n", "marathon_http_in takes no TLS"},
		{"HTTP_FRONTEND_HEAD", "frontend marathon_http_in\n bind *:80\n mode tcp\n", "the mode must stay http"},
		{"HTTP_FRONTEND_HEAD", "frontend marathon_http_in\n bind *:80\n default_backend x\n", "routing comes from the apps' labels"},
		{"HTTP_FRONTEND_HEAD", "frontend marathon_http_in\n mode http\n", "want exactly one bind on port 80"},
		{"HTTP_FRONTEND_HEAD", "frontend marathon_http_in\n bind *:80\n capture request header Host len 20\n", `unsupported directive "capture"`},
		{"HTTP_FRONTEND_APPID_HEAD", "frontend marathon_http_appid_in\n bind *:9092\n", "port 9091"},
		{"HTTPS_FRONTEND_HEAD", "frontend marathon_https_in\n bind *:443\n mode http\n", "must keep `ssl {sslCerts}`"},
		{"HTTPS_FRONTEND_HEAD", "frontend marathon_https_in\n bind *:443 ssl crt /other.pem\n", "the certificates are --ssl-certs'"},
		{"HTTPS_FRONTEND_HEAD", "frontend marathon_https_in\n bind *:443 ssl {sslCerts} {nope}\n", "HAPROXY_HTTPS_FRONTEND_HEAD"},
	} {
		c := cfg
		c.Templates = map[string]string{tc.name: tc.text}
		err := ValidateSharedHeads(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HAPROXY_"+tc.name) {
			t.Errorf("%s %q: error %v, want %q", tc.name, tc.text, err, tc.want)
		}
	}
	// The grouped splitter keeps tcp and passes TLS through.
	c := cfg
	c.Templates = map[string]string{"HTTPS_GROUPED_FRONTEND_HEAD": "frontend marathon_https_in\n bind *:443\n mode tcp\n tcp-request inspect-delay 2s\n tcp-request content accept if { req_ssl_hello_type 1 }\n"}
	fe, err := splitterHead(c)
	if err != nil || len(fe.TCPRequestRules) != 2 || *fe.TCPRequestRules[0].Timeout != 2000 {
		t.Fatalf("splitter %+v %v", fe, err)
	}
}

// HTTP_/TCP_BACKEND_ACL_ALLOW_DENY are global-only; an override replaces
// the allow/deny pair NETWORK_ALLOWED_ACL adds.
func TestAllowDenyOverride(t *testing.T) {
	cfg := testConfig()
	cfg.Templates = map[string]string{
		"HTTP_BACKEND_ACL_ALLOW_DENY": "  http-request allow if network_allowed\n  http-request deny deny_status 403\n",
		"TCP_BACKEND_ACL_ALLOW_DENY":  "  tcp-request content accept if network_allowed\n  tcp-request content reject\n",
	}
	if err := ValidateTemplates(cfg.Templates); err != nil {
		t.Fatal(err)
	}
	app := func(id string, port int, lbls map[string]string) marathon.App {
		lbls["HAPROXY_GROUP"] = "external"
		lbls["HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL"] = "10.0.0.0/8"
		return marathon.App{ID: id, Labels: lbls, PortDefinitions: []marathon.PortDefinition{{Port: port}},
			Tasks: []marathon.Task{{ID: id + ".1", Host: "127.0.0.1", Ports: []int{31001}, State: marathon.TaskRunning}}}
	}
	b := BuildDesired([]marathon.App{app("/web", 10000, map[string]string{"HAPROXY_0_MODE": "http"}), app("/db", 10001, map[string]string{})},
		cfg, fakeResolver{}, Existing{})
	if len(b.Rejected) != 0 {
		t.Fatal(b.Rejected)
	}
	web := b.State.Backends["web_10000"]
	rules := web.HTTPRequestRules
	if n := len(rules); n != 4 || rules[n-1].Type != "deny" || rules[n-1].DenyStatus == nil || *rules[n-1].DenyStatus != 403 {
		t.Fatalf("http rules %+v", web.HTTPRequestRules)
	}
	db := b.State.Backends["db_10001"]
	if len(db.TCPRequestRules) != 2 || db.TCPRequestRules[0].CondTest != "network_allowed" {
		t.Fatalf("tcp rules %+v", db.TCPRequestRules)
	}
}

func TestGroupedVhostTemplates(t *testing.T) {
	f := loadFixture(t, "vhosts")
	cfg := testConfig()
	cfg.GroupHTTPSByVhost, cfg.TLSSocketDir = true, "/run/mdp"
	cfg.HTTPSBindAddr, cfg.HTTPSPort, cfg.SSLCerts = "*", 443, []string{"/etc/ssl/cert.pem"}
	cfg.Templates = map[string]string{
		"HTTPS_GROUPED_VHOST_FRONTEND_ACL":  "  acl tls req_ssl_ver gt 0\n  use_backend {backend} if tls {{ req_ssl_sni -i {host} }}\n",
		"HTTPS_GROUPED_VHOST_BACKEND_HEAD":  "backend {name}\n  mode tcp\n  timeout server 1h\n  server loopback-for-tls abns@{name} send-proxy-v2\n",
		"HTTPS_GROUPED_VHOST_FRONTEND_HEAD": "frontend {name}\n  mode http\n  bind abns@{name} accept-proxy ssl {sslCerts}{bindOpts} alpn h2,http/1.1\n  option httplog\n",
	}
	if err := ValidateSharedHeads(cfg); err != nil {
		t.Fatal(err)
	}
	b := BuildDesired(f.Apps, cfg, fakeResolver{}, Existing{})
	if len(b.Warnings) != 0 || len(b.Rejected) != 0 {
		t.Fatalf("warnings %q rejected %v", b.Warnings, b.Rejected)
	}
	split := b.State.Frontends[HTTPSFrontend]
	if len(split.ACLs) == 0 || split.ACLs[0].ACLName != "tls" || !strings.HasPrefix(split.SwitchingRules[0].CondTest, "tls { req_ssl_sni -i ") {
		t.Fatalf("splitter acls %+v rules %+v", split.ACLs, split.SwitchingRules)
	}
	name := split.SwitchingRules[0].Name
	be := b.State.Backends[name]
	if be == nil || be.Backend.ServerTimeout == nil || *be.Backend.ServerTimeout != 3600000 || be.Servers[0].Address != "/run/mdp/"+name+".sock" || be.Servers[0].Opts().SendProxyV2 != "enabled" {
		t.Fatalf("vhost backend %+v", be)
	}
	fe := b.State.Frontends[name]
	if bd := fe.Binds[0]; !bd.SSL || !bd.AcceptProxy || bd.Alpn != "h2,http/1.1" || bd.Address != "/run/mdp/"+name+".sock" || bd.SSLCertificate != "/etc/ssl/cert.pem" || !fe.Frontend.Httplog || len(fe.SwitchingRules) == 0 {
		t.Fatalf("vhost frontend %+v binds %+v", fe.Frontend, fe.Binds)
	}

	for _, tc := range []struct{ name, text, want string }{
		{"HTTPS_GROUPED_VHOST_FRONTEND_ACL", "  use_backend other if {{ req_ssl_sni -i {host} }}\n", "want use_backend {backend} if|unless <condition>"},
		{"HTTPS_GROUPED_VHOST_BACKEND_HEAD", "backend {name}\n  server loopback-for-tls abns@{name}\n", "must send the PROXY protocol"},
		{"HTTPS_GROUPED_VHOST_BACKEND_HEAD", "backend {name}\n  server loopback-for-tls 127.0.0.1:1 send-proxy\n", "want server loopback-for-tls abns@www_example_com"},
		{"HTTPS_GROUPED_VHOST_FRONTEND_HEAD", "frontend {name}\n  bind abns@{name} ssl {sslCerts}\n", "must keep `accept-proxy ssl {sslCerts}`"},
		{"HTTPS_GROUPED_VHOST_FRONTEND_HEAD", "frontend {name}\n  bind unix@/x accept-proxy ssl {sslCerts}\n", "the bind must stay on abns@www_example_com"},
	} {
		c := cfg
		c.Templates = map[string]string{tc.name: tc.text}
		if err := ValidateSharedHeads(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: error %v, want %q", tc.name, tc.text, err, tc.want)
		}
	}
}
