package runbooks

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Report kinds.
const (
	ReportDrill  = "drill"  // Berita Acara Uji Pemulihan DRC: one drill run
	ReportPeriod = "period" // Laporan Rekapitulasi: every drill of a period
	// ReportRunbook is the minutes of one runbook run: one result per service, with
	// the run's numbered steps.
	ReportRunbook = "runbook"
)

// RunbookFacts pin what a runbook report is about: the runbook as it ran.
type RunbookFacts struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Mode        string   `json:"mode"`
	Status      string   `json:"status"`
	File        string   `json:"file"`
	SHA256      string   `json:"sha256"`
	Version     string   `json:"version,omitempty"`
	Tickets     []string `json:"tickets,omitempty"`
}

// Report is what a drill (or a period of drills) proves, in the shape of the signed
// minutes ("berita acara") that the DRC-testing SOP asks for. It is rendered as JSON
// (machine-readable), a self-contained HTML page and a PDF, in Bahasa Indonesia by
// default or English.
type Report struct {
	Kind     string `json:"kind"`     // drill or period
	Language string `json:"language"` // id or en
	Number   string `json:"number"`   // document number
	Office   Office `json:"office"`
	Run      uint64 `json:"run,omitempty"` // the drill run (kind drill), or the runbook run
	// Runbook is the runbook a runbook report is about (kind runbook).
	Runbook   *RunbookFacts `json:"runbook,omitempty"`
	Generated time.Time     `json:"generated"`
	// TimeZone is the IANA zone whose clock the report prints, with its label (WIB,
	// WITA, WIT or the offset); default Asia/Jakarta. Every time of the JSON carries
	// its offset.
	TimeZone string         `json:"time_zone"`
	Period   Period         `json:"period"`
	Scope    Scope          `json:"scope"`
	Basis    []string       `json:"basis,omitempty"` // legal basis lines; the language's default if empty
	Passed   bool           `json:"passed"`          // every target result passed
	Results  []TargetResult `json:"results"`
	Trend    []TrendPoint   `json:"trend"`
	Findings []Finding      `json:"findings"`
	Signers  Signers        `json:"signers"`
}

// Office is the organisation that performs the drill (the ICT office).
type Office struct {
	Name    string `json:"name" yaml:"name"`                 // e.g. Dinas Komunikasi dan Informatika Kota Singkawang
	Unit    string `json:"unit,omitempty" yaml:"unit"`       // e.g. Bidang Persandian dan Keamanan Informasi
	Address string `json:"address,omitempty" yaml:"address"` //
	City    string `json:"city,omitempty" yaml:"city"`       // where the minutes are signed
}

// Person signs a report.
type Person struct {
	Name  string `json:"name" yaml:"name"`
	Title string `json:"title,omitempty" yaml:"title"` // position, e.g. Kepala Bidang
	NIP   string `json:"nip,omitempty" yaml:"nip"`     // civil servant number
}

// Signers are the signature blocks of a report: who performed the drill and who
// approved the minutes (the ICT office), and, below them, the head of the agency
// that owns the data, who acknowledges them ("Mengetahui").
type Signers struct {
	PerformedBy    Person `json:"performed_by" yaml:"performed_by"`
	ApprovedBy     Person `json:"approved_by" yaml:"approved_by"`
	AcknowledgedBy Person `json:"acknowledged_by,omitzero" yaml:"-"` // from the agency's head
}

// Period is the time a report covers. A drill report's period runs from the first
// drill's start to the last one's end; a period report's covers whole days, and its
// To is the midnight after its last day (excluded): the report prints that last day.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// lastDay is the last day a report covers: for a period report, the day before its
// (excluded) end.
func (r *Report) lastDay() time.Time {
	if r.Kind == ReportPeriod && !r.Period.To.IsZero() {
		return r.Period.To.Add(-time.Nanosecond)
	}
	return r.Period.To
}

// Scope is what a report covers.
type Scope struct {
	Targets  []string `json:"targets"`
	Agencies []string `json:"agencies"` // their names
	DRCs     []string `json:"drcs"`
}

// Duration is a time.Duration written in JSON as seconds.
type Duration time.Duration

// MarshalJSON writes seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

// Check is one verification of a restore (a comparison, a SQL check, a boot).
type Check struct {
	Name   Message `json:"name"`
	Passed bool    `json:"passed"`
	Detail Message `json:"detail,omitzero"`
}

// TargetResult is one target drilled from one DRC.
type TargetResult struct {
	Run           uint64       `json:"run"`
	Target        string       `json:"target"`
	Agency        string       `json:"agency"`
	AgencyName    string       `json:"agency_name,omitempty"`
	Kind          string       `json:"kind"`
	DRC           string       `json:"drc"`
	Snapshot      string       `json:"snapshot,omitempty"`
	SnapshotTime  time.Time    `json:"snapshot_time,omitzero"`
	Started       time.Time    `json:"started"`
	Ended         time.Time    `json:"ended"`
	RPOObjective  Duration     `json:"rpo_objective_seconds,omitempty"`
	RPOAchieved   Duration     `json:"rpo_achieved_seconds"` // age of the restored snapshot at drill time
	RTOObjective  Duration     `json:"rto_objective_seconds,omitempty"`
	RTOMeasured   Duration     `json:"rto_measured_seconds"` // from start to verified
	BytesRestored uint64       `json:"bytes_restored"`
	Throughput    float64      `json:"throughput_bytes_per_second"`
	Checks        []Check      `json:"checks"`
	Steps         []StepResult `json:"steps"`
	Passed        bool         `json:"passed"`
}

