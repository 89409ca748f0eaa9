package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/queue"
)

// Immutable DRCs (docs/ransomware.md): what `drc status` says of them, and the
// recovery of objects an attacker hid behind S3 delete markers.

// visibleAtPrimary tells which hidden objects count at the primary: restic's forget and
// prune remove snapshot files, index files and packs there (on a versioned bucket, as
// delete markers), so only its config and keys count as hidden; at a secondary cadang
// never leaves a delete marker (its deletions remove versions), so every object counts.
func countsAsHidden(role, name string) bool {
	if role != drc.RolePrimary {
		return true
	}
	return name == "config" || strings.HasPrefix(name, "keys/")
}

// immutabilityStatus reads, at an immutable DRC, until when the newest snapshot of
// each agency is locked (the earliest of those dates) and the objects hidden behind
// delete markers.
func (v service) immutabilityStatus(ctx context.Context, s *drc.Site, agencies []string) *api.ImmutabilityStatus {
	if !s.Immutable() {
		return nil
	}
	st := &api.ImmutabilityStatus{Mode: s.Immutability.Mode, Retain: drc.FormatDays(s.Immutability.Retain)}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var errs []string
	for _, a := range agencies {
		repo := s.Repo(a)
		var newest drc.ObjectInfo
		err := repo.Store.List(ctx, "snapshots/", func(o drc.ObjectInfo) error {
			if o.ModTime.After(newest.ModTime) {
				newest = o
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Sprintf("agency %q: %v", a, err))
			continue
		}
		if newest.Name != "" {
			ret, err := drc.ObjectRetention(ctx, repo.Store, newest.Name)
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("agency %q: %v", a, err))
			case ret.Until.IsZero() && s.Role == drc.RoleSecondary:
				st.Unlocked = append(st.Unlocked, a)
			case ret.Until.IsZero():
				// At the primary restic writes its own files: cadang does not lock them
				// (a default retention on the bucket does, docs/ransomware.md).
			case st.LockedUntil.IsZero() || ret.Until.Before(st.LockedUntil):
				st.LockedUntil, st.LockedAgency = ret.Until, a
				st.LockedSnapshot = strings.TrimPrefix(newest.Name, "snapshots/")
			}
		}
		if err := countHidden(ctx, s, a, st); err != nil {
			errs = append(errs, err.Error())
		}
	}
	// cadang's own escrowed state bundles, which cadang writes at every DRC.
	if err := countHidden(ctx, s, drc.StateScope, st); err != nil {
		errs = append(errs, err.Error())
	}
	// Who removes expired objects: the mirror, or (a key that cannot delete) the
	// bucket's lifecycle rule.
	if can, err := s.KeyCanDelete(ctx); err != nil {
		errs = append(errs, err.Error())
	} else {
		st.KeyCanDelete = &can
		if !can {
			rule, err := s.LifecycleRule(ctx)
			switch {
			case err != nil:
				st.Warning = fmt.Sprintf("drc %q: its key may not delete, so expired objects are left to a bucket lifecycle rule, and that rule cannot be read: %s (give the key s3:GetLifecycleConfiguration)", s.Name, err)
			case rule == "":
				st.Warning = fmt.Sprintf("drc %q: its key may not delete and bucket %q has no lifecycle rule expiring noncurrent versions and delete markers: what expires there is never removed (add one: docs/ransomware.md)", s.Name, s.S3.Bucket)
			default:
				st.Lifecycle = rule
			}
		}
	}
	if len(errs) > 0 {
		st.Error = fmt.Sprintf("drc %q: %s", s.Name, strings.Join(errs, "; "))
	}
	return st
}

