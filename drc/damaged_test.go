package drc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/testenv"
)

// A restore that meets a damaged pack names it, in full, for the damage record; the
// Force backup option reads every file again.
func TestRestoreNamesTheDamagedPack(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "repo")
	site := openSite(t, newRestic(t), t.TempDir(), drc.Config{Name: "local", Role: drc.RolePrimary, Path: root})
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Action != "created" {
		t.Fatalf("%+v", res)
	}
	repo := site.Repo("dinkes")
	src := t.TempDir()
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 3<<20, 5)
	sum, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: src, Paths: []string{"."}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pack string
	var size int64
	for _, name := range objectNames(t, repo.Store, "data/") {
		info, err := repo.Store.Stat(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size > size {
			pack, size = name, info.Size
		}
	}
	file := filepath.Join(root, "dinkes", filepath.FromSlash(pack))
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = repo.Restore(ctx, sum.SnapshotID, t.TempDir(), nil, nil)
	var dp *drc.DamagedPacksError
	if !errors.As(err, &dp) || dp.DRC != "local" || len(dp.Objects) != 1 || dp.Objects[0] != pack {
		t.Fatalf("restore of a damaged pack: %v (%+v), want %s named", err, dp, pack)
	}
	if !strings.Contains(err.Error(), "a.bin") {
		t.Errorf("the error does not name the file: %v", err)
	}

	// --force: the unchanged file is read again, though the parent has it.
	sum2, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: src, Paths: []string{"."}, Force: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.FilesUnmodified != 0 || sum2.FilesChanged+sum2.FilesNew == 0 {
		t.Errorf("with Force restic took files from the parent: %+v", sum2)
	}
}
