package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/oneline"
)

// DRCStatuses returns every DRC's status; health is probed now when the last probe is
// older than a minute or found the DRC unreachable.
func (d *Daemon) DRCStatuses(ctx context.Context) ([]DRCStatus, error) {
	alarms, err := d.cat.Alarms(false)
	if err != nil {
		return nil, err
	}
	states, err := d.cat.ReplStates()
	if err != nil {
		return nil, err
	}
	out := make([]DRCStatus, len(d.sites))
	var wg sync.WaitGroup
	for i, s := range d.sites {
		// A cached failure is probed again: the DRC may be back (or, for a path DRC,
		// created by the first backup since), and an answer must not say it is down
		// on the strength of an old probe.
		h, ok := d.repl.HealthOf(s.Name)
		if !ok || !h.Reachable || d.now().Sub(h.Checked) > time.Minute {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := s.Health(ctx, d.now)
				d.repl.SetHealth(h)
				out[i].Health = apiHealth(h)
			}()
		} else {
			out[i].Health = apiHealth(h)
		}
	}
	wg.Wait()
	prim := d.primary().Name
	for i, s := range d.sites {
		st := &out[i]
		st.DRC, st.Role, st.Kind, st.Location, st.Time = s.Name, s.Role, s.Kind(), s.Location(), st.Health.Checked
		for _, a := range alarms {
			if a.DRC == s.Name {
				st.Alarms = append(st.Alarms, apiAlarm(a))
			}
		}
		if s.Role == drc.RoleSecondary {
			set := s.Replication.Effective()
			lag := d.repl.Lag(s.Name)
			rs := &ReplicationStatus{LagSeconds: lag.Lag.Seconds(), Lag: lag.Lag.Round(time.Second).String(), SnapshotsPending: lag.Snapshots,
				OldestPending: lag.Oldest, OldestTarget: lag.OldestTarget, DeleteAfter: set.DeleteAfter.String(),
				Bandwidth: set.Bandwidth.String(), Workers: set.Workers}
			if set.MaxLag > 0 {
				rs.MaxLag, rs.LagExceeded = set.MaxLag.String(), lag.Lag > set.MaxLag
			}
			for _, ps := range states {
				if ps.DRC != s.Name {
					continue
				}
				rs.ObjectsPending += ps.PendingObjects
				rs.PendingDeletions += ps.PendingDeletions
				if !ps.NextDeletion.IsZero() && (rs.NextDeletion.IsZero() || ps.NextDeletion.Before(rs.NextDeletion)) {
					rs.NextDeletion = ps.NextDeletion
				}
				if ps.LastPass.After(rs.LastPass) {
					rs.LastPass, rs.LastError = ps.LastPass, ps.LastError
				}
				if ps.LastSuccess.After(rs.LastSuccess) {
					rs.LastSuccess = ps.LastSuccess
				}
			}
			for _, a := range d.cfg.Agencies {
				recs, _ := d.cat.AgencySnapshots(a.ID)
				for _, r := range recs {
					if _, atS := r.Sites[s.Name]; atS {
						if _, atP := r.Sites[prim]; !atP && r.DRC == s.Name {
							rs.ToPrimary++
						}
					}
				}
			}
			rs.BytesPending = pendingBytes(lag, s.Name, states)
			st.Replication = rs
		}
		switch {
		case !st.Health.Reachable:
			st.Status = "unreachable"
		case len(st.Alarms) > 0:
			st.Status = "alarm"
		case st.Replication != nil && st.Replication.LagExceeded:
			st.Status = "lagging"
		case st.Replication != nil && st.Replication.LastError != "" && st.Replication.LastPass.After(st.Replication.LastSuccess):
			st.Status = "failing" // its last replication pass failed
		default:
			st.Status = "ok"
		}
		st.Problems = drcProblems(st)
	}
	return out, nil
}

