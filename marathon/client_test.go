package marathon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/marathon-dataplane/marathon-dataplane/internal/testcert"
)

// examplesDir is Marathon's recorded answers, beside the repository.
func examplesDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "reference", "marathon", "examples")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Marathon reference examples not found (%v); they live in /work/shared/reference/marathon/examples", err)
	}
	return dir
}

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seen is what a fake Marathon received.
type seen struct {
	Method, Path, RawPath, Query, Auth, Accept, ContentType, UserAgent string
	Body                                                               string
}

// fake is a scripted Marathon that records requests.
type fake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
	hits atomic.Int32
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), Accept: r.Header.Get("Accept"), ContentType: r.Header.Get("Content-Type"),
			UserAgent: r.Header.Get("User-Agent"), Body: string(body)})
		f.mu.Unlock()
		f.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// answer answers every request with status and body.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// deadURL is a loopback URL that refuses connections.
func deadURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		name     string
		cfg      Config
		wantErr  string
		wantURLs []string
	}{
		{name: "no URL", cfg: Config{}, wantErr: "at least one URL"},
		{name: "bad scheme", cfg: Config{URLs: []string{"ftp://m:8080"}}, wantErr: "want http(s)"},
		{name: "no host", cfg: Config{URLs: []string{"http://"}}, wantErr: "want http(s)"},
		{name: "bare host", cfg: Config{URLs: []string{"m:8080"}}, wantErr: "want http(s)"},
		{name: "unparseable", cfg: Config{URLs: []string{"http://[::1"}}, wantErr: "not a valid URL"},
		{name: "query", cfg: Config{URLs: []string{"http://m:8080/?x=1"}}, wantErr: "no query"},
		{name: "missing CA", cfg: Config{URLs: []string{"https://m"}, CACertFile: filepath.Join(dir, "nope")}, wantErr: "CA certificate"},
		{name: "CA not PEM", cfg: Config{URLs: []string{"https://m"}, CACertFile: notPEM}, wantErr: "no PEM certificate"},
		{name: "key without cert", cfg: Config{URLs: []string{"https://m"}, ClientKeyFile: notPEM}, wantErr: "without a client certificate"},
		{name: "bad client cert", cfg: Config{URLs: []string{"https://m"}, ClientCertFile: notPEM}, wantErr: "client certificate"},
		{
			name:     "cleaned",
			cfg:      Config{URLs: []string{"http://m1:8080/", " https://m2/marathon// ", "http://u:p@m3:8080"}},
			wantURLs: []string{"http://m1:8080", "https://m2/marathon", "http://m3:8080"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.URLs(); !reflect.DeepEqual(got, tt.wantURLs) {
				t.Errorf("URLs() = %q, want %q", got, tt.wantURLs)
			}
			if c.CurrentURL() != tt.wantURLs[0] {
				t.Errorf("CurrentURL() = %q, want %q", c.CurrentURL(), tt.wantURLs[0])
			}
		})
	}
	// New must not rewrite the caller's slice.
	in := []string{"http://m1:8080/"}
	if _, err := New(Config{URLs: in}); err != nil || in[0] != "http://m1:8080/" {
		t.Errorf("New changed the caller's URLs to %q (err %v)", in, err)
	}
}

