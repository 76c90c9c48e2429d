package sync

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
)

// MapStorage is what --haproxy-map needs from the Data Plane API: map files
// live outside the configuration and its transactions (notes §7).
type MapStorage interface {
	StorageMaps(ctx context.Context) ([]dataplane.StorageMap, error)
	CreateStorageMap(ctx context.Context, name, text string) (dataplane.StorageMap, error)
	StorageMapText(ctx context.Context, name string) (string, error)
	ReplaceStorageMap(ctx context.Context, name, text string, skipReload bool) (dataplane.WriteResult, error)
	WaitReload(ctx context.Context, id string) (dataplane.Reload, error)
}

// RuntimeMaps changes a running map without a reload (stats socket).
type RuntimeMaps interface {
	ShowMap(ctx context.Context, mapRef string) ([]runtimeapi.MapEntry, error)
	ReplaceMap(ctx context.Context, mapRef string, entries []runtimeapi.MapEntry) error
}

// mapFiles returns the path HAProxy knows each map file by, creating the
// missing files (empty) when create is set. Without create (plan), a
// missing file is shown under its storage name.
func (s *Syncer) mapFiles(ctx context.Context, create bool) (map[string]string, error) {
	if s.mapPaths != nil {
		return s.mapPaths, nil
	}
	if s.Maps == nil {
		return nil, errors.New("--haproxy-map needs the Data Plane API's map storage")
	}
	have, err := s.Maps.StorageMaps(ctx)
	if err != nil {
		return nil, fmt.Errorf("list map files: %w", err)
	}
	paths := map[string]string{}
	for _, m := range have {
		paths[m.StorageName] = m.File
	}
	complete := true
	for _, name := range []string{DomainMap, AppMap} {
		if paths[name] != "" {
			continue
		}
		if !create {
			paths[name], complete = path.Join("<maps_dir>", name), false
			continue
		}
		m, err := s.Maps.CreateStorageMap(ctx, name, "")
		if err != nil {
			return nil, fmt.Errorf("create map file %s: %w", name, err)
		}
		s.log().Info("created map file", zap.String("map", name), zap.String("file", m.File))
		paths[name] = m.File
	}
	if complete {
		s.mapPaths = paths
	}
	return paths, nil
}

// syncMaps makes the map files and the running maps hold entries. The file
// is written without a reload, then the running map is replaced atomically
// through the Runtime API: a vhost added to, moved between or removed from
// apps never reloads HAProxy. Without a stats socket the file is written
// with a reload instead.
func (s *Syncer) syncMaps(ctx context.Context, maps map[string][]MapEntry, paths map[string]string, keep map[string]bool) error {
	for _, name := range []string{DomainMap, AppMap} {
		have, err := s.Maps.StorageMapText(ctx, name)
		if err != nil {
			return fmt.Errorf("read map file %s: %w", name, err)
		}
		// The entries of rejected apps stay, as their other objects do.
		maps[name] = append(maps[name], keptEntries(have, maps[name], keep)...)
		want := MapText(maps[name])
		if have != want {
			wr, err := s.Maps.ReplaceStorageMap(ctx, name, want, s.RuntimeMaps != nil)
			if err != nil {
				return err
			}
			if wr.ReloadID != "" {
				s.log().Warn("map change reloads HAProxy (no --haproxy-socket)", zap.String("map", name), zap.String("reload_id", wr.ReloadID))
				if _, err := s.Maps.WaitReload(ctx, wr.ReloadID); err != nil {
					return fmt.Errorf("reload after writing map file %s: %w", name, err)
				}
			}
			s.log().Info("map file written", zap.String("map", name), zap.Int("entries", len(maps[name])))
		}
		if s.RuntimeMaps == nil {
			continue
		}
		live, err := s.RuntimeMaps.ShowMap(ctx, paths[name])
		if err != nil {
			return fmt.Errorf("read running map %s: %w", name, err)
		}
		if sameEntries(live, maps[name]) {
			continue
		}
		entries := make([]runtimeapi.MapEntry, len(maps[name]))
		for i, e := range maps[name] {
			entries[i] = runtimeapi.MapEntry{Key: e.Key, Value: e.Value}
		}
		if err := s.RuntimeMaps.ReplaceMap(ctx, paths[name], entries); err != nil {
			return fmt.Errorf("replace running map %s: %w", name, err)
		}
		s.log().Info("running map replaced without reload", zap.String("map", name), zap.Int("entries", len(entries)))
	}
	return nil
}

func sameEntries(live []runtimeapi.MapEntry, want []MapEntry) bool {
	if len(live) != len(want) {
		return false
	}
	for i := range want {
		if live[i].Key != want[i].Key || live[i].Value != want[i].Value {
			return false
		}
	}
	return true
}

// keptEntries are the lines of a map file that route to a backend in keep
// and that want lacks.
func keptEntries(text string, want []MapEntry, keep map[string]bool) []MapEntry {
	if len(keep) == 0 {
		return nil
	}
	seen := map[MapEntry]bool{}
	for _, e := range want {
		seen[e] = true
	}
	var out []MapEntry
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !keep[f[1]] {
			continue
		}
		if e := (MapEntry{f[0], f[1]}); !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}