// BytesPerSecond is the restore throughput, rounded.
func (r TargetResult) BytesPerSecond() uint64 { return uint64(r.Throughput) }

// RPOMet and RTOMet tell whether an objective was met (true when none is set).
func (r TargetResult) RPOMet() bool { return r.RPOObjective == 0 || r.RPOAchieved <= r.RPOObjective }

// RTOMet tells whether the measured RTO is within the objective.
func (r TargetResult) RTOMet() bool { return r.RTOObjective == 0 || r.RTOMeasured <= r.RTOObjective }

// TrendPoint is one past drill of a target, for the trend chart.
type TrendPoint struct {
	Run    uint64    `json:"run"`
	Time   time.Time `json:"time"`
	Target string    `json:"target"`
	DRC    string    `json:"drc"`
	RTO    Duration  `json:"rto_seconds"`
	RPO    Duration  `json:"rpo_seconds"`
	Passed bool      `json:"passed"`
}

// Finding is something a drill found wrong, with what to do about it.
type Finding struct {
	Target   string `json:"target"`
	DRC      string `json:"drc"`
	Step     string `json:"step,omitempty"` // the step that failed, e.g. "3. verify"
	Text     string `json:"text"`
	FollowUp string `json:"follow_up"`
}

// Finish derives what a report says from its results: overall pass, the scope, the
// period, and one finding for each failed step or missed objective. Findings already
// present are kept.
func (r *Report) Finish() {
	l := lang(r.Language)
	r.Passed = len(r.Results) > 0
	targets, agencies, drcs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, res := range r.Results {
		agency := res.Agency
		if res.AgencyName != "" {
			agency = res.AgencyName
		}
		targets[res.Target], agencies[agency], drcs[res.DRC] = true, true, true
		if !res.Passed {
			r.Passed = false
		}
		if r.Period.From.IsZero() || res.Started.Before(r.Period.From) {
			r.Period.From = res.Started
		}
		if res.Ended.After(r.Period.To) {
			r.Period.To = res.Ended
		}
		r.Findings = append(r.Findings, findingsOf(l, res)...)
	}
	r.Scope = Scope{Targets: sorted(targets), Agencies: sorted(agencies), DRCs: sorted(drcs)}
	sort.SliceStable(r.Trend, func(i, j int) bool { return r.Trend[i].Time.Before(r.Trend[j].Time) })
}

func findingsOf(l *vocab, res TargetResult) []Finding {
	var out []Finding
	if st := failedStep(res.Steps); st != nil {
		out = append(out, Finding{
			Target: res.Target, DRC: res.DRC, Step: fmt.Sprintf("%d. %s", st.No, l.t(st.Title)),
			Text:     fmt.Sprintf(l.FindStepFailed, st.No, l.t(st.Title), res.DRC, l.t(st.Error)),
			FollowUp: l.followUp(st.Key, res.DRC),
		})
	}
	for _, c := range res.Checks {
		if !c.Passed && failedStep(res.Steps) == nil {
			out = append(out, Finding{Target: res.Target, DRC: res.DRC, Text: fmt.Sprintf(l.FindCheckFailed, l.t(c.Name), l.t(c.Detail)), FollowUp: l.followUp("verify", res.DRC)})
		}
	}
	if !res.RPOMet() {
		out = append(out, Finding{Target: res.Target, DRC: res.DRC,
			Text:     fmt.Sprintf(l.FindRPO, l.duration(time.Duration(res.RPOAchieved)), l.duration(time.Duration(res.RPOObjective))),
			FollowUp: l.FollowRPO})
	}
	if !res.RTOMet() {
		out = append(out, Finding{Target: res.Target, DRC: res.DRC,
			Text:     fmt.Sprintf(l.FindRTO, l.duration(time.Duration(res.RTOMeasured)), l.duration(time.Duration(res.RTOObjective))),
			FollowUp: l.FollowRTO})
	}
	return out
}

func failedStep(steps []StepResult) *StepResult {
	for i := range steps {
		if steps[i].Status == StepFailed {
			return &steps[i]
		}
	}
	return nil
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// JSON renders the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	r.localize()
	b, err := json.MarshalIndent(r.withTexts(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// withTexts returns a copy of r whose messages carry their text in the report's
// language, and whose steps name their performer, for readers of the JSON that have
// no catalog.
func (r *Report) withTexts() *Report {
	v := lang(r.Language)
	text := func(m Message) Message {
		if m.Key != "" {
			m.Text = v.t(m)
		}
		return m
	}
	c := *r
	c.Results = make([]TargetResult, len(r.Results))
	for i, res := range r.Results {
		res.Steps = append([]StepResult(nil), res.Steps...)
		for j := range res.Steps {
			st := &res.Steps[j]
			st.Title, st.Summary, st.Error = text(st.Title), text(st.Summary), text(st.Error)
			st.Performer = r.performer(v, *st)
		}
		res.Checks = append([]Check(nil), res.Checks...)
		for j := range res.Checks {
			res.Checks[j].Name, res.Checks[j].Detail = text(res.Checks[j].Name), text(res.Checks[j].Detail)
		}
		c.Results[i] = res
	}
	return &c
}
