package integrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/lease"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/oneline"
)

// Healer repairs the damaged objects the catalog records at one DRC, for one agency,
// from the other DRCs. restic names every object of a repository by the SHA-256 of its
// bytes, so a copy at another DRC is proven good (or not) by hashing it: a good one
// replaces the damaged object (mirror.CopyVerified: streamed through the hash, committed
// whole, read back); a bad one is refused and recorded as damage there too.
//
// When no DRC holds a good copy, the healer never guesses: it names the snapshots that
// need the object and the files they lose (restic's `repair snapshots` semantics),
// marks those snapshots damaged at the DRC, and — at the primary, where backups write —
// moves the object aside (drc.QuarantinePrefix) and rebuilds the index with `restic
// repair index`, so that the next backup stores that data again instead of
// deduplicating against bytes that are gone.
type Healer struct {
	Sites   []*drc.Site // primary first
	Catalog *catalog.Catalog
	Leases  *lease.Manager
	Now     func() time.Time
	Log     *slog.Logger
	// OnDamage is told of damage the repair finds at another DRC (its would-be
	// source), once per new record, so that DRC gets its own repair run.
	OnDamage func(drc, agency string)
}

// Run repairs what is open at site for agency; it fails when something stays damaged.
func (h *Healer) Run(ctx context.Context, j *queue.Job, site *drc.Site, agency string, dryRun bool) error {
	r := j.Run
	rep := api.RepairReport{DRC: site.Name, Agency: agency, DryRun: dryRun, Objects: []api.RepairedObject{}}
	defer func() {
		r.Manifest, _ = json.Marshal(rep)
	}()
	open, err := h.Catalog.Damages(false, site.Name, agency)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("nothing to repair at drc %q for agency %q", site.Name, agency))
		return nil
	}
	if err := site.Check(ctx); err != nil {
		return err
	}
	repo := site.Repo(agency)
	var lost []catalog.Damage
	failed := 0
	for i, d := range open {
		j.SetProgress(func(p *api.Progress) {
			p.Phase = "repairing " + d.Object
			p.FilesDone, p.TotalFiles = uint64(i), uint64(len(open))
		})
		ro := h.repairOne(ctx, repo, d, r.ID, dryRun)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		rep.Objects = append(rep.Objects, ro)
		switch ro.Outcome {
		case "lost":
			lost = append(lost, d)
		case "failed":
			failed++
		}
	}
	if len(lost) > 0 {
		q, err := h.lose(ctx, j, repo, lost, dryRun, &rep)
		if err != nil {
			return err
		}
		failed += q
	}
	var done, lostN int
	for _, o := range rep.Objects {
		switch o.Outcome {
		case "repaired", "quarantined", "gone":
			done++
		case "lost":
			lostN++
		}
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%d damaged object(s) at drc %q: %d repaired or settled, %d with no good copy anywhere, %d failed", len(open), site.Name, done, lostN, failed))
	switch {
	case failed > 0:
		return fmt.Errorf("drc %q: agency %q: %d damaged object(s) could not be repaired (see the run's report)", site.Name, agency, failed)
	case lostN > 0 && !dryRun:
		return fmt.Errorf("drc %q: agency %q: %d damaged object(s) have no good copy at any DRC: %d snapshot(s) lose data (see the run's report)", site.Name, agency, lostN, len(rep.Lost))
	}
	return nil
}

