package labels

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParsePortLabels(t *testing.T) {
	def := func(i int) Port {
		return Port{Index: i, Enabled: true, Balance: Balance{Algorithm: "roundrobin"}}
	}
	tests := []struct {
		name   string
		labels map[string]string
		opt    Options
		want   func(p *Port)
	}{
		{"defaults", nil, Options{}, func(p *Port) {}},
		{"strict mode disables", nil, Options{StrictMode: true}, func(p *Port) { p.Enabled = false }},
		{"strict mode enabled by label", map[string]string{"HAPROXY_0_ENABLED": "Yes"}, Options{StrictMode: true}, func(p *Port) {}},
		{"enabled false without strict mode", map[string]string{"HAPROXY_0_ENABLED": "false"}, Options{}, func(p *Port) { p.Enabled = false }},
		{"enabled garbage is false", map[string]string{"HAPROXY_0_ENABLED": "1"}, Options{}, func(p *Port) { p.Enabled = false }},
		{"port override", map[string]string{"HAPROXY_0_PORT": "8080"}, Options{}, func(p *Port) { p.Port = 8080 }},
		{"mode lowercased", map[string]string{"HAPROXY_0_MODE": "HTTP"}, Options{}, func(p *Port) { p.Mode = "http" }},
		{"balance leastconn", map[string]string{"HAPROXY_0_BALANCE": "leastconn"}, Options{}, func(p *Port) { p.Balance = Balance{Algorithm: "leastconn"} }},
		{"balance hdr", map[string]string{"HAPROXY_0_BALANCE": "hdr(Host)"}, Options{}, func(p *Port) { p.Balance = Balance{Algorithm: "hdr", HdrName: "Host"} }},
		{"balance url_param", map[string]string{"HAPROXY_0_BALANCE": "url_param uid"}, Options{}, func(p *Port) { p.Balance = Balance{Algorithm: "url_param", URLParam: "uid"} }},
		{"vhost list lowercased and trimmed", map[string]string{"HAPROXY_0_VHOST": "A.com, b.com"}, Options{}, func(p *Port) { p.VHosts = []string{"a.com", "b.com"} }},
		{"path raises weight to 1", map[string]string{"HAPROXY_0_PATH": "/api"}, Options{}, func(p *Port) { p.Path = "/api"; p.BackendWeight = 1 }},
		{"explicit weight 0 with path is still 1", map[string]string{"HAPROXY_0_PATH": "/api", "HAPROXY_0_BACKEND_WEIGHT": "0"}, Options{}, func(p *Port) { p.Path = "/api"; p.BackendWeight = 1 }},
		{"weight kept with path", map[string]string{"HAPROXY_0_PATH": "-i /a /b", "HAPROXY_0_BACKEND_WEIGHT": "5"}, Options{}, func(p *Port) { p.Path = "-i /a /b"; p.BackendWeight = 5 }},
		{"negative weight", map[string]string{"HAPROXY_0_BACKEND_WEIGHT": "-3"}, Options{}, func(p *Port) { p.BackendWeight = -3 }},
		{"bind addr", map[string]string{"HAPROXY_0_BIND_ADDR": "127.0.0.1"}, Options{}, func(p *Port) { p.BindAddr = "127.0.0.1" }},
		{"port group replaces app group", map[string]string{"HAPROXY_0_GROUP": "internal,external"}, Options{}, func(p *Port) { p.Groups = []string{"internal", "external"}; p.HasGroups = true }},
		{"empty port group is ignored", map[string]string{"HAPROXY_0_GROUP": ""}, Options{}, func(p *Port) {}},
		{"labels of other ports ignored", map[string]string{"HAPROXY_7_PORT": "x"}, Options{}, func(p *Port) {}},
		{"auth", map[string]string{"HAPROXY_0_AUTH": "shop:admin:$6$salt$hash"}, Options{}, func(p *Port) { p.Auth = &Auth{Realm: "shop", User: "admin", PasswordHash: "$6$salt$hash"} }},
		{"redirect to https", map[string]string{"HAPROXY_0_REDIRECT_TO_HTTPS": "T"}, Options{}, func(p *Port) { p.RedirectToHTTPS = true }},
		{"redirect garbage is false", map[string]string{"HAPROXY_0_REDIRECT_TO_HTTPS": "on"}, Options{}, func(p *Port) {}},
		{"hsts", map[string]string{"HAPROXY_0_USE_HSTS": "yes"}, Options{}, func(p *Port) { p.UseHSTS = true }},
		{"sticky", map[string]string{"HAPROXY_0_STICKY": "Y"}, Options{}, func(p *Port) { p.Sticky = true }},
		{"ssl cert", map[string]string{"HAPROXY_0_SSL_CERT": "/etc/ssl/a.pem"}, Options{}, func(p *Port) { p.SSLCert = "/etc/ssl/a.pem" }},
		{"bind options", map[string]string{"HAPROXY_0_BIND_OPTIONS": " accept-proxy alpn h2,http/1.1  maxconn 10 crt /c.pem ssl-min-ver TLSv1.2 verify none"}, Options{},
			func(p *Port) {
				p.BindOptions = BindOptions{AcceptProxy: true, Alpn: "h2,http/1.1", Maxconn: 10, Crt: []string{"/c.pem"}, SSLMinVer: "TLSv1.2", Verify: "none"}
				p.BindOptionsText = "accept-proxy alpn h2,http/1.1  maxconn 10 crt /c.pem ssl-min-ver TLSv1.2 verify none"
			}},
		{"empty bind options", map[string]string{"HAPROXY_0_BIND_OPTIONS": "  "}, Options{}, func(p *Port) {}},
		{"network allowed", map[string]string{"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8  192.168.1.1 ::1 fd00::/8"}, Options{},
			func(p *Port) { p.NetworkAllowed = []string{"10.0.0.0/8", "192.168.1.1", "::1", "fd00::/8"} }},
		{"health check port index", map[string]string{"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX": "2"}, Options{}, func(p *Port) { two := 2; p.HealthCheckPortIndex = &two }},
		{"proxypass", map[string]string{"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH": "/api/v1"}, Options{}, func(p *Port) { p.ProxyPassPath = "/api/v1" }},
		{"revproxy", map[string]string{"HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH": "/api/"}, Options{}, func(p *Port) { p.RevProxyPath = "/api/" }},
		{"backend redirect", map[string]string{"HAPROXY_0_HTTP_BACKEND_REDIR": "https://example.com/store"}, Options{}, func(p *Port) { p.HTTPRedirect = "https://example.com/store" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, errs := Parse("/web", tt.labels, 1, tt.opt)
			if len(errs) != 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			want := def(0)
			if tt.opt.StrictMode {
				want.Enabled = false
				if ParseBool(tt.labels["HAPROXY_0_ENABLED"]) {
					want.Enabled = true
				}
			}
			tt.want(&want)
			if !reflect.DeepEqual(app.Ports[0], want) {
				t.Errorf("got  %+v\nwant %+v", app.Ports[0], want)
			}
		})
	}
}

