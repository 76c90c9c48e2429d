package labels

import (
	"strconv"
	"strings"
)

// marathon-lb's names for what it generates (marathon-lb-behaviour.md
// §6.1), shared by the load balancer side (package sync) and zdd (package
// bluegreen), which must find the servers sync created.

// Sanitize replaces every character outside [A-Za-z0-9-] with '_'.
func Sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			continue
		}
		b[i] = '_'
	}
	return string(b)
}

// AppIDName is an app id without its leading '/' and with '/' turned into '_'.
func AppIDName(appID string) string {
	return strings.ReplaceAll(strings.TrimPrefix(appID, "/"), "/", "_")
}

// BackendName is the backend (and service frontend) of an app's service
// port: AppIDName(appID)_<port>. For a deployment group, appID is the group.
func BackendName(appID string, servicePort int) string {
	return AppIDName(appID) + "_" + strconv.Itoa(servicePort)
}

// ServerName is Sanitize(host_ip_port), or Sanitize(ip_port) when host == ip.
func ServerName(host, ip string, port int) string {
	if host == ip {
		return Sanitize(ip + "_" + strconv.Itoa(port))
	}
	return Sanitize(host + "_" + ip + "_" + strconv.Itoa(port))
}
