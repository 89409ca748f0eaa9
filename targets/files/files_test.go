package files_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/e2e/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/files"
	"github.com/cadang/cadang/targets/targettest"
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
