package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/e2e/testenv"
	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/runbooks"
)

// drillRuns returns the drill runs of target, oldest first, with their results.
func drillRuns(t *testing.T, w *world, target string) ([]engine.RunInfo, []runbooks.TargetResult) {
	t.Helper()
	var runs []engine.RunInfo
	var res []runbooks.TargetResult
	all := w.runs(target)
	for i := len(all) - 1; i >= 0; i-- {
		r := all[i]
		if r.Op != "drill" {
			continue
		}
		var tr runbooks.TargetResult
		if err := json.Unmarshal(r.Manifest, &tr); err != nil {
			t.Fatalf("drill run %d: result: %v (%s)", r.ID, err, r.Manifest)
		}
		runs, res = append(runs, r), append(res, tr)
	}
	return runs, res
}

// leftovers lists what drills left in the scratch folder.
func leftovers(t *testing.T, w *world) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(w.stateDir, "scratch"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// A files target drilled from an S3 primary and a filesystem off-site DRC: both pass,
// with RPO and RTO measured, the listing and the sample compared, the reports written
// in Indonesian (and in English on request), and nothing left in scratch. Then a data
// pack damaged at the off-site DRC fails that DRC's drill at the pack step with a
// finding, while the primary's drill still passes; the period report counts both.
func TestDrillFiles(t *testing.T) {
	w := newWorld(t)
	m := testenv.StartMinIO(t, "primary")
	src := filepath.Join(w.dir, "src")
	makeTree(t, src, 8<<20)
	offsite := filepath.Join(w.dir, "offsite")
	reports := filepath.Join(w.dir, "reports")
	w.config("drcs:\n"+s3DRC("local", "primary", m, "", "primary")+
		fmt.Sprintf("  - {name: offsite, role: secondary, path: %q}\n", offsite)+
		fmt.Sprintf(`agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - name: portal-files
    agency: dinkes
    kind: files
    files: {paths: [%q]}
    rpo: 24h
    rto: 1h
`, src), fmt.Sprintf(`report:
  dir: %q
  office: {name: Dinas Komunikasi dan Informatika Kota Contoh, city: Contoh}
  signers:
    performed_by: {name: Budi Santoso, title: Pranata Komputer, nip: "198501012010011001"}
    approved_by: {name: Sari Dewi, title: Kepala Bidang}`, reports))
	w.must("init")
	w.startDaemon()
	if _, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	w.must("drc", "sync", "--wait")

	r := w.must("drill", "portal-files", "--wait")
	if strings.Count(r.stdout, "succeeded: drill of portal-files") != 2 || !strings.Contains(r.stdout, "note: report: "+reports) {
		t.Errorf("drill output:\n%s", r)
	}
	runs, res := drillRuns(t, w, "portal-files")
	if len(runs) != 2 {
		t.Fatalf("%d drill runs", len(runs))
	}
	drcs := []string{res[0].DRC, res[1].DRC}
	sort.Strings(drcs)
	if drcs[0] != "local" || drcs[1] != "offsite" {
		t.Errorf("drilled from %v, want local and offsite", drcs)
	}
	for i, tr := range res {
		if !tr.Passed || runs[i].Status != "succeeded" {
			t.Errorf("drill from %s: %s %+v", tr.DRC, runs[i].Status, tr.Steps)
		}
		if tr.RPOAchieved <= 0 || time.Duration(tr.RPOAchieved) > time.Hour || tr.RTOMeasured <= 0 || tr.RPOObjective != runbooks.Duration(24*time.Hour) {
			t.Errorf("drill from %s: RPO %v, RTO %v, RPO objective %v", tr.DRC, tr.RPOAchieved, tr.RTOMeasured, tr.RPOObjective)
		}
		if tr.BytesRestored < 8<<20 || tr.Throughput <= 0 {
			t.Errorf("drill from %s: %d bytes restored at %.0f B/s", tr.DRC, tr.BytesRestored, tr.Throughput)
		}
		var names []string
		for _, c := range tr.Checks {
			names = append(names, c.Name)
			if !c.Passed {
				t.Errorf("drill from %s: check %q failed: %s", tr.DRC, c.Name, c.Detail)
			}
		}
		if len(tr.Checks) != 3 || !strings.Contains(strings.Join(names, "|"), "sampled at backup") {
			t.Errorf("drill from %s: checks %v", tr.DRC, names)
		}
		for _, c := range tr.Checks {
			if strings.Contains(c.Name, "sampled") && !strings.Contains(c.Detail, "7 of 7 sampled files identical") {
				t.Errorf("sample check: %s", c.Detail)
			}
		}
		for _, f := range []string{"json", "html", "pdf"} {
			p := filepath.Join(reports, fmt.Sprintf("drill-%d-portal-files-%s.%s", runs[i].ID, tr.DRC, f))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if f == "html" && (!strings.Contains(string(b), "BERITA ACARA UJI PEMULIHAN DRC") || !strings.Contains(string(b), "Budi Santoso")) {
				t.Errorf("%s: not the Indonesian minutes", p)
			}
			if f == "pdf" && !strings.HasPrefix(string(b), "%PDF-") {
				t.Errorf("%s: not a PDF", p)
			}
		}
	}
	if l := leftovers(t, w); len(l) != 0 {
		t.Errorf("scratch left behind: %v", l)
	}
	// The same report in English, on request.
	en := filepath.Join(w.dir, "en.html")
	w.must("report", "drill", fmt.Sprint(runs[0].ID), "--format", "html", "--lang", "en", "-o", en)
	if b, _ := os.ReadFile(en); !strings.Contains(string(b), "DRC RESTORE DRILL MINUTES") {
		t.Errorf("English report:\n%.400s", b)
	}

	// Damage the biggest data pack at the off-site DRC.
	var biggest string
	var size int64
	_ = filepath.Walk(filepath.Join(offsite, "dinkes", "data"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && info.Size() > size {
			biggest, size = p, info.Size()
		}
		return err
	})
	b, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(biggest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := w.cadang("drill", "portal-files", "--drc", "offsite", "--wait"); r.code != 1 ||
		!strings.Contains(r.stdout, "drill failed at step 2 (packs)") || !strings.Contains(r.stdout, "content does not match its name") {
		t.Errorf("drill of a damaged DRC: %s", r)
	}
	w.must("drill", "portal-files", "--drc", "local", "--wait")
	runs, res = drillRuns(t, w, "portal-files")
	bad, good := res[2], res[3]
	if bad.Passed || bad.DRC != "offsite" || runs[2].Status != "failed" || !good.Passed || good.DRC != "local" {
		t.Errorf("after the damage: offsite %v (%s), local %v", bad.Passed, runs[2].Status, good.Passed)
	}
	status := map[string]string{}
	for _, s := range bad.Steps {
		status[s.Key] = s.Status
	}
	if status["packs"] != "failed" || status["restore"] != "skipped" || status["cleanup"] != "ok" || status["scratch"] != "ok" {
		t.Errorf("steps of the failed drill: %v", status)
	}
	if l := leftovers(t, w); len(l) != 0 {
		t.Errorf("scratch left behind: %v", l)
	}
	today := time.Now().In(time.FixedZone("WIB", 7*3600)).Format("2006-01-02")
	var period runbooks.Report
	mustJSON(t, w.must("report", "period", "--from", today, "--to", today, "--format", "json", "-o", "-").stdout, &period)
	if len(period.Results) != 4 || period.Passed || len(period.Findings) == 0 || period.Findings[0].DRC != "offsite" ||
		!strings.Contains(period.Findings[0].Step, "packs") && !strings.Contains(period.Findings[0].Text, "content does not match") {
		t.Errorf("period report: %d results, passed %v, findings %+v", len(period.Results), period.Passed, period.Findings)
	}
	w.checkLog()
}
