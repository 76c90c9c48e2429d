package marathon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// appPath is /v2/apps/<id>: the id's leading '/' is optional, its
// segments are escaped one by one so the group separators stay.
func appPath(id string) (string, error) {
	id = strings.Trim(id, "/")
	if id == "" {
		return "", errors.New("marathon: empty app id")
	}
	segs := strings.Split(id, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/v2/apps/" + strings.Join(segs, "/"), nil
}

func forceQuery(force bool) url.Values {
	if !force {
		return nil
	}
	return url.Values{"force": {"true"}}
}

// readOnlyAppField names the AppInfo fields Marathon computes. They are
// dropped from App bodies: "version" in a PUT means "roll back to that
// version" and Marathon rejects it next to other fields.
func readOnlyAppField(name string) bool {
	switch name {
	case "version", "versionInfo", "tasks", "deployments", "tasksStaged", "tasksRunning", "tasksHealthy",
		"tasksUnhealthy", "lastTaskFailure", "readinessCheckResults", "taskStats", "counts":
		return true
	}
	return false
}

// encodeBody marshals a request body. An App (or *App), typically read
// from Marathon and modified, loses its read-only fields; anything else
// (a map for a partial update, json.RawMessage) is sent as it is.
func encodeBody(body any) ([]byte, error) {
	if raw, ok := body.(json.RawMessage); ok {
		return raw, nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("marathon request body: %w", err)
	}
	switch body.(type) {
	case App, *App:
		return dropReadOnly(raw)
	}
	return raw, nil
}

func dropReadOnly(raw []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("marathon request body: %w", err)
	}
	for k := range fields {
		if readOnlyAppField(k) {
			delete(fields, k)
		}
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("marathon request body: %w", err)
	}
	return out, nil
}

// Apps returns every app with its tasks and deployments embedded. A body
// without an "apps" field is ErrInvalidResponse (marathon-lb then failed
// the regeneration too), never an empty list that would empty HAProxy.
func (c *Client) Apps(ctx context.Context) ([]App, error) {
	apps := []App{}
	err := c.EachApp(ctx, func(a App) error {
		apps = append(apps, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return apps, nil
}

// EachApp is Apps one app at a time, each handed to fn as soon as it is
// decoded: neither the answer (tens of MB at 10,000 apps) nor the whole
// list is ever held. An error from fn stops the listing and is returned
// as it is; the apps handed over before an error are a partial listing.
func (c *Client) EachApp(ctx context.Context, fn func(App) error) error {
	var fnErr error
	cl := call{method: http.MethodGet, path: "/v2/apps", query: url.Values{"embed": {"apps.tasks", "apps.deployments"}},
		stream: func(body io.Reader) error {
			err := eachApp(json.NewDecoder(body), func(a App) error {
				if err := fn(a); err != nil {
					fnErr = err
					return err
				}
				return nil
			})
			if err != nil && fnErr == nil {
				return fmt.Errorf("%w: %w%s", ErrInvalidResponse, err, jsonOffset(err))
			}
			return err
		}}
	if _, err := c.do(ctx, cl); fnErr == nil {
		return err
	}
	return fnErr
}

// eachApp decodes {"apps": [app, ...], ...} one app at a time.
func eachApp(dec *json.Decoder, fn func(App) error) error {
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty body")
	case err != nil:
		return err
	case tok != json.Delim('{'):
		return fmt.Errorf("want a JSON object, got %v", tok)
	}
	found := false
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		if key != "apps" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			continue // "apps": null is no list
		}
		if tok != json.Delim('[') {
			return fmt.Errorf(`"apps" is %v, want a list`, tok)
		}
		for dec.More() {
			var a App
			start := dec.InputOffset()
			if err := dec.Decode(&a); err != nil {
				// The decoder counts a value's type errors from the
				// value's start: from the answer's, as Unmarshal does.
				var typ *json.UnmarshalTypeError
				if errors.As(err, &typ) {
					typ.Offset += start
				}
				return err
			}
			if err := fn(a); err != nil {
				return err
			}
		}
		if err := wantDelim(dec, ']'); err != nil {
			return err
		}
		found = true
	}
	if err := wantDelim(dec, '}'); err != nil {
		return err
	}
	if !found {
		return errors.New(`no "apps" field`)
	}
	return nil
}

func wantDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("want %q, got %v", d, tok)
	}
	return nil
}

// App returns one app with its tasks embedded; an unknown id is an
// *APIError matching ErrNotFound.
func (c *Client) App(ctx context.Context, id string) (App, error) {
	p, err := appPath(id)
	if err != nil {
		return App{}, err
	}
	var out struct {
		App *App `json:"app"`
	}
	cl := call{method: http.MethodGet, path: p, query: url.Values{"embed": {"app.tasks"}}}
	r, err := c.do(ctx, cl)
	if err != nil {
		return App{}, err
	}
	if err := decodeBody(cl.method, r, &out, false); err != nil {
		return App{}, err
	}
	if out.App == nil {
		return App{}, fmt.Errorf("marathon GET %s: %w: no \"app\" field", r.url, ErrInvalidResponse)
	}
	return *out.App, nil
}

// Tasks returns every task of every app.
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	return c.tasks(ctx, "/v2/tasks")
}

// AppTasks returns the tasks of one app.
func (c *Client) AppTasks(ctx context.Context, id string) ([]Task, error) {
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	return c.tasks(ctx, p+"/tasks")
}

func (c *Client) tasks(ctx context.Context, path string) ([]Task, error) {
	var out struct {
		Tasks *[]Task `json:"tasks"`
	}
	cl := call{method: http.MethodGet, path: path}
	r, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := decodeBody(cl.method, r, &out, false); err != nil {
		return nil, err
	}
	if out.Tasks == nil {
		return nil, fmt.Errorf("marathon GET %s: %w: no \"tasks\" field", r.url, ErrInvalidResponse)
	}
	return *out.Tasks, nil
}

// Info is GET /v2/info.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.doJSON(ctx, call{method: http.MethodGet, path: "/v2/info"}, &out)
	return out, err
}

// Leader returns the current leader's host:port. Without a leader
// Marathon answers 404 (ErrNotFound) or 503 (failover, then ErrUnreachable).
func (c *Client) Leader(ctx context.Context) (string, error) {
	var out struct {
		Leader *string `json:"leader"`
	}
	cl := call{method: http.MethodGet, path: "/v2/leader"}
	r, err := c.do(ctx, cl)
	if err != nil {
		return "", err
	}
	if err := decodeBody(cl.method, r, &out, false); err != nil {
		return "", err
	}
	if out.Leader == nil {
		return "", fmt.Errorf("marathon GET %s: %w: no \"leader\" field", r.url, ErrInvalidResponse)
	}
	return *out.Leader, nil
}

// Ping checks that Marathon answers GET /ping with 200 "pong". Marathon
// answers plain text, or the JSON string "pong" when JSON is preferred;
// both are accepted.
func (c *Client) Ping(ctx context.Context) error {
	r, err := c.do(ctx, call{method: http.MethodGet, path: "/ping", accept: "text/plain, */*"})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK || strings.Trim(strings.TrimSpace(string(r.body)), `"`) != "pong" {
		return fmt.Errorf("marathon GET %s: %w: want 200 \"pong\", got %d %q", r.url, ErrInvalidResponse, r.status, excerpt(string(r.body), maxErrorText))
	}
	return nil
}

// CreateApp POSTs a new app (read-only fields dropped) and returns it as
// Marathon stored it. An existing id is an *APIError with status 409.
func (c *Client) CreateApp(ctx context.Context, app App) (App, error) {
	body, err := encodeBody(app)
	if err != nil {
		return App{}, err
	}
	return c.postApp(ctx, body)
}

func (c *Client) postApp(ctx context.Context, body []byte) (App, error) {
	var out App
	err := c.doJSON(ctx, call{method: http.MethodPost, path: "/v2/apps", body: body}, &out)
	return out, err
}