func TestAppsExamples(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, apps []App)
	}{
		{
			file: "marathon-1.5-apps-embed-tasks.json",
			check: func(t *testing.T, apps []App) {
				if len(apps) != 1 {
					t.Fatalf("got %d apps, want 1", len(apps))
				}
				a := apps[0]
				if a.ID != "/pywebserver" || a.Labels["HAPROXY_0_VHOST"] != "myvhost.com" || a.Instances != 1 {
					t.Errorf("app = %+v", a)
				}
				if a.Container == nil || len(a.Container.PortMappings) != 1 || *a.Container.PortMappings[0].ServicePort != 10101 {
					t.Errorf("container = %+v", a.Container)
				}
				if len(a.Networks) != 1 || a.Networks[0].Mode != "container/bridge" {
					t.Errorf("networks = %+v", a.Networks)
				}
				if len(a.Tasks) != 1 {
					t.Fatalf("tasks = %+v", a.Tasks)
				}
				task := a.Tasks[0]
				if task.ID != "pywebserver.8cad6a69-6ca8-11e7-beb2-0e2beceebfcc" || task.Host != "10.0.2.148" ||
					task.State != TaskRunning || !reflect.DeepEqual(task.Ports, []int{1565}) ||
					len(task.IPAddresses) != 1 || task.IPAddresses[0].IPAddress != "172.17.0.2" {
					t.Errorf("task = %+v", task)
				}
			},
		},
		{
			// app_list.json holds nulls ("args", "user", "container",
			// "acceptedResourceRoles"): marathon-lb stripped them with
			// cleanup_json; Go decoding leaves the zero value.
			file: "app_list.json",
			check: func(t *testing.T, apps []App) {
				if len(apps) != 1 {
					t.Fatalf("got %d apps, want 1", len(apps))
				}
				a := apps[0]
				if a.ID != "/myapp" || a.Args != nil || a.User != "" || a.Container != nil || a.AcceptedResourceRoles != nil {
					t.Errorf("nulls not decoded as zero values: %+v", a)
				}
				if !reflect.DeepEqual(a.Ports, []int{10013, 10015}) || a.Instances != 3 {
					t.Errorf("app = %+v", a)
				}
				if len(a.Deployments) != 1 || a.Deployments[0].ID != "9538079c-3898-4e32-aa31-799bf9097f74" {
					t.Errorf("deployments = %+v", a.Deployments)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readExample(t, tt.file)
			f := newFake(t, answer(http.StatusOK, string(body)))
			c := newClient(t, Config{URLs: []string{f.URL}})
			apps, err := c.Apps(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, apps)
			r := f.requests()[0]
			if r.Method != "GET" || r.Path != "/v2/apps" || r.Query != "embed=apps.tasks&embed=apps.deployments" {
				t.Errorf("request = %+v", r)
			}
			if r.Accept != "application/json" || r.UserAgent != DefaultUserAgent {
				t.Errorf("headers: Accept %q, User-Agent %q", r.Accept, r.UserAgent)
			}
		})
	}
}

