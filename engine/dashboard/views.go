package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// The newest runs the fleet view looks for each agency's last drill among, and the
// drills page lists drills among (the catalog has no index of runs by op).
const (
	fleetRuns  = 200
	recentRuns = 1000
)

// drcWait bounds the wait for the DRCs' health on the fleet view.
const drcWait = 3 * time.Second

// pageSize is the rows of a table page: pages stay small whatever the fleet's size.
const pageSize = 50

// Target states on the fleet view, worst first.
const (
	stateFailed = "failed" // its last backup failed (or was partial or interrupted)
	stateLate   = "late"   // over its RPO at some DRC
	stateNever  = "never"  // no good snapshot yet
	stateOK     = "ok"
)

var stateOrder = map[string]int{stateFailed: 0, stateLate: 1, stateNever: 2, stateOK: 3}

// RPO grades, worst last (engine.RPOGrade's).
var gradeOrder = map[string]int{"": 0, "ok": 1, "exceeded": 2, "severe": 3, "critical": 4}

// tile is an agency on the fleet view.
type tile struct {
	Agency                           string
	Targets, OK, Late, Failed, Never int
	Grade                            string // the worst RPO grade of its targets ("": not known)
	Drill                            *api.RunInfo
}

// row is a target on the fleet view.
type row struct {
	Name, Agency, Kind, Schedule string
	State, Grade                 string
	Last                         *api.RunBrief
	NewestGood, NextRun          *time.Time
}

type fleetData struct {
	Full               bool // the data center's view (operator, auditor): every agency, DRCs, queue, alarms
	Tiles              []tile
	DRCs               []api.DRCStatus
	Queued             int
	Running, Waiting   []api.RunInfo
	Alarms             []api.Alarm
	Rows               []row
	Total, Page, Pages int
	Q, Agency, State   string
	Agencies           []string
	PrevURL, NextURL   string
	Problems           []string
	DRCError           string          // the DRCs could not be read in time
	Agents             []api.AgentInfo // with cluster: only (docs/agents.md)
}

func (d *Dashboard) fleet(w http.ResponseWriter, r *http.Request, u *who) {
	q := r.URL.Query()
	fd := fleetData{Q: strings.TrimSpace(q.Get("q")), Agency: q.Get("agency"), State: q.Get("state"), Page: 1}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		fd.Page = n
	}
	// The status of every target the user may see: an agency's own only (the API's
	// agency status), every agency's for the data center's own roles.
	var st api.Status
	if err := d.call(r, u, http.MethodGet, "/v1/status", nil, &st); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	if u.Agency == "" {
		// A DRC found unreachable is probed again at each answer: the page does not
		// wait for a dead one longer than drcWait, and says so.
		ctx, cancel := context.WithTimeout(r.Context(), drcWait)
		err := d.call(r.WithContext(ctx), u, http.MethodGet, "/v1/drcs", nil, &fd.DRCs)
		cancel()
		if err != nil {
			fd.DRCError = err.Error()
		}
		if err := d.call(r, u, http.MethodGet, "/v1/alarms", nil, &fd.Alarms); err != nil {
			d.apiFailed(w, r, u, err)
			return
		}
		fd.Full, fd.Problems, fd.Agents = true, st.Problems, st.Agents
	}
	fd.Queued, fd.Running, fd.Waiting = st.Queued, st.Running, st.Waiting
	if len(fd.Waiting) > 20 {
		fd.Waiting = fd.Waiting[:20]
	}
	all := make([]row, 0, len(st.TargetStatus))
	for _, ts := range st.TargetStatus {
		all = append(all, statusRow(ts))
	}
	// The tiles count every target; the table shows the page asked for.
	byAgency := map[string]*tile{}
	for _, rw := range all {
		t := byAgency[rw.Agency]
		if t == nil {
			t = &tile{Agency: rw.Agency}
			byAgency[rw.Agency] = t
		}
		t.Targets++
		switch rw.State {
		case stateOK:
			t.OK++
		case stateLate:
			t.Late++
		case stateFailed:
			t.Failed++
		case stateNever:
			t.Never++
		}
		if gradeOrder[rw.Grade] > gradeOrder[t.Grade] {
			t.Grade = rw.Grade
		}
	}
	// The last drill of each agency, among the newest runs the API answers this user
	// (the catalog has no index of runs by op: a drill older than these is not shown).
	var recent []api.RunInfo
	_ = d.call(r, u, http.MethodGet, fmt.Sprintf("/v1/runs?limit=%d", fleetRuns), nil, &recent)
	for i := range recent {
		if t := byAgency[recent[i].Agency]; t != nil && recent[i].Op == "drill" && t.Drill == nil && recent[i].Status.Done() {
			t.Drill = &recent[i]
		}
	}
	for _, t := range byAgency {
		fd.Tiles = append(fd.Tiles, *t)
		fd.Agencies = append(fd.Agencies, t.Agency)
	}
	slices.SortFunc(fd.Tiles, func(a, b tile) int { return cmp.Compare(a.Agency, b.Agency) })
	slices.Sort(fd.Agencies)
	rows := all[:0:0]
	for _, rw := range all {
		if (fd.Agency == "" || rw.Agency == fd.Agency) && (fd.State == "" || rw.State == fd.State) &&
			(fd.Q == "" || strings.Contains(rw.Name, fd.Q)) {
			rows = append(rows, rw)
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(stateOrder[a.State], stateOrder[b.State]), -cmp.Compare(gradeOrder[a.Grade], gradeOrder[b.Grade]), cmp.Compare(a.Name, b.Name))
	})
	fd.Total = len(rows)
	fd.Pages = max(1, (len(rows)+pageSize-1)/pageSize)
	fd.Page = min(fd.Page, fd.Pages)
	from := (fd.Page - 1) * pageSize
	fd.Rows = rows[from:min(from+pageSize, len(rows))]
	link := func(p int) string {
		v := url.Values{}
		for k, s := range map[string]string{"q": fd.Q, "agency": fd.Agency, "state": fd.State} {
			if s != "" {
				v.Set(k, s)
			}
		}
		v.Set("page", strconv.Itoa(p))
		return "/?" + v.Encode()
	}
	if fd.Page > 1 {
		fd.PrevURL = link(fd.Page - 1)
	}
	if fd.Page < fd.Pages {
		fd.NextURL = link(fd.Page + 1)
	}
	d.render(w, r, http.StatusOK, "fleet", u, page{Data: fd})
}

