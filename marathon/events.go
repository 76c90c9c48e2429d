package marathon

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event type names, as Marathon puts them in "eventType" and the SSE
// "event:" line (mesosphere/marathon core/event/Events.scala).
const (
	EventAPIPost                   = "api_post_event"
	EventStatusUpdate              = "status_update_event"
	EventHealthStatusChanged       = "health_status_changed_event"
	EventInstanceChanged           = "instance_changed_event"
	EventInstanceHealthChanged     = "instance_health_changed_event"
	EventUnknownInstanceTerminated = "unknown_instance_terminated_event"
	EventUnhealthyInstanceKill     = "unhealthy_instance_kill_event"
	EventUnhealthyTaskKill         = "unhealthy_task_kill_event" // before Marathon 1.4
	EventFailedHealthCheck         = "failed_health_check_event"
	EventAddHealthCheck            = "add_health_check_event"
	EventRemoveHealthCheck         = "remove_health_check_event"
	EventAppTerminated             = "app_terminated_event"
	EventDeploymentInfo            = "deployment_info"
	EventDeploymentSuccess         = "deployment_success"
	EventDeploymentFailed          = "deployment_failed"
	EventDeploymentStepSuccess     = "deployment_step_success"
	EventDeploymentStepFailure     = "deployment_step_failure"
	EventGroupChangeSuccess        = "group_change_success"
	EventGroupChangeFailed         = "group_change_failed"
	EventStreamAttached            = "event_stream_attached"
	EventStreamDetached            = "event_stream_detached"
	EventSubscribe                 = "subscribe_event"
	EventUnsubscribe               = "unsubscribe_event"
	EventPodCreated                = "pod_created_event"
	EventPodUpdated                = "pod_updated_event"
	EventPodDeleted                = "pod_deleted_event"
	EventSchedulerRegistered       = "scheduler_registered_event"
	EventSchedulerReregistered     = "scheduler_reregistered_event"
	EventSchedulerDisconnected     = "scheduler_disconnected_event"
	EventFrameworkMessage          = "framework_message_event"
)

// Event is one Marathon event from /v2/events.
type Event struct {
	// Type is the JSON "eventType", or the SSE "event:" name when the JSON
	// has none.
	Type string
	// Data is the event's JSON object, undecoded.
	Data json.RawMessage
	// ReceivedAt is when the event was parsed here (Marathon's own
	// "timestamp" is inside Data).
	ReceivedAt time.Time
}

// Decode unmarshals the event's JSON into v, typically one of the *Event
// payload types below.
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("marathon event %s: %w: %w%s", e.Type, ErrInvalidResponse, err, jsonOffset(err))
	}
	return nil
}

// StatusUpdateEvent is status_update_event: a task changed state.
type StatusUpdateEvent struct {
	EventType   string          `json:"eventType"`
	Timestamp   string          `json:"timestamp"`
	SlaveID     string          `json:"slaveId"`
	TaskID      string          `json:"taskId"`
	TaskStatus  string          `json:"taskStatus"` // a Task* state constant
	Message     string          `json:"message"`
	AppID       string          `json:"appId"`
	Host        string          `json:"host"`
	Ports       []int           `json:"ports"`
	IPAddresses []TaskIPAddress `json:"ipAddresses"`
	Version     string          `json:"version"`
}

// HealthStatusChangedEvent is health_status_changed_event. Marathon up to
// 1.3 names the task (taskId); later versions name the instance
// (instanceId).
type HealthStatusChangedEvent struct {
	EventType  string `json:"eventType"`
	Timestamp  string `json:"timestamp"`
	AppID      string `json:"appId"`
	TaskID     string `json:"taskId"`
	InstanceID string `json:"instanceId"`
	Version    string `json:"version"`
	Alive      bool   `json:"alive"`
}

// APIPostEvent is api_post_event: an app was created or changed through
// the API.
type APIPostEvent struct {
	EventType     string `json:"eventType"`
	Timestamp     string `json:"timestamp"`
	ClientIP      string `json:"clientIp"`
	URI           string `json:"uri"`
	AppDefinition App    `json:"appDefinition"`
}

// DeploymentEvent is deployment_info, deployment_success,
// deployment_failed, deployment_step_success and deployment_step_failure.
// ID is the deployment id: "id" for success/failed, the plan's id for the
// others (filled in by UnmarshalJSON).
type DeploymentEvent struct {
	EventType   string          `json:"eventType"`
	Timestamp   string          `json:"timestamp"`
	ID          string          `json:"id"`
	Plan        json.RawMessage `json:"plan"`
	CurrentStep json.RawMessage `json:"currentStep"`
}

// UnmarshalJSON fills ID from plan.id when the event has no "id".
func (d *DeploymentEvent) UnmarshalJSON(b []byte) error {
	type plain DeploymentEvent // no methods: no recursion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.ID == "" && len(p.Plan) > 0 {
		var plan struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(p.Plan, &plan) == nil {
			p.ID = plan.ID
		}
	}
	*d = DeploymentEvent(p)
	return nil
}

// AppTerminatedEvent is app_terminated_event: an app and all its tasks
// are gone.
type AppTerminatedEvent struct {
	EventType string `json:"eventType"`
	Timestamp string `json:"timestamp"`
	AppID     string `json:"appId"`
}
