// Package testcert makes throwaway TLS certificates for tests: client
// certificates for mutual TLS, self-signed server certificates.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Client is a self-signed client certificate, its key, and a pool that
// trusts it (for the server's ClientCAs).
type Client struct {
	CertFile, KeyFile string
	Pool              *x509.CertPool
}

// NewClient writes a client certificate for commonName and its key into a
// temporary directory.
func NewClient(t testing.TB, commonName string) Client {
	t.Helper()
	der, keyDER := SelfSigned(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true, IsCA: true,
	})
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := Client{CertFile: WritePEM(t, dir, "client.pem", "CERTIFICATE", der), KeyFile: WritePEM(t, dir, "client-key.pem", "EC PRIVATE KEY", keyDER),
		Pool: x509.NewCertPool()}
	c.Pool.AddCert(cert)
	return c
}

// SelfSigned signs tmpl (given a serial number and an hour of validity
// either side of now) with a fresh P-256 key and returns the certificate
// and the key, DER-encoded.
func SelfSigned(t testing.TB, tmpl *x509.Certificate) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	cert, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	key, err = x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// WritePEM writes one PEM block to dir/name and returns its path.
func WritePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
