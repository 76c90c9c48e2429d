package marathon

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
)

// errCredentialFormat never quotes its input: that input is a password.
var errCredentialFormat = errors.New("credentials must be in user:password format with a non-empty user")

// ParseCredentials splits "user:password" on the FIRST ':'. marathon-lb
// split on every ':' and so rejected passwords containing ':'; here the
// password is everything after the first one (user names cannot hold ':'
// in HTTP basic auth anyway). An empty password is allowed.
func ParseCredentials(s string) (user, pass string, err error) {
	user, pass, ok := strings.Cut(s, ":")
	if !ok || user == "" {
		return "", "", errCredentialFormat
	}
	return user, pass, nil
}

// ReadCredentialFile reads user:password from the first line of path (CR
// and LF stripped, as marathon-lb does). An empty first line or an empty
// file means "no authentication" and returns "", "", nil.
func ReadCredentialFile(path string) (user, pass string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("marathon credential file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := ""
	if sc.Scan() {
		line = strings.TrimRight(sc.Text(), "\r\n")
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("marathon credential file %s: %w", path, err)
	}
	if line == "" {
		return "", "", nil
	}
	user, pass, err = ParseCredentials(line)
	if err != nil {
		return "", "", fmt.Errorf("marathon credential file %s: %w", path, err)
	}
	return user, pass, nil
}