func TestParseErrorsNameAppPortAndLabel(t *testing.T) {
	tests := []struct {
		label, value string
		sentinel     error
	}{
		{"HAPROXY_0_PORT", "eighty", ErrInvalidValue},
		{"HAPROXY_0_PORT", "70000", ErrInvalidValue},
		{"HAPROXY_0_MODE", "udp", ErrInvalidValue},
		{"HAPROXY_0_BALANCE", "fastest", ErrInvalidValue},
		{"HAPROXY_0_VHOST", "bad host.com", ErrInvalidValue},
		{"HAPROXY_0_VHOST", ",", ErrInvalidValue},
		{"HAPROXY_0_PATH", " ", ErrInvalidValue},
		{"HAPROXY_0_BIND_ADDR", "localhost", ErrInvalidValue},
		{"HAPROXY_0_BACKEND_WEIGHT", "1.5", ErrInvalidValue},
		{"HAPROXY_0_VHOST", "a.com\nbackend evil", ErrUnsafeValue},
		{"HAPROXY_0_PATH", "/api # comment", ErrUnsafeValue},
		{"HAPROXY_GROUP", "ext\r\nglobal", ErrUnsafeValue},
		{"HAPROXY_0_PATH", strings.Repeat("a", maxLabelValueLen+1), ErrUnsafeValue},
		{"HAPROXY_0_AUTH", "realm:user", ErrInvalidValue},
		{"HAPROXY_0_AUTH", "realm:user:pass:extra", ErrInvalidValue},
		{"HAPROXY_0_AUTH", ":user:hash", ErrInvalidValue},
		{"HAPROXY_0_AUTH", `re"alm:user:hash`, ErrInvalidValue},
		{"HAPROXY_0_AUTH", "realm:us er:hash", ErrInvalidValue},
		{"HAPROXY_0_SSL_CERT", "relative.pem", ErrInvalidValue},
		{"HAPROXY_0_SSL_CERT", "/a.pem /b.pem", ErrInvalidValue},
		{"HAPROXY_0_BIND_OPTIONS", "accept-proxy npn h2", ErrInvalidValue},
		{"HAPROXY_0_BIND_OPTIONS", "maxconn", ErrInvalidValue},
		{"HAPROXY_0_BIND_OPTIONS", "maxconn lots", ErrInvalidValue},
		{"HAPROXY_0_BIND_OPTIONS", "verify sometimes", ErrInvalidValue},
		{"HAPROXY_0_BIND_OPTIONS", "ssl-min-ver TLSv9", ErrInvalidValue},
		{"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.0.0.0/8 example.com", ErrInvalidValue},
		{"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", " ", ErrInvalidValue},
		{"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX", "-1", ErrInvalidValue},
		{"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX", "one", ErrInvalidValue},
		{"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH", "api", ErrInvalidValue},
		{"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH", `/a"b`, ErrInvalidValue},
		{"HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH", "/a b", ErrInvalidValue},
		{"HAPROXY_0_HTTP_BACKEND_REDIR", "", ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.label+"="+truncate(tt.value, 20), func(t *testing.T) {
			_, errs := Parse("/grp/web", map[string]string{tt.label: tt.value}, 1, Options{})
			if len(errs) != 1 {
				t.Fatalf("want 1 error, got %v", errs)
			}
			var le *Error
			if !errors.As(errs[0], &le) {
				t.Fatalf("want *Error, got %T", errs[0])
			}
			if !errors.Is(errs[0], tt.sentinel) {
				t.Errorf("want %v, got %v", tt.sentinel, errs[0])
			}
			msg := errs[0].Error()
			for _, part := range []string{"/grp/web", tt.label} {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not name %q", msg, part)
				}
			}
			if strings.HasPrefix(tt.label, "HAPROXY_0_") && !strings.Contains(msg, "port index 0") {
				t.Errorf("error %q does not name the port", msg)
			}
		})
	}
}

