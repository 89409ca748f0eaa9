package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/runbooks"
)

// ErrBadRequest (wrapped) is a report asked for that cannot be made as asked: an
// unknown format, a run that is not a finished drill, a period that ends before it
// starts.
var ErrBadRequest = errors.New("bad request")

// formats are the formats a report renders in.
var formats = []string{"json", "html", "pdf"}

// trendLength is how many past drills of a target a report's trend chart shows.
const trendLength = 20

// Builder builds the reports of a daemon's drills.
type Builder struct {
	cat *catalog.Catalog
	cfg *config.Config
	loc *time.Location // the zone reports print times in (scheduler.timezone)
	now func() time.Time
}

// New returns the report builder over a catalog and a configuration; loc is the zone
// reports print times in.
func New(cat *catalog.Catalog, cfg *config.Config, loc *time.Location, now func() time.Time) *Builder {
	return &Builder{cat: cat, cfg: cfg, loc: loc, now: now}
}

// WriteDrill writes the report of a drill run that is ending, in every format, into
// report.dir, and returns the files' paths.
func (b *Builder) WriteDrill(r *catalog.Run, res *runbooks.TargetResult, lang string) ([]string, error) {
	rep, err := b.drillReportOf(r.ID, res, lang)
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
		p := filepath.Join(dir, fmt.Sprintf("drill-%d-%s-%s.%s", r.ID, res.Target, res.DRC, f))
		if err := writeFileAtomic(p, out); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func writeFileAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// drillReportOf builds the report of drill run id with its result res.
func (b *Builder) drillReportOf(id uint64, res *runbooks.TargetResult, lang string) (*runbooks.Report, error) {
	trend, err := b.drillTrend(res.Target, id, res)
	if err != nil {
		return nil, err
	}
	started := res.Started.In(b.loc)
	n, err := b.cat.DocumentNumber("drill", id, started.Year())
	if err != nil {
		return nil, fmt.Errorf("document number: %w", err)
	}
	signers := b.cfg.Report.Signers
	signers.AcknowledgedBy = b.agencyHead(res.Agency)
	rep := &runbooks.Report{Kind: runbooks.ReportDrill, Language: lang, Number: b.cfg.Report.Number(n.Seq, n.Year, started.Month()),
		Office: b.cfg.Report.Office, Run: id, Generated: b.now(), Results: []runbooks.TargetResult{*res},
		Trend: trend, Signers: signers, Basis: b.cfg.Report.Basis, TimeZone: b.loc.String()}
	rep.Finish()
	return rep, nil
}

// agencyHead is the head of agency id, who acknowledges its drill reports.
func (b *Builder) agencyHead(id string) runbooks.Person {
	for _, a := range b.cfg.Agencies {
		if a.ID == id {
			return a.Head
		}
	}
	return runbooks.Person{}
}

// drillTrend returns the past drills of target (up to and including run upTo, whose
// result may not be in the catalog yet), oldest first.
func (b *Builder) drillTrend(target string, upTo uint64, current *runbooks.TargetResult) ([]runbooks.TrendPoint, error) {
	runs, err := b.cat.Runs(catalog.RunFilter{Target: target, Op: "drill"})
	if err != nil {
		return nil, err
	}
	var out []runbooks.TrendPoint
	if current != nil {
		out = append(out, trendPoint(current))
	}
	for _, r := range runs { // newest first
		if len(out) >= trendLength {
			break
		}
		if r.ID >= upTo {
			continue
		}
		if res := drillResult(&r); res != nil {
			out = append(out, trendPoint(res))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func trendPoint(res *runbooks.TargetResult) runbooks.TrendPoint {
	return runbooks.TrendPoint{Run: res.Run, Time: res.Started, Target: res.Target, DRC: res.DRC, RTO: res.RTOMeasured,
		RPO: res.RPOAchieved, Passed: res.Passed}
}

// drillResult decodes a finished drill run's result, or returns nil.
func drillResult(r *catalog.Run) *runbooks.TargetResult {
	if r.Op != "drill" || len(r.Manifest) == 0 {
		return nil
	}
	var res runbooks.TargetResult
	if json.Unmarshal(r.Manifest, &res) != nil || res.Target == "" {
		return nil
	}
	return &res
}

func render(rep *runbooks.Report, format string) ([]byte, error) {
	switch format {
	case "json":
		return rep.JSON()
	case "html":
		return rep.HTML()
	case "pdf":
		return rep.PDF()
	}
	return nil, fmt.Errorf("%w: format %q (json, html or pdf)", ErrBadRequest, format)
}

// Drill renders the report of a finished drill run.
func (b *Builder) Drill(id uint64, format, lang string) ([]byte, error) {
	r, err := b.cat.Run(id)
	if err != nil {
		return nil, err
	}
	if r.Op != "drill" {
		return nil, fmt.Errorf("%w: run %d is a %s run, not a drill", ErrBadRequest, id, r.Op)
	}
	res := drillResult(r)
	if res == nil {
		return nil, fmt.Errorf("%w: drill run %d has no result (status %s)", ErrBadRequest, id, r.Status)
	}
	rep, err := b.drillReportOf(id, res, b.lang(lang))
	if err != nil {
		return nil, err
	}
	return render(rep, format)
}

// Period renders the summary of every drill that started in [from, to).
func (b *Builder) Period(from, to time.Time, format, lang string) ([]byte, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("%w: the period ends (%s) before it starts (%s)", ErrBadRequest, to.Format("2006-01-02"), from.Format("2006-01-02"))
	}
	runs, err := b.cat.Runs(catalog.RunFilter{Op: "drill"})
	if err != nil {
		return nil, err
	}
	rep := &runbooks.Report{Kind: runbooks.ReportPeriod, Language: b.lang(lang), Office: b.cfg.Report.Office,
		Generated: b.now(), Signers: b.cfg.Report.Signers, Basis: b.cfg.Report.Basis, TimeZone: b.loc.String(),
		Number: fmt.Sprintf("REKAP/UJI-DRC/%s/%s", from.Format("20060102"), to.AddDate(0, 0, -1).Format("20060102"))}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		res := drillResult(&runs[i])
		if res == nil || res.Started.Before(from) || !res.Started.Before(to) {
			continue
		}
		rep.Results = append(rep.Results, *res)
		rep.Trend = append(rep.Trend, trendPoint(res))
	}
	// Failover tests beside the drills (Pasal 28's yearly evaluation).
	rbs, err := b.periodRunbooks(from, to)
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, rbs...)
	rep.Finish()
	rep.Period = runbooks.Period{From: from, To: to}
	return render(rep, format)
}

// lang is the language a report is asked in, else report.language, else Indonesian.
func (b *Builder) lang(lang string) string {
	switch {
	case lang != "":
		return lang
	case b.cfg.Report.Language != "":
		return b.cfg.Report.Language
	}
	return runbooks.LangID
}
