package dataplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	stdlog "log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// TestMutualTLS: a Data Plane API that requires a client certificate is
// reached with --dataplane-client-cert/--dataplane-client-key and refused
// without them.
func TestMutualTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "marathon-dataplane"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile, keyFile := write("client.pem", "CERTIFICATE", der), write("client-key.pem", "EC PRIVATE KEY", keyDER)

	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "7")
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	ca := write("ca.pem", "CERTIFICATE", srv.Certificate().Raw)

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
