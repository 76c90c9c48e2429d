package dataplane

import (
	"context"
	"fmt"
	"net/url"
)

// fileUpload is a multipart/form-data body with one file.
type fileUpload struct {
	field, name string
	content     []byte
}

// StorageMap is models.MapFile as $S/storage/maps lists it.
type StorageMap struct {
	StorageName string `json:"storage_name"`
	// File is the map file's path as HAProxy sees it; configuration refers
	// to the map by this path.
	File        string `json:"file,omitempty"`
	Description string `json:"description,omitempty"`
	Size        *int64 `json:"size,omitempty"`
}

// StorageMaps lists the map files the API manages (maps cannot be part of
// a configuration transaction, notes §7).
func (c *Client) StorageMaps(ctx context.Context) ([]StorageMap, error) {
	var out []StorageMap
	_, err := c.do(ctx, "GET", svc+"/storage/maps", nil, nil, &out, nil)
	return out, err
}

// CreateStorageMap uploads a new map file (no reload). An existing name is
// a 409.
func (c *Client) CreateStorageMap(ctx context.Context, name, text string) (StorageMap, error) {
	var out StorageMap
	_, err := c.do(ctx, "POST", svc+"/storage/maps", nil, fileUpload{field: "file_upload", name: name, content: []byte(text)}, &out, nil)
	return out, err
}

// StorageMapText returns a map file's text.
func (c *Client) StorageMapText(ctx context.Context, name string) (string, error) {
	resp, err := c.do(ctx, "GET", svc+"/storage/maps/"+url.PathEscape(name), nil, nil, nil, nil)
	if err != nil {
		return "", err
	}
	return string(resp.Body()), nil
}

// ReplaceStorageMap replaces a map file's text. Without skipReload HAProxy
// reloads (202, ReloadID set); with it the file changes and the running
// map does not (204): the caller updates it through the Runtime API.
func (c *Client) ReplaceStorageMap(ctx context.Context, name, text string, skipReload bool) (WriteResult, error) {
	q := url.Values{}
	if skipReload {
		q.Set("skip_reload", "true")
	}
	resp, err := c.do(ctx, "PUT", svc+"/storage/maps/"+url.PathEscape(name), q, text, nil, nil)
	if err != nil {
		return WriteResult{}, fmt.Errorf("replace map file %s: %w", name, err)
	}
	return writeResult(resp), nil
}