func TestParseAppLevel(t *testing.T) {
	app, errs := Parse("/a", map[string]string{
		"HAPROXY_GROUP":            "a, b",
		"HAPROXY_DEPLOYMENT_GROUP": "nginx",
		"HAPROXY_0_NOT_A_LABEL":    "x",
		"HAPROXY_0_BACKEND_HEAD":   "backend {backend}\n  balance leastconn",
		"owner":                    "zeus",
	}, 2, Options{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	// marathon-lb does not trim group names (§3.3).
	if !reflect.DeepEqual(app.Groups, []string{"a", " b"}) {
		t.Errorf("groups %q", app.Groups)
	}
	if app.DeploymentGroup != "nginx" {
		t.Errorf("deployment group %q", app.DeploymentGroup)
	}
	if len(app.Ports) != 2 || app.Ports[1].Index != 1 {
		t.Errorf("ports %+v", app.Ports)
	}
	if !reflect.DeepEqual(app.Ignored, []string{"HAPROXY_0_NOT_A_LABEL"}) || app.Ports[0].Templates["BACKEND_HEAD"] != "backend {backend}\n  balance leastconn" {
		t.Errorf("ignored %q", app.Ignored)
	}
	if got := app.Ports[0].EffectiveGroups(app); !reflect.DeepEqual(got, app.Groups) {
		t.Errorf("effective groups %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("HAPROXY_0_VHOST", "a.com,b.com")
	f.Add("HAPROXY_0_BALANCE", "hdr(host)")
	f.Add("HAPROXY_0_PORT", "80")
	f.Fuzz(func(t *testing.T, key, value string) {
		app, errs := Parse("/f", map[string]string{key: value}, 2, Options{})
		if len(errs) > 0 {
			return
		}
		for _, p := range app.Ports {
			for _, s := range append(append([]string{p.Path, p.BindAddr}, p.VHosts...), p.Groups...) {
				if strings.ContainsAny(s, "\n\r#") {
					t.Fatalf("unsafe value accepted: %q", s)
				}
			}
		}
	})
}
