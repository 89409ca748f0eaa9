package engine

import (
	"encoding/json"
	"fmt"
	"html"
	"time"

	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/runbooks/msg"
)

// reportConfig is a daemon with one agency and one stub target, for report tests.
const reportConfig = `drcs:
  - {name: local, role: primary, path: $DIR/local}
  - {name: offsite, role: secondary, path: $DIR/offsite}
agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: t1, agency: dinkes, kind: stub, stub: {}}
`

// getReport asks the daemon's report routes for path and returns the body.
func getReport(t *testing.T, d *Daemon, path string) string {
	t.Helper()
	srv := httptest.NewServer(d.handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	return html.UnescapeString(string(b))
}

// Issue 13, point 9: --to is the last day of the period, included, and the report
// prints it as given (it printed the day after).
func TestPeriodReportToIsInclusive(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: wib("2027-02-01 09:00:00")}
	d := newTestDaemon(t, testConfig(t, dir, reportConfig), clk.Now)
	for lang, want := range map[string]string{
		"id": "pada periode 1 Oktober 2026 sampai dengan 31 Desember 2026",
		"en": "from 1 October 2026 to 31 December 2026",
	} {
		html := getReport(t, d, "/v1/reports/period?from=2026-10-01&to=2026-12-31&format=html&lang="+lang)
		if !strings.Contains(html, want) {
			t.Errorf("%s: the period report lacks %q", lang, want)
		}
		for _, bad := range []string{"1 Januari 2027", "1 January 2027"} {
			if strings.Contains(html, bad) {
				t.Errorf("%s: the period report prints the day after the period: %q", lang, bad)
			}
		}
	}
}