// statusRow is a target's row from its status: failed when its last ended backup
// failed, late when over its RPO at a DRC, never without a good snapshot.
func statusRow(ts api.TargetStatus) row {
	rw := row{Name: ts.Name, Agency: ts.Agency, Kind: ts.Kind, Schedule: ts.Schedule, Last: ts.LastBackup,
		NewestGood: ts.NewestGood, NextRun: ts.NextRun, State: stateOK}
	for _, g := range ts.RPOGrade {
		if gradeOrder[g] > gradeOrder[rw.Grade] {
			rw.Grade = g
		}
	}
	switch {
	case ts.LastBackup != nil && (ts.LastBackup.Status == api.Failed || ts.LastBackup.Status == api.Partial || ts.LastBackup.Status == api.Interrupted):
		rw.State = stateFailed
	case ts.NewestGood == nil:
		rw.State = stateNever
	case gradeOrder[rw.Grade] > gradeOrder["ok"]:
		rw.State = stateLate
	}
	return rw
}

// snapRow is a snapshot with, per DRC column, whether it is restorable there.
type snapRow struct {
	api.SnapshotInfo
	Held []bool
}

// chart is a small line chart drawn as inline SVG.
type chart struct {
	Title   string
	Empty   string // the text without data
	Points  string // "x,y x,y ..." in a 600x120 box
	Dots    [][2]float64
	Max     float64 // the value at the top
	Last    float64
	N       int
	YLabels []string
}

type targetData struct {
	Target     api.TargetInfo
	DRCs       []string
	Snaps      []snapRow
	SnapsTotal int
	Runs       []api.RunInfo
	Drills     []api.RunInfo
	RPO, RTO   chart
	Queued     uint64
	MoreRuns   string
	Limit      int
}

