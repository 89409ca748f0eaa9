package testenv

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// Entry is what a tree comparison looks at for one path.
type Entry struct {
	Type    string // file, dir, symlink, other
	Mode    fs.FileMode
	UID     uint32
	GID     uint32
	Size    int64
	MTimeNs int64 // files and symlinks (directories' times change as a restore fills them)
	Link    string
	SHA256  string
}

// Tree describes every path below root, keyed by its path relative to root.
func Tree(t testing.TB, root string) map[string]Entry {
	t.Helper()
	out := map[string]Entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		e := Entry{Mode: info.Mode(), UID: st.Uid, GID: st.Gid}
		switch {
		case info.Mode().IsRegular():
			e.Type, e.Size, e.MTimeNs, e.SHA256 = "file", info.Size(), info.ModTime().UnixNano(), fileHash(t, p)
		case info.IsDir():
			e.Type = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			e.Type, e.MTimeNs = "symlink", info.ModTime().UnixNano()
			e.Link, _ = os.Readlink(p)
		default:
			e.Type = "other"
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fileHash(t testing.TB, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// DiffTrees lists the differences between two trees (empty when equal).
func DiffTrees(want, got map[string]Entry) []string {
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			diffs = append(diffs, "missing: "+p)
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s: want %+v, got %+v", p, w, g))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, "extra: "+p)
		}
	}
	sort.Strings(diffs)
	return diffs
}

// RandomFile writes size bytes of incompressible data from seed.
func RandomFile(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	if _, err := io.CopyN(f, r, size); err != nil {
		t.Fatal(err)
	}
}

// OneLine reports whether s is a single line.
func OneLine(s string) bool { return !strings.Contains(strings.TrimRight(s, "\n"), "\n") }