func TestReadEndpointsExamples(t *testing.T) {
	tests := []struct {
		name, file, path string
		call             func(c *Client) (any, error)
		check            func(t *testing.T, v any)
	}{
		{
			name: "Tasks", file: "tasks.json", path: "/v2/tasks",
			call: func(c *Client) (any, error) { return c.Tasks(context.Background()) },
			check: func(t *testing.T, v any) {
				tasks := v.([]Task)
				if len(tasks) != 2 || tasks[1].AppID != "/tools/docker/registry" || tasks[0].Details == nil || tasks[0].Details.ServicePorts[0] != 10019 {
					t.Errorf("tasks = %+v", tasks)
				}
			},
		},
		{
			name: "AppTasks", file: "app_tasks.json", path: "/v2/apps/minecraft/survival-world/tasks",
			call: func(c *Client) (any, error) { return c.AppTasks(context.Background(), "/minecraft/survival-world") },
			check: func(t *testing.T, v any) {
				if tasks := v.([]Task); len(tasks) == 0 || tasks[0].AppID != "/minecraft/survival-world" {
					t.Errorf("tasks = %+v", tasks)
				}
			},
		},
		{
			name: "Info", file: "info.json", path: "/v2/info",
			call: func(c *Client) (any, error) { return c.Info(context.Background()) },
			check: func(t *testing.T, v any) {
				if i := v.(Info); i.Version != "1.5.0-SNAPSHOT" || !i.Elected || i.Leader != "localhost:8080" {
					t.Errorf("info = %+v", i)
				}
			},
		},
		{
			name: "Deployments", file: "deployments.json", path: "/v2/deployments",
			call: func(c *Client) (any, error) { return c.Deployments(context.Background()) },
			check: func(t *testing.T, v any) {
				d := v.([]Deployment)
				if len(d) != 1 || d[0].ID != "97c136bf-5a28-4821-9d94-480d9fbb01c8" || d[0].CurrentActions[0].ReadinessCheckResults[0].Name != "myReadyCheck" {
					t.Errorf("deployments = %+v", d)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer(http.StatusOK, string(readExample(t, tt.file))))
			c := newClient(t, Config{URLs: []string{f.URL}})
			v, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, v)
			if r := f.requests()[0]; r.Method != "GET" || r.Path != tt.path {
				t.Errorf("request = %s %s, want GET %s", r.Method, r.Path, tt.path)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	app := App{ID: "/grp/web", Instances: 2, Cpus: 0.5, Mem: 64, Version: "2017-01-01T00:00:00.000Z",
		Tasks: []Task{{ID: "t1"}}, TasksRunning: 2, Deployments: []DeploymentRef{{ID: "d1"}}}
	tests := []struct {
		name   string
		status int
		answer string
		call   func(ctx context.Context, c *Client) (any, error)
		method string
		path   string
		query  string
		body   string // JSON, compared semantically; "" = no body
		want   any
	}{
		{
			name: "App", answer: `{"app":{"id":"/grp/web","instances":2}}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.App(ctx, "/grp/web") },
			method: "GET", path: "/v2/apps/grp/web", query: "embed=app.tasks",
			want: App{ID: "/grp/web", Instances: 2},
		},
		{
			name: "App without leading slash", answer: `{"app":{"id":"/web"}}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.App(ctx, "web") },
			method: "GET", path: "/v2/apps/web", query: "embed=app.tasks",
			want: App{ID: "/web"},
		},
		{
			name: "Leader", answer: `{"leader":"m2:8080"}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Leader(ctx) },
			method: "GET", path: "/v2/leader", want: "m2:8080",
		},
		{
			name: "CreateApp drops read-only fields", status: 201, answer: `{"id":"/grp/web","instances":2,"version":"v2"}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.CreateApp(ctx, app) },
			method: "POST", path: "/v2/apps",
			body: `{"id":"/grp/web","instances":2,"cpus":0.5,"mem":64,"disk":0,"gpus":0,"executor":"","requirePorts":false}`,
			want: App{ID: "/grp/web", Instances: 2, Version: "v2"},
		},
		{
			name: "CreateAppJSON sends the definition as it is", status: 201, answer: `{"id":"/web","instances":1,"version":"v2"}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateAppJSON(ctx, json.RawMessage(`{"id":"/web","fetch":[{"uri":"http://x/a.tgz"}]}`))
			},
			method: "POST", path: "/v2/apps", body: `{"id":"/web","fetch":[{"uri":"http://x/a.tgz"}]}`,
			want: App{ID: "/web", Instances: 1, Version: "v2"},
		},
		{
			name: "UpdateApp with App, forced", answer: `{"deploymentId":"d2","version":"v3"}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.UpdateApp(ctx, "/grp/web", &app, true) },
			method: "PUT", path: "/v2/apps/grp/web", query: "force=true",
			body: `{"id":"/grp/web","instances":2,"cpus":0.5,"mem":64,"disk":0,"gpus":0,"executor":"","requirePorts":false}`,
			want: DeploymentResult{DeploymentID: "d2", Version: "v3"},
		},
		{
			name: "UpdateApp with a map", answer: `{"deploymentId":"d2","version":"v3"}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateApp(ctx, "grp/web", map[string]any{"labels": map[string]string{"A": "b"}}, false)
			},
			method: "PUT", path: "/v2/apps/grp/web", body: `{"labels":{"A":"b"}}`,
			want: DeploymentResult{DeploymentID: "d2", Version: "v3"},
		},
		{
			name: "PatchApp", answer: `{"deploymentId":"d4","version":"v4"}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.PatchApp(ctx, "/web", json.RawMessage(`{"cmd":"sleep 1"}`), true)
			},
			method: "PATCH", path: "/v2/apps/web", query: "force=true", body: `{"cmd":"sleep 1"}`,
			want: DeploymentResult{DeploymentID: "d4", Version: "v4"},
		},
		{
			name: "ScaleApp", answer: `{"deploymentId":"d5","version":"v5"}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ScaleApp(ctx, "/web", 0, false) },
			method: "PUT", path: "/v2/apps/web", body: `{"instances":0}`,
			want: DeploymentResult{DeploymentID: "d5", Version: "v5"},
		},
		{
			name: "DeleteApp", answer: `{"deploymentId":"d6","version":"v6"}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.DeleteApp(ctx, "/web", true) },
			method: "DELETE", path: "/v2/apps/web", query: "force=true",
			want: DeploymentResult{DeploymentID: "d6", Version: "v6"},
		},
		{
			name: "KillTask", answer: `{"deploymentId":"d7","version":"v7"}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.KillTask(ctx, "/grp/web", "grp_web.0664256e-6771-11e5", true)
			},
			method: "DELETE", path: "/v2/apps/grp/web/tasks/grp_web.0664256e-6771-11e5", query: "scale=true",
		},
		{
			name: "KillTasks", answer: `{"tasks":[]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.KillTasks(ctx, []string{"a.1", "b.2"}, false)
			},
			method: "POST", path: "/v2/tasks/delete", query: "scale=false", body: `{"ids":["a.1","b.2"]}`,
		},
		{
			name: "DeleteDeployment", answer: `{"deploymentId":"d8","version":"v8"}`,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.DeleteDeployment(ctx, "97c1-36bf", false) },
			method: "DELETE", path: "/v2/deployments/97c1-36bf",
			want: DeploymentResult{DeploymentID: "d8", Version: "v8"},
		},
		{
			name: "DeleteDeployment forced answers 202 without body", status: 202, answer: "",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.DeleteDeployment(ctx, "97c1-36bf", true) },
			method: "DELETE", path: "/v2/deployments/97c1-36bf", query: "force=true",
			want: DeploymentResult{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			f := newFake(t, answer(status, tt.answer))
			c := newClient(t, Config{URLs: []string{f.URL}})
			got, err := tt.call(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path || r.Query != tt.query {
				t.Errorf("request = %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tt.method, tt.path, tt.query)
			}
			if tt.body == "" {
				if r.Body != "" {
					t.Errorf("unexpected body %s", r.Body)
				}
				return
			}
			if r.ContentType != "application/json" {
				t.Errorf("Content-Type = %q", r.ContentType)
			}
			var gotBody, wantBody any
			if err := json.Unmarshal([]byte(r.Body), &gotBody); err != nil {
				t.Fatalf("body %q: %v", r.Body, err)
			}
			json.Unmarshal([]byte(tt.body), &wantBody)
			if !reflect.DeepEqual(gotBody, wantBody) {
				t.Errorf("body = %s, want %s", r.Body, tt.body)
			}
		})
	}
}

