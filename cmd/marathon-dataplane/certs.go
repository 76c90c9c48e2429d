package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sslCerts is marathon-lb's certificate list for marathon_https_in (its
// run script): --ssl-certs when given; plus, or else, <dir>/cert.pem
// holding $HAPROXY_SSL_CERT, with $HAPROXY_SSL_CERT0..100 as
// <dir>/cert<i>.pem; and when there is neither, a self-signed <dir>/cert.pem.
type sslCerts struct {
	dir   string
	flag  []string
	env   func(string) string
	paths []string
	// files are the env certificates to write (path → PEM text).
	files map[string]string
	// selfSigned is set when <dir>/cert.pem must be generated if missing.
	selfSigned string
	// crtList lists several certificates for one bind: the Data Plane API's
	// bind has one certificate field, or a crt-list file.
	crtList string
}

func resolveSSLCerts(flag, dir string, env func(string) string) sslCerts {
	s := sslCerts{dir: dir, env: env, files: map[string]string{}}
	for _, p := range strings.Split(flag, ",") {
		if p = strings.TrimSpace(p); p != "" {
			s.flag = append(s.flag, p)
		}
	}
	s.paths = append(s.paths, s.flag...)
	main := filepath.Join(dir, "cert.pem")
	if pemText := env("HAPROXY_SSL_CERT"); pemText != "" {
		s.files[main] = pemText
		s.paths = append(s.paths, main)
		for i := 0; i <= 100; i++ {
			if more := env("HAPROXY_SSL_CERT" + strconv.Itoa(i)); more != "" {
				p := filepath.Join(dir, "cert"+strconv.Itoa(i)+".pem")
				s.files[p] = more
				s.paths = append(s.paths, p)
			}
		}
	}
	if len(s.paths) == 0 {
		s.selfSigned = main
		s.paths = []string{main}
	}
	if len(s.paths) > 1 {
		s.crtList = filepath.Join(dir, "marathon-dataplane.crt-list")
	}
	return s
}

// ensure writes the env certificates and generates the self-signed one when
// it does not exist yet (HAProxy must be able to read the same paths).
func (s sslCerts) ensure() error {
	for path, text := range s.files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("certificate directory: %w", err)
		}
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, `\n`, "\n")), 0o600); err != nil {
			return fmt.Errorf("write certificate %s: %w", path, err)
		}
	}
	if s.crtList != "" {
		if err := os.MkdirAll(filepath.Dir(s.crtList), 0o755); err != nil {
			return fmt.Errorf("certificate directory: %w", err)
		}
		if err := os.WriteFile(s.crtList, []byte(strings.Join(s.paths, "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("write crt-list: %w", err)
		}
	}
	if s.selfSigned == "" {
		return nil
	}
	if _, err := os.Stat(s.selfSigned); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.selfSigned), 0o755); err != nil {
		return fmt.Errorf("certificate directory: %w", err)
	}
	pemText, err := selfSignedCert()
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.selfSigned, pemText, 0o600); err != nil {
		return fmt.Errorf("write self-signed certificate: %w", err)
	}
	return nil
}

// selfSignedCert is what marathon-lb's run script generated: RSA 2048,
// CN=*, valid for 3650 days; certificate and key in one PEM.
func selfSignedCert() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "*"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 0, 3650),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign certificate: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...), nil
}
