package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/runbooks"
)

// Runbook renders the minutes of runbook run r; rb is the runbook as configured now
// (its declared objectives), nil when it is no longer configured.
func (b *Builder) Runbook(r catalog.RunbookRun, rb *runbooks.Runbook, format, lang string) ([]byte, error) {
	rep, err := b.runbookReport(r, rb, b.lang(lang))
	if err != nil {
		return nil, err
	}
	return render(rep, format)
}

// WriteRunbook writes the minutes of an ended runbook run in every format into
// report.dir and returns the files' paths.
func (b *Builder) WriteRunbook(r catalog.RunbookRun, rb *runbooks.Runbook) ([]string, error) {
	rep, err := b.runbookReport(r, rb, b.lang(""))
	if err != nil {
		return nil, err
	}
	dir := b.cfg.ReportDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range formats {
		out, err := render(rep, f)
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, fmt.Sprintf("runbook-%d-%s-%s.%s", r.ID, r.Runbook, r.Mode, f))
		if err := writeFileAtomic(p, out); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// runbookReport builds the report: one result per service, whose RTO is measured from
// the run's start to the end of the service's last step, and whose RPO is the age, at
// the run's start, of the oldest snapshot its restores used.
func (b *Builder) runbookReport(r catalog.RunbookRun, rb *runbooks.Runbook, lang string) (*runbooks.Report, error) {
	started := r.Started.In(b.loc)
	n, err := b.cat.DocumentNumber("runbook", r.ID, started.Year())
	if err != nil {
		return nil, fmt.Errorf("document number: %w", err)
	}
	facts := &runbooks.RunbookFacts{Name: r.Runbook, Mode: r.Mode, Status: r.Status, File: r.File, SHA256: r.Digest, Version: r.Version}
	if rb != nil {
		facts.Description = rb.Description
	}
	rep := &runbooks.Report{Kind: runbooks.ReportRunbook, Language: lang, Number: b.cfg.Report.Number(n.Seq, n.Year, started.Month()),
		Office: b.cfg.Report.Office, Run: r.ID, Generated: b.now(), Signers: b.cfg.Report.Signers, Basis: b.cfg.Report.Basis,
		TimeZone: b.loc.String(), Runbook: facts}
	var tickets []string
	rep.Results, tickets = runbookResults(r, rb)
	facts.Tickets = tickets
	rep.Finish()
	return rep, nil
}

// runbookResults are the results of a runbook run, one per service, and the tickets
// of its confirmed gates.
func runbookResults(r catalog.RunbookRun, rb *runbooks.Runbook) ([]runbooks.TargetResult, []string) {
	var out []runbooks.TargetResult
	services := map[string]*runbooks.TargetResult{}
	var order []string
	tickets := map[string]bool{}
	for _, st := range r.Steps {
		if st.Ticket != "" && st.Status == runbooks.StepOK {
			tickets[st.Ticket] = true
		}
		svc := st.Service
		if svc == "" {
			svc = r.Runbook
		}
		res := services[svc]
		if res == nil {
			res = &runbooks.TargetResult{Run: r.ID, Target: svc, Kind: "service", Started: r.Started, Ended: r.Started, Passed: true}
			if rb != nil {
				o := rb.ObjectivesOf(svc)
				res.RTOObjective, res.RPOObjective = runbooks.Duration(o.RTO), runbooks.Duration(o.RPO)
			}
			services[svc] = res
			order = append(order, svc)
		}
		res.Steps = append(res.Steps, st)
		if st.Ended.After(res.Ended) {
			res.Ended = st.Ended
		}
		if st.Status != runbooks.StepOK && st.Status != runbooks.StepSkipped {
			res.Passed = false
		}
		if st.Summary.Key == "runbook.restore.done" {
			a := st.Summary.Args
			if drc, _ := a["drc"].(string); drc != "" && !slices.Contains(strings.Split(res.DRC, ", "), drc) {
				if res.DRC != "" {
					res.DRC += ", "
				}
				res.DRC += drc
			}
			if taken, err := time.Parse(time.RFC3339, fmt.Sprint(a["taken"])); err == nil {
				if res.SnapshotTime.IsZero() || taken.Before(res.SnapshotTime) {
					res.SnapshotTime, res.Snapshot = taken, fmt.Sprint(a["snapshot_id"])
					res.RPOAchieved = runbooks.Duration(r.Started.Sub(taken))
				}
			}
		}
	}
	for _, svc := range order {
		res := services[svc]
		res.RTOMeasured = runbooks.Duration(res.Ended.Sub(r.Started))
		out = append(out, *res)
	}
	list := make([]string, 0, len(tickets))
	for t := range tickets {
		list = append(list, t)
	}
	sort.Strings(list)
	return out, list
}

// periodRunbooks are the results of the runbook runs (failover tests and failovers)
// that started in [from, to) and ended, oldest first, for the period report: each
// service of a run is a row of kind "runbook test" or "runbook real".
func (b *Builder) periodRunbooks(from, to time.Time) ([]runbooks.TargetResult, error) {
	runs, err := b.cat.RunbookRuns(func(r catalog.RunbookRun) bool {
		return !r.Started.Before(from) && r.Started.Before(to) && !r.Ended.IsZero()
	})
	if err != nil {
		return nil, err
	}
	var out []runbooks.TargetResult
	for i := len(runs) - 1; i >= 0; i-- {
		rb, _ := b.cfg.Runbook(runs[i].Runbook)
		res, _ := runbookResults(runs[i], rb)
		for _, x := range res {
			x.Kind = "runbook " + runs[i].Mode
			if x.Target != runs[i].Runbook {
				x.Target = runs[i].Runbook + "/" + x.Target
			}
			out = append(out, x)
		}
	}
	return out, nil
}
