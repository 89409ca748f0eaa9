package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
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
		hidden, err := s.HiddenObjects(ctx, a)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, h := range hidden {
			if countsAsHidden(s.Role, h.Name) {
				if st.Hidden == nil {
					st.Hidden = map[string]int{}
				}
				st.Hidden[a]++
			}
		}
	}
	if len(errs) > 0 {
		st.Error = fmt.Sprintf("drc %q: %s", s.Name, strings.Join(errs, "; "))
	}
	return st
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
// behind delete markers are made visible again.
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
	if len(subs) == 0 {
		return []catalog.Run{}, nil
	}
	return d.submitAll(subs, nil)
}

func (d *Daemon) recoverSubmission(site *drc.Site, agency string) submission {
	r := &catalog.Run{Op: "recover", Agency: agency, DRC: site.Name, Reason: reasonOnDemand}
	return submission{run: r, prio: queue.PriorityOnDemand, exec: func(ctx context.Context, j *queue.Job) error {
		return d.recover(ctx, j.Run, site, agency)
	}}
}

// recover removes the delete markers above agency's hidden objects at site.
func (d *Daemon) recover(ctx context.Context, r *catalog.Run, site *drc.Site, agency string) error {
	if err := site.Check(ctx); err != nil {
		return err
	}
	hidden, err := site.HiddenObjects(ctx, agency)
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
			err := site.Unhide(ctx, agency, h)
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
	sort.Strings(rep.Objects)
	r.FilesProcessed = uint64(rep.Recovered)
	r.Notes = append(r.Notes, fmt.Sprintf("%d hidden object(s) of agency %s at drc %q: %d made visible again (%d delete marker(s) removed), %d failed",
		rep.Hidden, agency, site.Name, rep.Recovered, rep.Markers, rep.Failed))
	if b, err := json.Marshal(rep); err == nil {
		r.Manifest = b
	}
	if rep.Recovered > 0 {
		d.log.Warn("objects hidden behind delete markers were recovered", "drc", site.Name, "agency", agency, "objects", rep.Recovered)
	}
	if firstErr != nil {
		return fmt.Errorf("%d of %d hidden object(s) could not be recovered: %w", rep.Failed, rep.Hidden, firstErr)
	}
	return ctx.Err()
}

func (s service) Recover(req RecoverRequest) ([]RunInfo, error) { return s.runInfos(s.d.Recover(req)) }
