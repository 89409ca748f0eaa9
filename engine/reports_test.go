package engine

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/catalog"
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

// A report the builder refuses (engine/reports) answers 400, as the daemon's own bad
// requests do: a run that is not a drill, a format that does not exist.
func TestReportRefusalsAnswer400(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: wib("2027-02-01 09:00:00")}
	d := newTestDaemon(t, testConfig(t, dir, reportConfig), clk.Now)
	r := &catalog.Run{Op: "backup", Target: "t1", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Succeeded}
	if err := d.cat.AddRun(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.handler())
	defer srv.Close()
	for path, want := range map[string]string{
		fmt.Sprintf("/v1/reports/drill/%d?format=html", r.ID):         fmt.Sprintf("run %d is a backup run, not a drill", r.ID),
		"/v1/reports/period?from=2026-10-01&to=2026-12-31&format=xml": "bad request: format",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s %s; want 400 saying %q", path, resp.Status, b, want)
		}
	}
}
