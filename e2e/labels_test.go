package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/internal/testcert"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// secretHash is `openssl passwd -6 -salt mdptest secret`.
const secretHash = "$6$mdptest$esy6jw5pS3GYIjcNfrrZNE5D7LzRjY9xA/2fgJiyVGtjsBiga.uqAbq..pVKrZfOatsRHcjCnx.R9rRkuHj/w0"

// answer is one response, redirects not followed.
type answer struct {
	code   int
	header http.Header
	body   string
}

func send(t *testing.T, url string, prepare func(*http.Request)) answer {
	t.Helper()
	a, _, err := fetch(url, "", prepare)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return a
}

// fetch sends one GET, redirects not followed; over TLS it sends sni and
// returns the certificate the server chose.
func fetch(url, sni string, prepare func(*http.Request)) (answer, *x509.Certificate, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return answer{}, nil, err
	}
	if prepare != nil {
		prepare(req)
	}
	c := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{ServerName: sni, InsecureSkipVerify: true}}, //nolint:gosec // test certificates
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var cert *x509.Certificate
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		cert = resp.TLS.PeerCertificates[0]
	}
	return answer{resp.StatusCode, resp.Header, string(b)}, cert, nil
}

func host(h string) func(*http.Request) { return func(r *http.Request) { r.Host = h } }

