package marathon

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzSSEDecoder: any byte stream decodes into messages or ends with an
// error or EOF, never hangs or panics, and no message's event name or id
// holds a line break.
func FuzzSSEDecoder(f *testing.F) {
	for _, s := range []string{
		"event: status_update_event\ndata: {\"eventType\":\"status_update_event\"}\n\n",
		": keepalive\r\n\r\n",
		"data: a\rdata: b\r\r",
		"\ufeffid: 7\nevent: x\ndata:\n\n",
		"data: " + strings.Repeat("x", 100) + "\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := newSSEDecoder(strings.NewReader(s), 4096)
		for i := 0; i < len(s)+2; i++ {
			m, err := d.next()
			if err != nil {
				return // EOF or a line too long: both end the stream
			}
			if strings.ContainsAny(m.Event+m.ID, "\r\n") {
				t.Fatalf("line break in event %q id %q", m.Event, m.ID)
			}
			if _, err := marathonEvents(m, time.Time{}); err != nil && !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("event error %v does not wrap ErrInvalidResponse", err)
			}
		}
		t.Fatalf("more messages than bytes in %q", s)
	})
}

// FuzzAppsJSON: Marathon's app list either decodes or fails; what decodes
// encodes back and decodes to the same value.
func FuzzAppsJSON(f *testing.F) {
	for _, s := range []string{
		`{"apps":[{"id":"/web","instances":1,"labels":{"HAPROXY_GROUP":"external"},"portDefinitions":[{"port":10000}],"tasks":[{"id":"web.1","host":"10.0.0.1","ports":[31000],"state":"TASK_RUNNING","healthCheckResults":[{"alive":true}]}]}]}`,
		`{"apps":[]}`,
		`{"apps":[{"id":"/x","container":{"type":"DOCKER","docker":{"network":"BRIDGE","portMappings":[{"containerPort":80,"servicePort":10001}]}}}]}`,
		`{"apps":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var list AppList
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return
		}
		raw, err := json.Marshal(list)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		var again AppList
		if err := json.Unmarshal(raw, &again); err != nil {
			t.Fatalf("re-encoded value does not decode: %v\n%s", err, raw)
		}
		raw2, _ := json.Marshal(again)
		if string(raw) != string(raw2) {
			t.Fatalf("not stable:\n%s\n%s", raw, raw2)
		}
	})
}
