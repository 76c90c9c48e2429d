package marathon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		in, user, pass string
		wantErr        bool
	}{
		{in: "alice:secret", user: "alice", pass: "secret"},
		{in: "alice:se:cr:et", user: "alice", pass: "se:cr:et"}, // marathon-lb rejected this
		{in: "alice:", user: "alice", pass: ""},
		{in: "alice", wantErr: true},
		{in: ":secret", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			user, pass, err := ParseCredentials(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseCredentials(%q) = %q, %q, nil; want an error", tt.in, user, pass)
				}
				if tt.in != "" && strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q quotes the credentials", err)
				}
				return
			}
			if err != nil || user != tt.user || pass != tt.pass {
				t.Fatalf("ParseCredentials(%q) = %q, %q, %v; want %q, %q", tt.in, user, pass, err, tt.user, tt.pass)
			}
		})
	}
}

func TestReadCredentialFile(t *testing.T) {
	tests := []struct {
		name, content, user, pass string
		wantErr                   bool
	}{
		{name: "lf", content: "alice:secret\n", user: "alice", pass: "secret"},
		{name: "crlf", content: "alice:secret\r\n", user: "alice", pass: "secret"},
		{name: "no newline", content: "alice:secret", user: "alice", pass: "secret"},
		{name: "first line only", content: "alice:secret\nbob:other\n", user: "alice", pass: "secret"},
		{name: "colon in password", content: "alice:a:b\n", user: "alice", pass: "a:b"},
		{name: "empty line means no auth", content: "\n", user: "", pass: ""},
		{name: "empty file means no auth", content: "", user: "", pass: ""},
		{name: "malformed", content: "nocolon\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cred")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			user, pass, err := ReadCredentialFile(path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %q, %q", user, pass)
				}
				return
			}
			if err != nil || user != tt.user || pass != tt.pass {
				t.Fatalf("got %q, %q, %v; want %q, %q", user, pass, err, tt.user, tt.pass)
			}
		})
	}
	if _, _, err := ReadCredentialFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: want an error")
	}
}