// countHidden adds to st the hidden objects of scope (an agency, or drc.StateScope).
func countHidden(ctx context.Context, s *drc.Site, scope string, st *api.ImmutabilityStatus) error {
	hidden, err := s.HiddenObjects(ctx, scope)
	if err != nil {
		return err
	}
	for _, h := range hidden {
		if scope == drc.StateScope || countsAsHidden(s.Role, h.Name) {
			if st.Hidden == nil {
				st.Hidden = map[string]int{}
			}
			st.Hidden[scope]++
		}
	}
	return nil
}

// immutabilityProblems are the lines drc status adds for an immutable DRC.
func immutabilityProblems(drcName string, im *api.ImmutabilityStatus) []string {
	if im == nil {
		return nil
	}
	var out []string
	agencies := make([]string, 0, len(im.Hidden))
	for a := range im.Hidden {
		agencies = append(agencies, a)
	}
	sort.Strings(agencies)
	for _, a := range agencies {
		if a == drc.StateScope {
			out = append(out, fmt.Sprintf("drc %q: %d of cadang's state bundle object(s) (%s/) are hidden behind delete markers (deleted with keys that could not erase them: an attack or a mistake); run `cadang drc recover --drc %s`",
				drcName, im.Hidden[a], a, drcName))
			continue
		}
		out = append(out, fmt.Sprintf("drc %q: %d object(s) of agency %s are hidden behind delete markers (deleted with keys that could not erase them: an attack or a mistake); run `cadang drc recover --drc %s`",
			drcName, im.Hidden[a], a, drcName))
	}
	for _, a := range im.Unlocked {
		out = append(out, fmt.Sprintf("drc %q: the newest snapshot of agency %s carries no retention (written before immutability was set?): the next replication pass locks it", drcName, a))
	}
	if im.Error != "" {
		out = append(out, "cannot read the object locks: "+im.Error)
	}
	return out
}