func TestArgumentErrors(t *testing.T) {
	f := newFake(t, answer(http.StatusOK, `{}`))
	c := newClient(t, Config{URLs: []string{f.URL}})
	ctx := context.Background()
	if _, err := c.App(ctx, "/"); err == nil {
		t.Error("App(\"/\"): want an error")
	}
	if err := c.KillTask(ctx, "/a", "", false); err == nil {
		t.Error("KillTask with an empty task id: want an error")
	}
	if _, err := c.DeleteDeployment(ctx, "", false); err == nil {
		t.Error("DeleteDeployment(\"\"): want an error")
	}
	if err := c.KillTasks(ctx, nil, true); err != nil {
		t.Errorf("KillTasks(nil) = %v, want nil", err)
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d requests sent for invalid arguments", n)
	}
}

func TestPing(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    bool
	}{
		{name: "plain", body: "pong\n"},
		{name: "json string", body: `"pong"`},
		{name: "other", body: "pang", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, tt.body) })
			c := newClient(t, Config{URLs: []string{f.URL}})
			err := c.Ping(context.Background())
			if tt.wantErr != (err != nil) {
				t.Fatalf("Ping() = %v, wantErr %t", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidResponse) {
				t.Errorf("error %v does not wrap ErrInvalidResponse", err)
			}
			if r := f.requests()[0]; r.Path != "/ping" || !strings.Contains(r.Accept, "text/plain") {
				t.Errorf("request = %+v", r)
			}
		})
	}
}

func TestFailover(t *testing.T) {
	const apps = `{"apps":[{"id":"/a"}]}`
	tests := []struct {
		name    string
		first   func(t *testing.T) (url string, hits func() int32)
		timeout time.Duration
	}{
		{name: "connection refused", first: func(t *testing.T) (string, func() int32) {
			return deadURL(t), func() int32 { return 0 }
		}},
		{name: "503 no leader", first: func(t *testing.T) (string, func() int32) {
			f := newFake(t, answer(http.StatusServiceUnavailable, `{"message":"Could not determine the current leader"}`))
			return f.URL, f.hits.Load
		}},
		{name: "502", first: func(t *testing.T) (string, func() int32) {
			f := newFake(t, answer(http.StatusBadGateway, `<html>bad gateway</html>`))
			return f.URL, f.hits.Load
		}},
		{name: "504", first: func(t *testing.T) (string, func() int32) {
			f := newFake(t, answer(http.StatusGatewayTimeout, ``))
			return f.URL, f.hits.Load
		}},
		{name: "timeout", timeout: 150 * time.Millisecond, first: func(t *testing.T) (string, func() int32) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			})
			return f.URL, f.hits.Load
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, firstHits := tt.first(t)
			second := newFake(t, answer(http.StatusOK, apps))
			c := newClient(t, Config{URLs: []string{first, second.URL}, Timeout: tt.timeout})
			ctx := context.Background()
			got, err := c.Apps(ctx)
			if err != nil || len(got) != 1 || got[0].ID != "/a" {
				t.Fatalf("Apps() = %+v, %v", got, err)
			}
			if c.CurrentURL() != second.URL {
				t.Fatalf("CurrentURL() = %s, want the URL that answered, %s", c.CurrentURL(), second.URL)
			}
			before := firstHits()
			if _, err := c.Apps(ctx); err != nil {
				t.Fatal(err)
			}
			if firstHits() != before || second.hits.Load() != 2 {
				t.Errorf("second call did not go straight to the preferred URL: first %d→%d hits, second %d hits",
					before, firstHits(), second.hits.Load())
			}
			if got := c.URLs(); got[0] != first {
				t.Errorf("URLs() reordered: %q", got)
			}
		})
	}
}

