package dataplane

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// RawConfigDetail is GET $S/configuration/raw with both versions: after a
// failed reload the body's _version (the file on disk) lags the header's
// Configuration-Version (the API's memory), which is how drift shows
// (notes §4.4).
type RawConfigDetail struct {
	Text string
	// Version is the Configuration-Version header: the one the next write
	// must send.
	Version int64
	// FileVersion is the body's _version.
	FileVersion int64
	// Checksum is the Configuration-Checksum header (md5 of the file).
	Checksum string
}

// RawConfig reads haproxy.cfg as the API has it (txID "" = live) and the
// version the next write must send.
func (c *Client) RawConfig(ctx context.Context, txID string) (string, int64, error) {
	d, err := c.RawConfigDetail(ctx, txID)
	return d.Text, d.Version, err
}

// RawConfigDetail reads haproxy.cfg with its header and body versions.
func (c *Client) RawConfigDetail(ctx context.Context, txID string) (RawConfigDetail, error) {
	var env struct {
		Version int64  `json:"_version"`
		Data    string `json:"data"`
	}
	resp, err := c.Do(ctx, "GET", svc+"/configuration/raw", txQuery(txID), nil, &env)
	if err != nil {
		return RawConfigDetail{}, err
	}
	d := RawConfigDetail{Text: env.Data, Version: versionOf(resp), FileVersion: env.Version,
		Checksum: resp.Header().Get("Configuration-Checksum")}
	if d.Version == 0 {
		d.Version = env.Version
	}
	return d, nil
}

// RawOptions are the query flags and header of a raw configuration POST.
type RawOptions struct {
	// SkipReload writes the file without reloading (201); it is the only
	// mode in which RuntimeActions are executed.
	SkipReload bool
	// ForceReload reloads inside the request (201, or 400 "Reload failed").
	ForceReload bool
	// OnlyValidate runs haproxy -c only (202, nothing written, version
	// unchanged; a broken config answers 400 without details).
	OnlyValidate bool
	// SkipVersion skips the version check; the API then adopts the
	// "# _version=" line of the posted text.
	SkipVersion bool
	// RuntimeActions go into X-Runtime-Actions, e.g. "SetServerWeight be
	// s1 33". They are joined with ";" and no space: the API silently
	// skips an action that follows "; " (notes §5).
	RuntimeActions []string
}

// PostRawConfig replaces the whole configuration with text (text/plain).
// A plain POST answers 202 with a ReloadID.
func (c *Client) PostRawConfig(ctx context.Context, version int64, text string, opt RawOptions) (WriteResult, error) {
	q := url.Values{}
	if opt.SkipVersion {
		q.Set("skip_version", "true")
	} else {
		q.Set("version", strconv.FormatInt(version, 10))
	}
	if opt.SkipReload {
		q.Set("skip_reload", "true")
	}
	if opt.ForceReload {
		q.Set("force_reload", "true")
	}
	if opt.OnlyValidate {
		q.Set("only_validate", "true")
	}
	var hdr map[string]string
	if len(opt.RuntimeActions) > 0 {
		if !opt.SkipReload {
			return WriteResult{}, fmt.Errorf("runtime actions are only executed with SkipReload")
		}
		for _, a := range opt.RuntimeActions {
			if a == "" || strings.ContainsAny(a, ";\r\n") || strings.TrimSpace(a) != a {
				return WriteResult{}, fmt.Errorf("runtime action %q: must be non-empty, without ';', newlines or surrounding spaces", a)
			}
		}
		hdr = map[string]string{"X-Runtime-Actions": strings.Join(opt.RuntimeActions, ";")}
	}
	resp, err := c.do(ctx, "POST", svc+"/configuration/raw", q, text, nil, hdr)
	if err != nil {
		return WriteResult{}, err
	}
	return writeResult(resp), nil
}
