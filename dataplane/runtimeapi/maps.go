package runtimeapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// MapEntry is one line of "show map <map>". ID is HAProxy's entry
// reference ("0x55…"), usable as "#<id>" in set/del map; it is ignored by
// the writing helpers.
type MapEntry struct {
	ID, Key, Value string
}

// Map references are the map's file path as written in the configuration
// (e.g. "/etc/haproxy/hosts.map") or "#<id>" from "show map".

// ShowMap lists a map's current entries. ErrNoSuchMap when the map is not
// loaded by the configuration.
func (c *Client) ShowMap(ctx context.Context, mapRef string) ([]MapEntry, error) {
	if err := validMapRef(mapRef); err != nil {
		return nil, opErr("show map", mapRef, err)
	}
	out, err := c.Execute(ctx, "show map "+mapRef)
	if err != nil {
		return nil, err
	}
	return ParseMap(out), nil
}

// ParseMap parses "show map <map>" lines: "<id> <key> <value…>".
func ParseMap(answer string) []MapEntry {
	var out []MapEntry
	for _, line := range strings.Split(answer, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		e := MapEntry{ID: f[0]}
		if len(f) > 1 {
			e.Key = f[1]
		}
		if len(f) > 2 {
			e.Value = f[2]
		}
		out = append(out, e)
	}
	return out
}

func mapEntryArgs(mapRef, key string, value *string) error {
	if err := validMapRef(mapRef); err != nil {
		return err
	}
	if err := validMapKey(key); err != nil {
		return err
	}
	if value != nil {
		return validMapValue(*value)
	}
	return nil
}

// AddMapEntry adds key → value. HAProxy does not check for an existing key
// (a second entry with the same key is added; lookups return the first):
// use SetMapEntry to change a value.
func (c *Client) AddMapEntry(ctx context.Context, mapRef, key, value string) error {
	if err := mapEntryArgs(mapRef, key, &value); err != nil {
		return opErr("add map entry to", mapRef, err)
	}
	_, err := c.command(ctx, "add map "+mapRef+" "+escapeArg(key)+" "+escapeArg(value), empty)
	return err
}

// SetMapEntry changes the value of every entry with key
// (ErrMapEntryNotFound when there is none).
func (c *Client) SetMapEntry(ctx context.Context, mapRef, key, value string) error {
	if err := mapEntryArgs(mapRef, key, &value); err != nil {
		return opErr("set map entry in", mapRef, err)
	}
	_, err := c.command(ctx, "set map "+mapRef+" "+escapeArg(key)+" "+escapeArg(value), empty)
	return err
}

// DelMapEntry deletes every entry with key (ErrMapEntryNotFound when there
// is none).
func (c *Client) DelMapEntry(ctx context.Context, mapRef, key string) error {
	if err := mapEntryArgs(mapRef, key, nil); err != nil {
		return opErr("delete map entry from", mapRef, err)
	}
	_, err := c.command(ctx, "del map "+mapRef+" "+escapeArg(key), empty)
	return err
}

// ClearMap removes every entry of the current version. Lookups miss until
// entries are added again: ReplaceMap swaps atomically instead.
func (c *Client) ClearMap(ctx context.Context, mapRef string) error {
	if err := validMapRef(mapRef); err != nil {
		return opErr("clear map", mapRef, err)
	}
	_, err := c.command(ctx, "clear map "+mapRef, empty)
	return err
}

// ReplaceMap atomically replaces a map's contents with entries: "prepare
// map" allocates a version, "add map @<ver>" fills it (one batch, invisible
// to lookups), and "commit map @<ver>" swaps it in. On failure before the
// commit the prepared version is cleared and the live map is untouched.
// Like every runtime change it is lost at the next reload unless the map
// file is written too.
func (c *Client) ReplaceMap(ctx context.Context, mapRef string, entries []MapEntry) error {
	if err := validMapRef(mapRef); err != nil {
		return opErr("replace map", mapRef, err)
	}
	cmds := make([]string, 0, len(entries))
	for _, e := range entries {
		if err := mapEntryArgs(mapRef, e.Key, &e.Value); err != nil {
			return opErr("replace map", mapRef, err)
		}
	}
	prepare := "prepare map " + mapRef
	out, err := c.command(ctx, prepare, func(a string) bool { return strings.HasPrefix(a, "New version created: ") })
	if err != nil {
		return err
	}
	ver, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(out, "New version created: ")), 10, 32)
	if err != nil {
		return fmt.Errorf("runtimeapi: %q: %w: %q", prepare, ErrProtocol, out)
	}
	at := "@" + strconv.FormatUint(ver, 10) + " " + mapRef
	for _, e := range entries {
		cmds = append(cmds, "add map "+at+" "+escapeArg(e.Key)+" "+escapeArg(e.Value))
	}
	abort := func(cause error) error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		if _, err := c.command(cctx, "clear map "+at, empty); err != nil {
			c.log.Warn("runtime api: could not clear prepared map version", zap.String("map", mapRef), zap.Uint64("version", ver), zap.Error(err))
		}
		return cause
	}
	if len(cmds) > 0 {
		answers, err := c.ExecuteBatch(ctx, cmds)
		if err != nil {
			return abort(err)
		}
		var errs []error
		for i, a := range answers {
			if !empty(a) {
				errs = append(errs, failed(cmds[i], a))
			}
		}
		if len(errs) > 0 {
			return abort(fmt.Errorf("runtimeapi: replace map %s: %w", mapRef, errors.Join(errs...)))
		}
	}
	if _, err := c.command(ctx, "commit map "+at, empty); err != nil {
		return abort(err)
	}
	return nil
}