// repairOne repairs one object from the first DRC that holds a good copy.
func (h *Healer) repairOne(ctx context.Context, repo *drc.Repo, d catalog.Damage, run uint64, dryRun bool) api.RepairedObject {
	ro := api.RepairedObject{Object: d.Object}
	obj := d.Object
	// It may read whole again (a transient fault): then there is nothing to copy.
	here, herr := repo.Store.Stat(ctx, obj)
	if herr == nil {
		if err := mirror.VerifyObjects(ctx, repo.Watched("repair"), []string{obj}, 1, nil); err == nil {
			ro.Outcome, ro.Message = "repaired", "it reads whole and matches its name now"
			if !dryRun {
				h.close(d, catalog.DamageRepaired, "", run, ro.Message)
			}
			return ro
		}
	}
	var tried []string
	anywhere := herr == nil
	// unsure: some copy could not be checked (a DRC that does not answer, a read that
	// stalled, a write that failed). Only copies proven damaged, or absent, make an
	// object lost or gone: a transient fault must never quarantine data or raise a
	// data-lost alarm while another DRC may hold it whole.
	unsure := herr != nil && !errors.Is(herr, drc.ErrNotExist)
	if unsure {
		tried = append(tried, oneline.Of(fmt.Sprintf("drc %q: %v", repo.DRC, herr)))
	}
	for _, other := range h.Sites {
		if other.Name == repo.DRC {
			continue
		}
		orepo := other.Repo(repo.Agency)
		info, err := orepo.Store.Stat(ctx, obj)
		if errors.Is(err, drc.ErrNotExist) {
			tried = append(tried, fmt.Sprintf("drc %q does not have it", other.Name))
			continue
		}
		if err != nil {
			tried = append(tried, oneline.Of(fmt.Sprintf("drc %q: %v", other.Name, err)))
			unsure = true
			continue
		}
		anywhere = true
		if herr == nil && info.Size != here.Size {
			h.Log.Warn("the copies differ in size", "object", obj, "drc", repo.DRC, "size", here.Size, "other", other.Name, "other_size", info.Size)
		}
		if dryRun {
			if err := mirror.VerifyObjects(ctx, orepo.Watched("repair"), []string{obj}, 1, nil); err != nil {
				tried = append(tried, oneline.Of(fmt.Sprintf("drc %q: %v", other.Name, err)))
				var mm *mirror.HashMismatchError
				unsure = unsure || !errors.As(err, &mm)
				continue
			}
			ro.Outcome, ro.From, ro.Message = "would-repair", other.Name, fmt.Sprintf("drc %q holds a copy that matches its name", other.Name)
			return ro
		}
		n, err := mirror.CopyVerified(ctx, orepo, repo, obj)
		if errors.Is(err, mirror.ErrBadSource) {
			// Damage found at the other DRC as well: recorded there.
			_, isNew, rerr := h.Catalog.RecordDamage(catalog.Damage{DRC: other.Name, Agency: repo.Agency, Object: obj, How: "repair", Run: run,
				Message: oneline.Of(err.Error())}, h.Now())
			if rerr != nil {
				h.Log.Error("catalog: cannot record damage", "err", rerr)
			} else if isNew && h.OnDamage != nil {
				h.OnDamage(other.Name, repo.Agency)
			}
		}
		if err != nil {
			tried = append(tried, oneline.Of(err.Error()))
			unsure = unsure || !errors.Is(err, mirror.ErrBadSource)
			continue
		}
		ro.Outcome, ro.From = "repaired", other.Name
		ro.Message = fmt.Sprintf("replaced by drc %q's copy (%d bytes), whose SHA-256 matches its name; read back whole", other.Name, n)
		h.Log.Info("damaged object repaired", "drc", repo.DRC, "agency", repo.Agency, "object", obj, "from", other.Name)
		h.close(d, catalog.DamageRepaired, other.Name, run, ro.Message)
		return ro
	}
	if unsure {
		ro.Outcome = "failed"
		ro.Message = "no good copy found, but not every copy could be checked (left open: run `cadang drc repair` once every DRC answers): " + strings.Join(tried, "; ")
		return ro
	}
	if !anywhere {
		ro.Outcome, ro.Message = "gone", "no DRC has the object any more (pruned)"
		if !dryRun {
			h.close(d, catalog.DamageGone, "", run, ro.Message)
		}
		return ro
	}
	ro.Outcome = "lost"
	ro.Message = "no DRC holds a good copy: " + strings.Join(tried, "; ")
	return ro
}

func (h *Healer) close(d catalog.Damage, outcome, from string, run uint64, note string) {
	if err := h.Catalog.CloseDamage(d.ID, outcome, from, run, note, h.Now()); err != nil {
		h.Log.Error("catalog: cannot close a damage record", "damage", d.ID, "err", err)
	}
}

