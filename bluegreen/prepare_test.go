package bluegreen

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func ptr[T any](v T) *T { return &v }

func webApp() marathon.App {
	return marathon.App{ID: "/web", Instances: 6, Cmd: "serve",
		PortDefinitions: []marathon.PortDefinition{{Port: 10000}, {Port: 10001}},
		Labels:          map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10010", "HAPROXY_0_VHOST": "web.example.com"}}
}

var now = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

// TestPrepareGolden: the prepared app of a first deployment, a second
// (green, on the alternate port), a third (blue, back on the public port)
// and a traffic split, against testdata/*.golden (-update rewrites).
func TestPrepareGolden(t *testing.T) {
	blue := webApp()
	blue.ID, blue.Instances = "/web-blue", 6
	blue.Labels = map[string]string{"HAPROXY_DEPLOYMENT_COLOUR": "blue", "HAPROXY_0_PORT": "10000"}
	green := webApp()
	green.ID, green.Instances = "/web-green", 5
	green.PortDefinitions = []marathon.PortDefinition{{Port: 10010}, {Port: 10011}}
	green.Labels = map[string]string{"HAPROXY_DEPLOYMENT_COLOUR": "green", "HAPROXY_0_PORT": "10000"}
	for _, tc := range []struct {
		name     string
		previous *marathon.App
		opts     PrepareOptions
	}{
		{"first", nil, PrepareOptions{InitialInstances: 2}},
		{"second", &blue, PrepareOptions{InitialInstances: 2}},
		{"third", &green, PrepareOptions{InitialInstances: 9}},
		{"split", &blue, PrepareOptions{InitialInstances: 3, NewInstances: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := webApp()
			tc.opts.Now = now
			got, err := Prepare(in, tc.previous, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if in.PortDefinitions[0].Port != 10000 || len(in.Labels) != 3 {
				t.Fatalf("Prepare modified its input: %+v", in)
			}
			raw, err := AppJSON(got)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", "prepare-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(file, append(raw, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(raw, '\n'), want) {
				t.Fatalf("%s differs (-update rewrites it):\n%s", file, raw)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*marathon.App)
		want error
	}{
		{"ok", func(*marathon.App) {}, nil},
		{"no id", func(a *marathon.App) { a.ID = "/" }, ErrMissingField},
		{"no group", func(a *marathon.App) { delete(a.Labels, "HAPROXY_DEPLOYMENT_GROUP") }, ErrMissingField},
		{"no alt port", func(a *marathon.App) { delete(a.Labels, "HAPROXY_DEPLOYMENT_ALT_PORT") }, ErrMissingField},
		{"bad alt port", func(a *marathon.App) { a.Labels["HAPROXY_DEPLOYMENT_ALT_PORT"] = "x" }, ErrInvalidArgs},
		{"no port", func(a *marathon.App) { a.PortDefinitions = nil }, ErrMissingField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := webApp()
			tc.edit(&a)
			err := Validate(a)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLoadApp(t *testing.T) {
	a, err := LoadApp([]byte(`{"id":"/web","portDefinitions":[{"port":80}],"labels":{"HAPROXY_DEPLOYMENT_GROUP":"web","HAPROXY_DEPLOYMENT_ALT_PORT":"81"}}`))
	if err != nil || a.Instances != 1 {
		t.Fatalf("LoadApp = %+v, %v; want instances 1 (Marathon's default)", a.Instances, err)
	}
	if _, err := LoadApp([]byte(`{`)); ExitCode(err) != ExitInvalidArgs {
		t.Fatalf("bad JSON: %v (exit %d)", err, ExitCode(err))
	}
	if _, err := LoadApp([]byte(`{"id":"/web"}`)); ExitCode(err) != ExitMissingField {
		t.Fatalf("no labels: %v (exit %d)", err, ExitCode(err))
	}
}

// TestServicePorts: marathon-lb's order of precedence, and the first one
// replaced where it was found.
func TestServicePorts(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  marathon.App
		want []int
	}{
		{"docker mappings", marathon.App{Container: &marathon.Container{Docker: &marathon.Docker{PortMappings: []marathon.PortMapping{{ServicePort: ptr(5)}}},
			PortMappings: []marathon.PortMapping{{ServicePort: ptr(6)}}}, PortDefinitions: []marathon.PortDefinition{{Port: 7}}}, []int{5}},
		{"container mappings", marathon.App{Container: &marathon.Container{PortMappings: []marathon.PortMapping{{ServicePort: ptr(6)}, {}}},
			PortDefinitions: []marathon.PortDefinition{{Port: 7}}}, []int{6, 0}},
		{"port definitions", marathon.App{PortDefinitions: []marathon.PortDefinition{{Port: 7}, {Port: 8}}, Ports: []int{9}}, []int{7, 8}},
		{"legacy ports", marathon.App{Ports: []int{9, 10}}, []int{9, 10}},
		{"none", marathon.App{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ServicePorts(tc.app)
			if len(got) != len(tc.want) {
				t.Fatalf("ServicePorts = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ServicePorts = %v, want %v", got, tc.want)
				}
			}
			if len(got) == 0 {
				return
			}
			cp := tc.app
			setFirstServicePort(&cp, 42)
			if p, _ := FirstServicePort(cp); p != 42 {
				t.Fatalf("after setFirstServicePort: %v", ServicePorts(cp))
			}
			if p, _ := FirstServicePort(tc.app); p != tc.want[0] {
				t.Fatalf("setFirstServicePort modified the original: %v", ServicePorts(tc.app))
			}
		})
	}
}

func TestPrevious(t *testing.T) {
	mk := func(id, group, started string) marathon.App {
		return marathon.App{ID: id, Labels: map[string]string{"HAPROXY_DEPLOYMENT_GROUP": group, "HAPROXY_DEPLOYMENT_STARTED_AT": started}}
	}
	got := Previous([]marathon.App{
		mk("/b", "web", "2026-01-02T00:00:00Z"), mk("/other", "api", "2026-01-01T00:00:00Z"),
		mk("/a", "web", "2026-01-01T00:00:00Z"), mk("/c", "web", ""),
	}, "web")
	if ids := ids(got); len(got) != 3 || got[0].ID != "/c" || got[1].ID != "/a" || got[2].ID != "/b" {
		t.Fatalf("Previous = %v", ids)
	}
}

func TestNextSize(t *testing.T) {
	for _, tc := range []struct {
		name                                             string
		current, target, old, newInstances, linear, want int
	}{
		{"x1.5 from 1", 1, 10, 9, 0, 0, 2},
		{"x1.5 from 2", 2, 10, 8, 0, 0, 3},
		{"x1.5 from 3", 3, 10, 7, 0, 0, 5},
		{"reaches the old size: jump to target", 5, 10, 5, 0, 0, 10},
		{"from 0 grows by one", 0, 10, 10, 0, 0, 1},
		{"linear", 2, 10, 8, 0, 3, 5},
		{"linear capped at target", 9, 10, 1, 0, 3, 10},
		{"linear does not jump", 4, 10, 4, 0, 1, 5},
		{"split capped", 1, 10, 9, 2, 0, 2},
		{"split capped linear", 1, 10, 9, 3, 5, 3},
		{"never above target", 8, 9, 20, 0, 0, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextSize(tc.current, tc.target, tc.old, tc.newInstances, tc.linear); got != tc.want {
				t.Fatalf("NextSize(%d, %d, %d, %d, %d) = %d, want %d", tc.current, tc.target, tc.old, tc.newInstances, tc.linear, got, tc.want)
			}
		})
	}
}

func TestDeletable(t *testing.T) {
	old := marathon.App{Instances: 2, Tasks: []marathon.Task{{ID: "a"}, {ID: "b"}}}
	for _, tc := range []struct {
		name       string
		newN       int
		old        marathon.App
		target, nu int
		killing    []string
		want       bool
	}{
		{"all old tasks drained at target", 10, old, 10, 0, []string{"a", "b"}, true},
		{"one old task still serving", 10, old, 10, 0, []string{"a"}, false},
		{"below target", 9, old, 10, 0, []string{"a", "b"}, false},
		{"no old task left", 10, marathon.App{}, 10, 0, nil, true},
		{"split reached", 2, marathon.App{Instances: 8}, 10, 2, nil, true},
		{"split: old not shrunk yet", 2, marathon.App{Instances: 9}, 10, 2, nil, false},
		{"split: new not grown yet", 1, marathon.App{Instances: 8}, 10, 2, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Deletable(marathon.App{Instances: tc.newN}, tc.old, tc.target, tc.nu, tc.killing); got != tc.want {
				t.Fatalf("Deletable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil: 0, ErrDeclined: 1, ErrInProgress: 2, ErrHook: 2, ErrRolledBack: 2, errors.New("other"): 2, ErrInvalidArgs: 3,
		ErrMissingField: 4, ErrLoadBalancer: 5, ErrMarathonQuery: 6, ErrCreate: 7, ErrDelete: 8, ErrScale: 9,
	} {
		if got := ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}

// TestPrepareJSON: fields the App type does not model, and the ones the
// file leaves out, are kept as written; the changes land where they were.
func TestPrepareJSON(t *testing.T) {
	def := []byte(`{"id":"/web","instances":4,"fetch":[{"uri":"http://x/a.tgz"}],"big":12345678901234567890,
		"container":{"type":"DOCKER","docker":{"image":"nginx","portMappings":[{"containerPort":80,"servicePort":10000,"extra":true}]}},
		"labels":{"HAPROXY_DEPLOYMENT_GROUP":"web","HAPROXY_DEPLOYMENT_ALT_PORT":"10010"}}`)
	app, err := LoadApp(def)
	if err != nil {
		t.Fatal(err)
	}
	prev := app
	prev.ID = "/web-blue"
	prev.Labels = map[string]string{"HAPROXY_DEPLOYMENT_COLOUR": "blue"}
	nu, err := Prepare(app, &prev, PrepareOptions{InitialInstances: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := PrepareJSON(def, nu)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "big": 12345678901234567890,
  "container": {
    "docker": {
      "image": "nginx",
      "portMappings": [
        {
          "containerPort": 80,
          "extra": true,
          "servicePort": 10010
        }
      ]
    },
    "type": "DOCKER"
  },
  "fetch": [
    {
      "uri": "http://x/a.tgz"
    }
  ],
  "id": "/web-green",
  "instances": 1,
  "labels": {
    "HAPROXY_0_PORT": "10000",
    "HAPROXY_APP_ID": "/web",
    "HAPROXY_DEPLOYMENT_ALT_PORT": "10010",
    "HAPROXY_DEPLOYMENT_COLOUR": "green",
    "HAPROXY_DEPLOYMENT_GROUP": "web",
    "HAPROXY_DEPLOYMENT_NEW_INSTANCES": "0",
    "HAPROXY_DEPLOYMENT_STARTED_AT": "2026-11-25T06:00:00Z",
    "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "4"
  }
}`
	if string(raw) != want {
		t.Fatalf("PrepareJSON:\n%s\nwant:\n%s", raw, want)
	}
}
