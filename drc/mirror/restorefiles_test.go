package mirror_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/drc/storetest"
	"github.com/cadang/cadang/internal/testenv"
)

// RestoreFiles gives, from several snapshots at once, exactly the files that `restic
// restore` of each, one after the other into the same folder, gives (a later
// snapshot's file replacing an earlier one's), and refuses a damaged pack or an entry
// that is not a file or a folder, leaving no half file behind.
func TestRestoreFilesMatchesRestic(t *testing.T) {
	x := newPair(t)
	repo := x.p.Repo(agency)
	batch := func(files map[string]int64, seed uint64) string {
		src := tree(t, files, seed)
		var names []string
		for n := range files {
			names = append(names, strings.Split(n, "/")[0])
		}
		sum, _, err := repo.Backup(x.ctx, drc.BackupOptions{Dir: src, Paths: names, Host: "t", Tags: []string{"target=t1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sum.SnapshotID
	}
	ids := []string{batch(map[string]int64{"000000010000000000000001": 6 << 20, "000000010000000000000002": 3 << 20}, 1)}
	before := map[string]bool{}
	for _, p := range objectNames(t, repo.Store, "data/") {
		before[p] = true
	}
	ids = append(ids, batch(map[string]int64{"000000010000000000000003": 5 << 20, "sub/x.history": 100 << 10, "empty": 0}, 11))
	// The packs the second snapshot wrote: every blob in them is needed by the restore
	// below (the third snapshot replaces a file of the first only).
	var second []string
	for _, p := range objectNames(t, repo.Store, "data/") {
		if !before[p] {
			second = append(second, p)
		}
	}
	ids = append(ids, batch(map[string]int64{"000000010000000000000002": 1 << 20}, 21)) // replaces the first one's

	c := mirror.NewContents(agency)
	got := t.TempDir()
	n, err := c.RestoreFiles(x.ctx, repo, ids, got)
	if err != nil {
		t.Fatal(err)
	}
	want := t.TempDir()
	for _, id := range ids {
		if _, err := repo.Restore(x.ctx, id, want, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Contents compared (the modes are restic's to keep, RestoreFiles writes 0600).
	contents := func(root string) map[string]string {
		out := map[string]string{}
		for p, e := range testenv.Tree(t, root) {
			out[p] = e.Type + " " + e.SHA256
		}
		return out
	}
	g, w := contents(got), contents(want)
	if len(g) != len(w) || n != 5 {
		t.Errorf("%d files restored; entries %v, restic's %v", n, g, w)
	}
	for p, e := range w {
		if g[p] != e {
			t.Errorf("%s: %q, restic restored %q", p, g[p], e)
		}
	}
	if st, err := os.Stat(filepath.Join(got, "000000010000000000000002")); err != nil || st.Size() != 1<<20 {
		t.Errorf("the later snapshot's file does not replace the earlier one's: %v %v", st, err)
	}

	// A symbolic link is not restored this way: named.
	src := t.TempDir()
	if err := os.Symlink("elsewhere", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	sum, _, err := repo.Backup(x.ctx, drc.BackupOptions{Dir: src, Paths: []string{"link"}, Host: "t", Tags: []string{"target=t1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RestoreFiles(x.ctx, repo, []string{sum.SnapshotID}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "link is a symlink") {
		t.Errorf("a snapshot with a symbolic link: %v", err)
	}

	// A store that stops sending a pack, without failing, is given up after the stall
	// timeout, naming the pack, as a stalled restic is (the caller records it).
	x.restic.StallTimeout = time.Second
	hang := x.pf.Add(storetest.Fault{Op: "GetRange", Match: "/data/", ReadDelay: time.Hour})
	_, err = c.RestoreFiles(x.ctx, repo, ids, t.TempDir())
	var se *drc.StallError
	if !errors.As(err, &se) || !errors.Is(err, drc.ErrStalled) || !strings.HasPrefix(se.Object, "data/") || se.DRC != "local" || x.pf.Fired(hang) == 0 {
		t.Fatalf("a pack the store stopped sending: %v", err)
	}
	t.Logf("stalled: %v", err)
	x.pf.Clear()
	x.restic.StallTimeout = 0

	// A damaged pack fails the restore, naming it; no half file is left. The pack is the
	// second snapshot's biggest (its data, not its tree): a pack of the first may hold
	// only blobs of the file the third replaces, which RestoreFiles rightly never reads.
	var biggest string
	var size int64
	for _, p := range second {
		if st, err := os.Stat(filepath.Join(x.p.Path, agency, p)); err == nil && st.Size() > size {
			biggest, size = p, st.Size()
		}
	}
	path := filepath.Join(x.p.Path, agency, biggest)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0xff
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := t.TempDir()
	_, err = c.RestoreFiles(x.ctx, repo, ids, damaged)
	if err == nil || !strings.Contains(err.Error(), biggest) {
		t.Errorf("restore from a damaged pack %s: %v", biggest, err)
	}
	t.Logf("damaged: %v", err)
	for p, e := range testenv.Tree(t, damaged) {
		if e.Type == "file" && w[p] != "file "+e.SHA256 {
			t.Errorf("%s is left with the wrong content after a failed restore", p)
		}
	}
}
