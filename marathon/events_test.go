package marathon

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestEventDecode(t *testing.T) {
	tests := []struct {
		name string
		data string
		into any
		want any
	}{
		{
			name: "status update with IP addresses",
			data: `{"slaveId":"s1","taskId":"web.1","taskStatus":"TASK_RUNNING","message":"","appId":"/web","host":"h1",
				"ports":[31000,31001],"ipAddresses":[{"ipAddress":"10.0.0.5","protocol":"IPv4"}],"version":"v1",
				"eventType":"status_update_event","timestamp":"2024-01-01T00:00:00.000Z"}`,
			into: &StatusUpdateEvent{},
			want: &StatusUpdateEvent{EventType: EventStatusUpdate, Timestamp: "2024-01-01T00:00:00.000Z", SlaveID: "s1", TaskID: "web.1",
				TaskStatus: TaskRunning, AppID: "/web", Host: "h1", Ports: []int{31000, 31001},
				IPAddresses: []TaskIPAddress{{IPAddress: "10.0.0.5", Protocol: "IPv4"}}, Version: "v1"},
		},
		{
			name: "health status changed (1.4+: instanceId)",
			data: `{"eventType":"health_status_changed_event","timestamp":"t","appId":"/my-app",
				"instanceId":"my-app.instance-c7c311a4","version":"v","alive":true}`,
			into: &HealthStatusChangedEvent{},
			want: &HealthStatusChangedEvent{EventType: EventHealthStatusChanged, Timestamp: "t", AppID: "/my-app",
				InstanceID: "my-app.instance-c7c311a4", Version: "v", Alive: true},
		},
		{
			name: "health status changed (old: taskId)",
			data: `{"eventType":"health_status_changed_event","timestamp":"t","appId":"/a","taskId":"a.1","version":"v","alive":false}`,
			into: &HealthStatusChangedEvent{},
			want: &HealthStatusChangedEvent{EventType: EventHealthStatusChanged, Timestamp: "t", AppID: "/a", TaskID: "a.1", Version: "v"},
		},
		{
			name: "api post with nulls in the app",
			data: `{"eventType":"api_post_event","timestamp":"t","clientIp":"0:0:0:0:0:0:0:1","uri":"/v2/apps/my-app",
				"appDefinition":{"id":"/my-app","instances":2,"container":null,"user":null,"ports":[10001],"labels":{"HAPROXY_GROUP":"external"}}}`,
			into: &APIPostEvent{},
			want: &APIPostEvent{EventType: EventAPIPost, Timestamp: "t", ClientIP: "0:0:0:0:0:0:0:1", URI: "/v2/apps/my-app",
				AppDefinition: App{ID: "/my-app", Instances: 2, Ports: []int{10001}, Labels: map[string]string{"HAPROXY_GROUP": "external"}}},
		},
		{
			name: "deployment success has id",
			data: `{"eventType":"deployment_success","timestamp":"t","id":"867ed450","plan":{"id":"867ed450","steps":[]}}`,
			into: &DeploymentEvent{},
			want: &DeploymentEvent{EventType: EventDeploymentSuccess, Timestamp: "t", ID: "867ed450", Plan: json.RawMessage(`{"id":"867ed450","steps":[]}`)},
		},
		{
			name: "deployment info takes the plan id",
			data: `{"eventType":"deployment_info","timestamp":"t","plan":{"id":"p1"},"currentStep":{"actions":[{"action":"ScaleApplication","app":"/a"}]}}`,
			into: &DeploymentEvent{},
			want: &DeploymentEvent{EventType: EventDeploymentInfo, Timestamp: "t", ID: "p1", Plan: json.RawMessage(`{"id":"p1"}`),
				CurrentStep: json.RawMessage(`{"actions":[{"action":"ScaleApplication","app":"/a"}]}`)},
		},
		{
			name: "app terminated",
			data: `{"eventType":"app_terminated_event","timestamp":"t","appId":"/gone"}`,
			into: &AppTerminatedEvent{},
			want: &AppTerminatedEvent{EventType: EventAppTerminated, Timestamp: "t", AppID: "/gone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{Type: "x", Data: json.RawMessage(tt.data)}
			if err := e.Decode(tt.into); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tt.into, tt.want) {
				t.Errorf("got  %+v\nwant %+v", tt.into, tt.want)
			}
		})
	}
}

func TestEventDecodeError(t *testing.T) {
	e := Event{Type: EventStatusUpdate, Data: json.RawMessage(`{"ports":"nope"}`)}
	var su StatusUpdateEvent
	err := e.Decode(&su)
	if !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("err = %v, want ErrInvalidResponse", err)
	}
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		t.Errorf("err = %v, want it to wrap the json error", err)
	}
}
