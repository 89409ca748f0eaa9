package runs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/internal/oneline"
)

// Damage the runs find, and what they do about it (docs/integrity.md).

// recordDamage records a damaged object found by a run and has its repair queued.
func (x *Runner) recordDamage(drcName, agency, obj, how string, run uint64, why string) {
	_, isNew, err := x.cat.RecordDamage(catalog.Damage{DRC: drcName, Agency: agency, Object: obj, How: how, Run: run, Message: oneline.Of(why)}, x.now())
	if err != nil {
		x.log.Error("catalog: cannot record damage", "drc", drcName, "agency", agency, "object", obj, "err", err)
		return
	}
	if isNew {
		x.log.Error("damaged object", "drc", drcName, "agency", agency, "object", obj, "found_by", how, "why", why)
	}
	x.hooks.DamageFound(drcName, agency)
}

// recordStall records the object a restic of a run could not get past: the object store
// failed its reads until restic was cancelled (*drc.StallError). An error that names no
// object records nothing.
func (x *Runner) recordStall(err error, agency string, run uint64) {
	var se *drc.StallError
	if !errors.As(err, &se) || se.Object == "" {
		return
	}
	if se.Agency != "" {
		agency = se.Agency
	}
	x.recordDamage(se.DRC, agency, se.Object, "stall", run, err.Error())
}

// damagedObject is the object an error names as damaged, if it does.
func damagedObject(err error) (string, bool) {
	var mm *mirror.HashMismatchError
	if errors.As(err, &mm) {
		return mm.Object, true
	}
	return "", false
}

// buildsOnDamage says why a new snapshot may not count as good: it needs a pack that
// is recorded damaged (and not yet repaired) at its DRC. The check reads the
// snapshot's trees only when such damage is open, so it costs nothing otherwise.
func (x *Runner) buildsOnDamage(ctx context.Context, repo *drc.Repo, snapshot string) (string, error) {
	open, err := x.cat.Damages(false, repo.DRC, repo.Agency)
	if err != nil {
		return "", err
	}
	bad := map[string]bool{}
	for _, d := range open {
		if strings.HasPrefix(d.Object, "data/") {
			bad[d.Object] = true
		}
	}
	if len(bad) == 0 {
		return "", nil
	}
	packs, err := mirror.NewContents(repo.Agency).SnapshotPacks(ctx, repo, snapshot)
	if err != nil {
		return "", err
	}
	var hit []string
	for p := range packs {
		if bad[p] {
			hit = append(hit, p)
		}
	}
	if len(hit) == 0 {
		return "", nil
	}
	return fmt.Sprintf("snapshot %.8s needs %s, recorded damaged at drc %q (%d damaged pack(s) in all): it is not good; the repair is queued and the next backup stores that data again",
		snapshot, hit[0], repo.DRC, len(hit)), nil
}
