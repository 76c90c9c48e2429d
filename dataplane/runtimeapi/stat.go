package runtimeapi

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Stat row types (the "type" column).
const (
	StatTypeFrontend = 0
	StatTypeBackend  = 1
	StatTypeServer   = 2
	StatTypeListener = 3
)

// StatRow is one line of "show stat" (CSV). Fields holds every column by
// its header name; the typed fields are the ones the sync loop reads.
type StatRow struct {
	Proxy string // pxname
	// Server is svname: a server name, or FRONTEND / BACKEND.
	Server string
	// Status is e.g. "UP", "UP 1/3" (going down), "DOWN", "DRAIN",
	// "MAINT", "no check", "OPEN": compare by prefix.
	Status                 string
	Weight                 int
	Scur, Qcur, Smax, Stot int64
	Addr                   string
	CheckStatus            string
	// Act and Bck count active/backup servers on backend rows (and are
	// 1/0 flags on server rows). After dynamic server deletions on 2.6
	// the backend's Act can read 4294967295 (an unsigned underflow).
	Act, Bck int
	Type     int
	Fields   map[string]string
}

// Field returns a column by its header name ("" when absent).
func (r StatRow) Field(name string) string { return r.Fields[name] }

// Up reports a status starting with "UP" (including "UP 1/3").
func (r StatRow) Up() bool { return strings.HasPrefix(r.Status, "UP") }

// ShowStat runs "show stat" for every proxy (proxy "") or for one proxy:
// its rows, the backend's and its servers' when a backend has that name.
// HAProxy looks a name up among every proxy and takes the first, so
// "show stat <name> -1 -1" on a name a frontend and a backend share (every
// service port of marathon-lb's naming) answers the frontend's row alone;
// a backend is therefore asked for by its numeric id (iid), learnt from
// "show stat -1 2 -1" and kept until an answer names another proxy. An
// unknown proxy is ErrNoSuchBackend, from "No such proxy.".
func (c *Client) ShowStat(ctx context.Context, proxy string) ([]StatRow, error) {
	if proxy == "" {
		return c.showStat(ctx, "show stat")
	}
	if err := validName("proxy", proxy); err != nil {
		return nil, opErr("show stat of", proxy, err)
	}
	for attempt := 0; attempt < 2; attempt++ {
		iid, ok := c.backendIID(proxy)
		if !ok {
			if attempt > 0 {
				break
			}
			if err := c.learnBackendIIDs(ctx); err != nil {
				return nil, err
			}
			continue
		}
		rows, err := c.showStat(ctx, "show stat "+iid+" -1 -1")
		if err == nil && slices.ContainsFunc(rows, func(r StatRow) bool { return r.Type == StatTypeBackend && r.Proxy == proxy }) {
			return rows, nil
		}
		// Ids move when the configuration is reloaded: learn them again.
		if err := c.learnBackendIIDs(ctx); err != nil {
			return nil, err
		}
	}
	return c.showStat(ctx, "show stat "+proxy+" -1 -1")
}

func (c *Client) backendIID(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	iid, ok := c.iids[name]
	return iid, ok
}

// learnBackendIIDs reads every backend's numeric id. Only the columns up
// to iid are split: at 10,000 backends the whole CSV (over 90 columns a
// row) took a tenth of a second to parse, on the path of the first
// server removal after a reload.
func (c *Client) learnBackendIIDs(ctx context.Context) error {
	const cmd = "show stat -1 2 -1"
	out, err := c.Execute(ctx, cmd)
	if err != nil {
		return err
	}
	header, body, _ := strings.Cut(out, "\n")
	h, ok := strings.CutPrefix(header, "# ")
	cols := strings.Split(strings.TrimSuffix(h, ","), ",")
	col := slices.Index(cols, "iid")
	if !ok || len(cols) < 2 || cols[0] != "pxname" || col < 0 {
		return failed(cmd, out)
	}
	iids := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		f := strings.SplitN(line, ",", col+2)
		if len(f) > col && f[1] == "BACKEND" {
			// Copies: substrings would keep the whole answer alive (MBs
			// at 10,000 backends) for as long as the ids.
			iids[strings.Clone(f[0])] = strings.Clone(f[col])
		}
	}
	c.mu.Lock()
	c.iids = iids
	c.mu.Unlock()
	return nil
}

func (c *Client) showStat(ctx context.Context, cmd string) ([]StatRow, error) {
	out, err := c.Execute(ctx, cmd)
	if err != nil {
		return nil, err
	}
	rows, err := ParseStat(out)
	if err != nil {
		// Some other message instead of CSV.
		return nil, failed(cmd, out)
	}
	return rows, nil
}

// ParseStat parses a "show stat" CSV answer: a header "# pxname,svname,…"
// then one row per object.
func ParseStat(answer string) ([]StatRow, error) {
	header, body, _ := strings.Cut(answer, "\n")
	h, _ := strings.CutPrefix(header, "# ")
	cols := strings.Split(strings.TrimSuffix(h, ","), ",")
	if !strings.HasPrefix(header, "# ") || len(cols) < 2 || cols[0] != "pxname" {
		return nil, fmt.Errorf("%w: want a \"# pxname,…\" header, got %q", ErrProtocol, firstLine(answer))
	}
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	var rows []StatRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: show stat: %w", ErrProtocol, err)
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		fields := make(map[string]string, len(cols))
		for i, name := range cols {
			if i < len(rec) {
				fields[name] = rec[i]
			}
		}
		rows = append(rows, StatRow{
			Proxy:       fields["pxname"],
			Server:      fields["svname"],
			Status:      fields["status"],
			Weight:      int(num(fields["weight"])),
			Scur:        num(fields["scur"]),
			Qcur:        num(fields["qcur"]),
			Smax:        num(fields["smax"]),
			Stot:        num(fields["stot"]),
			Addr:        fields["addr"],
			CheckStatus: fields["check_status"],
			Act:         int(num(fields["act"])),
			Bck:         int(num(fields["bck"])),
			Type:        int(num(fields["type"])),
			Fields:      fields,
		})
	}
	return rows, nil
}

// num parses a counter; empty (not applicable to this row) is 0.
func num(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// ShowInfo runs "show info" and returns its "Key: value" lines.
func (c *Client) ShowInfo(ctx context.Context) (map[string]string, error) {
	out, err := c.Execute(ctx, "show info")
	if err != nil {
		return nil, err
	}
	info := ParseInfo(out)
	if info["Name"] == "" {
		return nil, fmt.Errorf("runtimeapi: show info: %w: %q", ErrProtocol, firstLine(out))
	}
	return info, nil
}

// ParseInfo parses "Key: value" lines.
func ParseInfo(answer string) map[string]string {
	info := map[string]string{}
	for _, line := range strings.Split(answer, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" {
			continue
		}
		info[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return info
}