// CreateAppJSON POSTs an app definition as it is, so that fields App does
// not model (and defaults the definition leaves out, such as cpus or mem)
// reach Marathon unchanged; it returns the app as Marathon stored it.
func (c *Client) CreateAppJSON(ctx context.Context, def json.RawMessage) (App, error) {
	return c.postApp(ctx, def)
}

// UpdateApp PUTs body to the app: an App (read-only fields dropped, so
// this is a full replace) or a partial map such as {"instances": 3}. With
// force, Marathon cancels a deployment that locks the app instead of
// answering 409.
func (c *Client) UpdateApp(ctx context.Context, id string, body any, force bool) (DeploymentResult, error) {
	return c.writeApp(ctx, http.MethodPut, id, body, force)
}

// PatchApp PATCHes the app: only the fields in body change.
func (c *Client) PatchApp(ctx context.Context, id string, body any, force bool) (DeploymentResult, error) {
	return c.writeApp(ctx, http.MethodPatch, id, body, force)
}

func (c *Client) writeApp(ctx context.Context, method, id string, body any, force bool) (DeploymentResult, error) {
	p, err := appPath(id)
	if err != nil {
		return DeploymentResult{}, err
	}
	raw, err := encodeBody(body)
	if err != nil {
		return DeploymentResult{}, err
	}
	var out DeploymentResult
	err = c.doJSON(ctx, call{method: method, path: p, query: forceQuery(force), body: raw}, &out)
	return out, err
}

// ScaleApp sets the app's instance count (PUT {"instances": n}).
func (c *Client) ScaleApp(ctx context.Context, id string, instances int, force bool) (DeploymentResult, error) {
	return c.UpdateApp(ctx, id, map[string]int{"instances": instances}, force)
}

// DeleteApp destroys the app and kills its tasks.
func (c *Client) DeleteApp(ctx context.Context, id string, force bool) (DeploymentResult, error) {
	p, err := appPath(id)
	if err != nil {
		return DeploymentResult{}, err
	}
	var out DeploymentResult
	err = c.doJSON(ctx, call{method: http.MethodDelete, path: p, query: forceQuery(force)}, &out)
	return out, err
}

// KillTask kills one task of an app. With scale the app's instance count
// drops by one; without, Marathon starts a replacement.
func (c *Client) KillTask(ctx context.Context, appID, taskID string, scale bool) error {
	p, err := appPath(appID)
	if err != nil {
		return err
	}
	if taskID == "" {
		return errors.New("marathon: empty task id")
	}
	q := url.Values{"scale": {strconv.FormatBool(scale)}}
	_, err = c.do(ctx, call{method: http.MethodDelete, path: p + "/tasks/" + url.PathEscape(taskID), query: q})
	return err
}

// KillTasks kills several tasks, of any apps, in one request. An empty
// list sends nothing.
func (c *Client) KillTasks(ctx context.Context, taskIDs []string, scale bool) error {
	if len(taskIDs) == 0 {
		return nil
	}
	body, err := encodeBody(map[string][]string{"ids": taskIDs})
	if err != nil {
		return err
	}
	q := url.Values{"scale": {strconv.FormatBool(scale)}}
	_, err = c.do(ctx, call{method: http.MethodPost, path: "/v2/tasks/delete", query: q, body: body})
	return err
}

// Deployments lists the running deployments.
func (c *Client) Deployments(ctx context.Context) ([]Deployment, error) {
	var out []Deployment
	err := c.doJSON(ctx, call{method: http.MethodGet, path: "/v2/deployments"}, &out)
	return out, err
}

// DeleteDeployment rolls a deployment back by starting a new one (the
// result names it); with force it just stops it, and Marathon answers
// 202 without a body, which leaves the result empty.
func (c *Client) DeleteDeployment(ctx context.Context, id string, force bool) (DeploymentResult, error) {
	if id == "" {
		return DeploymentResult{}, errors.New("marathon: empty deployment id")
	}
	cl := call{method: http.MethodDelete, path: "/v2/deployments/" + url.PathEscape(id), query: forceQuery(force)}
	r, err := c.do(ctx, cl)
	if err != nil {
		return DeploymentResult{}, err
	}
	var out DeploymentResult
	err = decodeBody(cl.method, r, &out, true)
	return out, err
}