// selfSignedPEM writes a certificate and its key in one PEM file, as
// HAProxy's `crt` wants it.
func selfSignedPEM(t *testing.T, name string) string {
	t.Helper()
	der, keyDER := testcert.SelfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}})
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
	// Not t.TempDir(): a subtest's name may put a comma in it, and
	// --ssl-certs is a comma-separated list.
	dir, err := os.MkdirTemp("", "mdp-certs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLabelParity is issue 4's routing through real HAProxy: each
// marathon-lb behaviour label on its own app, one sync, then requests.
func TestLabelParity(t *testing.T) {
	s := newStack(t)
	app := func(id string, instances int, lbls map[string]string) marathon.App {
		l := map[string]string{"HAPROXY_GROUP": "external"}
		for k, v := range lbls {
			l[k] = v
		}
		return marathon.App{ID: id, Instances: instances, PortDefinitions: []marathon.PortDefinition{{Port: 0}}, Labels: l}
	}
	cert := selfSignedPEM(t, "tls.example.com")
	deploy(t, s,
		app("/auth", 1, map[string]string{"HAPROXY_0_VHOST": "auth.example.com", "HAPROXY_0_AUTH": "shop:admin:" + secretHash}),
		app("/secure", 1, map[string]string{"HAPROXY_0_VHOST": "secure.example.com", "HAPROXY_0_REDIRECT_TO_HTTPS": "true"}),
		app("/hsts", 1, map[string]string{"HAPROXY_0_VHOST": "hsts.example.com", "HAPROXY_0_USE_HSTS": "true"}),
		app("/sticky", 3, map[string]string{"HAPROXY_0_VHOST": "sticky.example.com", "HAPROXY_0_STICKY": "true"}),
		app("/deny", 1, map[string]string{"HAPROXY_0_VHOST": "deny.example.com", "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8"}),
		app("/allow", 1, map[string]string{"HAPROXY_0_VHOST": "allow.example.com", "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8 127.0.0.1"}),
		app("/tcpdeny", 1, map[string]string{"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.0.0.0/8"}),
		app("/pp", 1, map[string]string{"HAPROXY_0_VHOST": "pp.example.com", "HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH": "/pp"}),
		app("/rev", 1, map[string]string{"HAPROXY_0_VHOST": "rev.example.com", "HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH": "/rev/"}),
		app("/redir", 1, map[string]string{"HAPROXY_0_VHOST": "redir.example.com", "HAPROXY_0_HTTP_BACKEND_REDIR": "/store"}),
		app("/tls", 1, map[string]string{"HAPROXY_0_SSL_CERT": cert, "HAPROXY_0_MODE": "http"}),
		app("/opts", 1, map[string]string{"HAPROXY_0_BIND_OPTIONS": "maxconn 50 defer-accept"}),
		app("/badauth", 1, map[string]string{"HAPROXY_0_VHOST": "bad.example.com", "HAPROXY_0_AUTH": "only-realm"}),
		app("/srvtmpl", 2, map[string]string{"HAPROXY_0_VHOST": "srvtmpl.example.com", "HAPROXY_0_STICKY": "true",
			"HAPROXY_0_BACKEND_SERVER_OPTIONS": "  server {serverName} {host_ipv4}:{port} id {serverId}{cookieOptions}{healthCheckOptions} maxconn 100 weight 7\n"}),
		app("/fehead", 1, map[string]string{
			"HAPROXY_0_FRONTEND_HEAD":         "frontend {backend}\n  bind {bindAddr}:{servicePort}\n  mode {mode}\n  option tcplog\n  timeout client 1h\n",
			"HAPROXY_0_FRONTEND_BACKEND_GLUE": "  acl blocked src 10.9.0.0/16\n  tcp-request content reject if blocked\n  use_backend {backend}\n"}),
		app("/feacl", 1, map[string]string{"HAPROXY_0_VHOST": "feacl.example.com",
			"HAPROXY_0_HTTP_FRONTEND_ACL": "  acl host_{cleanedUpHostname} hdr_beg(host) -i {hostname}\n  http-request set-header X-Via template if host_{cleanedUpHostname}\n  use_backend {backend} if host_{cleanedUpHostname}\n"}),
		app("/tmpl", 1, map[string]string{"HAPROXY_0_VHOST": "tmpl.example.com",
			"HAPROXY_0_BACKEND_HTTP_OPTIONS": "  option forwardfor\n  http-request set-header X-Shop from-template\n  http-response set-header X-Template yes\n"}),
	)
	code, out := s.cli("sync")
	if code != 2 || !strings.Contains(out, "/badauth") || !strings.Contains(out, "HAPROXY_0_AUTH") {
		t.Fatalf("sync with one bad app: exit %d, want 2 naming /badauth and its label:\n%s", code, out)
	}
	// The full commit was rendered by marathon-dataplane (render.go); the
	// Data Plane API parses it back into exactly the desired objects.
	if _, out := s.cli("plan"); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after the first sync is not empty: the rendered configuration did not read back the same:\n%s", out)
	}
	web := fmt.Sprintf("http://127.0.0.1:%d", s.httpPort)

	t.Run("auth challenges, then lets the right user in", func(t *testing.T) {
		a := send(t, web+"/", host("auth.example.com"))
		if a.code != 401 || !strings.Contains(a.header.Get("WWW-Authenticate"), `realm="shop"`) {
			t.Fatalf("no credentials: %d %v", a.code, a.header)
		}
		if a := send(t, web+"/", func(r *http.Request) { r.Host = "auth.example.com"; r.SetBasicAuth("admin", "wrong") }); a.code != 401 {
			t.Fatalf("wrong password: %d", a.code)
		}
		a = send(t, web+"/", func(r *http.Request) { r.Host = "auth.example.com"; r.SetBasicAuth("admin", "secret") })
		if a.code != 200 || !strings.Contains(a.body, "app=/auth ") {
			t.Fatalf("right password: %d %q", a.code, a.body)
		}
	})
	t.Run("redirect to https", func(t *testing.T) {
		a := send(t, web+"/cart?x=1", host("secure.example.com"))
		if a.code != 301 || a.header.Get("Location") != "https://secure.example.com/cart?x=1" {
			t.Fatalf("%d Location %q", a.code, a.header.Get("Location"))
		}
	})
	t.Run("hsts header", func(t *testing.T) {
		a := send(t, web+"/", host("hsts.example.com"))
		if a.code != 200 || a.header.Get("Strict-Transport-Security") != "max-age=15768000" {
			t.Fatalf("%d %v", a.code, a.header)
		}
	})
	t.Run("sticky sessions", func(t *testing.T) {
		first := send(t, web+"/", host("sticky.example.com"))
		var cookie *http.Cookie
		for _, c := range (&http.Response{Header: first.header}).Cookies() {
			if c.Name == "mesosphere_server_id" {
				cookie = c
			}
		}
		if first.code != 200 || cookie == nil {
			t.Fatalf("no sticky cookie: %d %v", first.code, first.header)
		}
		task := taskOf(first.body)
		for i := 0; i < 10; i++ {
			a := send(t, web+"/", func(r *http.Request) { r.Host = "sticky.example.com"; r.AddCookie(cookie) })
			if got := taskOf(a.body); got != task {
				t.Fatalf("request %d with the cookie went to %s, not %s", i, got, task)
			}
		}
	})
	t.Run("network allowed acl", func(t *testing.T) {
		if a := send(t, web+"/", host("deny.example.com")); a.code != 403 {
			t.Fatalf("127.0.0.1 outside 10.0.0.0/8: %d, want 403", a.code)
		}
		if a := send(t, web+"/", host("allow.example.com")); a.code != 200 {
			t.Fatalf("127.0.0.1 allowed: %d", a.code)
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", servicePort(t, s, "/tcpdeny")), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
			t.Fatalf("tcp connection from outside the allowed network got %q", line)
		}
	})
	t.Run("proxypass strips the prefix and sets Host", func(t *testing.T) {
		a := send(t, web+"/pp/items", host("pp.example.com"))
		if a.code != 200 || !strings.Contains(a.body, "path=/items") || !strings.Contains(a.body, "host=pp.example.com") {
			t.Fatalf("%d %q", a.code, a.body)
		}
	})
	t.Run("revproxy rewrites Location", func(t *testing.T) {
		a := send(t, web+"/redirect?to=http://rev.example.com/login", host("rev.example.com"))
		if a.code != 302 || a.header.Get("Location") != "/rev/" {
			t.Fatalf("%d Location %q", a.code, a.header.Get("Location"))
		}
	})
	t.Run("backend redirect of the root", func(t *testing.T) {
		a := send(t, web+"/", host("redir.example.com"))
		if a.code != 301 || a.header.Get("Location") != "/store" {
			t.Fatalf("/: %d Location %q", a.code, a.header.Get("Location"))
		}
		if a := send(t, web+"/other", host("redir.example.com")); a.code != 200 {
			t.Fatalf("/other: %d", a.code)
		}
	})
	t.Run("a per-app BACKEND_HTTP_OPTIONS template changes the request and the response", func(t *testing.T) {
		a := send(t, web+"/header?name=X-Shop", host("tmpl.example.com"))
		if a.code != 200 || !strings.Contains(a.body, "X-Shop=from-template") || a.header.Get("X-Template") != "yes" {
			t.Fatalf("%d %q %v", a.code, a.body, a.header)
		}
		// The override replaced the default: no X-Forwarded-Port is set.
		if a := send(t, web+"/header?name=X-Forwarded-Port", host("tmpl.example.com")); !strings.Contains(a.body, "X-Forwarded-Port=\n") {
			t.Fatalf("default options still applied: %q", a.body)
		}
	})
	t.Run("a BACKEND_SERVER_OPTIONS template sets the servers' options", func(t *testing.T) {
		out, err := exec.Command("sh", "-c", "echo 'show stat' | socat - unix-connect:"+s.hap.Socket+" | grep '^srvtmpl_' | cut -d, -f2,7,19").CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		// slim (max sessions) 100 and weight 7 on both servers.
		if n := strings.Count(string(out), ",100,7"); n != 2 {
			t.Fatalf("servers of srvtmpl: %q", out)
		}
	})
	t.Run("FRONTEND_HEAD and FRONTEND_BACKEND_GLUE templates on a service port", func(t *testing.T) {
		if line, err := tcpBanner(servicePort(t, s, "/fehead")); err != nil || !strings.Contains(line, "app=/fehead ") {
			t.Fatalf("banner %q %v", line, err)
		}
	})
	t.Run("an HTTP_FRONTEND_ACL template routes on :80", func(t *testing.T) {
		// hdr_beg: a Host with a port matches, unlike the default hdr().
		a := send(t, web+"/header?name=X-Via", host("feacl.example.com:80"))
		if a.code != 200 || !strings.Contains(a.body, "app=/feacl ") || !strings.Contains(a.body, "X-Via=template") {
			t.Fatalf("%d %q", a.code, a.body)
		}
	})
	t.Run("ssl cert on the service port", func(t *testing.T) {
		a := send(t, fmt.Sprintf("https://127.0.0.1:%d/", servicePort(t, s, "/tls")), nil)
		if a.code != 200 || !strings.Contains(a.body, "app=/tls ") {
			t.Fatalf("%d %q", a.code, a.body)
		}
	})
	t.Run("bind options", func(t *testing.T) {
		a := send(t, fmt.Sprintf("http://127.0.0.1:%d/", servicePort(t, s, "/opts")), nil)
		if a.code != 200 || !strings.Contains(a.body, "app=/opts ") {
			t.Fatalf("%d %q", a.code, a.body)
		}
	})
	tlsGet := func(t *testing.T, sni, path string, prepare func(*http.Request)) (answer, *x509.Certificate) {
		t.Helper()
		a, cert, err := fetch(fmt.Sprintf("https://127.0.0.1:%d%s", s.httpsPort, path), sni, prepare)
		if err != nil {
			t.Fatalf("https %s%s: %v", sni, path, err)
		}
		return a, cert
	}
	t.Run("https routes by SNI, with auth, and nothing without SNI", func(t *testing.T) {
		if a, _ := tlsGet(t, "hsts.example.com", "/", nil); a.code != 200 || !strings.Contains(a.body, "app=/hsts ") {
			t.Fatalf("SNI hsts.example.com: %d %q", a.code, a.body)
		}
		if a, _ := tlsGet(t, "auth.example.com", "/", nil); a.code != 401 {
			t.Fatalf("SNI auth.example.com without credentials: %d", a.code)
		}
		if a, _ := tlsGet(t, "auth.example.com", "/", func(r *http.Request) { r.SetBasicAuth("admin", "secret") }); a.code != 200 {
			t.Fatalf("SNI auth.example.com with credentials: %d", a.code)
		}
		// The redirect is for plain HTTP only: on :443 the vhost is served.
		if a, _ := tlsGet(t, "secure.example.com", "/", nil); a.code != 200 || !strings.Contains(a.body, "app=/secure ") {
			t.Fatalf("SNI secure.example.com: %d %q", a.code, a.body)
		}
		if a, cert := tlsGet(t, "", "/", nil); a.code != 503 || cert.Subject.CommonName != "*" {
			t.Fatalf("no SNI: %d, certificate %q (want 503 and the self-signed CN=*)", a.code, cert.Subject.CommonName)
		}
	})
	t.Run("several certificates, chosen by SNI", func(t *testing.T) {
		a, b := selfSignedPEM(t, "hsts.example.com"), selfSignedPEM(t, "sticky.example.com")
		if code, out := s.cli("sync", "--ssl-certs", a+","+b); code != 2 {
			t.Fatalf("sync with two certificates: exit %d\n%s", code, out)
		}
		for sni, cn := range map[string]string{"hsts.example.com": "hsts.example.com", "sticky.example.com": "sticky.example.com", "other.example.com": "hsts.example.com"} {
			if _, cert := tlsGet(t, sni, "/", nil); cert.Subject.CommonName != cn {
				t.Errorf("SNI %s got certificate %q, want %q", sni, cert.Subject.CommonName, cn)
			}
		}
	})
	t.Run("an app rejected for a new bad label keeps its auth challenge", func(t *testing.T) {
		auth, _ := s.sim.App("/auth")
		auth.Labels["HAPROXY_0_BALANCE"] = "fastest"
		if _, err := s.sim.UpdateApp("/auth", auth, false); err != nil {
			t.Fatal(err)
		}
		waitDeployments(t, s)
		if code, out := s.cli("sync"); code != 2 || !strings.Contains(out, "HAPROXY_0_BALANCE") {
			t.Fatalf("sync: exit %d\n%s", code, out)
		}
		if a := send(t, web+"/", host("auth.example.com")); a.code != 401 {
			t.Fatalf("rejected auth app answered %d without credentials, want 401", a.code)
		}
		auth.Labels["HAPROXY_0_BALANCE"] = "roundrobin"
		if _, err := s.sim.UpdateApp("/auth", auth, false); err != nil {
			t.Fatal(err)
		}
		waitDeployments(t, s)
	})
	t.Run("the bad app is not exposed, the next sync writes nothing", func(t *testing.T) {
		if a := send(t, web+"/", host("bad.example.com")); a.code != 503 {
			t.Fatalf("bad app answered %d", a.code)
		}
		s.cli("sync") // back to the single self-signed certificate
		v := s.version()
		if code, out := s.cli("sync"); code != 2 || s.version() != v {
			t.Fatalf("second sync: exit %d, version %d→%d\n%s", code, v, s.version(), out)
		}
	})
}

