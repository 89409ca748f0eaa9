package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// runbookStatus polls `cadang runbook status RUN --json` until the run's status is one
// of want.
func runbookStatus(t *testing.T, w *world, id uint64, want ...string) api.RunbookRun {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var run api.RunbookRun
		mustJSON(t, w.cadang("runbook", "status", fmt.Sprint(id), "--json").stdout, &run)
		for _, s := range want {
			if run.Status == s {
				return run
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("runbook run %d is %s, want %v: %+v\n%s", id, run.Status, want, run.Steps, w.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Issue 18: a runbook of three groups in test mode, with real restic, MinIO,
// PostgreSQL and libvirt: the database first, then a VM (a domain defined and started
// under a scratch name on the restored disks) and a files target in parallel, then
// checks (a SQL query against the restored scratch database) and a manual gate. A
// critical check that fails halts the run; `continue` after fixing the cause finishes
// it. The gate refuses a principal without its role and takes the operator's
// confirmation. The restores land under scratch names; undo leaves nothing behind (no
// database, no domain, no disk image, no folder). Then a real-mode run with the primary
// MinIO stopped restores from the off-site DRC and says so.
func TestRunbookFailover(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	m := testenv.StartMinIO(t, "primary")
	vm := testenv.NewDomain(t, testenv.DomainOptions{Size: 16 << 20, Seed: 18})
	w := newWorld(t)
	vmDisks, err := os.MkdirTemp("", "cadang-e2e-rb-") // QEMU must reach the restored disks
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vmDisks) })
	if err := os.Chmod(vmDisks, 0o711); err != nil {
		t.Fatal(err)
	}
	pgdb := testenv.Name("cadang_rb")
	pg.Exec(t, "postgres", "CREATE DATABASE "+pgdb)
	pg.DropDBAtCleanup(t, pgdb)
	pg.Exec(t, pgdb, `CREATE TABLE pasien (id serial PRIMARY KEY, nama text NOT NULL);
INSERT INTO pasien (nama) SELECT 'pasien ' || g FROM generate_series(1, 50) g;`)
	for _, p := range []string{"portal/index.html", "docs/a.txt"} {
		full := filepath.Join(w.dir, "src", p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("hello "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(w.dir, "marker")
	const markerSum = "dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22" // sha256("ok\n")
	pki := testenv.NewTLSFiles(t, t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dr := filepath.Join(w.dir, "dr")
	w.config("drcs:\n"+s3DRC("local", "primary", m, "", "primary")+
		fmt.Sprintf("  - {name: offsite, role: secondary, path: %q}\n", filepath.Join(w.dir, "offsite"))+
		fmt.Sprintf(`agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: simpus-db, agency: dinkes, kind: postgres, postgres: {host: /var/run/postgresql, database: %[1]s}}
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%[2]q]}}
  - {name: docs-files, agency: dinkes, kind: files, files: {paths: [%[3]q]}}
  - {name: simpus-vm, agency: dinkes, kind: libvirt, libvirt: {uri: %[10]q, domain: %[9]s}}
runbooks:
  - name: portal-failover
    description: Portal Dinas Kesehatan pindah ke DRC
    objectives: {rto: 2h}
    groups:
      - name: db
        steps:
          - {name: restore-db, restore: {target: simpus-db, drc: offsite, to: "postgres://localhost/%[1]s_dr?host=/var/run/postgresql"}}
      - name: app
        parallel: true
        steps:
          - {name: restore-portal, restore: {target: portal-files, to: %[4]q}}
          - {name: restore-vm, restore: {target: simpus-vm, drc: offsite, domain: %[9]s-dr, hypervisor: %[10]q, start: true, to: %[11]q}}
      - name: verify
        steps:
          - {name: rows, check: {sql: {database: "restore:restore-db", query: "SELECT count(*) FROM pasien", expect: "50"}}}
          - {name: marker, check: {file: %[6]q, sha256: %[7]s}}
          - {name: confirm, manual: {prompt: "Kepala Bidang menyetujui layanan dibuka", role: operator, ticket: ELAY-18}}
  - name: portal-real
    groups:
      - name: data
        steps:
          - {name: restore-portal, restore: {target: portal-files, to: %[8]q}}
`, pgdb, filepath.Join(w.dir, "src", "portal"), filepath.Join(w.dir, "src", "docs"), filepath.Join(dr, "portal"), filepath.Join(dr, "docs"), marker, markerSum, filepath.Join(w.dir, "real", "portal"),
			vm.Name, testenv.LibvirtURI, filepath.Join(vmDisks, vm.Name+"-dr")),
		fmt.Sprintf("api: {listen: %q, tls: {cert_file: %q, key_file: %q}}", addr, pki.ServerCert, pki.ServerKey))
	w.startDaemon()
	for _, tg := range []string{"simpus-db", "portal-files", "simpus-vm"} {
		if _, r := w.backupJSON(tg); r.code != 0 {
			t.Fatalf("backup of %s: %s", tg, r)
		}
	}
	w.must("drc", "sync", "--wait")
	n := newNetAPI(t, addr, pki)
	auditor := w.token("bpk-audit", "auditor")

	plan := w.must("runbook", "plan", "portal-failover")
	if !strings.Contains(plan.stdout, "restore-vm") || !strings.Contains(plan.stdout, "domain "+vm.Name+"-dr-test-RUN") {
		t.Errorf("plan:\n%s", plan.stdout)
	}
	if r := w.cadang("runbook", "run", "portal-failover", "--mode", "real"); r.code == 0 || !strings.Contains(r.stderr, "--confirm portal-failover") {
		t.Errorf("real without --confirm: %s", r)
	}
	var run api.RunbookRun
	mustJSON(t, w.must("runbook", "run", "portal-failover", "--mode", "test", "--json").stdout, &run)
	if run.ID == 0 {
		t.Fatalf("run --json: %+v", run)
	}
	id := fmt.Sprint(run.ID)
	scratchDB := fmt.Sprintf("%s_dr_test_%d", pgdb, run.ID)
	pg.DropDBAtCleanup(t, scratchDB)
	scratchVM := fmt.Sprintf("%s-dr-test-%d", vm.Name, run.ID)
	scratchDisks := filepath.Join(vmDisks, scratchVM)
	t.Cleanup(func() { testenv.RemoveDomain(t, vm.L, scratchVM) })
	virsh := func(args ...string) (string, error) {
		out, err := exec.Command("virsh", append([]string{"-c", testenv.LibvirtURI}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}

	// The marker is missing: the critical check halts the run before the gate.
	run = runbookStatus(t, w, run.ID, "halted", "failed", "succeeded", "aborted")
	steps := map[string]api.RunbookStep{}
	for _, s := range run.Steps {
		steps[s.Step] = s
	}
	if run.Status != "halted" || steps["marker"].Status != "failed" || steps["confirm"].Status != "pending" || steps["rows"].Status != "ok" {
		t.Fatalf("halt: %s %+v", run.Status, run.Steps)
	}
	if !strings.Contains(steps["restore-vm"].Summary, "from DRC offsite") || !strings.Contains(steps["restore-portal"].Summary, "from DRC local") ||
		!strings.Contains(steps["restore-vm"].Summary, "domain "+scratchVM+" at "+testenv.LibvirtURI+" (started), disks in "+scratchDisks) {
		t.Errorf("restores: %+v / %+v", steps["restore-vm"], steps["restore-portal"])
	}
	// The VM and the files were restored side by side (the group is parallel).
	if p, v := steps["restore-portal"], steps["restore-vm"]; !p.Started.Before(v.Ended) || !v.Started.Before(p.Ended) {
		t.Errorf("the app group did not run in parallel: portal %v-%v, vm %v-%v", p.Started, p.Ended, v.Started, v.Ended)
	}
	if st, err := virsh("domstate", scratchVM); st != "running" {
		t.Errorf("scratch domain %s: %q %v", scratchVM, st, err)
	}
	if _, err := os.Stat(filepath.Join(scratchDisks, "vda.qcow2")); err != nil {
		t.Errorf("restored disk: %v", err)
	}
	if got := pg.Query(t, scratchDB, "SELECT count(*) FROM pasien"); strings.TrimSpace(got) != "50" {
		t.Errorf("scratch database %s: %q rows", scratchDB, got)
	}
	if err := os.WriteFile(marker, []byte("ok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.must("runbook", "continue", id)
	runbookStatus(t, w, run.ID, "waiting")
	if code, body := n.call("POST", "/v1/runbook-runs/"+id+"/approve", auditor, `{"step":"confirm"}`); code != 403 {
		t.Errorf("an auditor confirms the gate: %d %s", code, body)
	}
	if r := w.cadang("runbook", "approve", id, "restore-db"); r.code == 0 {
		t.Errorf("approve a step that is no gate: %s", r)
	}
	w.must("runbook", "approve", id, "confirm")
	run = runbookStatus(t, w, run.ID, "succeeded", "failed", "halted", "aborted")
	if run.Status != "succeeded" {
		t.Fatalf("after the gate: %s %+v", run.Status, run.Steps)
	}
	for _, s := range run.Steps {
		if s.Status != "ok" || s.Started.IsZero() || s.Ended.IsZero() {
			t.Errorf("step %d %s/%s: %s, %v-%v", s.No, s.Group, s.Step, s.Status, s.Started, s.Ended)
		}
		if s.Step == "confirm" && (!strings.HasPrefix(s.Actor, "uid:") || s.Ticket != "ELAY-18") {
			t.Errorf("gate: %+v", s)
		}
	}
	if len(run.Steps) != 9 { // 6 steps + 3 removals
		t.Errorf("%d steps: %+v", len(run.Steps), run.Steps)
	}
	// Undo left nothing: no scratch database, no scratch folder.
	if got := pg.Query(t, "postgres", fmt.Sprintf("SELECT count(*) FROM pg_database WHERE datname = '%s'", scratchDB)); strings.TrimSpace(got) != "0" {
		t.Errorf("scratch database %s is still there", scratchDB)
	}
	if entries, _ := os.ReadDir(dr); len(entries) != 0 {
		t.Errorf("scratch folders left in %s: %v", dr, entries)
	}
	if out, err := virsh("dominfo", scratchVM); err == nil {
		t.Errorf("scratch domain %s is still there: %s", scratchVM, out)
	}
	if entries, _ := os.ReadDir(vmDisks); len(entries) != 0 {
		t.Errorf("scratch disk images left in %s: %v", vmDisks, entries)
	}
	// The report lists every step with its times, the actor of the gate, the restores'
	// DRCs and the runbook's hash.
	rep := w.must("report", "runbook", id, "--format", "json", "--lang", "en", "-o", "-").stdout
	for _, want := range []string{`"kind": "runbook"`, `"ELAY-18"`, `"drc": "offsite, local"`, `"sha256": "` + run.Digest} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %s:\n%s", want, rep)
		}
	}
	if n := strings.Count(rep, `"started": "`); n < 10 { // the report's period + 9 steps
		t.Errorf("report: %d steps with a start time", n)
	}
	w.checkLog()

	// Real mode with the primary MinIO stopped: the restore comes from the off-site
	// DRC and says so.
	m.Stop()
	if r := w.cadang("runbook", "run", "portal-real", "--mode", "real", "--confirm", "portal-rea"); r.code == 0 {
		t.Errorf("real with a wrong --confirm: %s", r)
	}
	var real api.RunbookRun
	mustJSON(t, w.must("runbook", "run", "portal-real", "--mode", "real", "--confirm", "portal-real", "--wait", "--json").stdout, &real)
	if real.Status != "succeeded" || !strings.Contains(real.Steps[0].Summary, "from DRC offsite") || !strings.Contains(real.Steps[0].Summary, "before: local:") {
		t.Errorf("real mode, primary down: %s %+v", real.Status, real.Steps)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "real", "portal")); err != nil {
		t.Errorf("real restore: %v", err)
	}
}

// Issue 18, resume: kill -9 of the daemon in the middle of a test-mode restore step;
// after a restart the run resumes from that step (a test-mode restore is safe to run
// again) and finishes, and the command step that had ended before the kill does not
// run twice.
func TestRunbookResumeAfterKill(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	src := filepath.Join(w.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "arsip.bin"), 16<<20, 31)
	// Fault injection: restic's restores start 4 s late, so the kill surely comes while
	// the restore step runs (a restore's own length depends on the host's load: 192 MiB
	// of random bytes once ended between the step seen running and the kill, in CI).
	realRestic := w.restic
	w.restic = filepath.Join(w.dir, "slow-restore-restic")
	wrapper := "#!/bin/sh\ncase \" $* \" in *\" restore \"*) sleep 4 ;; esac\nexec " + realRestic + " \"$@\"\n"
	if err := os.WriteFile(w.restic, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	once := filepath.Join(w.dir, "once.txt")
	w.config(pathDRC(w) + fmt.Sprintf(`agencies: [{id: dinkes}]
targets:
  - {name: arsip, agency: dinkes, kind: files, files: {paths: [%q]}}
runbooks:
  - name: arsip-failover
    groups:
      - name: prepare
        steps:
          - {name: mark, run: [sh, -c, "echo ran >> %s"]}
      - name: data
        steps:
          - {name: restore, restore: {target: arsip, to: %q}}
`, src, once, filepath.Join(w.dir, "dr", "arsip")))
	w.startDaemon()
	if _, r := w.backupJSON("arsip"); r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	var run api.RunbookRun
	mustJSON(t, w.must("runbook", "run", "arsip-failover", "--mode", "test", "--json").stdout, &run)
	deadline := time.Now().Add(time.Minute)
	for {
		var cur api.RunbookRun
		mustJSON(t, w.must("runbook", "status", fmt.Sprint(run.ID), "--json").stdout, &cur)
		if cur.Steps[1].Status == "running" {
			break
		}
		if cur.Steps[1].Status != "pending" || time.Now().After(deadline) {
			t.Fatalf("the restore step is %s before the kill: %+v", cur.Steps[1].Status, cur.Steps)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.stopDaemon(syscall.SIGKILL, 30*time.Second)
	w.startDaemon()
	done := runbookStatus(t, w, run.ID, "succeeded", "failed", "halted", "aborted")
	if done.Status != "succeeded" || done.Steps[1].Attempts != 1 {
		t.Errorf("after the restart: %s %+v", done.Status, done.Steps)
	}
	if len(done.Events) != 1 || done.Events[0].What != "resume" {
		t.Errorf("events: %+v", done.Events)
	}
	if b, _ := os.ReadFile(once); string(b) != "ran\n" {
		t.Errorf("the command step ran %d times", strings.Count(string(b), "ran"))
	}
	if entries, _ := os.ReadDir(filepath.Join(w.dir, "dr")); len(entries) != 0 {
		t.Errorf("undo left %v", entries)
	}
}
