// Package marathon is the Marathon REST and event-bus client. It owns the
// wire types (named and shaped as in Marathon's RAML types) and the HTTP
// calls; it never interprets HAPROXY_* labels (that is package labels).
package marathon

import "encoding/json"

// App is one Marathon application (types/app.raml App + AppInfo).
// Optional numbers that Marathon may leave out are pointers so that an
// absent value is distinguishable from zero.
type App struct {
	ID                    string            `json:"id"`
	Cmd                   string            `json:"cmd,omitempty"`
	Args                  []string          `json:"args,omitempty"`
	User                  string            `json:"user,omitempty"`
	Env                   map[string]any    `json:"env,omitempty"`
	Instances             int               `json:"instances"`
	Cpus                  float64           `json:"cpus"`
	Mem                   float64           `json:"mem"`
	Disk                  float64           `json:"disk"`
	Gpus                  float64           `json:"gpus"`
	Executor              string            `json:"executor"`
	Constraints           [][]string        `json:"constraints,omitempty"`
	AcceptedResourceRoles []string          `json:"acceptedResourceRoles,omitempty"`
	Dependencies          []string          `json:"dependencies,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
	Container             *Container        `json:"container,omitempty"`
	Networks              []Network         `json:"networks,omitempty"`
	IPAddress             *IPAddress        `json:"ipAddress,omitempty"`
	PortDefinitions       []PortDefinition  `json:"portDefinitions,omitempty"`
	// Ports is the legacy list of service ports (pre portDefinitions).
	Ports                 []int                  `json:"ports,omitempty"`
	RequirePorts          bool                   `json:"requirePorts"`
	HealthChecks          []HealthCheck          `json:"healthChecks,omitempty"`
	ReadinessChecks       []json.RawMessage      `json:"readinessChecks,omitempty"`
	BackoffSeconds        *float64               `json:"backoffSeconds,omitempty"`
	BackoffFactor         *float64               `json:"backoffFactor,omitempty"`
	MaxLaunchDelaySeconds *float64               `json:"maxLaunchDelaySeconds,omitempty"`
	UpgradeStrategy       *UpgradeStrategy       `json:"upgradeStrategy,omitempty"`
	KillSelection         string                 `json:"killSelection,omitempty"`
	UnreachableStrategy   json.RawMessage        `json:"unreachableStrategy,omitempty"`
	TaskKillGracePeriod   *int                   `json:"taskKillGracePeriodSeconds,omitempty"`
	Version               string                 `json:"version,omitempty"`
	VersionInfo           *VersionInfo           `json:"versionInfo,omitempty"`
	TasksStaged           int                    `json:"tasksStaged"`
	TasksRunning          int                    `json:"tasksRunning"`
	TasksHealthy          int                    `json:"tasksHealthy"`
	TasksUnhealthy        int                    `json:"tasksUnhealthy"`
	Deployments           []DeploymentRef        `json:"deployments"`
	Tasks                 []Task                 `json:"tasks,omitempty"`
	LastTaskFailure       *TaskFailure           `json:"lastTaskFailure,omitempty"`
	ReadinessCheckResults []ReadinessCheckResult `json:"readinessCheckResults,omitempty"`
}

// Container is types/appContainer.raml Container.
type Container struct {
	Type         string          `json:"type,omitempty"`
	Docker       *Docker         `json:"docker,omitempty"`
	Volumes      json.RawMessage `json:"volumes,omitempty"`
	PortMappings []PortMapping   `json:"portMappings,omitempty"`
}

// Docker is types/appContainer.raml DockerContainer.
type Docker struct {
	Image          string          `json:"image,omitempty"`
	Network        string          `json:"network,omitempty"`
	Privileged     bool            `json:"privileged"`
	ForcePullImage bool            `json:"forcePullImage"`
	Parameters     json.RawMessage `json:"parameters,omitempty"`
	PortMappings   []PortMapping   `json:"portMappings,omitempty"`
}

// PortMappings are the app's container port mappings: Docker's (the
// legacy place) when it has any, else the container's.
func (a *App) PortMappings() []PortMapping {
	if a.Container == nil {
		return nil
	}
	if a.Container.Docker != nil && len(a.Container.Docker.PortMappings) > 0 {
		return a.Container.Docker.PortMappings
	}
	return a.Container.PortMappings
}

// PortMapping is types/appContainer.raml ContainerPortMapping.
type PortMapping struct {
	ContainerPort int               `json:"containerPort"`
	HostPort      *int              `json:"hostPort,omitempty"`
	ServicePort   *int              `json:"servicePort,omitempty"`
	Protocol      string            `json:"protocol,omitempty"`
	Name          string            `json:"name,omitempty"`
	Labels        map[string]string `json:"labels"`
	NetworkNames  []string          `json:"networkNames,omitempty"`
}

// PortDefinition is types/network.raml PortDefinition; Port is the service port.
type PortDefinition struct {
	Port     int               `json:"port"`
	Protocol string            `json:"protocol,omitempty"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Network is types/network.raml Network. An empty Mode means "container".
type Network struct {
	Name   string            `json:"name,omitempty"`
	Mode   string            `json:"mode,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// IPAddress is the deprecated (pre-1.5) IP-per-task request.
type IPAddress struct {
	Discovery   *IPDiscovery      `json:"discovery,omitempty"`
	Groups      []string          `json:"groups,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	NetworkName string            `json:"networkName,omitempty"`
}

// IPDiscovery lists the ports an IP-per-task app exposes.
type IPDiscovery struct {
	Ports []IPDiscoveryPort `json:"ports,omitempty"`
}

// IPDiscoveryPort is one discovery port.
type IPDiscoveryPort struct {
	Number   int               `json:"number"`
	Name     string            `json:"name,omitempty"`
	Protocol string            `json:"protocol,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// HealthCheck is types/healthCheck.raml AppHealthCheck.
type HealthCheck struct {
	Protocol               string        `json:"protocol,omitempty"`
	Path                   string        `json:"path,omitempty"`
	PortIndex              *int          `json:"portIndex,omitempty"`
	Port                   *int          `json:"port,omitempty"`
	Command                *CommandCheck `json:"command,omitempty"`
	GracePeriodSeconds     int           `json:"gracePeriodSeconds"`
	IntervalSeconds        int           `json:"intervalSeconds"`
	TimeoutSeconds         int           `json:"timeoutSeconds"`
	MaxConsecutiveFailures int           `json:"maxConsecutiveFailures"`
	DelaySeconds           int           `json:"delaySeconds,omitempty"`
	IgnoreHTTP1xx          bool          `json:"ignoreHttp1xx,omitempty"`
	IPProtocol             string        `json:"ipProtocol,omitempty"`
}

// CommandCheck is a COMMAND health check's shell command.
type CommandCheck struct {
	Value string `json:"value"`
}

// UpgradeStrategy is types/app.raml UpgradeStrategy.
type UpgradeStrategy struct {
	MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
	MaximumOverCapacity   float64 `json:"maximumOverCapacity"`
}

// VersionInfo is types/versionInfo.raml.
type VersionInfo struct {
	LastScalingAt      string `json:"lastScalingAt,omitempty"`
	LastConfigChangeAt string `json:"lastConfigChangeAt,omitempty"`
}

// DeploymentRef is an app's reference to a running deployment.
type DeploymentRef struct {
	ID string `json:"id"`
}

// Task is types/task.raml Task. What routing never reads is in Details:
// a task is 160 bytes instead of 272, and a cache of 50,000 tasks keeps
// no room for fields it cleared. The JSON is Marathon's, flat
// (MarshalJSON).
type Task struct {
	ID                 string              `json:"id"`
	AppID              string              `json:"appId"`
	Host               string              `json:"host"`
	Ports              []int               `json:"ports,omitempty"`
	IPAddresses        []TaskIPAddress     `json:"ipAddresses,omitempty"`
	State              string              `json:"state"`
	Version            string              `json:"version,omitempty"`
	HealthCheckResults []HealthCheckResult `json:"healthCheckResults,omitempty"`
	// Details are nil when Marathon sent none of them.
	Details *TaskDetails `json:"-"`
}

// TaskDetails are the fields of types/task.raml Task that routing does
// not read.
type TaskDetails struct {
	ServicePorts []int  `json:"servicePorts,omitempty"`
	StagedAt     string `json:"stagedAt,omitempty"`
	StartedAt    string `json:"startedAt,omitempty"`
	SlaveID      string `json:"slaveId,omitempty"`
	Region       string `json:"region,omitempty"`
	Zone         string `json:"zone,omitempty"`
	Role         string `json:"role,omitempty"`
}

// taskFields is a Task without its methods.
type taskFields Task

// MarshalJSON writes the details among the other fields, as Marathon
// has them.
func (t Task) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		taskFields
		*TaskDetails
	}{taskFields(t), t.Details})
}

// UnmarshalJSON reads Marathon's flat task; Details stay nil unless one
// of theirs is present.
func (t *Task) UnmarshalJSON(b []byte) error {
	var v struct {
		taskFields
		*TaskDetails
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = Task(v.taskFields)
	t.Details = v.TaskDetails
	return nil
}

// TaskIPAddress is types/task.raml IpAddr.
type TaskIPAddress struct {
	IPAddress string `json:"ipAddress"`
	Protocol  string `json:"protocol,omitempty"`
}

// HealthCheckResult is types/healthCheck.raml Health.
type HealthCheckResult struct {
	Alive               bool   `json:"alive"`
	ConsecutiveFailures int    `json:"consecutiveFailures"`
	FirstSuccess        string `json:"firstSuccess,omitempty"`
	LastSuccess         string `json:"lastSuccess,omitempty"`
	LastFailure         string `json:"lastFailure,omitempty"`
	LastFailureCause    string `json:"lastFailureCause,omitempty"`
	TaskID              string `json:"taskId,omitempty"`
	InstanceID          string `json:"instanceId,omitempty"`
}

// TaskFailure is types/task.raml TaskFailure.
type TaskFailure struct {
	AppID     string `json:"appId"`
	Host      string `json:"host"`
	Message   string `json:"message"`
	State     string `json:"state"`
	TaskID    string `json:"taskId"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	SlaveID   string `json:"slaveId,omitempty"`
}

// ReadinessCheckResult is an app's readiness result during a deployment.
type ReadinessCheckResult struct {
	Name         string          `json:"name"`
	TaskID       string          `json:"taskId"`
	Ready        bool            `json:"ready"`
	LastResponse json.RawMessage `json:"lastResponse,omitempty"`
}

// Task states (strings.MesosTaskState).
const (
	TaskStaging        = "TASK_STAGING"
	TaskStarting       = "TASK_STARTING"
	TaskRunning        = "TASK_RUNNING"
	TaskKilling        = "TASK_KILLING"
	TaskKilled         = "TASK_KILLED"
	TaskFinished       = "TASK_FINISHED"
	TaskFailed         = "TASK_FAILED"
	TaskLost           = "TASK_LOST"
	TaskError          = "TASK_ERROR"
	TaskDropped        = "TASK_DROPPED"
	TaskGone           = "TASK_GONE"
	TaskGoneByOperator = "TASK_GONE_BY_OPERATOR"
	TaskUnknown        = "TASK_UNKNOWN"
	TaskUnreachable    = "TASK_UNREACHABLE"
)

// AppList is the body of GET /v2/apps.
type AppList struct {
	Apps []App `json:"apps"`
}

// AppSingle is the body of GET /v2/apps/{id}.
type AppSingle struct {
	App App `json:"app"`
}

// TaskList is the body of GET /v2/tasks and GET /v2/apps/{id}/tasks.
type TaskList struct {
	Tasks []Task `json:"tasks"`
}

// DeploymentResult answers app writes: {"deploymentId","version"}.
type DeploymentResult struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
}

