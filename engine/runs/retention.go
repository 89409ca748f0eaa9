package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/targets/postgres"
)

// Retention.
//
// After each successful backup of a target with a retention policy, a forget run is
// queued for it (reason retention). It decides in Go, over the target's snapshots in
// the primary's repository, which to keep, and removes the others with `restic forget
// ID...`. restic's own policy cannot be used as is: it would count every snapshot of
// the target, and a partial or bad snapshot must never take the place of a good one
// (restic can select snapshots by tag, not by the lack of one). So:
//
//   - keep_last/hourly/daily/weekly/monthly/yearly/within are applied to the GOOD
//     snapshots only, with restic's rules (buckets counted newest first, in
//     scheduler.timezone; within counts back from the newest good snapshot);
//   - the newest good snapshot is always kept, whatever the policy says;
//   - a snapshot that is not good (partial, or written by a run that failed) never
//     counts; it is kept while it is newer than the oldest good snapshot kept, and
//     removed after; while a target has no good snapshot, nothing is removed;
//   - the run does nothing if the target's latest backup did not succeed;
//   - the WAL batches of a continuously protected PostgreSQL target (snapshots tagged
//     pg_wal) are outside the policy, which applies to its base backups: a WAL batch
//     stored since the oldest base backup kept is kept (a restore to a time after that
//     base backup replays it), an older one is removed (no base backup kept can use
//     it); while the target has no good base backup, every WAL batch is kept.
//
// Forget runs at the primary DRC, where backups land. Removed snapshots reach the
// off-site DRC through replication. The data they held is freed by the next prune.

// RetentionResult is what a forget run decided; it is the run's manifest.
type RetentionResult struct {
	Policy  string              `json:"policy"`
	Kept    []RetentionDecision `json:"kept"`
	Removed []RetentionDecision `json:"removed"`
	DryRun  bool                `json:"dry_run,omitempty"`
}

// RetentionDecision is one snapshot and why it is kept or removed.
type RetentionDecision struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Status  string    `json:"status"`
	WAL     bool      `json:"wal,omitempty"` // a batch of WAL of a continuous postgres target
	Reasons []string  `json:"reasons,omitempty"`
	Keep    bool      `json:"-"` // the plan keeps it
}

func (x *Runner) Forget(ctx context.Context, j *queue.Job, t *Target, dryRun bool) error {
	r := j.Run
	if r.Reason == ReasonRetention {
		last, err := x.lastEndedBackup(r.Target)
		if err != nil {
			return err
		}
		if last != nil && last.Status != catalog.Succeeded {
			r.Notes = append(r.Notes, fmt.Sprintf("skipped: the latest backup (run %d) is %s; retention runs only after a successful backup", last.ID, last.Status))
			return nil
		}
	}
	site, err := x.site(r.DRC)
	if err != nil {
		return err
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "checking drc" })
	if err := site.Check(ctx); err != nil {
		return err
	}
	repo := site.Repo(r.Agency)
	j.SetProgress(func(p *api.Progress) { p.Phase = "listing snapshots" })
	snaps, err := repo.Snapshots(ctx, "target="+r.Target)
	if errors.Is(err, drc.ErrNoRepository) {
		r.Notes = append(r.Notes, "no repository yet: nothing to forget")
		return nil
	}
	if err != nil {
		return err
	}
	var items []RetentionDecision
	for _, s := range snaps {
		status, rec := x.SnapshotStatus(s)
		id := s.ID
		if rec != nil && status != catalog.SnapshotGood && s.Tag(tagStatusKey) == "" && !dryRun {
			// The backup could not tag it (the repository was busy): do it now that this
			// run holds the repository alone, so the repository says it too.
			id = x.retag(ctx, repo, rec)
		}
		items = append(items, RetentionDecision{ID: id, Time: s.Time, Status: status, WAL: s.Tag(postgres.TagWAL) != ""})
	}
	pol := *t.Cfg.Retention
	decisions := PlanRetention(items, pol, x.loc, x.now())
	res := RetentionResult{Policy: policyString(pol), DryRun: dryRun, Kept: []RetentionDecision{}, Removed: []RetentionDecision{}}
	var remove []string
	for _, dec := range decisions {
		if dec.Keep {
			res.Kept = append(res.Kept, dec)
		} else {
			res.Removed = append(res.Removed, dec)
			remove = append(remove, dec.ID)
		}
	}
	r.Manifest, _ = json.Marshal(res)
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%s: kept %d, %s %d", res.Policy, len(res.Kept), verb, len(res.Removed)))
	if walKept, walGone := countWAL(res.Kept), countWAL(res.Removed); walKept+walGone > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("the policy counts base backups; WAL batches since the oldest base backup kept stay: kept %d, %s %d of them", walKept, verb, walGone))
	}
	if dryRun || len(remove) == 0 {
		return nil
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "forget" })
	if err := x.leases.WithLocks(ctx, repo, func() error { return repo.Forget(ctx, remove) }); err != nil {
		return err
	}
	for _, id := range remove {
		if err := x.forgetRecord(id, site.Name); err != nil {
			x.log.Error("catalog: cannot update a forgotten snapshot", "snapshot", id, "err", err)
		}
	}
	return nil
}

