package sync

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
)

// Names follow marathon-lb exactly (marathon-lb-behaviour.md §6.1) so that
// dashboards, stats scrapers and server-state files keep working after a
// migration.

// Shared frontend names.
const (
	HTTPFrontend  = "marathon_http_in"
	HTTPSFrontend = "marathon_https_in"
	AppIDFrontend = "marathon_http_appid_in"
)

// ownerTag marks the frontends and backends this tool owns, in their HAProxy
// `description`; objects without it are never modified or deleted.
const ownerTag = "managed-by=marathon-dataplane"

// The marathon-lb names zdd relies on too live in package labels.
func sanitize(s string) string { return labels.Sanitize(s) }

func appIDName(appID string) string { return labels.AppIDName(appID) }

// BackendName is labels.BackendName.
func BackendName(appID string, servicePort int) string { return labels.BackendName(appID, servicePort) }

// ServerName is labels.ServerName.
func ServerName(host, ip string, port int) string { return labels.ServerName(host, ip, port) }

func serverID(name string, taken map[int64]bool) int64 {
	sum := sha256.Sum256([]byte(name))
	// The digest as a big-endian integer, mod 32767, byte by byte.
	var id int64
	for _, b := range sum {
		id = (id*256 + int64(b)) % 32767
	}
	if id == 0 || taken[id] {
		return serverID(name+" "+hex.EncodeToString(sum[:]), taken)
	}
	return id
}

// stickyCookie is the first 10 hex digits of sha1(serverName).
func stickyCookie(serverName string) string {
	sum := sha1.Sum([]byte(serverName))
	return hex.EncodeToString(sum[:])[:10]
}

func hostACLName(firstVHost, appID string) string {
	return "host_" + sanitize(firstVHost) + "_" + appIDName(appID)
}

func pathACLName(backend string) string { return "path_" + backend }

// userlistPrefix names a backend's userlist (HAPROXY_{n}_AUTH).
const userlistPrefix = "user_"

func userlistName(backend string) string { return userlistPrefix + backend }

func appIDACLName(appID string) string { return "app_" + sanitize(appID) }

func ownerDescription(appID string) string {
	if appID == "" {
		return ownerTag + " shared"
	}
	return ownerTag + " app=" + appID
}

// ownedApp reports whether a description marks an object as ours, and the
// app it belongs to ("" for shared objects).
func ownedApp(description string) (appID string, owned bool) {
	if !strings.HasPrefix(description, ownerTag) {
		return "", false
	}
	rest := strings.TrimPrefix(description, ownerTag)
	if strings.HasPrefix(rest, " app=") {
		return strings.TrimPrefix(rest, " app="), true
	}
	return "", true
}
