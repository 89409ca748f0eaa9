package mirror_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/testenv"
)

// The overlapped copy (during a backup) copies whole packs written since Start and
// nothing else: not the packs there before, not a file restic is still writing (its
// temporary name), not an object that is not whole (it does not hash to its name:
// left, with no alarm, for the pass), never an index or snapshot file, and it records
// nothing in the ledger. The pass after it completes the secondary as always.
func TestOverlapCopiesOnlyWholeNewPacks(t *testing.T) {
	t.Parallel()
	x := newPair(t)
	srcA := t.TempDir()
	testenv.RandomFile(t, filepath.Join(srcA, "a.bin"), 6<<20, 1)
	x.backup(x.p, srcA)
	before := x.objects(x.p)

	o := x.mirror().NewOverlap()
	if err := o.Start(x.ctx); err != nil {
		t.Fatal(err)
	}
	srcB := t.TempDir()
	testenv.RandomFile(t, filepath.Join(srcB, "b.bin"), 24<<20, 2)
	snapB := x.backup(x.p, srcB)

	// What a backend that showed an object before it is whole would show, and what
	// restic's local backend writes before its rename.
	full := make([]byte, 1<<20)
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range full {
		full[i] = byte(rnd.Uint32())
	}
	id := fmt.Sprintf("%x", sha256.Sum256(full))
	partial := "data/" + id[:2] + "/" + id
	tmp := partial + "-tmp-123456"
	for _, obj := range []string{partial, tmp} {
		if err := x.p.Repo(agency).Store.Put(x.ctx, obj, bytes.NewReader(full[:1<<19]), 1<<19); err != nil {
			t.Fatal(err)
		}
	}

	copied, err := o.Round(x.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.alarms) != 0 {
		t.Fatalf("the overlapped copy raised alarms: %+v", x.alarms)
	}
	off := x.objects(x.s)
	newPacks := 0
	for name, size := range x.objects(x.p) {
		if !strings.HasPrefix(name, "data/") || name == partial || name == tmp {
			continue
		}
		_, old := before[name]
		_, there := off[name]
		if old && there {
			t.Errorf("%s was at the primary before the backup: copied by the overlap", name)
		}
		if !old {
			newPacks++
			if off[name] != size {
				t.Errorf("%s (new at the primary) is not at the secondary whole: %d of %d bytes (there: %v)", name, off[name], size, there)
			}
		}
	}
	for name := range off {
		if !strings.HasPrefix(name, "data/") || name == partial || strings.Contains(name, "-tmp-") {
			t.Errorf("the overlapped copy brought %s", name)
		}
	}
	if copied.Objects != newPacks || newPacks == 0 || o.Copied() != copied {
		t.Errorf("copied %+v (in all %+v), want %d packs", copied, o.Copied(), newPacks)
	}
	x.intact(x.s)
	if seen, _ := x.ledger.SeenAt("offsite"); len(seen) != 0 {
		t.Errorf("the overlapped copy recorded snapshots in the ledger: %v", seen)
	}
	if again, err := o.Round(x.ctx); err != nil || again.Objects != 0 {
		t.Errorf("a second round copied %+v (%v)", again, err)
	}

	// The pass does the rest, as without overlap.
	for _, obj := range []string{partial, tmp} {
		if err := x.p.Repo(agency).Store.Delete(x.ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	res := x.mustRun()
	if len(res.NewSnapshots) != 2 || len(x.alarms) != 0 {
		t.Fatalf("the pass after the overlap: %+v, alarms %+v", res.NewSnapshots, x.alarms)
	}
	x.sameObjects()
	x.intact(x.s)
	x.check(x.s)
	x.restoreMatches(x.s, snapB, srcB)
}
