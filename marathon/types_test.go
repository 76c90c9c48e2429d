package marathon

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestTaskJSONIsFlat: the details kept apart in Go are Marathon's own
// task fields on the wire, both ways.
func TestTaskJSONIsFlat(t *testing.T) {
	cases := []struct {
		task Task
		wire string
	}{
		{Task{ID: "a.1", AppID: "/a", Host: "h", Ports: []int{31000}, State: TaskRunning},
			`{"id":"a.1","appId":"/a","host":"h","ports":[31000],"state":"TASK_RUNNING"}`},
		{Task{ID: "a.2", AppID: "/a", Host: "h", State: TaskStaging, Version: "v1",
			Details: &TaskDetails{ServicePorts: []int{10000}, StagedAt: "2026-11-25T00:00:00.000Z", SlaveID: "s-1", Zone: "z"}},
			`{"id":"a.2","appId":"/a","host":"h","state":"TASK_STAGING","version":"v1","servicePorts":[10000],"stagedAt":"2026-11-25T00:00:00.000Z","slaveId":"s-1","zone":"z"}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.task)
		if err != nil || string(b) != c.wire {
			t.Errorf("marshal %s:\n got %s %v\nwant %s", c.task.ID, b, err, c.wire)
		}
		var back []Task
		if err := json.Unmarshal([]byte("["+c.wire+"]"), &back); err != nil || len(back) != 1 || !reflect.DeepEqual(back[0], c.task) {
			t.Errorf("unmarshal %s: %+v %v", c.task.ID, back, err)
		}
	}
	if err := json.Unmarshal([]byte(`{"id":"x","servicePorts":"none"}`), new(Task)); err == nil {
		t.Error("a malformed detail decoded without an error")
	}
}
