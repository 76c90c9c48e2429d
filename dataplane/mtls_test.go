package dataplane_test

import (
	"context"
	"crypto/tls"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/internal/testcert"
)

// TestMutualTLS: a Data Plane API that requires a client certificate is
// reached with --dataplane-client-cert/--dataplane-client-key and refused
// without them.
func TestMutualTLS(t *testing.T) {
	client := testcert.NewClient(t, "marathon-dataplane")
	certFile, keyFile, pool := client.CertFile, client.KeyFile, client.Pool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "7")
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	ca := testcert.WritePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", srv.Certificate().Raw)

	for _, tc := range []struct {
		name      string
		cert, key string
		wantErr   bool
	}{
		{name: "client certificate", cert: certFile, key: keyFile},
		{name: "none", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dataplane.New(dataplane.Config{URL: srv.URL, User: "admin", Password: "pw", CACertFile: ca,
				ClientCertFile: tc.cert, ClientKeyFile: tc.key, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.Version(context.Background())
			if tc.wantErr != (err != nil) || (err == nil && v != 7) {
				t.Fatalf("Version() = %d, %v; want error %v", v, err, tc.wantErr)
			}
		})
	}
}
