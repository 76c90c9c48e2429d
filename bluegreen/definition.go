package bluegreen

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// PrepareJSON applies what Prepare changed (id, instances, labels, the
// first service port where it was found) to the original definition and
// keeps every other field as written: what the marathon.App type does not
// model, and the defaults the file leaves to Marathon (cpus, mem), must
// reach Marathon unchanged. Keys are sorted and indented by 2, as
// marathon-lb printed the app.
func PrepareJSON(def []byte, prepared marathon.App) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: app definition: %w", ErrInvalidArgs, err)
	}
	m["id"] = prepared.ID
	m["instances"] = prepared.Instances
	m["labels"] = prepared.Labels
	if port, ok := FirstServicePort(prepared); ok {
		setFirstPortJSON(m, port)
	}
	return json.MarshalIndent(m, "", "  ")
}

// setFirstPortJSON mirrors setFirstServicePort on the raw definition.
func setFirstPortJSON(m map[string]any, port int) {
	first := func(list any) map[string]any {
		l, _ := list.([]any)
		if len(l) == 0 {
			return nil
		}
		o, _ := l[0].(map[string]any)
		return o
	}
	if c, ok := m["container"].(map[string]any); ok {
		if d, ok := c["docker"].(map[string]any); ok {
			if pm := first(d["portMappings"]); pm != nil {
				pm["servicePort"] = port
				return
			}
		}
		if pm := first(c["portMappings"]); pm != nil {
			pm["servicePort"] = port
			return
		}
	}
	if pd := first(m["portDefinitions"]); pd != nil {
		pd["port"] = port
		return
	}
	if l, _ := m["ports"].([]any); len(l) > 0 {
		l[0] = port
	}
}
