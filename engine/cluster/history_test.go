package cluster

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/testenv"
)

// An agent's run reads earlier snapshots of its target as the daemon's runs do
// (targets.History, what libvirt's incremental backups build on): the newest one with
// the tags asked for, passing over those the controller's catalog knows are not good
// (Secret.Unusable) and those tagged with a status; it opens a file of the one found.
func TestAgentHistoryPassesOverUnusable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	drcDir, state, src := t.TempDir(), t.TempDir(), t.TempDir()
	keys := filepath.Join(state, "keys", "local")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, "x.key"), []byte("history-test-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	site, err := drc.Open(drc.Config{Name: "local", Role: drc.RolePrimary, Path: drcDir}, &drc.Restic{Binary: testenv.Restic(t), Logger: log}, state)
	if err != nil {
		t.Fatal(err)
	}
	repo := site.Repo("x")
	if err := repo.Init(ctx); err != nil {
		t.Fatal(err)
	}
	// Four snapshots of the target, oldest first: good, good, tagged partial, and one
	// the catalog knows is bad; and a newer one of another target.
	var ids []string
	for i, extra := range [][]string{{"checkpoint=c1"}, {"checkpoint=c1"}, {"checkpoint=c1", "status=partial"}, {"checkpoint=c1"}} {
		if err := os.WriteFile(filepath.Join(src, "manifest.json"), []byte{byte('0' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		sum, _, err := repo.Backup(ctx, drc.BackupOptions{Paths: []string{src}, Host: "vm", Tags: append([]string{"target=vm"}, extra...)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sum.SnapshotID)
		time.Sleep(10 * time.Millisecond) // distinct snapshot times
	}
	if _, _, err := repo.Backup(ctx, drc.BackupOptions{Paths: []string{src}, Host: "other", Tags: []string{"target=other", "checkpoint=c1"}}, nil); err != nil {
		t.Fatal(err)
	}

	w := &agentWriter{repo: repo, host: "vm", log: log, unusable: map[string]bool{ids[3]: true}}
	rd, err := w.Last(ctx, "checkpoint=c1")
	if err != nil || rd == nil {
		t.Fatalf("Last: %v, %v", rd, err)
	}
	if got := rd.Snapshot().ID; got != ids[1] {
		t.Fatalf("Last found %.8s, want %.8s (the newest good one; %.8s is partial, %.8s unusable)", got, ids[1], ids[2], ids[3])
	}
	f, err := rd.Open(ctx, filepath.Join(src, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "1" {
		t.Errorf("the file of the snapshot found: %q, %v", b, err)
	}
	if rd, err := w.Last(ctx, "checkpoint=c2"); err != nil || rd != nil {
		t.Errorf("Last with a tag no snapshot has: %v, %v", rd, err)
	}
	// Without the catalog's word, the newest snapshot not tagged bad is found.
	w.unusable = nil
	if rd, err := w.Last(ctx, "checkpoint=c1"); err != nil || rd == nil || rd.Snapshot().ID != ids[3] {
		t.Errorf("Last without unusable: %v, %v", rd, err)
	}
}