// addDrillRun stores a finished drill of t1 whose times are in UTC, as a daemon on a
// host set to UTC records them, and returns its id.
func addDrillRun(t *testing.T, d *Daemon, started time.Time, passed bool) uint64 {
	t.Helper()
	started = started.UTC()
	res := runbooks.TargetResult{Target: "t1", Agency: "dinkes", AgencyName: "Dinas Kesehatan", Kind: "stub", DRC: "local",
		Snapshot: "3f9a6c2e0b1d4e5f", SnapshotTime: started.Add(-5 * time.Hour), Started: started, Ended: started.Add(2 * time.Minute),
		RPOAchieved: runbooks.Duration(5 * time.Hour), RTOMeasured: runbooks.Duration(2 * time.Minute), Passed: passed,
		Steps: []runbooks.StepResult{{No: 1, Key: "restore", Title: msg.New("files.restore.title"), Status: runbooks.StepOK, Started: started, Ended: started.Add(time.Minute)}}}
	r := &catalog.Run{Op: "drill", Target: "t1", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Succeeded,
		Queued: started, Started: started, Ended: started.Add(2 * time.Minute)}
	if err := d.cat.AddRun(r); err != nil {
		t.Fatal(err)
	}
	res.Run = r.ID
	r.Manifest, _ = json.Marshal(res)
	if err := d.cat.UpdateRun(r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// Issue 13, point 8: reports print times in the configured zone
// (scheduler.timezone) with its label, not in the daemon host's zone unlabelled; JSON
// carries the offset.
func TestDrillReportTimeZone(t *testing.T) {
	for _, tc := range []struct {
		zone, clock, label, offset string
	}{
		{"", "10:17", "WIB", "+07:00"}, // the default zone, Asia/Jakarta
		{"Asia/Makassar", "11:17", "WITA", "+08:00"},
		{"Asia/Jayapura", "12:17", "WIT", "+09:00"},
		{"Asia/Singapore", "11:17", "UTC+08:00", "+08:00"},
	} {
		dir := t.TempDir()
		body := reportConfig
		if tc.zone != "" {
			body = "scheduler: {timezone: " + tc.zone + "}\n" + body
		}
		clk := &clock{t: wib("2026-12-01 11:00:00")}
		d := newTestDaemon(t, testConfig(t, dir, body), clk.Now)
		id := addDrillRun(t, d, wib("2026-12-01 10:17:05"), true)
		html := getReport(t, d, fmt.Sprintf("/v1/reports/drill/%d?format=html", id))
		if want := "1 Desember 2026 " + tc.clock + " " + tc.label; !strings.Contains(html, want) {
			t.Errorf("%s: the report lacks %q", tc.zone, want)
		}
		if want := tc.clock + ":05"; !strings.Contains(html, want) {
			t.Errorf("%s: the step's start is not %s", tc.zone, want)
		}
		if strings.Contains(html, "03:17") {
			t.Errorf("%s: the report prints the host's zone (03:17 UTC)", tc.zone)
		}
		js := getReport(t, d, fmt.Sprintf("/v1/reports/drill/%d?format=json", id))
		if want := `"started": "2026-12-01T` + tc.clock + `:05` + tc.offset + `"`; !strings.Contains(js, want) {
			t.Errorf("%s: the JSON lacks %s", tc.zone, want)
		}
	}
}

// Issue 13, point 24: the form of the Berita Acara: section B names the agency (not
// its id), no step is performed by "cadang" (the tool), the data-owning agency's head
// acknowledges ("Mengetahui"), and the document number comes from a register,
// sequential per year in report.number_format, the same each time a drill's report
// is rendered.
func TestDrillReportForm(t *testing.T) {
	dir := t.TempDir()
	body := strings.Replace(reportConfig, "agencies: [{id: dinkes, name: Dinas Kesehatan}]",
		`agencies:
  - id: dinkes
    name: Dinas Kesehatan
    head: {name: "dr. Siti Aminah, M.Kes.", title: Kepala Dinas Kesehatan, nip: "197001012000032001"}`, 1) + `report:
  number_format: "{seq:03}/BA-DRC/DKISP/{year}"
  signers:
    performed_by: {name: Rina Kartika, title: Pranata Komputer Ahli Muda}
    approved_by: {name: Budi Santoso, title: Kepala Bidang Aplikasi Informatika}
`
	clk := &clock{t: wib("2026-12-01 11:00:00")}
	d := newTestDaemon(t, testConfig(t, dir, body), clk.Now)
	first := addDrillRun(t, d, wib("2026-12-01 10:17:05"), true)
	second := addDrillRun(t, d, wib("2026-12-01 10:30:00"), true)
	html := getReport(t, d, fmt.Sprintf("/v1/reports/drill/%d?format=html", first))
	scope := html[strings.Index(html, `<section id="scope">`):strings.Index(html, `<section id="procedure">`)]
	if !strings.Contains(scope, "Dinas Kesehatan") || strings.Contains(scope, "dinkes") {
		t.Errorf("section B does not name the agency:\n%s", scope)
	}
	if strings.Contains(html, "<td>cadang</td>") {
		t.Error(`a step is performed by "cadang"`)
	}
	for _, want := range []string{"Mengetahui", "Kepala Dinas Kesehatan", "dr. Siti Aminah, M.Kes.", "NIP. 197001012000032001",
		"Nomor: 001/BA-DRC/DKISP/2026"} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if html := getReport(t, d, fmt.Sprintf("/v1/reports/drill/%d?format=html", second)); !strings.Contains(html, "Nomor: 002/BA-DRC/DKISP/2026") {
		t.Error("the second drill's report is not number 002")
	}
	if html := getReport(t, d, fmt.Sprintf("/v1/reports/drill/%d?format=html&lang=en", first)); !strings.Contains(html, "Number: 001/BA-DRC/DKISP/2026") {
		t.Error("the first drill's report changed its number when rendered again")
	}
	clk.Set(wib("2027-01-04 09:00:00"))
	third := addDrillRun(t, d, wib("2027-01-04 08:00:00"), true)
	if html := getReport(t, d, fmt.Sprintf("/v1/reports/drill/%d?format=html", third)); !strings.Contains(html, "Nomor: 001/BA-DRC/DKISP/2027") {
		t.Error("the register does not start again in a new year")
	}
}
