package drc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/testenv"
)

// A pack MinIO cannot read (bitrot fails its checksum) makes restic retry for about 15
// minutes. With real restic and MinIO: restore and check --read-data of a repository
// whose biggest pack is bitrotted end after StallTimeout with a *StallError naming
// that pack.
func TestStallOnABitrottedPack(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, "cadang")
	r := newRestic(t)
	r.StallTimeout = 15 * time.Second
	r.StopGrace = 10 * time.Second
	site := openSite(t, r, t.TempDir(), drc.Config{Name: "offsite", Role: drc.RolePrimary,
		S3: &drc.S3Config{Endpoint: m.Endpoint, Bucket: "cadang", AccessKey: m.AccessKey, SecretKeyFile: m.SecretKeyFile(), Insecure: true}})
	// A bound for the test, far below restic's own 15 minutes; not a measure.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Error != "" {
		t.Fatalf("%+v", res)
	}
	repo := site.Repo("dinkes")
	src := t.TempDir()
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 6<<20, 1)
	testenv.RandomFile(t, filepath.Join(src, "b.bin"), 2<<20, 2)
	sum, _, err := repo.Backup(ctx, drc.BackupOptions{Paths: []string{src}, Host: "test"}, nil)
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
	m.Bitrot(t, "cadang", "dinkes/"+pack)

	check := func(op string, err error, start time.Time) {
		t.Helper()
		var se *drc.StallError
		if !errors.As(err, &se) {
			t.Fatalf("%s of a bitrotted pack: want a *drc.StallError, got %T: %v", op, err, err)
		}
		t.Logf("%s ended after %s: %v", op, time.Since(start).Round(time.Millisecond), err)
		if se.Object != pack || se.Op != op || se.DRC != "offsite" || se.Agency != "dinkes" || se.After < r.StallTimeout {
			t.Errorf("%s: stall error %+v; want object %s", op, se, pack)
		}
		if !strings.Contains(err.Error(), pack) || !errors.Is(err, drc.ErrStalled) || errors.Is(err, drc.ErrInterrupted) {
			t.Errorf("%s: error %q", op, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: ended by the test's deadline, not by the watchdog", op)
		}
	}

	start := time.Now()
	_, err = repo.Restore(ctx, sum.SnapshotID, t.TempDir(), nil, nil)
	check("restore", err, start)

	// restic removed its lock when it was cancelled: the repository is free again.
	if locks, err := repo.Locks(ctx); err != nil || len(locks) != 0 {
		t.Errorf("locks after the cancelled restore: %+v, %v", locks, err)
	}

	start = time.Now()
	_, err = repo.ResticCheck(ctx, true)
	check("check", err, start)
	if _, err := os.Stat(filepath.Join(m.Dir, "cadang", "dinkes", filepath.FromSlash(pack))); err != nil {
		t.Errorf("the pack must be left where it is: %v", err)
	}
}
