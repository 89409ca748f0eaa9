package engine

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/targets/mysql"
	"github.com/cadang/cadang/targets/postgres"
)

// Drill queues drill runs on demand.
func (d *Daemon) Drill(req DrillRequest) ([]catalog.Run, error) {
	cf := d.conf()
	var ts []*target
	switch {
	case req.All && req.Target != "":
		return nil, fmt.Errorf("%w: give a target or --all, not both", errBadRequest)
	case req.All:
		for _, tc := range cf.cfg.Targets {
			ts = append(ts, cf.targets[tc.Name])
		}
	default:
		t, ok := cf.targets[req.Target]
		if !ok {
			return nil, d.unknownTarget(req.Target)
		}
		ts = []*target{t}
	}
	if req.DRC != "" {
		if _, err := d.sites.site(req.DRC); err != nil {
			return nil, fmt.Errorf("%w: %v", errBadRequest, err)
		}
	}
	var subs []submission
	for _, t := range ts {
		subs = append(subs, d.drillSubmissions(t, req.DRC, reasonOnDemand, queue.PriorityOnDemand)...)
	}
	return d.submitAll(subs, nil)
}

// drillSubmissions builds the drill runs of t: one per DRC of its drill.drcs, or of
// onlyDRC.
func (d *Daemon) drillSubmissions(t *target, onlyDRC, reason string, prio int) []submission {
	cf := d.conf()
	drcs := cf.cfg.DrillOf(t.Cfg).DRCs
	if onlyDRC != "" {
		drcs = []string{onlyDRC}
	}
	var out []submission
	for _, name := range drcs {
		site, err := d.sites.site(name)
		if err != nil {
			continue // the config loader reported it
		}
		r := &catalog.Run{Op: "drill", Target: t.Cfg.Name, Agency: t.Cfg.Agency, Kind: t.Cfg.Kind, DRC: site.Name, Reason: reason}
		// A drill of a continuous target waits for the log its archive runs store.
		_, pg := postgres.IsContinuous(t.Cfg.Spec)
		_, my := mysql.IsContinuous(t.Cfg.Spec)
		continuous := pg || my
		out = append(out, submission{run: r, prio: prio, key: "drill/" + t.Cfg.Name + "/" + site.Name, beside: continuous,
			exec: func(ctx context.Context, j *queue.Job) error { return cf.runs.Drill(ctx, j, t, site) }})
	}
	return out
}