func TestFailoverWrapsAround(t *testing.T) {
	// The preferred URL is the last one; when it fails the first is tried.
	var firstOK atomic.Bool
	first := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if !firstOK.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"leader":"first"}`)
	})
	var secondOK atomic.Bool
	secondOK.Store(true)
	second := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if !secondOK.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"leader":"second"}`)
	})
	c := newClient(t, Config{URLs: []string{first.URL, second.URL}})
	ctx := context.Background()
	if l, err := c.Leader(ctx); err != nil || l != "second" {
		t.Fatalf("Leader() = %q, %v", l, err)
	}
	firstOK.Store(true)
	secondOK.Store(false)
	if l, err := c.Leader(ctx); err != nil || l != "first" {
		t.Fatalf("Leader() = %q, %v", l, err)
	}
	if c.CurrentURL() != first.URL {
		t.Errorf("CurrentURL() = %s, want %s", c.CurrentURL(), first.URL)
	}
}

// Writes that reached a Marathon are not repeated elsewhere: the first
// one may have been applied.
func TestWriteFailover(t *testing.T) {
	const ok = `{"deploymentId":"d","version":"v"}`
	tests := []struct {
		name        string
		first       http.HandlerFunc // nil = connection refused
		timeout     time.Duration
		wantSecond  bool
		wantUnknown bool
	}{
		{name: "refused: nothing sent, fail over", first: nil, wantSecond: true},
		{name: "503: not applied, fail over", first: answer(http.StatusServiceUnavailable, `{"message":"no leader"}`), wantSecond: true},
		{name: "502: maybe applied", first: answer(http.StatusBadGateway, ``), wantUnknown: true},
		{name: "timeout after sending: maybe applied", timeout: 150 * time.Millisecond, wantUnknown: true,
			first: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			firstURL := deadURL(t)
			if tt.first != nil {
				firstURL = newFake(t, tt.first).URL
			}
			second := newFake(t, answer(http.StatusOK, ok))
			c := newClient(t, Config{URLs: []string{firstURL, second.URL}, Timeout: tt.timeout})
			_, err := c.ScaleApp(context.Background(), "/a", 3, false)
			if tt.wantSecond != (second.hits.Load() == 1) {
				t.Errorf("second URL hits = %d, want failover %t", second.hits.Load(), tt.wantSecond)
			}
			if tt.wantUnknown {
				if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrUnreachable) {
					t.Errorf("err = %v, want ErrOutcomeUnknown and not ErrUnreachable", err)
				}
				if c.CurrentURL() != firstURL {
					t.Errorf("preferred URL changed to %s", c.CurrentURL())
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestAllUnreachable(t *testing.T) {
	dead1, dead2 := deadURL(t), deadURL(t)
	busy := newFake(t, answer(http.StatusServiceUnavailable, `{"message":"Could not determine the current leader"}`))
	c := newClient(t, Config{URLs: []string{dead1, dead2, busy.URL}})
	_, err := c.Apps(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	for _, u := range []string{dead1, dead2, busy.URL} {
		if !strings.Contains(err.Error(), u) {
			t.Errorf("error does not name %s: %v", u, err)
		}
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || apiErr.Message != "Could not determine the current leader" {
		t.Errorf("last cause = %+v, want the 503 APIError", apiErr)
	}
	if c.CurrentURL() != dead1 {
		t.Errorf("CurrentURL() = %s after a total failure, want it unchanged", c.CurrentURL())
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		is       error
		message  string
		details  string
		notMatch []error
	}{
		{name: "404", status: 404, body: `{"message":"App '/x' does not exist"}`, is: ErrNotFound, message: "App '/x' does not exist",
			notMatch: []error{ErrConflict, ErrUnauthorized, ErrUnreachable}},
		{name: "409", status: 409, body: `{"message":"App is locked by one or more deployments. Override with the option '?force=true'.","deployments":[{"id":"d1"}]}`,
			is: ErrConflict, message: "App is locked by one or more deployments. Override with the option '?force=true'.", notMatch: []error{ErrNotFound}},
		{name: "401", status: 401, body: `{"message":"Invalid username or password."}`, is: ErrUnauthorized, message: "Invalid username or password."},
		{name: "403", status: 403, body: `{"message":"Not Authorized to perform this action!"}`, is: ErrUnauthorized, message: "Not Authorized to perform this action!"},
		{name: "422 details", status: 422, body: `{"message":"Object is not valid","details":[{"path":"/id","errors":["bad"]}]}`,
			message: "Object is not valid", details: `[{"path":"/id","errors":["bad"]}]`, notMatch: []error{ErrNotFound, ErrConflict}},
		{name: "500 html", status: 500, body: "<html>" + strings.Repeat("x", 500) + "</html>", message: "<html>" + strings.Repeat("x", 194) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer(tt.status, tt.body))
			other := newFake(t, answer(200, `{"app":{"id":"/x"}}`))
			c := newClient(t, Config{URLs: []string{f.URL, other.URL}})
			_, err := c.App(context.Background(), "/x")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if apiErr.Status != tt.status || apiErr.Method != "GET" || apiErr.URL != f.URL+"/v2/apps/x" || apiErr.Message != tt.message {
				t.Errorf("APIError = %+v", apiErr)
			}
			if tt.details != "" && string(apiErr.Details) != tt.details {
				t.Errorf("Details = %s, want %s", apiErr.Details, tt.details)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			for _, e := range tt.notMatch {
				if errors.Is(err, e) {
					t.Errorf("errors.Is(%v, %v) = true", err, e)
				}
			}
			if other.hits.Load() != 0 {
				t.Error("a definite answer must not fail over")
			}
		})
	}
}

func TestInvalidResponses(t *testing.T) {
	tests := []struct {
		name, body string
		call       func(c *Client) error
		want       string
	}{
		{name: "truncated JSON", body: `{"apps":[{"id":"/a"`, want: "unexpected EOF",
			call: func(c *Client) error { _, err := c.Apps(context.Background()); return err }},
		{name: "syntax error has offset", body: `{"apps":[}`, want: "(at byte 9)",
			call: func(c *Client) error { _, err := c.Apps(context.Background()); return err }},
		{name: "wrong type has offset", body: `{"apps":[{"id":5}]}`, want: "(at byte 16)",
			call: func(c *Client) error { _, err := c.Apps(context.Background()); return err }},
		{name: "no apps field", body: `{"message":"hello"}`, want: `no "apps" field`,
			call: func(c *Client) error { _, err := c.Apps(context.Background()); return err }},
		{name: "apps null", body: `{"apps":null}`, want: `no "apps" field`,
			call: func(c *Client) error { _, err := c.Apps(context.Background()); return err }},
		{name: "array instead of object", body: `[]`, want: "want a JSON object, got [",
			call: func(c *Client) error { _, err := c.Apps(context.Background()); return err }},
		{name: "empty body", body: ``, want: "empty body",
			call: func(c *Client) error { _, err := c.Apps(context.Background()); return err }},
		{name: "no app field", body: `{}`, want: `no "app" field`,
			call: func(c *Client) error { _, err := c.App(context.Background(), "/a"); return err }},
		{name: "no tasks field", body: `{}`, want: `no "tasks" field`,
			call: func(c *Client) error { _, err := c.Tasks(context.Background()); return err }},
		{name: "no leader field", body: `{}`, want: `no "leader" field`,
			call: func(c *Client) error { _, err := c.Leader(context.Background()); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer(http.StatusOK, tt.body))
			c := newClient(t, Config{URLs: []string{f.URL}})
			err := tt.call(c)
			if !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("err = %v, want ErrInvalidResponse", err)
			}
			if !strings.Contains(err.Error(), f.URL) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want the URL and %q", err, tt.want)
			}
		})
	}
}

func TestResponseSizeLimit(t *testing.T) {
	big := `{"apps":[` + strings.Repeat(`{"id":"/a"},`, 400) + `{"id":"/b"}]}`
	f := newFake(t, answer(http.StatusOK, big))
	other := newFake(t, answer(http.StatusOK, `{"apps":[]}`))
	c := newClient(t, Config{URLs: []string{f.URL, other.URL}, MaxResponseBytes: 1024})
	_, err := c.Apps(context.Background())
	if !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("err = %v, want ErrInvalidResponse naming the 1024-byte limit", err)
	}
	if other.hits.Load() != 0 {
		t.Error("an oversized answer must not fail over")
	}
	// At the limit it passes.
	c = newClient(t, Config{URLs: []string{f.URL}, MaxResponseBytes: int64(len(big))})
	if apps, err := c.Apps(context.Background()); err != nil || len(apps) != 401 {
		t.Errorf("at the limit: %d apps, %v", len(apps), err)
	}
}

func TestContextCancelled(t *testing.T) {
	f := newFake(t, answer(http.StatusOK, `{"apps":[]}`))
	c := newClient(t, Config{URLs: []string{f.URL}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Apps(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if f.hits.Load() != 0 {
		t.Error("a cancelled call sent a request")
	}

	// Cancelled while waiting: no failover to the next URL.
	slow := newFake(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c = newClient(t, Config{URLs: []string{slow.URL, f.URL}})
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Apps(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if f.hits.Load() != 0 {
		t.Error("the caller's deadline must not trigger failover")
	}
}

func TestAuthHeaders(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		userinfo string
		want     string
	}{
		{name: "none", want: ""},
		{name: "basic", cfg: Config{User: "alice", Password: "se:cret"}, want: "Basic YWxpY2U6c2U6Y3JldA=="},
		{name: "dcos token", cfg: Config{DCOSToken: "eyJhbGciOi.x.y"}, want: "token=eyJhbGciOi.x.y"},
		{name: "token beats basic", cfg: Config{User: "alice", Password: "pw", DCOSToken: "tok"}, want: "token=tok"},
		{name: "credentials in the URL", userinfo: "bob:pw@", want: "Basic Ym9iOnB3"},
		{name: "explicit user beats the URL", cfg: Config{User: "alice", Password: "pw"}, userinfo: "bob:other@", want: "Basic YWxpY2U6cHc="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/events" {
					w.Header().Set("Content-Type", "text/event-stream")
					w.WriteHeader(200)
					return
				}
				io.WriteString(w, `{"apps":[]}`)
			})
			cfg := tt.cfg
			cfg.URLs = []string{strings.Replace(f.URL, "http://", "http://"+tt.userinfo, 1)}
			c := newClient(t, cfg)
			if _, err := c.Apps(context.Background()); err != nil {
				t.Fatal(err)
			}
			s, err := c.Stream(context.Background(), c.URLs()[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			for _, r := range f.requests() {
				if r.Auth != tt.want {
					t.Errorf("%s: Authorization = %q, want %q", r.Path, r.Auth, tt.want)
				}
			}
			if strings.Contains(strings.Join(c.URLs(), ","), "@") {
				t.Errorf("URLs() kept the credentials: %q", c.URLs())
			}
		})
	}
}

// Credentials must appear neither in errors nor in logs.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	const password, urlPassword, token = "hunter2-basic-pw", "hunter3-url-pw", "hunter4-dcos-token"
	core, logs := observer.New(zapcore.DebugLevel)
	denied := newFake(t, answer(http.StatusUnauthorized, `{"message":"Invalid username or password."}`))
	dead := deadURL(t)
	cfg := Config{
		URLs: []string{strings.Replace(dead, "http://", "http://bob:"+urlPassword+"@", 1), denied.URL},
		User: "alice", Password: password, Logger: zap.New(core),
	}
	c := newClient(t, cfg)
	ctx := context.Background()
	var errs []error
	_, err := c.Apps(ctx)
	errs = append(errs, err)
	_, err = c.Stream(ctx, dead, nil)
	errs = append(errs, err)
	_, err = c.Stream(ctx, denied.URL, nil)
	errs = append(errs, err)
	_, err = New(Config{URLs: []string{"http://bob:" + urlPassword + "@[::1"}})
	errs = append(errs, err)
	_, err = New(Config{URLs: []string{"ftp://bob:" + urlPassword + "@m"}})
	errs = append(errs, err)
	_, _, err = ParseCredentials(password)
	errs = append(errs, err)
	tokenClient := newClient(t, Config{URLs: []string{denied.URL}, DCOSToken: token, Logger: zap.New(core)})
	_, err = tokenClient.Apps(ctx)
	errs = append(errs, err)

	cfg.DCOSToken = token
	zap.New(core).Info("config", zap.Any("cfg", cfg), zap.Stringer("str", cfg))
	printed := fmt.Sprintf("%v %+v %s", cfg, cfg, cfg)

	var all strings.Builder
	for _, e := range errs {
		if e == nil {
			t.Fatal("expected every call to fail")
		}
		all.WriteString(e.Error() + "\n")
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, entry := range logs.All() {
		buf, err := enc.EncodeEntry(entry.Entry, entry.Context)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(buf.Bytes())
	}
	all.WriteString(printed)
	for _, secret := range []string{password, urlPassword, token} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("secret %q leaked:\n%s", secret, all.String())
		}
	}
	if logs.Len() == 0 {
		t.Error("expected failover warnings in the log")
	}
}

func TestRedirectCredentials(t *testing.T) {
	// 127.0.0.1 and localhost are different hosts to net/http, which drops
	// Authorization between them; the client re-adds it for configured ones.
	target := newFake(t, answer(http.StatusOK, `{"leader":"ok"}`))
	targetLocalhost := strings.Replace(target.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name       string
		configured bool
		wantAuth   string
	}{
		{name: "configured host gets credentials", configured: true, wantAuth: "token=tok"},
		{name: "unknown host does not", configured: false, wantAuth: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(target.requests())
			redirector := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, targetLocalhost+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			})
			urls := []string{redirector.URL}
			if tt.configured {
				urls = append(urls, targetLocalhost)
			}
			c := newClient(t, Config{URLs: urls, DCOSToken: "tok"})
			if l, err := c.Leader(context.Background()); err != nil || l != "ok" {
				t.Fatalf("Leader() = %q, %v", l, err)
			}
			reqs := target.requests()[before:]
			if len(reqs) != 1 || reqs[0].Auth != tt.wantAuth {
				t.Errorf("redirected requests = %+v, want Authorization %q", reqs, tt.wantAuth)
			}
		})
	}
}

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"leader":"tls"}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	ca := writePEM(t, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "CA file", cfg: Config{CACertFile: ca}},
		{name: "system roots reject a test certificate", cfg: Config{}, wantErr: true},
		{name: "insecure skip verify", cfg: Config{InsecureSkipVerify: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URLs = []string{srv.URL}
			c := newClient(t, cfg)
			l, err := c.Leader(context.Background())
			if tt.wantErr {
				if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
					t.Errorf("err = %v, want a certificate error", err)
				}
				return
			}
			if err != nil || l != "tls" {
				t.Errorf("Leader() = %q, %v", l, err)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	client := testcert.NewClient(t, "marathon-dataplane")
	certFile, keyFile, pool := client.CertFile, client.KeyFile, client.Pool
	combined := filepath.Join(t.TempDir(), "combined.pem")
	c1, _ := os.ReadFile(certFile)
	k1, _ := os.ReadFile(keyFile)
	os.WriteFile(combined, append(c1, k1...), 0o600)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"leader":"`+r.TLS.PeerCertificates[0].Subject.CommonName+`"}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	ca := writePEM(t, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)

	tests := []struct {
		name      string
		cert, key string
		wantErr   bool
	}{
		{name: "cert and key", cert: certFile, key: keyFile},
		{name: "combined PEM", cert: combined},
		{name: "no client cert", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{URLs: []string{srv.URL}, CACertFile: ca, ClientCertFile: tt.cert, ClientKeyFile: tt.key})
			l, err := c.Leader(context.Background())
			if tt.wantErr != (err != nil) {
				t.Fatalf("Leader() = %q, %v; wantErr %t", l, err, tt.wantErr)
			}
			if err == nil && l != "marathon-dataplane" {
				t.Errorf("server saw client %q", l)
			}
		})
	}
}

