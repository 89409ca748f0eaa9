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

// readFailed records the damage a restic read (a restore, a drill) names in its
// error: the object it could not get past, or the packs whose data is damaged.
func (x *Runner) readFailed(err error, agency, how string, run uint64) {
	x.recordStall(err, agency, run)
	var dp *drc.DamagedPacksError
	if errors.As(err, &dp) {
		for _, obj := range dp.Objects {
			x.recordDamage(dp.DRC, agency, obj, how, run, err.Error())
		}
	}
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

// parentPastDamage chooses the parent of a files backup at a DRC where snapshots of
// the target are damaged. restic would take the newest snapshot of the same paths as
// its parent and, finding that an unchanged file's data is no longer in the index
// (the damaged pack moved aside), store the file again but end with exit code 3, as
// if a source file could not be read. So the parent is the newest snapshot of the
// target at that DRC that is whole there; with none, restic reads every file
// (--force). With no damaged snapshot, restic chooses as usual.
func (x *Runner) parentPastDamage(target, drcName string) (parent string, force bool, note string) {
	snaps, err := x.cat.Snapshots(target)
	if err != nil {
		x.log.Warn("catalog: cannot list snapshots to choose a backup's parent", "target", target, "err", err)
		return "", false, ""
	}
	var damaged int
	var whole *catalog.Snapshot
	for i := range snaps {
		s := &snaps[i]
		if _, there := s.Sites[drcName]; !there && s.DRC != drcName {
			continue
		}
		if s.Damaged[drcName] != "" {
			damaged++
			continue
		}
		if s.Status == catalog.SnapshotGood && (whole == nil || s.Time.After(whole.Time)) {
			whole = s
		}
	}
	if damaged == 0 {
		return "", false, ""
	}
	if whole == nil {
		return "", true, fmt.Sprintf("%d snapshot(s) of the target are damaged at drc %q and none is whole there: every file is read again", damaged, drcName)
	}
	return whole.ID, false, fmt.Sprintf("%d snapshot(s) of the target are damaged at drc %q: files are compared with snapshot %.8s, the newest one whole there", damaged, drcName, whole.ID)
}