// Replicate queues replication passes now; it returns the runs that will do them.
func (d *Daemon) Replicate(req ReplicateRequest) ([]RunInfo, error) {
	secs := d.repl.Secondaries()
	if req.DRC != "" {
		s, err := d.site(req.DRC)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadRequest, err)
		}
		if s.Role != drc.RoleSecondary {
			return nil, fmt.Errorf("%w: drc %q is the primary: replication goes from it to the secondaries", errBadRequest, s.Name)
		}
		secs = []*drc.Site{s}
	}
	var agencies []string
	for _, a := range d.cfg.Agencies {
		if req.Agency == "" || a.ID == req.Agency {
			agencies = append(agencies, a.ID)
		}
	}
	if req.Agency != "" && len(agencies) == 0 {
		return nil, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	out := []RunInfo{}
	for _, s := range secs {
		for _, a := range agencies {
			id, err := d.repl.Trigger(s.Name, a, "on-demand")
			if err != nil {
				return out, err
			}
			if j := d.queue.Get(id); j != nil {
				out = append(out, d.runInfo(catalog.Run{ID: id}))
			} else if run, err := d.cat.Run(id); err == nil {
				out = append(out, d.runInfo(*run))
			}
		}
	}
	return out, nil
}

// Verify queues a verify run.
func (d *Daemon) Verify(req VerifyRequest) (catalog.Run, error) {
	if req.DRC == "" {
		return catalog.Run{}, fmt.Errorf("%w: verify needs a DRC (--drc NAME)", errBadRequest)
	}
	site, err := d.site(req.DRC)
	if err != nil {
		return catalog.Run{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	var agencies []string
	for _, a := range d.cfg.Agencies {
		if req.Agency == "" || a.ID == req.Agency {
			agencies = append(agencies, a.ID)
		}
	}
	if len(agencies) == 0 {
		return catalog.Run{}, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	r := &catalog.Run{Op: "verify", DRC: site.Name, Agency: req.Agency, Reason: "on-demand"}
	return d.submit(r, queue.PriorityOnDemand, func(ctx context.Context, j *queue.Job) error { return d.verify(ctx, j, site, agencies, req.ReadData) })
}

// verify runs `restic check` at the DRC for each agency, compares the DRC's objects
// with every other DRC's (missing, extra, different), and with read_data hashes every
// object there. Differences explained by replication (the primary's newest objects
// not copied yet, deletions waiting for delete_after) are reported but are not
// problems; a failed check or a damaged object is.
func (d *Daemon) verify(ctx context.Context, j *queue.Job, site *drc.Site, agencies []string, readData bool) error {
	r := j.Run
	if err := site.Check(ctx); err != nil {
		return err
	}
	rep := VerifyReport{DRC: site.Name, ReadData: readData}
	for _, agency := range agencies {
		repo := site.Repo(agency)
		if ok, err := repo.Exists(ctx); err != nil {
			return err
		} else if !ok {
			continue
		}
		av := AgencyVerify{Agency: agency, Check: "ok"}
		j.SetProgress(func(p *Progress) { p.Phase = "restic check " + agency })
		if _, err := repo.ResticCheck(ctx, readData); err != nil {
			if ctx.Err() != nil {
				return err
			}
			av.Check = oneline.Of(err.Error())
			rep.Problems++
		}
		j.SetProgress(func(p *Progress) { p.Phase = "comparing objects " + agency })
		here, err := listObjects(ctx, repo.Store)
		if err != nil {
			return fmt.Errorf("drc %q: %w", site.Name, err)
		}
		for _, size := range here {
			av.Objects++
			av.Bytes += size
		}
		av.KeyProblem = hashCheck(ctx, repo.Store, "keys/", nil)
		rep.Problems += len(av.KeyProblem)
		if readData {
			j.SetProgress(func(p *Progress) { p.Phase = "reading every object " + agency; p.TotalFiles = uint64(av.Objects) })
			av.Corrupt = hashCheck(ctx, repo.Store, "", here)
			rep.Problems += len(av.Corrupt)
		}
		for _, other := range d.sites {
			if other == site {
				continue
			}
			sc := d.compareSites(ctx, site, other, agency, here)
			rep.Problems += sc.SizeDiffers
			if !sc.SameConfig && sc.Error == "" {
				rep.Problems++
			}
			av.Compared = append(av.Compared, sc)
		}
		rep.Agencies = append(rep.Agencies, av)
	}
	b, _ := json.Marshal(rep)
	r.Manifest = b
	if rep.Problems > 0 {
		return fmt.Errorf("drc %q: %d problem(s) found (see the run's report)", site.Name, rep.Problems)
	}
	return ctx.Err()
}

// listObjects lists the replicated objects of a repository (data, index, snapshots).
func listObjects(ctx context.Context, st drc.Store) (map[string]int64, error) {
	out := map[string]int64{}
	for _, prefix := range []string{"data/", "index/", "snapshots/"} {
		if err := st.List(ctx, prefix, func(o drc.ObjectInfo) error {
			out[o.Name] = o.Size
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hashCheck reads objects (those listed under prefix, or the given ones) and returns
// those whose content does not hash to their name, with why.
func hashCheck(ctx context.Context, st drc.Store, prefix string, objs map[string]int64) []string {
	var names []string
	if objs == nil {
		_ = st.List(ctx, prefix, func(o drc.ObjectInfo) error {
			names = append(names, o.Name)
			return nil
		})
	} else {
		for n := range objs {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var mu sync.Mutex
	var bad []string
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			why := ""
			rc, err := st.Get(ctx, name)
			if err != nil {
				why = err.Error()
			} else {
				h := sha256.New()
				_, err = io.Copy(h, rc)
				rc.Close()
				if err != nil {
					why = err.Error()
				} else if got := hex.EncodeToString(h.Sum(nil)); !strings.HasSuffix(name, "/"+got) {
					why = "content does not match its name (SHA-256 " + got[:12] + "…)"
				}
			}
			if why != "" && ctx.Err() == nil {
				mu.Lock()
				bad = append(bad, name+": "+oneline.Of(why))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(bad)
	return bad
}

func (d *Daemon) compareSites(ctx context.Context, site, other *drc.Site, agency string, here map[string]int64) SiteCompare {
	sc := SiteCompare{With: other.Name}
	if err := other.Check(ctx); err != nil {
		sc.Error = oneline.Of(err.Error())
		return sc
	}
	orepo := other.Repo(agency)
	there, err := listObjects(ctx, orepo.Store)
	if err != nil {
		sc.Error = oneline.Of(fmt.Sprintf("drc %q: %v", other.Name, err))
		return sc
	}
	c1, e1 := readAll(ctx, site.Repo(agency).Store, "config")
	c2, e2 := readAll(ctx, orepo.Store, "config")
	sc.SameConfig = e1 == nil && e2 == nil && string(c1) == string(c2)
	// Deletions waiting at whichever of the two is the secondary.
	pending := map[string]time.Time{}
	for _, s := range []*drc.Site{site, other} {
		if s.Role == drc.RoleSecondary {
			p, _ := d.cat.PendingDeletions(s.Name, agency)
			for k, v := range p {
				pending[k] = v
			}
		}
	}
	example := func(list *[]string, name string) {
		if len(*list) < 10 {
			*list = append(*list, name)
		}
	}
	for name, size := range there {
		hs, ok := here[name]
		switch {
		case !ok:
			sc.Missing++
			example(&sc.MissingExamples, name)
			if _, p := pending[name]; p {
				sc.PendingDeletion++
			}
		case hs != size:
			sc.SizeDiffers++
			example(&sc.DiffersExamples, name)
		}
	}
	for name := range here {
		if _, ok := there[name]; !ok {
			sc.Extra++
			example(&sc.ExtraExamples, name)
			if _, p := pending[name]; p {
				sc.PendingDeletion++
			}
		}
	}
	sort.Strings(sc.MissingExamples)
	sort.Strings(sc.ExtraExamples)
	sc.NotYetReplicated = sc.Missing > 0 && site.Role == drc.RoleSecondary && other.Role == drc.RolePrimary
	return sc
}

func readAll(ctx context.Context, st drc.Store, name string) ([]byte, error) {
	rc, err := st.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