// Deployment is one entry of GET /v2/deployments.
type Deployment struct {
	ID             string             `json:"id"`
	Version        string             `json:"version"`
	AffectedApps   []string           `json:"affectedApps"`
	AffectedPods   []string           `json:"affectedPods"`
	Steps          []DeploymentStep   `json:"steps"`
	CurrentActions []DeploymentAction `json:"currentActions"`
	CurrentStep    int                `json:"currentStep"`
	TotalSteps     int                `json:"totalSteps"`
}

// DeploymentStep is one step of a deployment plan.
type DeploymentStep struct {
	Actions []DeploymentAction `json:"actions"`
}

// DeploymentAction is one action of a deployment step.
type DeploymentAction struct {
	Action                string                 `json:"action"`
	App                   string                 `json:"app,omitempty"`
	Pod                   string                 `json:"pod,omitempty"`
	ReadinessCheckResults []ReadinessCheckResult `json:"readinessCheckResults,omitempty"`
}

// Info is the part of GET /v2/info a load balancer uses.
type Info struct {
	Name            string          `json:"name"`
	Version         string          `json:"version"`
	Buildref        string          `json:"buildref,omitempty"`
	Elected         bool            `json:"elected"`
	Leader          string          `json:"leader"`
	FrameworkID     string          `json:"frameworkId,omitempty"`
	MarathonConfig  json.RawMessage `json:"marathon_config,omitempty"`
	ZookeeperConfig json.RawMessage `json:"zookeeper_config,omitempty"`
	HTTPConfig      json.RawMessage `json:"http_config,omitempty"`
	EventSubscriber json.RawMessage `json:"event_subscriber,omitempty"`
}

// Leader is the body of GET /v2/leader.
type Leader struct {
	Leader string `json:"leader"`
}

// APIErrorBody is Marathon's error body: {"message": "...", "details": [...]}.
type APIErrorBody struct {
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
}
