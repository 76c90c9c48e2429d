package bluegreen

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

const appJSON = `{"id": "nginx", "instances": 4, "cmd": "serve", "constraints": [["hostname", "UNIQUE"]], "fetch": [{"uri": "http://x/a.tgz"}],
 "container": {"type": "DOCKER", "docker": {"image": "nginx"}, "portMappings": [{"containerPort": 80, "servicePort": 10000}]},
 "labels": {"HAPROXY_DEPLOYMENT_GROUP": "nginx", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001", "HAPROXY_GROUP": "external"}, "unused": null}`

func mustDef(t *testing.T, raw string) Definition {
	t.Helper()
	d, err := ParseDefinition([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func running(id, colour string, port, instances int, startedAt string, extra map[string]string) marathon.App {
	sp := port
	l := map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "nginx", "HAPROXY_DEPLOYMENT_COLOUR": colour,
		"HAPROXY_DEPLOYMENT_STARTED_AT": startedAt, "HAPROXY_0_PORT": "10000", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "4"}
	for k, v := range extra {
		l[k] = v
	}
	return marathon.App{ID: id, Instances: instances, Labels: l,
		Container: &marathon.Container{Docker: &marathon.Docker{PortMappings: []marathon.PortMapping{{ContainerPort: 80, ServicePort: &sp}}}}}
}

// TestPrepare is zdd's steps 3-5 (§9.2), one case per rule.
func TestPrepare(t *testing.T) {
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	blue := running("/nginx-blue", "blue", 10000, 4, "2026-11-24T00:00:00Z", nil)
	green := running("/nginx-green", "green", 10001, 2, "2026-11-24T01:00:00Z", map[string]string{"HAPROXY_DEPLOYMENT_NEW_INSTANCES": "2"})
	for _, tc := range []struct {
		name                    string
		existing                []marathon.App
		opt                     Options
		wantID, wantColour      string
		wantPort, wantInstances int
		wantOld                 string
		wantTarget, wantNew     int
		wantCreate              bool
		wantCode                int
	}{
		{name: "first deployment: blue on the app's own port", opt: Options{InitialInstances: 1},
			wantID: "/nginx-blue", wantColour: "blue", wantPort: 10000, wantInstances: 1, wantTarget: 4, wantCreate: true},
		{name: "after blue: green on the alt port, blue's instances as target", existing: []marathon.App{blue}, opt: Options{InitialInstances: 2},
			wantID: "/nginx-green", wantColour: "green", wantPort: 10001, wantInstances: 2, wantOld: "/nginx-blue", wantTarget: 4, wantCreate: true},
		{name: "split: new instances capped at the target, initial capped at the split", existing: []marathon.App{blue}, opt: Options{InitialInstances: 3, NewInstances: 9},
			wantID: "/nginx-green", wantColour: "green", wantPort: 10001, wantInstances: 3, wantOld: "/nginx-blue", wantTarget: 4, wantNew: 4, wantCreate: true},
		{name: "after green (on the alt port): blue on HAPROXY_0_PORT", existing: []marathon.App{running("/nginx-green", "green", 10001, 4, "2026-11-24T00:00:00Z", nil)},
			wantID: "/nginx-blue", wantColour: "blue", wantPort: 10000, wantInstances: 1, wantOld: "/nginx-green", wantTarget: 4, wantCreate: true},
		{name: "two apps: a deployment in progress", existing: []marathon.App{blue, green}, wantCode: ExitFailed},
		{name: "resume: newest is new", existing: []marathon.App{green, blue}, opt: Options{Resume: true}, wantOld: "/nginx-blue", wantID: "/nginx-green", wantTarget: 4, wantNew: 2},
		{name: "complete-prev: the one before is new", existing: []marathon.App{blue, green}, opt: Options{CompletePrev: true}, wantOld: "/nginx-green", wantID: "/nginx-blue", wantTarget: 4},
		{name: "complete-cur without a deployment in progress", existing: []marathon.App{blue}, opt: Options{CompleteCur: true}, wantCode: ExitInvalidArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Prepare(mustDef(t, appJSON), tc.existing, tc.opt, now)
			if tc.wantCode != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.wantCode {
					t.Fatalf("error %v, want exit code %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.NewID != tc.wantID || plan.OldID != tc.wantOld || plan.Target != tc.wantTarget || plan.NewInstances != tc.wantNew || (plan.New != nil) != tc.wantCreate {
				t.Fatalf("plan %+v", plan)
			}
			if plan.New == nil {
				return
			}
			d := *plan.New
			l := d.Labels()
			port, where, _ := d.FirstServicePort()
			if l["HAPROXY_DEPLOYMENT_COLOUR"] != tc.wantColour || port != tc.wantPort || where != "container.portMappings" || d.Instances() != tc.wantInstances ||
				l["HAPROXY_APP_ID"] != "/nginx" || l["HAPROXY_0_PORT"] != "10000" || l["HAPROXY_DEPLOYMENT_STARTED_AT"] != "2026-11-25T06:00:00Z" {
				t.Fatalf("definition %v", d)
			}
			// Fields this package does not know go through; nulls do not.
			raw, _ := json.Marshal(map[string]any(d))
			var back map[string]any
			_ = json.Unmarshal(raw, &back)
			if back["fetch"] == nil || back["constraints"] == nil || back["unused"] != nil || back["cmd"] != "serve" {
				t.Fatalf("definition lost fields: %s", raw)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, raw := range []string{
		`{"labels": {"HAPROXY_DEPLOYMENT_GROUP": "g", "HAPROXY_DEPLOYMENT_ALT_PORT": "1"}, "portDefinitions": [{"port": 1}]}`,
		`{"id": "a", "portDefinitions": [{"port": 1}]}`,
		`{"id": "a", "labels": {"HAPROXY_DEPLOYMENT_ALT_PORT": "1"}, "portDefinitions": [{"port": 1}]}`,
		`{"id": "a", "labels": {"HAPROXY_DEPLOYMENT_GROUP": "g"}, "portDefinitions": [{"port": 1}]}`,
		`{"id": "a", "labels": {"HAPROXY_DEPLOYMENT_GROUP": "g", "HAPROXY_DEPLOYMENT_ALT_PORT": "1"}}`,
	} {
		var e *Error
		if err := mustDef(t, raw).Validate(); !errors.As(err, &e) || e.Code != ExitMissingField {
			t.Errorf("%s: %v, want exit 4", raw, err)
		}
	}
}

// TestNextSize is zdd's growth (§9.2 step 7.5).
func TestNextSize(t *testing.T) {
	for _, tc := range []struct{ n, linear, target, newInst, old, want int }{
		{1, 0, 10, 0, 10, 2}, {2, 0, 10, 0, 10, 3}, {3, 0, 10, 0, 10, 5}, {5, 0, 10, 0, 10, 8},
		{8, 0, 10, 0, 10, 10},                       // reaches the old app's size: jump to the target
		{5, 0, 10, 0, 6, 10},                        // 8 >= 6
		{1, 4, 10, 0, 10, 5}, {9, 4, 10, 0, 10, 10}, // linear, capped at the target
		{1, 0, 10, 2, 10, 2}, {2, 5, 10, 3, 10, 3}, // split: capped at its share
	} {
		if got := NextSize(tc.n, tc.linear, tc.target, tc.newInst, tc.old); got != tc.want {
			t.Errorf("NextSize(%d, linear %d, target %d, split %d, old %d) = %d, want %d", tc.n, tc.linear, tc.target, tc.newInst, tc.old, got, tc.want)
		}
	}
}

func TestBackendName(t *testing.T) {
	if got := BackendName("/shop/nginx", 10000); got != "shop_nginx_10000" {
		t.Fatal(got)
	}
}
