package runbooks

import (
	"bytes"
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"
)

// chart is the trend of one target: its past drills and its RTO objective.
type chart struct {
	Target    string
	Objective time.Duration
	Points    []TrendPoint
}

// maxTrendPoints bounds the drills one chart shows (the most recent).
const maxTrendPoints = 24

// charts groups the report's trend by target, oldest first.
func (r *Report) charts() []chart {
	objective := map[string]time.Duration{}
	for _, res := range r.Results {
		objective[res.Target] = time.Duration(res.RTOObjective)
	}
	byTarget := map[string][]TrendPoint{}
	for _, p := range r.Trend {
		byTarget[p.Target] = append(byTarget[p.Target], p)
	}
	var out []chart
	for target, pts := range byTarget {
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].Time.Before(pts[j].Time) })
		if len(pts) > maxTrendPoints {
			pts = pts[len(pts)-maxTrendPoints:]
		}
		out = append(out, chart{Target: target, Objective: objective[target], Points: pts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// scale returns the value at the top of a chart: room above the tallest bar, and the
// RTO objective too when it is within reach (an objective of hours would otherwise
// flatten bars of minutes into nothing; objectiveShown says whether it is drawn).
func (c chart) scale() time.Duration {
	var tallest time.Duration
	for _, p := range c.Points {
		tallest = max(tallest, time.Duration(p.RTO))
	}
	top := max(tallest*5/4, time.Second)
	if c.Objective > 0 && c.Objective <= 3*tallest {
		top = max(top, c.Objective*11/10)
	}
	return top
}

func (c chart) objectiveShown() bool { return c.Objective > 0 && c.Objective <= c.scale() }

// isCurrent reports whether p is the drill a drill report is about.
func (r *Report) isCurrent(p TrendPoint) bool {
	return r.Kind == ReportDrill && r.Run != 0 && p.Run == r.Run
}

func (r *Report) hasCurrent() bool {
	for _, p := range r.Trend {
		if r.isCurrent(p) {
			return true
		}
	}
	return false
}

// heading is the line above a chart.
func (v *vocab) chartHeading(c chart) string {
	h := fmt.Sprintf("%s — %s", c.Target, v.ColRTO)
	switch {
	case c.objectiveShown():
		h += fmt.Sprintf(" (%s %s)", v.Objective, v.duration(c.Objective))
	case c.Objective > 0:
		h += fmt.Sprintf(" (%s %s: %s)", v.Objective, v.duration(c.Objective), v.OffScale)
	}
	return h
}

// svgBar is one bar of an SVG chart.
type svgBar struct {
	X, Y, W, H float64
	Color      string
	Label      string // tooltip
	Value      string // above the bar
	Tick       string // under the bar: the date
	DRC        string // under the date: the DRC drilled from
	Current    bool   // the drill the report is about
}

type svgChart struct {
	Target       string
	Heading      string
	Width        int
	Height       int
	Bars         []svgBar
	HasObjective bool
	ObjectiveY   float64
	TopLabel     string
}

func (v *vocab) svgCharts(r *Report) []svgChart {
	const w, h, top, bottom, left = 640.0, 160.0, 14.0, 32.0, 8.0
	var out []svgChart
	for _, c := range r.charts() {
		sc := svgChart{Target: c.Target, Heading: v.chartHeading(c), Width: int(w), Height: int(h), TopLabel: v.duration(c.scale())}
		plot := h - top - bottom
		slot := (w - 2*left) / float64(max(len(c.Points), 1))
		for i, p := range c.Points {
			bh := plot * float64(time.Duration(p.RTO)) / float64(c.scale())
			color := "#2e7d32"
			if !p.Passed {
				color = "#c62828"
			}
			sc.Bars = append(sc.Bars, svgBar{
				X: left + float64(i)*slot + slot*0.15, Y: top + plot - bh, W: slot * 0.7, H: bh, Color: color,
				Label:   fmt.Sprintf("%s %s, %s: %s (%s)", c.Target, p.DRC, v.date(p.Time), v.duration(time.Duration(p.RTO)), v.status(p.Passed)),
				Value:   v.duration(time.Duration(p.RTO)),
				Tick:    p.Time.Format("02/01"),
				DRC:     p.DRC,
				Current: r.isCurrent(p),
			})
		}
		if c.objectiveShown() {
			sc.HasObjective = true
			sc.ObjectiveY = top + plot - plot*float64(c.Objective)/float64(c.scale())
		}
		out = append(out, sc)
	}
	return out
}

// HTML renders the report as one self-contained page (inline style and charts).
func (r *Report) HTML() ([]byte, error) {
	r.localize()
	v := lang(r.Language)
	var buf bytes.Buffer
	err := htmlTemplate.Execute(&buf, struct {
		R      *Report
		V      *vocab
		Charts []svgChart
		Title  string
	}{r, v, v.svgCharts(r), r.title(v)})
	return buf.Bytes(), err
}

func (r *Report) title(v *vocab) string {
	if r.Kind == ReportPeriod {
		return v.PeriodTitle
	}
	if r.Kind == ReportRunbook {
		return v.RunbookTitle
	}
	return v.DrillTitle
}

func (r *Report) openingText(v *vocab) string {
	office := r.Office.Name
	if r.Office.Unit != "" {
		office = r.Office.Unit + " " + office
	}
	if r.Kind == ReportPeriod {
		return fmt.Sprintf(v.OpeningPeriod, v.date(r.Period.From), v.date(r.lastDay()), office)
	}
	if rb := r.Runbook; r.Kind == ReportRunbook && rb != nil {
		mode, tickets, version := v.ModeTest, v.NoTicket, v.NoTicket
		if rb.Mode == "real" {
			mode = v.ModeReal
		}
		if len(rb.Tickets) > 0 {
			tickets = strings.Join(rb.Tickets, ", ")
		}
		if rb.Version != "" {
			version = rb.Version
		}
		return fmt.Sprintf(v.OpeningRunbook, v.dateInWords(r.Period.From), office, rb.Name, mode, rb.File, version, rb.SHA256, rb.Status, tickets)
	}
	return fmt.Sprintf(v.Opening, v.dateInWords(r.Period.From), office)
}

// performer is who performed a step: the step's own performer (report.performers),
// else the signer who performed the drill (its title, or name), else the
// language's word for the operator. cadang is the tool, never the performer.
func (r *Report) performer(v *vocab, s StepResult) string {
	switch p := r.Signers.PerformedBy; {
	case s.Actor != "": // the person who confirmed a runbook's manual gate
		return s.Actor
	case s.Performer != "":
		return s.Performer
	case p.Title != "":
		return p.Title
	case p.Name != "":
		return p.Name
	}
	return v.Operator
}

// blankName is the line a name is written on by hand.
const blankName = "(..........................................)"

// acknowledger is who signs the "Mengetahui" block of a drill report: the head of
// the agency that owns the data, or, when none is configured, a blank block titled
// after the agency, to be signed by hand.
func (r *Report) acknowledger(v *vocab) (Person, bool) {
	if r.Kind != ReportDrill || len(r.Results) == 0 {
		return Person{}, false
	}
	p := r.Signers.AcknowledgedBy
	if p.Title == "" {
		name := r.Results[0].AgencyName
		if name == "" {
			name = r.Results[0].Agency
		}
		p.Title = fmt.Sprintf(v.HeadOf, name)
	}
	if p.Name == "" {
		p.Name = blankName // to be written by hand
	}
	return p, true
}

// periodText is the period as the scope table shows it: days for a period report,
// times for a drill.
func (r *Report) periodText(v *vocab) string {
	if r.Kind == ReportPeriod {
		return v.date(r.Period.From) + " – " + v.date(r.lastDay())
	}
	return v.dateTime(r.Period.From) + " – " + v.dateTime(r.Period.To)
}

func (r *Report) basisLines(v *vocab) []string {
	if len(r.Basis) > 0 {
		return r.Basis
	}
	return v.Basis
}

// counts returns how many results passed and failed.
func (r *Report) counts() (passed, failed int) {
	for _, res := range r.Results {
		if res.Passed {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// targetSummary is one line of a period report's per-target table.
type targetSummary struct {
	Target, Agency, Kind string
	Drills, Passed       int
	WorstRTO, WorstRPO   time.Duration
	DRCs                 []string
}

func (r *Report) summaries() []targetSummary {
	byTarget := map[string]*targetSummary{}
	var order []string
	for _, res := range r.Results {
		s, ok := byTarget[res.Target]
		if !ok {
			agency := res.Agency
			if res.AgencyName != "" {
				agency = res.AgencyName
			}
			s = &targetSummary{Target: res.Target, Agency: agency, Kind: res.Kind}
			byTarget[res.Target] = s
			order = append(order, res.Target)
		}
		s.Drills++
		if res.Passed {
			s.Passed++
		}
		s.WorstRTO = max(s.WorstRTO, time.Duration(res.RTOMeasured))
		s.WorstRPO = max(s.WorstRPO, time.Duration(res.RPOAchieved))
		if !contains(s.DRCs, res.DRC) {
			s.DRCs = append(s.DRCs, res.DRC)
		}
	}
	sort.Strings(order)
	out := make([]targetSummary, len(order))
	for i, t := range order {
		out[i] = *byTarget[t]
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"date":      func(v *vocab, t time.Time) string { return v.date(t) },
	"dateTime":  func(v *vocab, t time.Time) string { return v.dateTime(t) },
	"dur":       func(v *vocab, d Duration) string { return v.duration(time.Duration(d)) },
	"tdur":      func(v *vocab, d time.Duration) string { return v.duration(d) },
	"status":    func(v *vocab, ok bool) string { return v.status(ok) },
	"step":      func(v *vocab, s string) string { return v.StepStatus[s] },
	"bytes":     func(v *vocab, n uint64) string { return v.bytes(n) },
	"t":         func(v *vocab, m Message) string { return v.t(m) },
	"performer": func(r *Report, v *vocab, s StepResult) string { return r.performer(v, s) },
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
	"join": func(list []string) string {
		out := ""
		for i, s := range list {
			if i > 0 {
				out += ", "
			}
			out += s
		}
		return out
	},
	"opening":    func(r *Report, v *vocab) string { return r.openingText(v) },
	"periodText": func(r *Report, v *vocab) string { return r.periodText(v) },
	"zone":       func(r *Report) string { return r.zoneLabel() },
	"hasCurrent": func(r *Report) bool { return r.hasCurrent() },
	"ack": func(r *Report, v *vocab) *Person {
		if p, ok := r.acknowledger(v); ok {
			return &p
		}
		return nil
	},
	"basis": func(r *Report, v *vocab) []string { return r.basisLines(v) },
	"summary": func(r *Report, v *vocab) string {
		return r.summaryLine(v)
	},
	"f1":        func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"inc":       func(i int) int { return i + 1 },
	"summaries": func(r *Report) []targetSummary { return r.summaries() },
	"isPeriod":  func(r *Report) bool { return r.Kind == ReportPeriod },
}).Parse(`<!DOCTYPE html>
<html lang="{{.V.Code}}">
<head>
<meta charset="utf-8">
<title>{{.Title}} {{.R.Number}}</title>
<style>
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:10.5pt;color:#111;max-width:210mm;margin:0 auto;padding:12mm}
header{text-align:center;border-bottom:3px double #111;padding-bottom:6px;margin-bottom:10px}
header .office{font-size:13pt;font-weight:bold;text-transform:uppercase}
header .unit,header .address{font-size:9.5pt}
h1{text-align:center;font-size:13pt;margin:14px 0 2px;text-decoration:underline}
.number{text-align:center;margin:0 0 12px}
h2{font-size:11pt;margin:16px 0 6px}
h3{font-size:10.5pt;margin:10px 0 4px}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{border:1px solid #555;padding:3px 5px;vertical-align:top;text-align:left}
th{background:#e8e8e8}
td.num{text-align:right;white-space:nowrap}
.ok,.PASSED,.LULUS{color:#1b5e20;font-weight:bold}
.Failed,.FAILED,.GAGAL{color:#b71c1c;font-weight:bold}
.skipped{color:#666}
.verdict{font-size:12pt;font-weight:bold;margin:8px 0}
.caption{font-size:9pt;color:#444}
.signatures{display:flex;justify-content:space-between;margin-top:18px}
.signatures div{width:45%;text-align:center}
.signatures .space{height:60px}
.signatures .name{font-weight:bold;text-decoration:underline}
.signatures.ack{justify-content:center}
footer{margin-top:20px;font-size:8.5pt;color:#555;border-top:1px solid #aaa;padding-top:4px}
</style>
</head>
<body>
<header>
<div class="office">{{.R.Office.Name}}</div>
{{- if .R.Office.Unit}}<div class="unit">{{.R.Office.Unit}}</div>{{end}}
{{- if .R.Office.Address}}<div class="address">{{.R.Office.Address}}</div>{{end}}
</header>
<h1>{{.Title}}</h1>
<p class="number">{{.V.NumberLabel}}: {{.R.Number}}</p>
<p class="opening">{{opening .R .V}}</p>
<p class="verdict {{status .V .R.Passed}}">{{summary .R .V}} {{status .V .R.Passed}}</p>

<section id="basis">
<h2>{{.V.SecBasis}}</h2>
<ol>{{range basis .R .V}}<li>{{.}}</li>{{end}}</ol>
</section>

<section id="scope">
<h2>{{.V.SecScope}}</h2>
<table class="scope">
<tr><th>{{.V.Period}}</th><td>{{periodText .R .V}}</td></tr>
<tr><th>{{.V.Targets}}</th><td>{{join .R.Scope.Targets}}</td></tr>
<tr><th>{{.V.Agencies}}</th><td>{{join .R.Scope.Agencies}}</td></tr>
<tr><th>{{.V.Drcs}}</th><td>{{join .R.Scope.DRCs}}</td></tr>
</table>
</section>

<section id="procedure">
<h2>{{.V.SecProcedure}}</h2>
{{- $v := .V}}
{{- range .R.Results}}
<h3>{{.Target}} — DRC {{.DRC}} ({{dateTime $v .Started}})</h3>
<table class="steps">
<tr><th>{{$v.ColNo}}</th><th>{{$v.ColActivity}}</th><th>{{$v.ColPerformer}}</th><th>{{$v.ColTimeStd}}</th><th>{{$v.ColStart}} ({{zone $.R}})</th><th>{{$v.ColDuration}}</th><th>{{$v.ColResult}}</th></tr>
{{- range .Steps}}
<tr class="step {{.Status}}"><td class="num">{{.No}}</td><td>{{t $v .Title}}{{if not .Summary.IsZero}}<br><small>{{t $v .Summary}}</small>{{end}}{{if not .Error.IsZero}}<br><small class="failed">{{t $v .Error}}</small>{{end}}</td><td>{{performer $.R $v .}}</td><td>{{if .Timeout}}{{tdur $v .Timeout}}{{else}}-{{end}}</td><td>{{if .Started.IsZero}}-{{else}}{{.Started.Format "15:04:05"}}{{end}}</td><td class="num">{{tdur $v .Duration}}</td><td class="{{.Status}}">{{step $v .Status}}</td></tr>
{{- end}}
</table>
{{- end}}
</section>

<section id="results">
<h2>{{.V.SecResults}}</h2>
{{- if isPeriod .R}}
<table class="summary">
<tr><th>{{.V.ColTarget}}</th><th>{{.V.ColAgency}}</th><th>{{.V.ColKind}}</th><th>{{.V.ColDRC}}</th><th>{{.V.ColDrills}}</th><th>{{.V.ColPassRate}}</th><th>{{.V.ColRPO}} max</th><th>{{.V.ColRTO}} max</th></tr>
{{- range summaries .R}}
<tr class="target-summary"><td>{{.Target}}</td><td>{{.Agency}}</td><td>{{.Kind}}</td><td>{{join .DRCs}}</td><td class="num">{{.Drills}}</td><td class="num">{{.Passed}}</td><td class="num">{{tdur $v .WorstRPO}}</td><td class="num">{{tdur $v .WorstRTO}}</td></tr>
{{- end}}
</table>
{{- end}}
<table class="results">
<tr><th>{{.V.ColTarget}}</th><th>{{.V.ColAgency}}</th><th>{{.V.ColKind}}</th><th>{{.V.ColDRC}}</th><th>{{.V.ColSnapshot}}</th><th>{{.V.ColRPO}} ({{.V.Objective}} / {{.V.Achieved}})</th><th>{{.V.ColRTO}} ({{.V.Objective}} / {{.V.Measured}})</th><th>{{.V.ColBytes}}</th><th>{{.V.ColChecks}}</th><th>{{.V.ColStatus}}</th></tr>
{{- range .R.Results}}
<tr class="result"><td>{{.Target}}</td><td>{{if .AgencyName}}{{.AgencyName}}{{else}}{{.Agency}}{{end}}</td><td>{{.Kind}}</td><td>{{.DRC}}</td><td>{{short .Snapshot}}<br><small>{{dateTime $v .SnapshotTime}}</small></td><td>{{if .RPOObjective}}{{dur $v .RPOObjective}}{{else}}-{{end}} / <span class="{{if .RPOMet}}ok{{else}}failed{{end}}">{{dur $v .RPOAchieved}}</span></td><td>{{if .RTOObjective}}{{dur $v .RTOObjective}}{{else}}-{{end}} / <span class="{{if .RTOMet}}ok{{else}}failed{{end}}">{{dur $v .RTOMeasured}}</span></td><td class="num">{{bytes $v .BytesRestored}}<br><small>{{bytes $v .BytesPerSecond}}/s</small></td><td>{{range .Checks}}<div class="{{if .Passed}}ok{{else}}failed{{end}}">{{t $v .Name}}{{if not .Detail.IsZero}}: {{t $v .Detail}}{{end}}</div>{{end}}</td><td class="{{status $v .Passed}}">{{status $v .Passed}}</td></tr>
{{- end}}
</table>
</section>

<section id="trend">
<h2>{{.V.SecTrend}}</h2>
{{- if not .Charts}}<p>{{.V.NoTrend}}</p>{{end}}
{{- range .Charts}}{{$c := .}}
<h3>{{.Heading}}</h3>
<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Target}}">
<rect x="0" y="0" width="{{.Width}}" height="{{.Height}}" fill="#fafafa" stroke="#bbb"/>
<text x="4" y="11" font-size="9" fill="#444">{{.TopLabel}}</text>
{{- range .Bars}}
<rect class="bar{{if .Current}} current{{end}}" x="{{f1 .X}}" y="{{f1 .Y}}" width="{{f1 .W}}" height="{{f1 .H}}" fill="{{.Color}}"{{if .Current}} stroke="#111" stroke-width="2"{{end}}><title>{{.Label}}</title></rect>
<text x="{{f1 .X}}" y="{{f1 .Y}}" font-size="8" fill="#222" dy="-2"{{if .Current}} font-weight="bold"{{end}}>{{.Value}}</text>
<text x="{{f1 .X}}" y="{{$c.Height}}" font-size="8" fill="#444" dy="-18">{{.Tick}}</text>
<text class="drc" x="{{f1 .X}}" y="{{$c.Height}}" font-size="8" fill="#444" dy="-8">{{.DRC}}</text>
{{- end}}
{{- if .HasObjective}}
<line x1="0" x2="{{.Width}}" y1="{{f1 .ObjectiveY}}" y2="{{f1 .ObjectiveY}}" stroke="#1565c0" stroke-dasharray="5,4"/>
{{- end}}
</svg>
{{- end}}
{{- if .Charts}}<p class="caption">{{.V.TrendCaption}}{{if hasCurrent .R}} {{.V.TrendCurrent}}{{end}}</p>{{end}}
</section>

<section id="findings">
<h2>{{.V.SecFindings}}</h2>
{{- if not .R.Findings}}<p>{{.V.NoFindings}}</p>{{else}}
<table class="findings">
<tr><th>{{.V.ColNo}}</th><th>{{.V.ColTarget}}</th><th>{{.V.ColDRC}}</th><th>{{.V.ColFinding}}</th><th>{{.V.ColFollowUp}}</th></tr>
{{- range $i, $f := .R.Findings}}
<tr class="finding"><td class="num">{{inc $i}}</td><td>{{$f.Target}}</td><td>{{$f.DRC}}</td><td>{{$f.Text}}</td><td>{{$f.FollowUp}}</td></tr>
{{- end}}
</table>
{{- end}}
</section>

<section id="closing">
<h2>{{.V.SecClosing}}</h2>
<p>{{.V.Closing}}</p>
<p>{{if .R.Office.City}}{{.R.Office.City}}, {{end}}{{date .V .R.Generated}}</p>
<div class="signatures">
<div class="signer"><div>{{.V.PerformedBy}},</div><div>{{.R.Signers.PerformedBy.Title}}</div><div class="space"></div><div class="name">{{.R.Signers.PerformedBy.Name}}</div>{{if .R.Signers.PerformedBy.NIP}}<div>{{.V.Nip}}. {{.R.Signers.PerformedBy.NIP}}</div>{{end}}</div>
<div class="signer"><div>{{.V.ApprovedBy}},</div><div>{{.R.Signers.ApprovedBy.Title}}</div><div class="space"></div><div class="name">{{.R.Signers.ApprovedBy.Name}}</div>{{if .R.Signers.ApprovedBy.NIP}}<div>{{.V.Nip}}. {{.R.Signers.ApprovedBy.NIP}}</div>{{end}}</div>
</div>
{{- with ack .R .V}}
<div class="signatures ack">
<div class="signer"><div>{{$v.Acknowledged}},</div><div>{{.Title}}</div><div class="space"></div><div class="name">{{.Name}}</div>{{if .NIP}}<div>{{$v.Nip}}. {{.NIP}}</div>{{end}}</div>
</div>
{{- end}}
</section>
<footer>{{.V.Generated}} · {{dateTime .V .R.Generated}}{{if .R.Run}} · run {{.R.Run}}{{end}}</footer>
</body>
</html>
`))