// TestHAProxyMap is --haproxy-map through real HAProxy: vhosts and app ids
// route through map files, and a vhost added to a running app is routed
// through the Runtime API without a reload.
func TestHAProxyMap(t *testing.T) {
	s := newStack(t)
	app := func(id, vhost string, extra map[string]string) marathon.App {
		l := map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": vhost}
		for k, v := range extra {
			l[k] = v
		}
		return marathon.App{ID: id, Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}}, Labels: l}
	}
	deploy(t, s, app("/web", "web.example.com", nil), app("/api", "web.example.com", map[string]string{"HAPROXY_0_PATH": "/api"}),
		app("/blog", "blog.example.com", nil))
	sync := func() {
		t.Helper()
		if code, out := s.cli("sync", "--haproxy-map"); code != 0 {
			t.Fatalf("sync --haproxy-map: exit %d\n%s", code, out)
		}
	}
	sync()
	web := fmt.Sprintf("http://127.0.0.1:%d", s.httpPort)
	for _, tc := range []struct{ host, path, app string }{
		{"web.example.com", "/", "/web"},
		{"WEB.example.com:80", "/", "/web"},   // the map lookup lowercases and drops the port
		{"web.example.com", "/api/x", "/api"}, // path apps keep their ACL rules, before the map
		{"blog.example.com", "/", "/blog"},
	} {
		if a := send(t, web+tc.path, host(tc.host)); a.code != 200 || !strings.Contains(a.body, "app="+tc.app+" ") {
			t.Errorf("%s%s: %d %q, want %s", tc.host, tc.path, a.code, a.body, tc.app)
		}
	}
	if a := send(t, web+"/", host("nobody.example.com")); a.code != 503 {
		t.Errorf("unknown host: %d, want 503", a.code)
	}
	appID := fmt.Sprintf("http://127.0.0.1:%d/", s.appIDPort)
	if a := send(t, appID, func(r *http.Request) { r.Header.Set("X-Marathon-App-Id", "/blog") }); !strings.Contains(a.body, "app=/blog ") {
		t.Errorf("X-Marathon-App-Id /blog: %d %q", a.code, a.body)
	}

	t.Run("a new vhost on a running app needs no reload", func(t *testing.T) {
		reloads := s.reloadCounter()
		blog, _ := s.sim.App("/blog")
		blog.Labels["HAPROXY_0_VHOST"] = "blog.example.com,news.example.com"
		if _, err := s.sim.UpdateApp("/blog", blog, false); err != nil {
			t.Fatal(err)
		}
		waitDeployments(t, s)
		sync()
		if a := send(t, web+"/", host("news.example.com")); a.code != 200 || !strings.Contains(a.body, "app=/blog ") {
			t.Fatalf("news.example.com: %d %q", a.code, a.body)
		}
		if got := s.reloadCounter(); got != reloads {
			t.Fatalf("reloads %d→%d", reloads, got)
		}
		// The map file says the same, so a reload keeps the route.
		if err := s.hap.Reload(); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "route after a reload", 5*time.Second, func() bool {
			a := send(t, web+"/", host("news.example.com"))
			return a.code == 200 && strings.Contains(a.body, "app=/blog ")
		})
	})
}