func (d *Dashboard) target(w http.ResponseWriter, r *http.Request, u *who) {
	name := r.PathValue("name")
	var targets []api.TargetInfo
	if err := d.call(r, u, http.MethodGet, "/v1/targets", nil, &targets); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	i := slices.IndexFunc(targets, func(t api.TargetInfo) bool { return t.Name == name })
	if i < 0 {
		// Another agency's target is answered like one that does not exist.
		d.fail(w, r, u, http.StatusNotFound, fmt.Sprintf("%s: %q", word(lang(r), "not.found"), name))
		return
	}
	td := targetData{Target: targets[i], Limit: 50}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 {
		td.Limit = min(n, 1000)
	}
	td.Queued, _ = strconv.ParseUint(r.URL.Query().Get("queued"), 10, 64)
	var snaps []api.SnapshotInfo
	if err := d.call(r, u, http.MethodGet, "/v1/snapshots?target="+url.QueryEscape(name), nil, &snaps); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	if err := d.call(r, u, http.MethodGet, fmt.Sprintf("/v1/runs?target=%s&limit=%d", url.QueryEscape(name), td.Limit), nil, &td.Runs); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	if len(td.Runs) == td.Limit && td.Limit < 1000 {
		td.MoreRuns = fmt.Sprintf("/targets/%s?limit=%d", url.PathEscape(name), min(td.Limit*4, 1000))
	}
	drcSet := map[string]bool{}
	for _, s := range snaps {
		drcSet[s.DRC] = true
		for k := range s.Sites {
			drcSet[k] = true
		}
	}
	for k := range drcSet {
		if k != "" {
			td.DRCs = append(td.DRCs, k)
		}
	}
	slices.Sort(td.DRCs)
	slices.SortFunc(snaps, func(a, b api.SnapshotInfo) int { return b.Time.Compare(a.Time) }) // newest first
	td.SnapsTotal = len(snaps)
	for _, s := range snaps[:min(len(snaps), 100)] {
		sr := snapRow{SnapshotInfo: s}
		for _, drc := range td.DRCs {
			_, ok := s.Sites[drc]
			sr.Held = append(sr.Held, ok || (len(s.Sites) == 0 && s.DRC == drc))
		}
		td.Snaps = append(td.Snaps, sr)
	}
	// RPO trend: the gap before each good snapshot (the data a loss just before it
	// would have cost); RTO trend: how long each drill took.
	var gaps []float64
	var prev time.Time
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].Status != "good" {
			continue
		}
		if !prev.IsZero() {
			gaps = append(gaps, snaps[i].Time.Sub(prev).Hours())
		}
		prev = snaps[i].Time
	}
	var rto []float64
	for i := len(td.Runs) - 1; i >= 0; i-- {
		run := td.Runs[i]
		if run.Op == "drill" {
			td.Drills = append([]api.RunInfo{run}, td.Drills...)
			if !run.Started.IsZero() && !run.Ended.IsZero() {
				rto = append(rto, run.Ended.Sub(run.Started).Minutes())
			}
		}
	}
	td.RPO, td.RTO = makeChart(gaps), makeChart(rto)
	l := lang(r)
	td.RPO.Title, td.RTO.Title = word(l, "trend.rpo"), word(l, "trend.rto")
	td.RPO.Empty, td.RTO.Empty = word(l, "trend.empty"), word(l, "trend.empty")
	d.render(w, r, http.StatusOK, "target", u, page{Data: td})
}

// makeChart scales the last 60 values into the chart's box.
func makeChart(vals []float64) chart {
	if len(vals) > 60 {
		vals = vals[len(vals)-60:]
	}
	c := chart{N: len(vals)}
	if len(vals) == 0 {
		return c
	}
	for _, v := range vals {
		c.Max = max(c.Max, v)
	}
	if c.Max == 0 {
		c.Max = 1
	}
	c.Last = vals[len(vals)-1]
	var b strings.Builder
	for i, v := range vals {
		x := 40.0
		if len(vals) > 1 {
			x += float64(i) * 550 / float64(len(vals)-1)
		}
		y := 110 - v/c.Max*100
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		c.Dots = append(c.Dots, [2]float64{x, y})
	}
	c.Points = strings.TrimSpace(b.String())
	c.YLabels = []string{strconv.FormatFloat(c.Max, 'g', 3, 64), strconv.FormatFloat(c.Max/2, 'g', 3, 64), "0"}
	return c
}

func (d *Dashboard) drills(w http.ResponseWriter, r *http.Request, u *who) {
	var runs []api.RunInfo
	if err := d.call(r, u, http.MethodGet, fmt.Sprintf("/v1/runs?limit=%d", recentRuns), nil, &runs); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	var drills []api.RunInfo
	for _, run := range runs {
		if run.Op == "drill" {
			drills = append(drills, run)
		}
	}
	d.render(w, r, http.StatusOK, "drills", u, page{Data: drills})
}

type requestsData struct {
	Requests []api.Request
	Status   string
	Decided  string
}

func (d *Dashboard) requests(w http.ResponseWriter, r *http.Request, u *who) {
	rd := requestsData{Status: r.URL.Query().Get("status"), Decided: r.URL.Query().Get("decided")}
	path := "/v1/requests"
	if rd.Status != "" {
		path += "?status=" + url.QueryEscape(rd.Status)
	}
	if err := d.call(r, u, http.MethodGet, path, nil, &rd.Requests); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	if len(rd.Requests) > 200 {
		rd.Requests = rd.Requests[:200]
	}
	d.render(w, r, http.StatusOK, "requests", u, page{Data: rd})
}

type auditData struct {
	Entries []api.AuditEntry
	Since   string
	Limit   int
}

func (d *Dashboard) audit(w http.ResponseWriter, r *http.Request, u *who) {
	ad := auditData{Since: r.URL.Query().Get("since"), Limit: 100}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 {
		ad.Limit = min(n, 1000)
	}
	v := url.Values{"limit": {strconv.Itoa(ad.Limit)}}
	if ad.Since != "" {
		v.Set("since", ad.Since)
	}
	if err := d.call(r, u, http.MethodGet, "/v1/audit?"+v.Encode(), nil, &ad.Entries); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	d.render(w, r, http.StatusOK, "audit", u, page{Data: ad})
}
