// Package storetest is the contract every drc.Store passes: the directory store and
// the S3 store run the same suite (as restic's backends do), so that replication and
// repository seeding behave the same whatever a DRC is built on.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/cadang/cadang/drc"
)

// Run runs the suite against a fresh, empty store that newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) drc.Store) {
	ctx := context.Background()

	t.Run("missing objects", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Stat(ctx, "data/ab/missing"); !errors.Is(err, drc.ErrNotExist) {
			t.Errorf("Stat: want ErrNotExist, got %v", err)
		}
		if _, err := s.Get(ctx, "data/ab/missing"); !errors.Is(err, drc.ErrNotExist) {
			t.Errorf("Get: want ErrNotExist, got %v", err)
		}
		if err := s.Delete(ctx, "data/ab/missing"); err != nil {
			t.Errorf("Delete of a missing object: %v", err)
		}
		if got := list(t, s, ""); len(got) != 0 {
			t.Errorf("empty store lists %v", got)
		}
	})

	t.Run("put get stat list delete", func(t *testing.T) {
		s := newStore(t)
		objects := map[string][]byte{
			"config":          []byte("cfg"),
			"keys/k1":         []byte("key one"),
			"data/00/0011":    bytes.Repeat([]byte{1}, 1<<20+17),
			"data/ff/ff22":    {},
			"index/idx1":      []byte("index"),
			"snapshots/snap1": []byte("snap"),
		}
		for name, data := range objects {
			if err := s.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("Put %s: %v", name, err)
			}
		}
		for name, data := range objects {
			info, err := s.Stat(ctx, name)
			if err != nil || info.Size != int64(len(data)) || info.Name != name {
				t.Errorf("Stat %s = %+v, %v", name, info, err)
			}
			if got := get(t, s, name); !bytes.Equal(got, data) {
				t.Errorf("Get %s: %d bytes, want %d", name, len(got), len(data))
			}
		}
		if got, want := list(t, s, ""), sortedKeys(objects); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("List all = %v, want %v", got, want)
		}
		if got := list(t, s, "data/"); strings.Join(got, " ") != "data/00/0011 data/ff/ff22" {
			t.Errorf("List data/ = %v", got)
		}
		if got := list(t, s, "data/f"); strings.Join(got, " ") != "data/ff/ff22" {
			t.Errorf("List data/f = %v", got)
		}
		// Overwrite replaces whole.
		if err := s.Put(ctx, "config", strings.NewReader("new config"), 10); err != nil {
			t.Fatal(err)
		}
		if got := get(t, s, "config"); string(got) != "new config" {
			t.Errorf("after overwrite: %q", got)
		}
		if err := s.Delete(ctx, "keys/k1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "keys/k1"); !errors.Is(err, drc.ErrNotExist) {
			t.Errorf("deleted object still there: %v", err)
		}
	})

	t.Run("sub stores are disjoint", func(t *testing.T) {
		s := newStore(t)
		a, b := s.Sub("agency-a"), s.Sub("agency-b")
		put(t, a, "config", "A")
		put(t, b, "config", "B")
		if got := get(t, a, "config"); string(got) != "A" {
			t.Errorf("a/config = %q", got)
		}
		if got := list(t, s, ""); strings.Join(got, " ") != "agency-a/config agency-b/config" {
			t.Errorf("root lists %v", got)
		}
		if got := list(t, a, ""); strings.Join(got, " ") != "config" {
			t.Errorf("sub lists %v", got)
		}
	})

	t.Run("a failed put leaves nothing behind", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "data/aa/aa01", "old")
		err := s.Put(ctx, "data/aa/aa01", io.MultiReader(strings.NewReader("new da"), failingReader{}), 10)
		if err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		if got := get(t, s, "data/aa/aa01"); string(got) != "old" {
			t.Errorf("after a failed put the object is %q, want the old one", got)
		}
		err = s.Put(ctx, "data/aa/aa02", io.MultiReader(strings.NewReader("short"), failingReader{}), 10)
		if err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		if _, err := s.Stat(ctx, "data/aa/aa02"); !errors.Is(err, drc.ErrNotExist) {
			t.Errorf("a failed put left an object: %v", err)
		}
		if got := list(t, s, ""); strings.Join(got, " ") != "data/aa/aa01" {
			t.Errorf("a failed put left %v", got)
		}
	})

	t.Run("invalid names are refused", func(t *testing.T) {
		s := newStore(t)
		for _, name := range []string{"", "/abs", "../escape", "a/../../b"} {
			if err := s.Put(ctx, name, strings.NewReader("x"), 1); err == nil {
				t.Errorf("Put(%q) succeeded", name)
			}
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("injected read failure") }

func put(t *testing.T, s drc.Store, name, data string) {
	t.Helper()
	if err := s.Put(context.Background(), name, strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
}

func get(t *testing.T, s drc.Store, name string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	return b
}

func list(t *testing.T, s drc.Store, prefix string) []string {
	t.Helper()
	var names []string
	err := s.List(context.Background(), prefix, func(o drc.ObjectInfo) error {
		names = append(names, o.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	sort.Strings(names)
	return names
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Name returns a unique folder name for a test (for stores shared between tests).
func Name(t *testing.T) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
}