func countWAL(ds []RetentionDecision) int {
	n := 0
	for _, d := range ds {
		if d.WAL {
			n++
		}
	}
	return n
}

// lastEndedBackup returns the target's latest backup run that ended (nil if none).
func (x *Runner) lastEndedBackup(target string) (*catalog.Run, error) {
	runs, err := x.cat.Runs(catalog.RunFilter{Target: target, Op: "backup", Limit: 20})
	if err != nil {
		return nil, err
	}
	for i := range runs {
		if runs[i].Status.Done() {
			return &runs[i], nil
		}
	}
	return nil, nil
}

// retag tags a snapshot that is not good in the repository and records its new id.
func (x *Runner) retag(ctx context.Context, repo *drc.Repo, rec *catalog.Snapshot) string {
	newID, err := x.TagNotGood(ctx, repo, rec.ID, rec.Status)
	if err != nil {
		x.log.Warn("cannot tag a snapshot that is not good", "snapshot", rec.ID, "status", rec.Status, "err", err)
		return rec.ID
	}
	if newID != rec.ID {
		old := rec.ID
		rec.ID = newID
		if err := x.cat.PutSnapshot(rec); err == nil {
			_ = x.cat.DeleteSnapshot(old)
		}
	}
	return newID
}

// forgetRecord notes in the catalog that a snapshot is gone from a DRC.
func (x *Runner) forgetRecord(id, site string) error {
	rec, err := x.cat.Snapshot(id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	delete(rec.Sites, site)
	if len(rec.Sites) == 0 {
		return x.cat.DeleteSnapshot(rec.ID)
	}
	return x.cat.PutSnapshot(rec)
}

// policyString describes a retention policy as restic does.
func policyString(p config.Retention) string {
	var parts []string
	for _, c := range []struct {
		n    int
		name string
	}{{p.KeepLast, "last"}, {p.KeepHourly, "hourly"}, {p.KeepDaily, "daily"}, {p.KeepWeekly, "weekly"}, {p.KeepMonthly, "monthly"}, {p.KeepYearly, "yearly"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.name))
		}
	}
	if p.KeepWithin > 0 {
		parts = append(parts, "all within "+p.KeepWithin.String())
	}
	return "keep " + strings.Join(parts, ", ") + " good snapshots"
}