// Recover queues recover runs: at a DRC, for each agency (or one), the objects hidden
// behind delete markers are made visible again and the objects overwritten get their
// earlier, intact version back; without --agency, cadang's state bundles (_state/)
// too, in a run of their own (no agency).
func (d *Daemon) Recover(req RecoverRequest) ([]catalog.Run, error) {
	cf := d.conf()
	if req.DRC == "" {
		return nil, fmt.Errorf("%w: give the drc to recover (--drc NAME)", errBadRequest)
	}
	site, err := d.sites.site(req.DRC)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if site.S3 == nil {
		return nil, fmt.Errorf("%w: drc %q is a directory: it keeps no object versions to recover from", errBadRequest, site.Name)
	}
	var subs []submission
	for _, a := range cf.cfg.Agencies {
		if req.Agency != "" && a.ID != req.Agency {
			continue
		}
		subs = append(subs, d.recoverSubmission(site, a.ID))
	}
	if req.Agency != "" && len(subs) == 0 {
		return nil, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	if req.Agency == "" {
		subs = append(subs, d.recoverSubmission(site, ""))
	}
	return d.submitAll(subs, nil)
}

func (d *Daemon) recoverSubmission(site *drc.Site, agency string) submission {
	r := &catalog.Run{Op: "recover", Agency: agency, DRC: site.Name, Reason: reasonOnDemand}
	return submission{run: r, prio: queue.PriorityOnDemand, exec: func(ctx context.Context, j *queue.Job) error {
		return d.recover(ctx, j.Run, site, agency)
	}}
}

// recoverScope is what a recover run of agency works on: its repository, or (agency
// "") the state bundles.
func recoverScope(agency string) (scope, what string) {
	if agency == "" {
		return drc.StateScope, "state bundles (" + drc.StateScope + "/)"
	}
	return agency, "agency " + agency
}

// recover removes the delete markers above the hidden objects of agency (or of the
// state bundles) at site, then restores the earlier version of the objects overwritten.
func (d *Daemon) recover(ctx context.Context, r *catalog.Run, site *drc.Site, agency string) error {
	if err := site.Check(ctx); err != nil {
		return err
	}
	scope, what := recoverScope(agency)
	hidden, err := site.HiddenObjects(ctx, scope)
	if err != nil {
		return err
	}
	rep := api.RecoverReport{Hidden: len(hidden)}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, h := range hidden {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := site.Unhide(ctx, scope, h)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			rep.Recovered++
			rep.Markers += len(h.Markers)
			if len(rep.Objects) < 1000 {
				rep.Objects = append(rep.Objects, h.Name)
			}
		}()
	}
	wg.Wait()
	// Made visible again, an object may show a version put over it: after the markers.
	over, err := site.OverwrittenObjects(ctx, scope)
	if err != nil && firstErr == nil {
		firstErr = err
	}
	rep.Overwritten = len(over)
	for _, o := range over {
		if err := site.RestoreVersion(ctx, scope, o); err != nil {
			rep.Failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		rep.Restored++
		if len(rep.Replaced) < 1000 {
			rep.Replaced = append(rep.Replaced, o.Name)
		}
	}
	sort.Strings(rep.Objects)
	sort.Strings(rep.Replaced)
	r.FilesProcessed = uint64(rep.Recovered + rep.Restored)
	r.Notes = append(r.Notes, fmt.Sprintf("%d hidden object(s) of %s at drc %q: %d made visible again (%d delete marker(s) removed); %d overwritten: %d given their earlier version back; %d failed",
		rep.Hidden, what, site.Name, rep.Recovered, rep.Markers, rep.Overwritten, rep.Restored, rep.Failed))
	if b, err := json.Marshal(rep); err == nil {
		r.Manifest = b
	}
	if rep.Recovered > 0 || rep.Restored > 0 {
		d.log.Warn("objects hidden or overwritten were recovered", "drc", site.Name, "scope", scope, "unhidden", rep.Recovered, "restored", rep.Restored)
	}
	if firstErr != nil {
		return fmt.Errorf("%d of %d hidden or overwritten object(s) could not be recovered: %w", rep.Failed, rep.Hidden+rep.Overwritten, firstErr)
	}
	return ctx.Err()
}

func (s service) Recover(req RecoverRequest) ([]RunInfo, error) { return s.runInfos(s.d.Recover(req)) }

// CheckImmutability contacts each DRC configured immutable and tells whether its bucket
// can lock objects, for `cadang config check`: a bucket without object lock is a
// problem located at the DRC's immutability section (init would refuse it, and the
// daemon would write nothing there). A DRC that does not answer, or whose bucket does
// not exist yet, is a note: its lock was not checked. Other DRCs are not contacted.
func CheckImmutability(ctx context.Context, cfg *config.Config, log *slog.Logger) (problems []config.Problem, notes []string) {
	_, sites, err := Sites(cfg, log)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: the object locks were not checked: %v", cfg.File, err)}
	}
	byName := map[string]*drc.Site{}
	for _, s := range sites {
		byName[s.Name] = s
	}
	for i, c := range cfg.DRCs {
		s := byName[c.Name]
		if !c.Immutable() || s == nil {
			continue
		}
		path := fmt.Sprintf("drcs[%d].immutability", i)
		if err := s.Check(ctx); err != nil {
			why := "not checked: " + err.Error()
			switch {
			case drc.IsUnreachable(err):
				why = "not checked: the drc is unreachable: " + err.Error()
			case c.S3.CreateBucket && strings.Contains(err.Error(), "does not exist"):
				why = fmt.Sprintf("not checked: bucket %q does not exist yet (`cadang init` creates it with object lock)", c.S3.Bucket)
			}
			notes = append(notes, cfg.Locate(path, "the bucket's object lock was "+why).String())
			continue
		}
		if err := s.CheckLock(ctx); err != nil {
			if drc.IsUnreachable(err) {
				notes = append(notes, cfg.Locate(path, "the bucket's object lock was not checked: the drc is unreachable: "+err.Error()).String())
				continue
			}
			problems = append(problems, cfg.Locate(path, err.Error()))
		}
	}
	return problems, notes
}