// lose settles objects no DRC holds whole: it names what the snapshots lose, marks
// them, and at the primary moves the objects aside and repairs the index. It returns
// how many objects could not be settled.
func (h *Healer) lose(ctx context.Context, j *queue.Job, repo *drc.Repo, lost []catalog.Damage, dryRun bool, rep *api.RepairReport) (int, error) {
	r := j.Run
	var packs []string
	for _, d := range lost {
		if strings.HasPrefix(d.Object, "data/") {
			packs = append(packs, d.Object)
		}
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "naming what is lost" })
	losses, err := mirror.NewContents(repo.Agency).Losses(ctx, repo, packs)
	if err != nil {
		return 0, fmt.Errorf("naming what the damage loses: %w", err)
	}
	var snaps []string
	for _, l := range losses {
		rep.Lost = append(rep.Lost, api.Loss{Snapshot: l.Snapshot, Paths: l.Paths, More: l.More})
		snaps = append(snaps, l.Snapshot)
	}
	for _, d := range lost {
		if strings.HasPrefix(d.Object, "snapshots/") {
			snaps = append(snaps, strings.TrimPrefix(d.Object, "snapshots/"))
		}
	}
	if dryRun {
		return 0, nil
	}
	why := fmt.Sprintf("needs %s, which no DRC holds whole", lost[0].Object)
	if len(lost) > 1 {
		why = fmt.Sprintf("needs %s and %d other damaged object(s) no DRC holds whole", lost[0].Object, len(lost)-1)
	}
	for _, id := range snaps {
		err := h.Catalog.UpdateSnapshot(id, func(s *catalog.Snapshot) error {
			if s.Damaged == nil {
				s.Damaged = map[string]string{}
			}
			s.Damaged[repo.DRC] = why
			return nil
		})
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return 0, err
		}
	}
	for _, d := range lost {
		if err := h.Catalog.UpdateDamage(d.ID, func(x *catalog.Damage) { x.Lost, x.Snapshots = true, snaps }); err != nil {
			return 0, err
		}
	}
	if repo.DRC != h.Sites[0].Name {
		// At a secondary the damage stays open: replication brings a good copy
		// should the primary ever hold one again, and verify keeps saying so.
		return 0, nil
	}
	failed := 0
	quarantined := 0
	for _, d := range lost {
		note, err := repo.Quarantine(ctx, d.Object)
		if err != nil {
			failed++
			rep.Objects = append(rep.Objects, api.RepairedObject{Object: d.Object, Outcome: "failed", Message: oneline.Of(err.Error())})
			continue
		}
		quarantined++
		msg := fmt.Sprintf("moved aside to %s%s: %d snapshot(s) lose data", drc.QuarantinePrefix, d.Object, len(snaps))
		if note != "" {
			msg += "; " + note
		}
		for i := range rep.Objects {
			if rep.Objects[i].Object == d.Object {
				rep.Objects[i].Outcome, rep.Objects[i].Message = "quarantined", msg
			}
		}
		if err := h.Catalog.CloseDamage(d.ID, catalog.DamageQuarantined, "", r.ID, msg, h.Now()); err != nil {
			return failed, err
		}
		if err := h.Catalog.UpdateDamage(d.ID, func(x *catalog.Damage) { x.Lost = true }); err != nil {
			return failed, err
		}
	}
	if quarantined > 0 {
		j.SetProgress(func(p *api.Progress) { p.Phase = "restic repair index" })
		var summary string
		err := h.Leases.WithLocks(ctx, repo, func() (err error) {
			summary, err = repo.RepairIndex(ctx)
			return err
		})
		rep.IndexRepair = summary
		if err != nil {
			return failed, fmt.Errorf("drc %q: restic repair index after moving %d damaged object(s) aside: %w", repo.DRC, quarantined, err)
		}
		r.Notes = append(r.Notes, fmt.Sprintf("%d damaged object(s) moved aside and the index repaired: the next backup stores their data again", quarantined))
	}
	if len(snaps) > 0 {
		msg := fmt.Sprintf("drc %q: agency %q: %d snapshot(s) lose data that no DRC holds whole (%s); see repair run %d", repo.DRC, repo.Agency, len(snaps), shortIDs(snaps), r.ID)
		if _, err := h.Catalog.RaiseAlarm(catalog.Alarm{Kind: catalog.AlarmDataLost, DRC: repo.DRC, Agency: repo.Agency, Object: lost[0].Object, Message: msg}, h.Now()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}

func shortIDs(ids []string) string {
	var out []string
	for i, id := range ids {
		if i == 5 {
			out = append(out, fmt.Sprintf("and %d more", len(ids)-5))
			break
		}
		out = append(out, id[:min(8, len(id))])
	}
	return strings.Join(out, ", ")
}
