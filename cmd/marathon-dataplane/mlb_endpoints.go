package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/sync"
)

// mlbEndpoints are what marathon-lb served from its :9090 listener with
// Lua. HAProxy's own :9090 (deployments/haproxy.cfg) keeps the stats page,
// the health check and /metrics, and forwards these paths to the daemon's
// listener, so clients and zdd scripts keep their URLs.
type mlbEndpoints struct {
	daemon interface {
		Status() sync.Status
		TriggerFull(reason string)
		TriggerReconcile(reason string)
	}
	// config returns HAProxy's configuration file as the Data Plane API
	// has it.
	config func(ctx context.Context) (string, error)
	// pids returns HAProxy's process ids (nil when there is no socket).
	pids func(ctx context.Context) ([]string, error)
}

func (e mlbEndpoints) register(mux *http.ServeMux, guard func(http.HandlerFunc) http.HandlerFunc) {
	text := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, body)
	}
	mux.HandleFunc("/_haproxy_getconfig", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		cfg, err := e.config(ctx)
		if err != nil {
			http.Error(w, "read the configuration: "+err.Error(), http.StatusBadGateway)
			return
		}
		text(w, cfg)
	})
	mux.HandleFunc("/_haproxy_getvhostmap", func(w http.ResponseWriter, r *http.Request) {
		text(w, vhostMap(e.daemon.Status().Services))
	})
	mux.HandleFunc("/_haproxy_getappmap", func(w http.ResponseWriter, r *http.Request) {
		text(w, appMap(e.daemon.Status().Services))
	})
	mux.HandleFunc("/_haproxy_getpids", func(w http.ResponseWriter, r *http.Request) {
		if e.pids == nil {
			http.Error(w, "no --haproxy-socket: HAProxy's pids are unknown", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		pids, err := e.pids(ctx)
		if err != nil {
			http.Error(w, "read HAProxy's pids: "+err.Error(), http.StatusBadGateway)
			return
		}
		text(w, strings.Join(pids, " "))
	})
	// The signal endpoints change what the daemon does: behind the status
	// token when one is set.
	mux.HandleFunc("/_mlb_signal/hup", guard(func(w http.ResponseWriter, r *http.Request) {
		e.daemon.TriggerFull("/_mlb_signal/hup: full resync")
		text(w, "Sent SIGHUP signal to marathon-dataplane\n")
	}))
	mux.HandleFunc("/_mlb_signal/usr1", guard(func(w http.ResponseWriter, r *http.Request) {
		e.daemon.TriggerReconcile("/_mlb_signal/usr1: re-push the desired state")
		text(w, "Sent SIGUSR1 signal to marathon-dataplane\n")
	}))
}

// vhostMap is what marathon-lb's domain2backend.map held: one "host
// backend" line per virtual host of an http service without a path, in
// service order (the first wins in HAProxy's map lookups).
func vhostMap(services []sync.ServiceInfo) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, s := range services {
		if s.Mode != "http" || s.Path != "" {
			continue
		}
		for _, h := range s.VHosts {
			if !seen[h] {
				seen[h] = true
				fmt.Fprintf(&b, "%s %s\n", h, s.Backend)
			}
		}
	}
	return b.String()
}

// appMap is what app2backend.map held: the first http service of each app.
func appMap(services []sync.ServiceInfo) string {
	first := map[string]string{}
	for _, s := range services {
		if _, ok := first[s.AppID]; !ok && s.Mode == "http" {
			first[s.AppID] = s.Backend
		}
	}
	ids := make([]string, 0, len(first))
	for id := range first {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%s %s\n", id, first[id])
	}
	return b.String()
}