// TestGroupHTTPSByVhost is --group-https-by-vhost through real HAProxy: the
// :443 splitter hands each TLS connection, by SNI, to its vhost's TLS
// frontend, which serves that vhost's SSL_CERT.
func TestGroupHTTPSByVhost(t *testing.T) {
	s := newStack(t)
	cert := selfSignedPEM(t, "web.example.com")
	mk := func(id, vhost string, extra map[string]string) marathon.App {
		l := map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": vhost}
		for k, v := range extra {
			l[k] = v
		}
		return marathon.App{ID: id, Instances: 1, PortDefinitions: []marathon.PortDefinition{{Port: 0}}, Labels: l}
	}
	deploy(t, s, mk("/web", "web.example.com", map[string]string{"HAPROXY_0_SSL_CERT": cert}), mk("/api", "api.example.com", nil))
	if code, out := s.cli("sync", "--group-https-by-vhost", "--group-https-socket-dir", s.hap.Dir); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	get := func(sni string) (answer, *x509.Certificate, error) {
		return fetch(fmt.Sprintf("https://127.0.0.1:%d/", s.httpsPort), sni, nil)
	}
	for sni, want := range map[string]struct{ app, cn string }{
		"web.example.com": {"/web", "web.example.com"},
		"api.example.com": {"/api", "*"},
	} {
		a, cert, err := get(sni)
		if err != nil || a.code != 200 || !strings.Contains(a.body, "app="+want.app+" ") || cert.Subject.CommonName != want.cn {
			t.Errorf("SNI %s: %v %d %q certificate %v, want %s with %q", sni, err, a.code, a.body, cert, want.app, want.cn)
		}
	}
	if _, _, err := get(""); err == nil {
		t.Error("a ClientHello without SNI was served; the splitter should close it")
	}
	v := s.version()
	if code, out := s.cli("plan", "--group-https-by-vhost", "--group-https-socket-dir", s.hap.Dir); code != 0 || !strings.Contains(out, "No changes") {
		t.Fatalf("plan after the sync: exit %d\n%s", code, out)
	}
	if code, out := s.cli("sync", "--group-https-by-vhost", "--group-https-socket-dir", s.hap.Dir); code != 0 || s.version() != v {
		t.Fatalf("second sync: exit %d, version %d→%d\n%s", code, v, s.version(), out)
	}

	// marathon-lb's per-vhost frontend template, overridden globally: its
	// rule reaches the task through each vhost's TLS frontend.
	dir := t.TempDir()
	head := "frontend {name}\n  mode http\n  bind abns@{name} accept-proxy ssl {sslCerts}{bindOpts}\n  http-request set-header X-Vhost-Head {name}\n"
	if err := os.WriteFile(filepath.Join(dir, "HAPROXY_HTTPS_GROUPED_VHOST_FRONTEND_HEAD"), []byte(head), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := s.cli("sync", "--group-https-by-vhost", "--group-https-socket-dir", s.hap.Dir, "--templates-dir", dir); code != 0 {
		t.Fatalf("sync with the template: exit %d\n%s", code, out)
	}
	a, _, err := fetch(fmt.Sprintf("https://127.0.0.1:%d/header?name=X-Vhost-Head", s.httpsPort), "web.example.com", nil)
	if err != nil || a.code != 200 || !strings.Contains(a.body, "X-Vhost-Head=web_example_com") {
		t.Fatalf("with HTTPS_GROUPED_VHOST_FRONTEND_HEAD: %v %d %q", err, a.code, a.body)
	}
}