// PlanRetention decides which snapshots to keep (see the comment at the top).
func PlanRetention(snaps []RetentionDecision, p config.Retention, loc *time.Location, now time.Time) []RetentionDecision {
	var good, other, wal []*RetentionDecision
	out := make([]RetentionDecision, len(snaps))
	copy(out, snaps)
	for i := range out {
		out[i].Keep, out[i].Reasons = false, nil
		if out[i].WAL {
			wal = append(wal, &out[i])
		} else if out[i].Status == catalog.SnapshotGood {
			good = append(good, &out[i])
		} else {
			other = append(other, &out[i])
		}
	}
	newestFirst := func(s []*RetentionDecision) {
		sort.SliceStable(s, func(i, j int) bool {
			if !s[i].Time.Equal(s[j].Time) {
				return s[i].Time.After(s[j].Time)
			}
			return s[i].ID < s[j].ID
		})
	}
	newestFirst(good)
	newestFirst(other)

	buckets := []struct {
		count  int
		bucket func(t time.Time, nr int) int
		last   int
		reason string
	}{
		{p.KeepLast, func(_ time.Time, nr int) int { return nr }, -1, "last snapshot"},
		{p.KeepHourly, func(t time.Time, _ int) int { return t.Year()*1000000 + int(t.Month())*10000 + t.Day()*100 + t.Hour() }, -1, "hourly snapshot"},
		{p.KeepDaily, func(t time.Time, _ int) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }, -1, "daily snapshot"},
		{p.KeepWeekly, func(t time.Time, _ int) int { y, w := t.ISOWeek(); return y*100 + w }, -1, "weekly snapshot"},
		{p.KeepMonthly, func(t time.Time, _ int) int { return t.Year()*100 + int(t.Month()) }, -1, "monthly snapshot"},
		{p.KeepYearly, func(t time.Time, _ int) int { return t.Year() }, -1, "yearly snapshot"},
	}
	var latest time.Time // the newest good snapshot that is not in the future
	for _, s := range good {
		if s.Time.After(latest) && s.Time.Before(now) {
			latest = s.Time
		}
	}
	for nr, s := range good {
		t := s.Time.In(loc)
		if p.KeepWithin > 0 && s.Time.After(latest.Add(-p.KeepWithin)) {
			s.Keep = true
			s.Reasons = append(s.Reasons, "within "+p.KeepWithin.String())
		}
		for i := range buckets {
			b := &buckets[i]
			if b.count <= 0 {
				continue
			}
			val := b.bucket(t, nr)
			if val != b.last || nr == len(good)-1 {
				reason := b.reason
				if val == b.last {
					reason = "oldest " + reason
				}
				s.Keep = true
				s.Reasons = append(s.Reasons, reason)
				b.last = val
				b.count--
			}
		}
	}
	if len(good) > 0 && !good[0].Keep {
		good[0].Keep = true
		good[0].Reasons = append(good[0].Reasons, "newest good snapshot (always kept)")
	}
	var oldestKept time.Time
	for _, s := range good {
		if s.Keep {
			oldestKept = s.Time
		}
	}
	keepSince(other, len(good) == 0, oldestKept, "not good; kept while the target has no good snapshot",
		"not good (never counted); newer than the oldest good snapshot kept", "not good (never counted); older than every good snapshot kept")
	for _, s := range good {
		if !s.Keep {
			s.Reasons = append(s.Reasons, "not selected by the policy")
		}
	}
	keepSince(wal, len(good) == 0, oldestKept, "WAL; kept while the target has no good base backup",
		"WAL stored since the oldest base backup kept", "WAL older than every base backup kept: no restore can use it")
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out
}

// TagNotGood tags a snapshot status=partial or status=bad, clearing stale locks of
// cadang's if restic finds the repository locked.
func (x *Runner) TagNotGood(ctx context.Context, repo *drc.Repo, id, status string) (string, error) {
	ctx = context.WithoutCancel(ctx)
	var newID string
	err := x.leases.WithLocks(ctx, repo, func() (err error) {
		newID, err = repo.Tag(ctx, id, tagStatusKey+"="+status)
		return err
	})
	return newID, err
}

// keepSince keeps the snapshots of list (never counted by the policy) that are not
// older than oldest, the oldest good snapshot kept, or all of them when there is no
// good one (none); each gets the reason that applies.
func keepSince(list []*RetentionDecision, none bool, oldest time.Time, whenNone, newer, older string) {
	for _, s := range list {
		switch {
		case none:
			s.Keep = true
			s.Reasons = append(s.Reasons, whenNone)
		case !s.Time.Before(oldest):
			s.Keep = true
			s.Reasons = append(s.Reasons, newer)
		default:
			s.Reasons = append(s.Reasons, older)
		}
	}
}
