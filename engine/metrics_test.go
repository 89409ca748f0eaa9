package engine

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
)

// The metrics say what happened: a target that never ran is there (critical, +Inf), a
// target's RPO state follows the clock past its limit, a failed last backup is 0, runs
// are counted by op and status; labels hold no snapshot id.
func TestMetrics(t *testing.T) {
	d, clk := startedDaemon(t, `drcs:
  - {name: local, role: primary, path: $DIR/local}
  - {name: offsite, role: secondary, path: $DIR/offsite}
agencies: [{id: dinkes}]
targets:
  - {name: harian, agency: dinkes, kind: stub, stub: {}, schedule: "0 2 * * *"}
  - {name: baru, agency: dinkes, kind: stub, stub: {}, rpo: 1h}
`)
	now := d.now()
	snap := &catalog.Snapshot{ID: strings.Repeat("ab", 32), Target: "harian", Agency: "dinkes", Kind: "stub", Time: now.Add(-time.Hour),
		Status: catalog.SnapshotGood, DRC: "local", Sites: map[string]time.Time{"local": now.Add(-time.Hour)}}
	if err := d.cat.PutSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	ok := &catalog.Run{Op: "backup", Target: "harian", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Succeeded,
		Queued: now.Add(-time.Hour), Started: now.Add(-time.Hour), Ended: now.Add(-59 * time.Minute), BytesAdded: 1000}
	failed := &catalog.Run{Op: "backup", Target: "baru", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Failed,
		Queued: now.Add(-time.Minute), Started: now.Add(-time.Minute), Ended: now}
	if err := d.cat.Due([]*catalog.Run{ok, failed}, nil); err != nil {
		t.Fatal(err)
	}
	d.metrics.ended(ok)
	d.metrics.ended(failed)
	scrape := func() string {
		rec := httptest.NewRecorder()
		d.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 {
			t.Fatalf("GET /metrics: %d %s", rec.Code, b)
		}
		return string(b)
	}
	m := scrape()
	for _, want := range []string{
		`cadang_targets_expected{agency="dinkes",kind="stub"} 2`,
		`cadang_target_rpo_seconds{agency="dinkes",target="harian"} 93600`, // a daily schedule + 2h
		`cadang_target_rpo_seconds{agency="dinkes",target="baru"} 3600`,
		`cadang_target_rpo_state{agency="dinkes",drc="local",state="ok",target="harian"} 1`,
		`cadang_target_rpo_state{agency="dinkes",drc="offsite",state="critical",target="harian"} 1`, // not there yet
		`cadang_target_rpo_ratio{agency="dinkes",drc="local",target="baru"} +Inf`,                   // never backed up
		`cadang_target_rpo_state{agency="dinkes",drc="local",state="critical",target="baru"} 1`,
		`cadang_target_last_backup_success{agency="dinkes",target="harian"} 1`,
		`cadang_target_last_backup_success{agency="dinkes",target="baru"} 0`,
		`cadang_runs_total{op="backup",status="failed"} 1`,
		`cadang_runs_total{op="backup",status="succeeded"} 1`,
		`cadang_backup_added_bytes_total{agency="dinkes",target="harian"} 1000`,
		`cadang_queue_runs{state="queued"} 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, snap.ID) {
		t.Error("a snapshot id in the metrics")
	}
	// 30 hours later the daily target is late: 31h over 26h.
	clk.Add(30 * time.Hour)
	m = scrape()
	if !strings.Contains(m, `cadang_target_rpo_state{agency="dinkes",drc="local",state="exceeded",target="harian"} 1`+"\n") {
		t.Errorf("after 30 hours, the daily target is not graded exceeded:\n%s", grep(m, "harian"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRPOGrade(t *testing.T) {
	for ratio, want := range map[float64]string{0: RPOOk, 0.99: RPOOk, 1: RPOExceeded, 2: RPOExceeded, 2.5: RPOSevere, 4: RPOSevere, 4.1: RPOCritical} {
		if got := RPOGrade(ratio); got != want {
			t.Errorf("RPOGrade(%v) = %s, want %s", ratio, got, want)
		}
	}
}
