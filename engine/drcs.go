package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/integrity"
	"github.com/cadang/cadang/engine/queue"
)

// drcStatuses returns every DRC's status; health is probed now when the last probe is
// older than a minute or found the DRC unreachable.
func (v service) drcStatuses(ctx context.Context) ([]DRCStatus, error) {
	cf := v.d.conf()
	alarms, err := v.d.cat.Alarms(false)
	if err != nil {
		return nil, err
	}
	states, err := v.d.cat.ReplStates()
	if err != nil {
		return nil, err
	}
	out := make([]DRCStatus, len(v.d.sites))
	var wg sync.WaitGroup
	for i, s := range v.d.sites {
		// A cached failure is probed again: the DRC may be back (or, for a path DRC,
		// created by the first backup since), and an answer must not say it is down
		// on the strength of an old probe.
		h, ok := v.d.repl.HealthOf(s.Name)
		if !ok || !h.Reachable || v.d.now().Sub(h.Checked) > time.Minute {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := s.Health(ctx, v.d.now)
				v.d.repl.SetHealth(h)
				out[i].Health = apiHealth(h)
			}()
		} else {
			out[i].Health = apiHealth(h)
		}
	}
	var agencies []string
	for _, a := range cf.cfg.Agencies {
		agencies = append(agencies, a.ID)
	}
	wg.Wait()
	for i, s := range v.d.sites {
		if s.Immutable() && out[i].Health.Reachable {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i].Immutability = v.immutabilityStatus(ctx, s, agencies)
			}()
		}
	}
	wg.Wait()
	prim := v.d.sites.primary().Name
	for i, s := range v.d.sites {
		st := &out[i]
		st.DRC, st.Role, st.Kind, st.Location, st.Time = s.Name, s.Role, s.Kind(), s.Location(), st.Health.Checked
		for _, a := range alarms {
			if a.DRC == s.Name {
				st.Alarms = append(st.Alarms, apiAlarm(a))
			}
		}
		if s.Role == drc.RoleSecondary {
			set := s.Replication.Effective()
			lag := v.d.repl.Lag(s.Name)
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
			for _, a := range cf.cfg.Agencies {
				recs, _ := v.d.cat.AgencySnapshots(a.ID)
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
		case len(st.Alarms) > 0 || st.Health.LockError != "" || (st.Immutability != nil && len(st.Immutability.Hidden) > 0):
			st.Status = "alarm"
		case st.Replication != nil && st.Replication.LagExceeded:
			st.Status = "lagging"
		case st.Replication != nil && st.Replication.LastError != "" && st.Replication.LastPass.After(st.Replication.LastSuccess):
			st.Status = "failing" // its last replication pass failed
		default:
			st.Status = "ok"
		}
		st.Problems = append(drcProblems(st), immutabilityProblems(s.Name, st.Immutability)...)
	}
	return out, nil
}

// Replicate queues replication passes now; it returns the runs that will do them.
func (d *Daemon) Replicate(req ReplicateRequest) ([]catalog.Run, error) {
	cf := d.conf()
	secs := d.repl.Secondaries()
	if req.DRC != "" {
		s, err := d.sites.site(req.DRC)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadRequest, err)
		}
		if s.Role != drc.RoleSecondary {
			return nil, fmt.Errorf("%w: drc %q is the primary: replication goes from it to the secondaries", errBadRequest, s.Name)
		}
		secs = []*drc.Site{s}
	}
	var agencies []string
	for _, a := range cf.cfg.Agencies {
		if req.Agency == "" || a.ID == req.Agency {
			agencies = append(agencies, a.ID)
		}
	}
	if req.Agency != "" && len(agencies) == 0 {
		return nil, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	out := []catalog.Run{}
	for _, s := range secs {
		for _, a := range agencies {
			id, err := d.repl.Trigger(s.Name, a, "on-demand")
			if err != nil {
				return out, err
			}
			if j := d.queue.Get(id); j != nil {
				out = append(out, catalog.Run{ID: id}) // its live state is the job's
			} else if run, err := d.cat.Run(id); err == nil {
				out = append(out, *run)
			}
		}
	}
	return out, nil
}

// Verify queues a verify run.
func (d *Daemon) Verify(req VerifyRequest) (catalog.Run, error) {
	cf := d.conf()
	if req.DRC == "" {
		return catalog.Run{}, fmt.Errorf("%w: verify needs a DRC (--drc NAME)", errBadRequest)
	}
	site, err := d.sites.site(req.DRC)
	if err != nil {
		return catalog.Run{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	var agencies []string
	for _, a := range cf.cfg.Agencies {
		if req.Agency == "" || a.ID == req.Agency {
			agencies = append(agencies, a.ID)
		}
	}
	if len(agencies) == 0 {
		return catalog.Run{}, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	r := &catalog.Run{Op: "verify", DRC: site.Name, Agency: req.Agency, Reason: "on-demand"}
	return d.submit(r, queue.PriorityOnDemand, func(ctx context.Context, j *queue.Job) error {
		return (&integrity.Verifier{Sites: d.sites, Catalog: d.cat, Now: d.now, OnDamage: d.damageFound}).Run(ctx, j, site, agencies, req.ReadData)
	})
}