func TestConcurrentFailover(t *testing.T) {
	dead := deadURL(t)
	live := newFake(t, answer(http.StatusOK, `{"apps":[]}`))
	c := newClient(t, Config{URLs: []string{dead, live.URL}})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Apps(context.Background()); err != nil {
				t.Error(err)
			}
			_ = c.CurrentURL()
		}()
	}
	wg.Wait()
	if c.CurrentURL() != live.URL {
		t.Errorf("CurrentURL() = %s", c.CurrentURL())
	}
}

func TestRedirectDowngradeDropsCredentials(t *testing.T) {
	plain := newFake(t, answer(http.StatusOK, `{"leader":"plain"}`))
	plainLocalhost := strings.Replace(plain.URL, "127.0.0.1", "localhost", 1)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plainLocalhost+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer secure.Close()
	// Both hosts are configured, yet https→http must not carry the token.
	c := newClient(t, Config{URLs: []string{secure.URL, plainLocalhost}, DCOSToken: "tok", InsecureSkipVerify: true})
	if l, err := c.Leader(context.Background()); err != nil || l != "plain" {
		t.Fatalf("Leader() = %q, %v", l, err)
	}
	if reqs := plain.requests(); len(reqs) != 1 || reqs[0].Auth != "" {
		t.Errorf("requests after the downgrade = %+v, want no Authorization", reqs)
	}
}

// TestEachApp: apps come one at a time in the answer's order, other
// fields around the list are skipped, and an error from the callback
// stops the listing and comes back as it is.
func TestEachApp(t *testing.T) {
	f := newFake(t, answer(http.StatusOK, `{"before":{"x":[1,2]},"apps":[{"id":"/a"},{"id":"/b"},{"id":"/c"}],"after":null}`))
	c := newClient(t, Config{URLs: []string{f.URL}})
	var ids []string
	if err := c.EachApp(context.Background(), func(a App) error { ids = append(ids, a.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "/a,/b,/c" {
		t.Fatalf("apps %v", ids)
	}
	stop := errors.New("enough")
	ids = nil
	err := c.EachApp(context.Background(), func(a App) error { ids = append(ids, a.ID); return stop })
	if err != stop || len(ids) != 1 {
		t.Fatalf("a callback's error: %v after %v", err, ids)
	}
}
