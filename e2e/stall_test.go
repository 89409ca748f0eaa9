package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/testenv"
)

// A pack that MinIO cannot read (bitrot fails its checksum) makes restic retry for
// about 15 minutes. With nothing set in the config, `cadang restore` from that DRC
// fails after restic.stall_timeout's default (2m) without progress, naming the pack,
// and the pack is recorded as damage found by "stall".
func TestRestoreOfABitrottedPackStalls(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	m := testenv.StartMinIO(t, "cadang")
	src := filepath.Join(w.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 4<<20, 21)
	testenv.RandomFile(t, filepath.Join(src, "b.bin"), 1<<20, 22)
	w.config("drcs:\n" + s3DRC("local", "primary", m, "", "cadang") + fmt.Sprintf(oneTarget, src))
	w.must("init")
	w.startDaemon()
	if ri, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Fatalf("backup: %s", r)
	} else if ri.SnapshotID == "" {
		t.Fatalf("backup made no snapshot: %+v", ri)
	}
	var pack string
	var size int64
	for name, n := range bucketObjects(t, m, "cadang") {
		if strings.HasPrefix(name, "data/") && n > size {
			pack, size = name, n
		}
	}
	if pack == "" {
		t.Fatal("no data pack")
	}
	m.Bitrot(t, "cadang", agencyID+"/"+pack)

	start := time.Now()
	r := w.cadang("restore", "portal-files", "--to", filepath.Join(w.dir, "restore"))
	took := time.Since(start)
	t.Logf("restore of the bitrotted pack ended after %s:\n%s", took.Round(time.Millisecond), r)
	if r.code == 0 {
		t.Fatalf("restore of a bitrotted pack succeeded: %s", r)
	}
	out := r.stdout + r.stderr
	if !strings.Contains(out, pack) || !strings.Contains(out, "no progress for") {
		t.Errorf("the restore's output does not name the stalled pack %s: %s", pack, r)
	}
	// A sanity bound only, far from restic's own 15 minutes of retries.
	if took > 8*time.Minute {
		t.Errorf("restore took %s", took)
	}

	found := false
	for _, d := range w.damageRecords() {
		if d.DRC == "local" && d.Agency == agencyID && d.Object == pack && d.How == "stall" {
			found = true
			if !strings.Contains(d.Message, "no progress for") {
				t.Errorf("damage record message: %q", d.Message)
			}
		}
	}
	if !found {
		t.Errorf("no damage record of %s found by stall: %+v", pack, w.damageRecords())
	}
}
