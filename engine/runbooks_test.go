package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/notify"
	"github.com/cadang/cadang/runbooks"
)

const runbookConfig = `drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: t1, agency: dinkes, kind: stub, stub: {}}
runbooks:
  - name: web
    objectives: {rto: 1h}
    groups:
      - name: prepare
        steps:
          - {name: touch, run: [touch, $DIR/ready]}
          - {name: tell, notify: "failover test begins"}
      - name: verify
        steps:
          - {name: ready, check: {file: $DIR/ready, sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855}}
          - {name: marker, check: {file: $DIR/marker, sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855}}
          - {name: soft, check: {tcp: "127.0.0.1:1"}, critical: false}
          - {name: confirm, manual: {prompt: "open the service", role: operator, ticket: ELAY-7}}
    undo:
      - {name: clean, run: [rm, -f, $DIR/ready]}
`

func waitRunbookStatus(t *testing.T, d *Daemon, id uint64, want ...string) api.RunbookRun {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := svc(d).RunbookRun(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if r.Status == w {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d is %s, want %v: %+v", id, r.Status, want, r.Steps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A test-mode run through the daemon: steps recorded in the catalog as they go, a
// critical check that fails halts it, continue finishes it after the cause is fixed, a
// gate refuses a principal without its role and records who confirmed it, undo runs.
func TestRunbookRunHaltContinueGate(t *testing.T) {
	d, _ := startedDaemon(t, runbookConfig)
	dir := filepath.Dir(d.conf().cfg.File)
	s := svc(d)
	if _, err := s.StartRunbook(api.RunbookRunRequest{Runbook: "web", Mode: "real"}, api.Actor{Name: "ops"}); err == nil || !strings.Contains(err.Error(), "--confirm web") {
		t.Errorf("real without confirm: %v", err)
	}
	if _, err := s.StartRunbook(api.RunbookRunRequest{Runbook: "wbe", Mode: "test"}, api.Actor{Name: "ops"}); err == nil || !strings.Contains(err.Error(), `did you mean "web"`) {
		t.Errorf("unknown runbook: %v", err)
	}
	run, err := s.StartRunbook(api.RunbookRunRequest{Runbook: "web", Mode: "test"}, api.Actor{Name: "ops", Role: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	r := waitRunbookStatus(t, d, run.ID, runbooks.RunHalted)
	if r.Steps[3].Step != "marker" || r.Steps[3].Status != "failed" || r.Steps[4].Status != "pending" || r.Steps[0].Status != "ok" {
		t.Fatalf("halted: %+v", r.Steps)
	}
	if err := os.WriteFile(filepath.Join(dir, "marker"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunbookAction(run.ID, "continue", api.RunbookApproveRequest{}, api.Actor{Name: "ops", Role: "operator"}); err != nil {
		t.Fatal(err)
	}
	r = waitRunbookStatus(t, d, run.ID, runbooks.RunWaiting)
	_, err = s.RunbookAction(run.ID, "approve", api.RunbookApproveRequest{Step: "confirm"}, api.Actor{Name: "audit", Role: "auditor"})
	var forbidden interface{ Unwrap() error }
	if err == nil || !errors.As(err, &forbidden) || !errors.Is(err, runbooks.ErrWrongRole) {
		t.Errorf("approval by an auditor: %v", err)
	}
	if _, err := s.RunbookAction(run.ID, "approve", api.RunbookApproveRequest{Step: "confirm"}, api.Actor{Name: "budi", Role: "operator"}); err != nil {
		t.Fatal(err)
	}
	r = waitRunbookStatus(t, d, run.ID, runbooks.RunFailed, runbooks.RunSucceeded)
	if r.Status != runbooks.RunFailed { // the non-critical tcp check failed
		t.Errorf("status %s", r.Status)
	}
	byStep := map[string]api.RunbookStep{}
	for _, st := range r.Steps {
		byStep[st.Step] = st
	}
	if c := byStep["confirm"]; c.Actor != "budi" || c.Ticket != "ELAY-7" || c.Status != "ok" {
		t.Errorf("gate: %+v", c)
	}
	if byStep["soft"].Status != "failed" || byStep["clean"].Status != "ok" || byStep["marker"].Attempts != 1 {
		t.Errorf("steps: %+v", r.Steps)
	}
	if _, err := os.Stat(filepath.Join(dir, "ready")); !os.IsNotExist(err) {
		t.Errorf("undo left %s/ready: %v", dir, err)
	}
	// The report: written into report.dir when the run ended, and on demand.
	deadline := time.Now().Add(10 * time.Second)
	for len(r.Reports) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		r, _ = s.RunbookRun(run.ID)
	}
	if len(r.Reports) != 3 {
		t.Errorf("report files: %v", r.Reports)
	}
	js, err := s.RunbookReport(run.ID, "json", "en")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind": "runbook"`, `"sha256": "` + r.Digest, `"tickets": [`, `"ELAY-7"`, `"rto_objective_seconds": 3600`, `"performer": "budi"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON report lacks %s:\n%s", want, js)
		}
	}
	html, err := s.RunbookReport(run.ID, "html", "id")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BERITA ACARA PELAKSANAAN RUNBOOK FAILOVER DRC", "mode uji", "ELAY-7", "marker", "clean: rm -f"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if pdf, err := s.RunbookReport(run.ID, "pdf", "en"); err != nil || !strings.HasPrefix(string(pdf), "%PDF") {
		t.Errorf("PDF report: %v", err)
	}
	// The period report lists the failover test beside the drills.
	period, err := s.PeriodReport(wib("2026-12-01 00:00:00"), wib("2026-12-02 00:00:00"), "json", "en")
	if err != nil || !strings.Contains(string(period), `"kind": "runbook test"`) || !strings.Contains(string(period), `"target": "web"`) {
		t.Errorf("period report: %v\n%s", err, period)
	}
	var whats []string
	for _, e := range r.Events {
		whats = append(whats, e.What+":"+e.By)
	}
	if strings.Join(whats, " ") != "continue:ops refuse:audit approve:budi" {
		t.Errorf("events: %v", whats)
	}
}

// A run a stopped daemon left running resumes when the daemon starts: done steps are
// not run again; the step that was running and is not idempotent halts the run.
func TestRunbookResume(t *testing.T) {
	d, _ := startedDaemon(t, runbookConfig)
	t0 := time.Now().Add(-time.Minute)
	r := catalog.RunbookRun{Runbook: "web", Mode: "test", Status: runbooks.RunRunning, PID: -1, Started: t0,
		Steps: []runbooks.StepResult{
			{No: 1, Group: "prepare", Key: "touch", Status: runbooks.StepRunning, Started: t0, Attempts: 1, Critical: true},
		}}
	if err := d.cat.AddRunbookRun(&r); err != nil {
		t.Fatal(err)
	}
	d.resumeRunbooks()
	got := waitRunbookStatus(t, d, r.ID, runbooks.RunHalted)
	if got.Steps[0].Status != "failed" || !strings.Contains(got.Steps[0].Error, "not safe to run twice") {
		t.Errorf("resumed: %+v", got.Steps)
	}
	if len(got.Events) != 1 || got.Events[0].What != "resume" {
		t.Errorf("events: %+v", got.Events)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(d.conf().cfg.File), "ready")); !os.IsNotExist(err) {
		t.Error("the interrupted, non-idempotent step ran again")
	}
	out, err := svc(d).RunbookAction(r.ID, "abort", api.RunbookApproveRequest{}, api.Actor{Name: "ops"})
	if err != nil || out.Status != runbooks.RunAborted {
		t.Errorf("abort of a halted run: %v %+v", err, out.Status)
	}
}

// A runbook's notify step reaches the notification channels that take runbook.notice
// (a real webhook receiver that checks the signature), once.
func TestRunbookNotifyReachesChannels(t *testing.T) {
	got := make(chan notify.Event, 10)
	rcvURL, secretFile := webhookReceiver(t, "kunci-runbook", func(e notify.Event) { got <- e })
	d, _ := startedDaemon(t, fmt.Sprintf(`drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: t1, agency: dinkes, kind: stub, stub: {}}
notify:
  - {name: ops, kind: webhook, url: %q, secret_file: %q, events: [runbook.notice]}
runbooks:
  - name: tell
    groups:
      - name: only
        steps:
          - {name: begin, notify: "Failover SIMPUS ke DRC dimulai"}
`, rcvURL, secretFile))
	d.notifier.Backoff = 10 * time.Millisecond
	d.notifier.SetRoutes(d.notifyRoutes(d.conf().cfg))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.notifier.Run(ctx)
	run, err := svc(d).StartRunbook(api.RunbookRunRequest{Runbook: "tell", Mode: "test"}, api.Actor{Name: "ops", Role: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	r := waitRunbookStatus(t, d, run.ID, runbooks.RunSucceeded, runbooks.RunFailed)
	if r.Status != runbooks.RunSucceeded || !strings.Contains(r.Steps[0].Summary, "sent to the notification channels") {
		t.Errorf("run: %s %+v", r.Status, r.Steps)
	}
	select {
	case e := <-got:
		if e.Kind != notify.RunbookNotice || e.Text != "Failover SIMPUS ke DRC dimulai" || !strings.Contains(e.Title, "tell") || !strings.Contains(e.Title, "begin") {
			t.Errorf("event: %+v", e)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the notice did not reach the webhook")
	}
}

// A manual gate nobody confirms within its timeout halts the run with the reason; the
// daemon keeps nothing of a run once it has stopped executing (halted, then aborted).
func TestRunbookGateTimeoutHalts(t *testing.T) {
	d, _ := startedDaemon(t, `drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies: [{id: dinkes}]
targets:
  - {name: t1, agency: dinkes, kind: stub, stub: {}}
runbooks:
  - name: gate
    groups:
      - name: only
        steps:
          - {name: confirm, manual: {prompt: "open the service", role: operator, timeout: 1s}}
          - {name: after, notify: "opened"}
`)
	s := svc(d)
	released := func() bool {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, ok := rbState.Load(d); !ok {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}
	run, err := s.StartRunbook(api.RunbookRunRequest{Runbook: "gate", Mode: "test"}, api.Actor{Name: "ops", Role: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	r := waitRunbookStatus(t, d, run.ID, runbooks.RunHalted, runbooks.RunSucceeded, runbooks.RunFailed)
	if r.Status != runbooks.RunHalted || r.Steps[0].Status != "failed" || r.Steps[0].Error != "nobody confirmed the gate within 1s" || r.Steps[1].Status != "pending" {
		t.Fatalf("timed out gate: %s %+v", r.Status, r.Steps)
	}
	if !released() {
		t.Error("the daemon still keeps the state of a halted run")
	}
	if _, err := s.RunbookAction(run.ID, "approve", api.RunbookApproveRequest{Step: "confirm"}, api.Actor{Name: "budi", Role: "operator"}); err == nil {
		t.Error("a gate that timed out was confirmed")
	}
	r, err = s.RunbookAction(run.ID, "abort", api.RunbookApproveRequest{}, api.Actor{Name: "ops", Role: "operator"})
	if err != nil || r.Status != runbooks.RunAborted {
		t.Fatalf("abort: %v %+v", err, r)
	}
	if !released() {
		t.Error("the daemon still keeps the state of an aborted run")
	}
}

// Where a restore step lands: a VM restore is the options of `cadang restore --define`,
// with the scratch suffix on the domain and on its disks' folder in test mode.
func TestRunbookLanding(t *testing.T) {
	vm := runbooks.RestoreSpec{Target: "web-vm", Domain: "web-dr", Hypervisor: "qemu+ssh://root@dr1/system", Start: true}
	for _, tc := range []struct {
		r    runbooks.RestoreSpec
		mode string
		want string
		opts string
	}{
		{vm, "test", "domain web-dr-test-7 at qemu+ssh://root@dr1/system (started), disks in /var/lib/libvirt/images/web-dr-test-7",
			"map[define:web-dr-test-7 start:true uri:qemu+ssh://root@dr1/system]"},
		{runbooks.RestoreSpec{Target: "web-vm", Domain: "web-dr", To: "/mnt/dr/web"}, "real", "domain web-dr, disks in /mnt/dr/web", "map[define:web-dr]"},
		{runbooks.RestoreSpec{Target: "db", To: "postgres://db2/simpus"}, "test", "postgres://db2/simpus_test_7", "map[]"},
	} {
		l := landingOf(tc.r, tc.mode, 7)
		if l.String() != tc.want || fmt.Sprint(l.opts) != tc.opts {
			t.Errorf("%+v in %s: %q %v, want %q %s", tc.r, tc.mode, l.String(), l.opts, tc.want, tc.opts)
		}
	}
}

// An in-place restore step fails with the reason: cadang restore has no in-place path.
func TestRunbookInPlaceRefused(t *testing.T) {
	d, _ := startedDaemon(t, runbookConfig)
	_, err := d.restoreStep(context.Background(), runbooks.RestoreSpec{Target: "t1", InPlace: true}, landing{}, runbooks.ModeReal)
	if err == nil || err.Error() != "target t1: a stub target cannot be restored in place (cadang restore writes only to a new destination): restore to a new destination (to: or domain:) and switch over with a run or manual step" {
		t.Errorf("in place: %v", err)
	}
}

// A runbook's restore step estimates its time from the target's newest successful
// restore or drill, however many backups came after it (a continuous target records a
// log batch every interval).
func TestRestoreETAPastManyBackups(t *testing.T) {
	d, clk := startedDaemon(t, reportConfig)
	if got := d.restoreETA("t1"); got != "unknown (no restore or drill yet)" {
		t.Errorf("no restore yet: %q", got)
	}
	add := func(op string, st catalog.Status, took time.Duration) *catalog.Run {
		t.Helper()
		start := clk.Add(time.Minute)
		r := &catalog.Run{Op: op, Target: "t1", Agency: "dinkes", Kind: "stub", DRC: "local", Status: st, Started: start, Ended: start.Add(took)}
		if err := d.cat.AddRun(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	add("restore", catalog.Succeeded, 3*time.Minute)
	drill := add("drill", catalog.Succeeded, 7*time.Minute)
	add("drill", catalog.Failed, time.Minute)
	for range 300 {
		add("backup", catalog.Succeeded, 2*time.Second)
	}
	if got, want := d.restoreETA("t1"), fmt.Sprintf("7m0s (drill %d)", drill.ID); got != want {
		t.Errorf("restoreETA: %q, want %q", got, want)
	}
}
