package runtimeapi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// startMapped runs HAProxy routing by Host through a map file (initially
// a.example.com → be_a) to be_a, be_b, or be_app (the default, "def").
func startMapped(t *testing.T) (*fixture, string) {
	t.Helper()
	a, b, def := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "def")
	mapFile := filepath.Join(t.TempDir(), "hosts.map")
	if err := os.WriteFile(mapFile, []byte("a.example.com be_a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := start(t, fmt.Sprintf("    use_backend %%[req.hdr(host),lower,map(%s)]", mapFile), fmt.Sprintf(`
backend be_app
    server s1 %s

backend be_a
    server s1 %s

backend be_b
    server s1 %s
`, def.addr(), a.addr(), b.addr()))
	return f, mapFile
}

func TestMapEntries(t *testing.T) {
	t.Parallel()
	f, m := startMapped(t)
	ctx := context.Background()

	entries, err := f.c.ShowMap(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Key != "a.example.com" || entries[0].Value != "be_a" || entries[0].ID == "" {
		t.Fatalf("show map: %+v", entries)
	}
	f.wantOnly("a.example.com", 2, "a")
	f.wantOnly("b.example.com", 2, "def")

	if err := f.c.AddMapEntry(ctx, m, "b.example.com", "be_b"); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("b.example.com", 2, "b")
	if err := f.c.SetMapEntry(ctx, m, "b.example.com", "be_a"); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("b.example.com", 2, "a")
	if err := f.c.DelMapEntry(ctx, m, "b.example.com"); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("b.example.com", 2, "def")

	// Values with spaces and backslashes are escaped for the CLI parser.
	if err := f.c.AddMapEntry(ctx, m, `odd\key`, `two words\x`); err != nil {
		t.Fatal(err)
	}
	entries, _ = f.c.ShowMap(ctx, m)
	if len(entries) != 2 || entries[1].Key != `odd\key` || entries[1].Value != `two words\x` {
		t.Fatalf("escaped entry: %+v", entries)
	}
	if err := f.c.DelMapEntry(ctx, m, `odd\key`); err != nil {
		t.Fatal(err)
	}

	wantErr(t, f.c.SetMapEntry(ctx, m, "zzz", "be_a"), ErrMapEntryNotFound)
	wantErr(t, f.c.DelMapEntry(ctx, m, "zzz"), ErrMapEntryNotFound)
	wantErr(t, f.c.AddMapEntry(ctx, m+".nosuch", "k", "v"), ErrNoSuchMap)
	_, err = f.c.ShowMap(ctx, m+".nosuch")
	wantErr(t, err, ErrNoSuchMap)
	wantErr(t, f.c.AddMapEntry(ctx, m, "two words", "v"), ErrInvalidArgument)
	wantErr(t, f.c.AddMapEntry(ctx, m, "k", "v;x"), ErrInvalidArgument)
	wantErr(t, f.c.AddMapEntry(ctx, m, "k", ""), ErrInvalidArgument)

	if err := f.c.ClearMap(ctx, m); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("a.example.com", 2, "def")
	if entries, _ := f.c.ShowMap(ctx, m); len(entries) != 0 {
		t.Fatalf("after clear: %+v", entries)
	}
	// The file is untouched: runtime map changes are lost at a reload.
	if b, _ := os.ReadFile(m); string(b) != "a.example.com be_a\n" {
		t.Fatalf("map file changed: %q", b)
	}
}

func TestReplaceMap(t *testing.T) {
	t.Parallel()
	f, m := startMapped(t)
	ctx := context.Background()

	err := f.c.ReplaceMap(ctx, m, []MapEntry{{Key: "a.example.com", Value: "be_b"}, {Key: "c.example.com", Value: "be_a"}})
	if err != nil {
		t.Fatal(err)
	}
	f.wantOnly("a.example.com", 2, "b")
	f.wantOnly("c.example.com", 2, "a")
	f.wantOnly("b.example.com", 2, "def")
	entries, _ := f.c.ShowMap(ctx, m)
	if len(entries) != 2 || entries[0].Key != "a.example.com" || entries[1].Key != "c.example.com" {
		t.Fatalf("after replace: %+v", entries)
	}

	// Atomic: while the map is replaced over and over (a → be_a / be_b,
	// with 300 filler entries each time), a.example.com never misses.
	var misses, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if f.get("a.example.com", "/") == "def" {
				misses.Add(1)
			}
			total.Add(1)
		}
	}()
	for i := range 20 {
		backend := []string{"be_a", "be_b"}[i%2]
		entries := []MapEntry{{Key: "a.example.com", Value: backend}}
		for j := range 300 {
			entries = append(entries, MapEntry{Key: "filler" + strconv.Itoa(j) + ".example.com", Value: "be_b"})
		}
		if err := f.c.ReplaceMap(ctx, m, entries); err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if misses.Load() != 0 {
		t.Fatalf("%d of %d requests missed the map during replacements", misses.Load(), total.Load())
	}
	if entries, _ := f.c.ShowMap(ctx, m); len(entries) != 301 {
		t.Fatalf("after the last replace: %d entries", len(entries))
	}

	// Empty replacement, and errors.
	if err := f.c.ReplaceMap(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	f.wantOnly("a.example.com", 2, "def")
	wantErr(t, f.c.ReplaceMap(ctx, m+".nosuch", []MapEntry{{Key: "k", Value: "v"}}), ErrNoSuchMap)
	wantErr(t, f.c.ReplaceMap(ctx, m, []MapEntry{{Key: "k", Value: "v\nx"}}), ErrInvalidArgument)
}
