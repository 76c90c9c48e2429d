package dataplanetest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// runtimeState is what was changed on the running HAProxy without a
// reload; a successful reload forgets it (notes §6.1).
type runtimeState struct {
	adminState       string
	operationalState string
	weight           *int64
	address          string
	port             *int64
}

// RuntimeServer is the running state of one server as the fake sees it.
type RuntimeServer struct {
	Name             string
	Address          string
	Port             int64
	Weight           int64 // -1 when neither the config nor the runtime set one
	AdminState       string
	OperationalState string
}

func rtKey(backend, server string) string { return backend + "/" + server }

func num(o object, key string) (int64, bool) {
	switch x := o[key].(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

// runtimeServer merges the running configuration and runtime changes.
func (f *Fake) runtimeServer(backend string, srv object) RuntimeServer {
	name := str(srv, "name")
	rs := RuntimeServer{Name: name, Address: str(srv, "address"), Weight: -1, AdminState: "ready", OperationalState: "up"}
	rs.Port, _ = num(srv, "port")
	if w, ok := num(srv, "weight"); ok {
		rs.Weight = w
	}
	if str(srv, "maintenance") == "enabled" {
		rs.AdminState, rs.OperationalState = "maint", "down"
	}
	if st := f.runtime[rtKey(backend, name)]; st != nil {
		if st.adminState != "" {
			rs.AdminState = st.adminState
		}
		if st.operationalState != "" {
			rs.OperationalState = st.operationalState
		}
		if st.weight != nil {
			rs.Weight = *st.weight
		}
		if st.address != "" {
			rs.Address = st.address
		}
		if st.port != nil {
			rs.Port = *st.port
		}
	}
	return rs
}

func runtimeJSON(rs RuntimeServer, id string) map[string]any {
	m := map[string]any{"id": id, "name": rs.Name, "address": rs.Address,
		"admin_state": rs.AdminState, "operational_state": rs.OperationalState}
	if rs.Port > 0 {
		m["port"] = rs.Port
	}
	return m
}

func serverID(pos int, srv object) string {
	if id, ok := num(srv, "id"); ok {
		return strconv.FormatInt(id, 10)
	}
	return strconv.Itoa(pos + 1)
}

// findRunning returns the position and object of a running server.
func (f *Fake) findRunning(backend, name string) (int, object) {
	for i, s := range f.running.servers(backend) {
		if str(s, "name") == name {
			return i, s
		}
	}
	return -1, nil
}

func (f *Fake) state(backend, name string) *runtimeState {
	k := rtKey(backend, name)
	if f.runtime[k] == nil {
		f.runtime[k] = &runtimeState{}
	}
	return f.runtime[k]
}

// setRuntimeServer is PUT $S/runtime/servers/{name}: admin_state and
// operational_state change, address and port in the body are ignored.
func (f *Fake) setRuntimeServer(backend, name string, body object) (map[string]any, *apiError) {
	pos, srv := f.findRunning(backend, name)
	if srv == nil {
		return nil, newErr(500, "no data for %s/%s: not found", backend, name)
	}
	st := f.state(backend, name)
	if a := str(body, "admin_state"); a != "" {
		st.adminState = a
		if a == "maint" {
			st.operationalState = "down"
		} else if st.operationalState == "down" {
			st.operationalState = "up"
		}
	}
	if o := str(body, "operational_state"); o != "" {
		st.operationalState = o
	}
	return runtimeJSON(f.runtimeServer(backend, srv), serverID(pos, srv)), nil
}

// runtimeAPIPath stands for the stats socket in runtime error messages.
const runtimeAPIPath = "/run/dataplanetest/haproxy.sock"

// runActions executes X-Runtime-Actions like handlers/raw.go of the API:
// split on ";", then on single spaces; an empty or unknown action is
// skipped; the first failure stops the rest (notes §5).
func (f *Fake) runActions(header string) *apiError {
	for _, a := range strings.Split(header, ";") {
		p := strings.Split(a, " ")
		action := p[0]
		need := map[string]int{"SetFrontendMaxConn": 3, "SetServerWeight": 4, "SetServerCheckPort": 4, "SetServerAddr": 5,
			"SetServerState": 4, "EnableAgentCheck": 3, "DisableAgentCheck": 3, "SetServerAgentAddr": 4, "SetServerAgentSend": 4}
		n, known := need[action]
		if action == "" || !known {
			continue
		}
		if len(p) < n {
			return newErr(500, "cannot execute %s: not enough parameters", action)
		}
		if action == "SetFrontendMaxConn" {
			if _, err := strconv.ParseInt(p[2], 10, 64); err != nil {
				return newErr(500, "cannot execute %s: %s", action, err)
			}
			if _, fe := f.running.findSection("frontends", p[1]); fe == nil {
				return newErr(500, "cannot execute %s: %s [3]  No such frontend. [set maxconn frontend %s %s]", action, runtimeAPIPath, p[1], p[2])
			}
			continue
		}
		be, srv := p[1], p[2]
		if _, s := f.findRunning(be, srv); s == nil {
			return newErr(500, "cannot execute %s: %s [3]  No such server. [%s]", action, runtimeAPIPath, socketCommand(action, p))
		}
		st := f.state(be, srv)
		switch action {
		case "SetServerWeight":
			w, err := strconv.ParseInt(strings.TrimSuffix(p[3], "%"), 10, 64)
			if err != nil || w < 0 || w > 256 {
				return newErr(500, "cannot execute %s: %s [3]  Invalid weight. [%s]", action, runtimeAPIPath, socketCommand(action, p))
			}
			st.weight = &w
		case "SetServerAddr":
			port, err := strconv.ParseInt(p[4], 10, 64)
			if err != nil {
				return newErr(500, "cannot execute %s: %s", action, err)
			}
			st.address, st.port = p[3], &port
		case "SetServerState":
			switch p[3] {
			case "ready", "drain", "maint":
				st.adminState = p[3]
				st.operationalState = "up"
				if p[3] == "maint" {
					st.operationalState = "down"
				}
			default:
				return newErr(500, "cannot execute %s: bad state %q", action, p[3])
			}
		}
		// SetServerCheckPort and the agent actions have no visible effect here.
	}
	return nil
}

func socketCommand(action string, p []string) string {
	switch action {
	case "SetServerWeight":
		return fmt.Sprintf("set server %s/%s weight %s", p[1], p[2], p[3])
	case "SetServerAddr":
		return fmt.Sprintf("set server %s/%s addr %s port %s", p[1], p[2], p[3], p[4])
	case "SetServerState":
		return fmt.Sprintf("set server %s/%s state %s", p[1], p[2], p[3])
	}
	return strings.Join(p, " ")
}
