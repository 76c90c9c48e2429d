package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSSLCertsFollowMarathonLBsRunScript(t *testing.T) {
	dir := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	t.Run("flag only", func(t *testing.T) {
		s := resolveSSLCerts("/a.pem, /b.pem", dir, env(nil))
		if !reflect.DeepEqual(s.paths, []string{"/a.pem", "/b.pem"}) || s.selfSigned != "" || s.crtList == "" {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("env certificates are written and listed after the flag", func(t *testing.T) {
		s := resolveSSLCerts("/a.pem", dir, env(map[string]string{"HAPROXY_SSL_CERT": "main", "HAPROXY_SSL_CERT3": "three"}))
		want := []string{"/a.pem", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "cert3.pem")}
		if !reflect.DeepEqual(s.paths, want) {
			t.Fatalf("paths %v, want %v", s.paths, want)
		}
		if err := s.ensure(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(want[2]); string(b) != "three" {
			t.Fatalf("cert3.pem holds %q", b)
		}
		if b, _ := os.ReadFile(s.crtList); string(b) != want[0]+"\n"+want[1]+"\n"+want[2]+"\n" {
			t.Fatalf("crt-list holds %q", b)
		}
	})
	t.Run("nothing given: a self-signed certificate, generated once", func(t *testing.T) {
		d := t.TempDir()
		s := resolveSSLCerts("", d, env(nil))
		if err := s.ensure(); err != nil {
			t.Fatal(err)
		}
		first, err := os.ReadFile(filepath.Join(d, "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tls.X509KeyPair(first, first); err != nil {
			t.Fatalf("not a usable certificate and key: %v", err)
		}
		if err := s.ensure(); err != nil {
			t.Fatal(err)
		}
		if again, _ := os.ReadFile(filepath.Join(d, "cert.pem")); string(again) != string(first) {
			t.Fatal("the self-signed certificate was regenerated")
		}
	})
}
