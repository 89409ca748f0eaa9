package files_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/files"
)

func TestContract(t *testing.T) {
	src := filepath.Join(t.TempDir(), "app")
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "<h1>portal</h1>")
	write("uploads/a.pdf", "pdf")
	write("cache/x.tmp", "excluded")

	// The state compared is the tree without what the config excludes.
	state := func(t *testing.T, root string) any {
		tree := testenv.Tree(t, root)
		for p := range tree {
			if strings.HasSuffix(p, ".tmp") {
				delete(tree, p)
			}
		}
		for p, e := range tree {
			if e.Type == "dir" {
				e.Mode = 0 // restic restores folder modes; this compares content
				tree[p] = e
			}
		}
		return tree
	}
	targettest.Run(t, targettest.Case{
		Kind:   "files",
		Config: func(t *testing.T) any { return &files.Config{Paths: []string{src}, Exclude: []string{"*.tmp"}} },
		State:  func(t *testing.T) any { return state(t, src) },
		Change: func(t *testing.T) { write("uploads/b.pdf", "second"); write("index.html", "<h1>portal v2</h1>") },
		Destination: func(t *testing.T) targets.RestoreRequest {
			return targets.RestoreRequest{To: filepath.Join(t.TempDir(), "restore")}
		},
		Restored: func(t *testing.T, req targets.RestoreRequest) any { return state(t, filepath.Join(req.To, src)) },
		Occupy: func(t *testing.T, req targets.RestoreRequest) {
			if err := os.MkdirAll(req.To, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(req.To, "occupied"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		Broken: func(t *testing.T) any { return &files.Config{Paths: []string{src, "/no/such/path"}} },
	})
}

func TestValidate(t *testing.T) {
	var got []string
	c := &files.Config{Paths: []string{"/ok", "relative"}, Exclude: []string{"[", ""}}
	c.Validate(func(field, msg string) { got = append(got, field+": "+msg) })
	want := []string{
		`paths[1]: "relative" must be an absolute path`,
		`exclude[0]: "[": syntax error in pattern`,
		`exclude[1]: empty pattern`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = nil
	(&files.Config{}).Validate(func(field, msg string) { got = append(got, field+": "+msg) })
	if len(got) != 1 || got[0] != "paths: required: at least one absolute path" {
		t.Errorf("empty config: %v", got)
	}
}

func newTarget(t *testing.T, cfg *files.Config) targets.Target {
	t.Helper()
	k, _ := targets.Lookup("files")
	tg, err := k.New(targets.Spec{Name: "app", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// A configured path that is a symbolic link to a folder is followed: the snapshot
// holds the folder's files (restic alone would store the link and nothing else), the
// run says so, and a restore brings the files back.
func TestSymlinkedPathIsFollowed(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "releases", "v2")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "index.html"), []byte("<h1>v2</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "current")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	repo := targettest.NewRepo(t)
	w := repo.Writer(t)
	res, err := newTarget(t, &files.Config{Paths: []string{link}}).Backup(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if w.Summary == nil || w.Summary.TotalFilesProcessed != 1 {
		t.Fatalf("the snapshot of a linked folder holds %+v files, want 1", w.Summary)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "is a symbolic link: backed up what it points to, "+real) {
		t.Errorf("notes %q", res.Notes)
	}
	dest := filepath.Join(t.TempDir(), "restore")
	if err := repo.Reader(t, w.Snapshot).RestoreTo(context.Background(), dest, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, real, "index.html")); err != nil || string(b) != "<h1>v2</h1>" {
		t.Errorf("restored %q, %v", b, err)
	}
}

// A path that holds no file (an unmounted volume), or a link that leads nowhere, fails
// the backup before anything is written, naming the path; allow_empty lets an empty
// folder be backed up.
func TestEmptyOrDanglingPathFails(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "mnt", "data")
	if err := os.MkdirAll(filepath.Join(empty, "lost+found-like"), 0o755); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "current")
	if err := os.Symlink(filepath.Join(dir, "releases", "gone"), dangling); err != nil {
		t.Fatal(err)
	}
	repo := targettest.NewRepo(t)
	for _, c := range []struct {
		cfg  *files.Config
		want string
	}{
		{&files.Config{Paths: []string{empty}}, "path " + empty + " holds no file"},
		{&files.Config{Paths: []string{dangling}}, "path " + dangling + " is a symbolic link to " + filepath.Join(dir, "releases", "gone") + ", which cannot be followed"},
	} {
		w := repo.Writer(t)
		_, err := newTarget(t, c.cfg).Backup(context.Background(), w)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("backup of %v: %v; want one line with %q", c.cfg.Paths, err, c.want)
		}
		if w.Calls != 0 {
			t.Errorf("backup of %v wrote a snapshot", c.cfg.Paths)
		}
	}
	w := repo.Writer(t)
	if _, err := newTarget(t, &files.Config{Paths: []string{empty}, AllowEmpty: true}).Backup(context.Background(), w); err != nil || w.Snapshot == "" {
		t.Errorf("allow_empty: %v, snapshot %q", err, w.Snapshot)
	}
}

// noFilesWriter is a fault: restic says the snapshot holds no file.
type noFilesWriter struct{ *targettest.Writer }

func (noFilesWriter) StoredFiles() (uint64, bool) { return 0, true }

// A backup whose snapshot holds no file while the source had some is not good, even
// when restic exited 0.
func TestSnapshotWithNoFileIsNotGood(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := targettest.NewRepo(t)
	_, err := newTarget(t, &files.Config{Paths: []string{src}}).Backup(context.Background(), noFilesWriter{repo.Writer(t)})
	if err == nil || !strings.Contains(err.Error(), "restic stored no file of "+src+" while the source held 1") {
		t.Errorf("backup that stored nothing: %v", err)
	}
}
