package runtimeapi

import (
	"fmt"
	"net"
	"strings"
)

// validName accepts what HAProxy accepts for proxy and server names
// (letters, digits, '-', '_', '.', ':'), which also keeps a name from
// splitting or escaping a command.
func validName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s name: %w", kind, ErrInvalidArgument)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == ':':
		default:
			return fmt.Errorf("%s name %q: character %q not allowed (letters, digits, '-', '_', '.', ':'): %w", kind, name, r, ErrInvalidArgument)
		}
	}
	return nil
}

// serverRef validates backend and server and returns "backend/server".
func serverRef(backend, server string) (string, error) {
	if err := validName("backend", backend); err != nil {
		return "", err
	}
	if err := validName("server", server); err != nil {
		return "", err
	}
	return backend + "/" + server, nil
}

// validToken accepts one command word: no whitespace, no ';', no '\'.
func validToken(kind, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s: %w", kind, ErrInvalidArgument)
	}
	if strings.ContainsAny(s, " \t\r\n;\\") {
		return fmt.Errorf("%s %q: whitespace, ';' and '\\' are not allowed: %w", kind, s, ErrInvalidArgument)
	}
	return nil
}

// validIP accepts an IP literal only: HAProxy's "set server … addr" takes
// no names, and a dynamic server never resolves one (init-addr none), so a
// name would leave it without traffic.
func validIP(addr string) error {
	if net.ParseIP(addr) == nil {
		return fmt.Errorf("address %q is not an IP address (resolve names first): %w", addr, ErrInvalidArgument)
	}
	return nil
}

// validPort rejects what HAProxy 2.6 would silently wrap: "port 70000"
// became port 4464.
func validPort(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d not in 1..65535: %w", port, ErrInvalidArgument)
	}
	return nil
}

func validWeight(w int) error {
	if w < 0 || w > 256 {
		return fmt.Errorf("weight %d not in 0..256: %w", w, ErrInvalidArgument)
	}
	return nil
}

// validMapRef accepts "#<id>" or a file path as "show map" prints it.
func validMapRef(ref string) error {
	return validToken("map reference", ref)
}

// escapeArg escapes a map key or value for the CLI parser, which splits
// words on spaces and tabs and treats '\' as an escape ("two\ words").
func escapeArg(s string) string {
	if !strings.ContainsAny(s, " \t\\") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func validMapKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty map key: %w", ErrInvalidArgument)
	}
	if strings.ContainsAny(key, " \t\r\n;") {
		return fmt.Errorf("map key %q: whitespace and ';' are not allowed: %w", key, ErrInvalidArgument)
	}
	return nil
}

func validMapValue(v string) error {
	if strings.ContainsAny(v, "\r\n;") {
		return fmt.Errorf("map value %q: newlines and ';' are not allowed: %w", v, ErrInvalidArgument)
	}
	if strings.TrimSpace(v) == "" || strings.TrimSpace(v) != v {
		return fmt.Errorf("map value %q is empty or starts or ends with whitespace: %w", v, ErrInvalidArgument)
	}
	return nil
}
