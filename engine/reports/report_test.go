package reports

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/schedule"
	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/runbooks/msg"
)

// reportConfig is a configuration with one agency, for report tests.
const reportConfig = `drcs:
  - {name: local, role: primary, path: $DIR/local}
  - {name: offsite, role: secondary, path: $DIR/offsite}
agencies: [{id: dinkes, name: Dinas Kesehatan}]
`

// testConfig writes cadang.yaml into dir from its sections after state_dir and parses it.
func testConfig(t testing.TB, dir, body string) *config.Config {
	t.Helper()
	file := filepath.Join(dir, "cadang.yaml")
	src := fmt.Sprintf("state_dir: %q\n", filepath.Join(dir, "state")) + strings.ReplaceAll(body, "$DIR", dir)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("config:\n%v", err)
	}
	return cfg
}

// newBuilder is the report builder of a daemon with cfg, over a catalog of its own, in
// the scheduler's zone as the daemon's is.
func newBuilder(t *testing.T, cfg *config.Config, now func() time.Time) (*Builder, *catalog.Catalog) {
	t.Helper()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(filepath.Join(cfg.StateDir, "catalog.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return New(cat, cfg, schedule.New(cfg).Loc(), now), cat
}

// clock is an injected clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// wib parses a time in Asia/Jakarta.
func wib(s string) time.Time {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		panic(err)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

// getReport renders drill run id's report as the API does, and returns it.
func getReport(t *testing.T, b *Builder, id uint64, format, lang string) string {
	t.Helper()
	out, err := b.Drill(id, format, lang)
	if err != nil {
		t.Fatalf("report of drill %d (%s, %q): %v", id, format, lang, err)
	}
	return html.UnescapeString(string(out))
}

// addDrillRun stores a finished drill of t1 whose times are in UTC, as a daemon on a
// host set to UTC records them, and returns its id.
func addDrillRun(t *testing.T, cat *catalog.Catalog, started time.Time, passed bool) uint64 {
	t.Helper()
	started = started.UTC()
	res := runbooks.TargetResult{Target: "t1", Agency: "dinkes", AgencyName: "Dinas Kesehatan", Kind: "stub", DRC: "local",
		Snapshot: "3f9a6c2e0b1d4e5f", SnapshotTime: started.Add(-5 * time.Hour), Started: started, Ended: started.Add(2 * time.Minute),
		RPOAchieved: runbooks.Duration(5 * time.Hour), RTOMeasured: runbooks.Duration(2 * time.Minute), Passed: passed,
		Steps: []runbooks.StepResult{{No: 1, Key: "restore", Title: msg.New("files.restore.title"), Status: runbooks.StepOK, Started: started, Ended: started.Add(time.Minute)}}}
	r := &catalog.Run{Op: "drill", Target: "t1", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Succeeded,
		Queued: started, Started: started, Ended: started.Add(2 * time.Minute)}
	if err := cat.AddRun(r); err != nil {
		t.Fatal(err)
	}
	res.Run = r.ID
	r.Manifest, _ = json.Marshal(res)
	if err := cat.UpdateRun(r); err != nil {
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
		b, cat := newBuilder(t, testConfig(t, dir, body), clk.Now)
		id := addDrillRun(t, cat, wib("2026-12-01 10:17:05"), true)
		html := getReport(t, b, id, "html", "")
		if want := "1 Desember 2026 " + tc.clock + " " + tc.label; !strings.Contains(html, want) {
			t.Errorf("%s: the report lacks %q", tc.zone, want)
		}
		if want := tc.clock + ":05"; !strings.Contains(html, want) {
			t.Errorf("%s: the step's start is not %s", tc.zone, want)
		}
		if strings.Contains(html, "03:17") {
			t.Errorf("%s: the report prints the host's zone (03:17 UTC)", tc.zone)
		}
		js := getReport(t, b, id, "json", "")
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
	b, cat := newBuilder(t, testConfig(t, dir, body), clk.Now)
	first := addDrillRun(t, cat, wib("2026-12-01 10:17:05"), true)
	second := addDrillRun(t, cat, wib("2026-12-01 10:30:00"), true)
	html := getReport(t, b, first, "html", "")
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
	if html := getReport(t, b, second, "html", ""); !strings.Contains(html, "Nomor: 002/BA-DRC/DKISP/2026") {
		t.Error("the second drill's report is not number 002")
	}
	if html := getReport(t, b, first, "html", "en"); !strings.Contains(html, "Number: 001/BA-DRC/DKISP/2026") {
		t.Error("the first drill's report changed its number when rendered again")
	}
	clk.Set(wib("2027-01-04 09:00:00"))
	third := addDrillRun(t, cat, wib("2027-01-04 08:00:00"), true)
	if html := getReport(t, b, third, "html", ""); !strings.Contains(html, "Nomor: 001/BA-DRC/DKISP/2027") {
		t.Error("the register does not start again in a new year")
	}
}
