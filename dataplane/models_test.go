package dataplane_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// TestServerJSONIsFlat: the options kept apart in Go are the API's own
// fields of models.Server on the wire, both ways.
func TestServerJSONIsFlat(t *testing.T) {
	cases := []struct {
		srv  dataplane.Server
		wire string
	}{
		{dataplane.Server{Name: "s1", Address: "127.0.0.1", Port: dataplane.Int64(8080), Check: "enabled"},
			`{"name":"s1","address":"127.0.0.1","port":8080,"check":"enabled"}`},
		{dataplane.Server{Name: "s2", Address: "10.0.0.1", Cookie: "c2", Options: &dataplane.ServerOptions{
			Backup: "enabled", Maxconn: dataplane.Int64(0), SendProxyV2: "enabled", AgentPort: dataplane.Int64(5555)}},
			`{"name":"s2","address":"10.0.0.1","cookie":"c2","backup":"enabled","maxconn":0,"send-proxy-v2":"enabled","agent-port":5555}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.srv)
		if err != nil || string(b) != c.wire {
			t.Errorf("marshal %s:\n got %s %v\nwant %s", c.srv.Name, b, err, c.wire)
		}
		var back dataplane.Server
		if err := json.Unmarshal([]byte(c.wire), &back); err != nil || !reflect.DeepEqual(back, c.srv) {
			t.Errorf("unmarshal %s: %+v %+v %v", c.srv.Name, back, back.Options, err)
		}
		// In a list and behind a pointer, as the API's answers have it.
		var list []*dataplane.Server
		if err := json.Unmarshal([]byte("["+c.wire+"]"), &list); err != nil || len(list) != 1 || !reflect.DeepEqual(*list[0], c.srv) {
			t.Errorf("unmarshal list %s: %v", c.srv.Name, err)
		}
	}
	if err := json.Unmarshal([]byte(`{"name":"x","maxconn":"many"}`), new(dataplane.Server)); err == nil {
		t.Error("a malformed option decoded without an error")
	}
}
