package runs

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
)

type damageHooks struct{ found []string }

func (h *damageHooks) DeferPrune(string) {}
func (h *damageHooks) DamageFound(drcName, agency string) {
	h.found = append(h.found, drcName+"/"+agency)
}

// A restic cancelled by its stall watchdog names the object it could not get past: the
// run records that object as damage found by "stall", the error wrapped or not; an
// error naming no object records nothing.
func TestRecordStall(t *testing.T) {
	cat, err := catalog.Open(filepath.Join(t.TempDir(), "catalog.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	hooks := &damageHooks{}
	x := &Runner{cat: cat, log: slog.New(slog.DiscardHandler), now: time.Now, hooks: hooks}

	obj := "data/ab/ab12" + fmt.Sprintf("%060d", 0)
	se := &drc.StallError{Op: "restore", DRC: "offsite", Agency: "dinkes", Object: obj, After: 2 * time.Minute, Action: "Load"}
	x.recordStall(fmt.Errorf("restoring portal: %w", se), "other", 7)
	x.recordStall(&drc.StallError{Op: "check", DRC: "offsite", Agency: "dinkes", Handle: "<data/cd34000000>", Action: "Load"}, "dinkes", 8)
	x.recordStall(errors.New("restic restore at drc \"offsite\": unexpected EOF"), "dinkes", 9)
	x.recordStall(nil, "dinkes", 10)

	open, err := cat.Damages(true, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 {
		t.Fatalf("damage records: %+v; want the one of %s", open, obj)
	}
	d := open[0]
	if d.DRC != "offsite" || d.Agency != "dinkes" || d.Object != obj || d.How != "stall" || d.Run != 7 || d.Message != "restoring portal: "+se.Error() {
		t.Errorf("damage record: %+v", d)
	}
	if len(hooks.found) != 1 || hooks.found[0] != "offsite/dinkes" {
		t.Errorf("repairs asked for: %v", hooks.found)
	}
}
