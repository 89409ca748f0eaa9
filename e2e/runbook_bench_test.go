package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// BenchmarkRunbookRTO measures the RTO of a failover runbook (issue 18): a PostgreSQL
// database (the one of targets/postgres's benchmark: 660 MB by pg_database_size) and a
// VM's 1 GiB disk (3/4 of it random data) restored from the off-site DRC (a second
// MinIO server) in parallel, the VM as a domain defined under a new name, in test mode
// (scratch names, then undone).
//
//   - runbook: `cadang runbook run --mode test --wait`; per service (db, vm), the RTO
//     the run's report measures (from the run's start to the service's last step),
//     beside the ETA `cadang runbook plan` predicted for its restore step from the
//     history (the last restore of the target: the hand-made baseline's, just before).
//     "runbook-s" is the longer of the two services' RTOs: both are up then.
//   - baseline, by hand: the same two restores with `cadang restore`, one after the
//     other (the database to a new database, then the VM's disks with --define NAME), as
//     an operator without a runbook would type them.
//
// "ratio" is runbook-s over baseline-s (the goal: under 0.7). The backups and
// their replication to the off-site DRC, the daemon's start and the clean-ups are not
// timed. The CPUs are shared: on 2 cores pg_restore and qemu-img compete with restic,
// and the parallel group gains less than on a larger host.
//
//	make bench    or    go test -run '^$' -bench RunbookRTO -benchtime 1x -timeout 60m ./e2e
func BenchmarkRunbookRTO(b *testing.B) {
	if _, err := exec.LookPath("pg_restore"); err != nil {
		testenv.Skip(b, "pg_restore is not installed: run `make services` (e2e/setup/services.d/10-postgres.sh)")
	}
	resticBin := testenv.Restic(b)
	vm := testenv.NewDomain(b, testenv.DomainOptions{Size: 1 << 30, Seed: 181})
	pg := testenv.NewPostgresCluster(b)
	m1, m2 := testenv.StartMinIO(b, "primary"), testenv.StartMinIO(b, "offsite")
	dbSize := pg.BenchDatabase(b)
	passFile := testenv.SecretFile(b, "bench-secret")
	disks, err := os.MkdirTemp("", "cadang-bench-rb-") // QEMU must reach the restored disks
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(disks) })
	if err := os.Chmod(disks, 0o711); err != nil {
		b.Fatal(err)
	}
	// A cadang binary without the race detector (TestMain's has it, for the tests).
	bin := filepath.Join(b.TempDir(), "cadang")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/cadang")
	build.Dir = testenv.Root(b)
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building cadang: %v\n%s", err, out)
	}

	dir := b.TempDir()
	cfgFile, state := filepath.Join(dir, "cadang.yaml"), filepath.Join(dir, "state")
	s3 := func(name, role string, m *testenv.MinIO, bucket string) string {
		return fmt.Sprintf("  - name: %s\n    role: %s\n    s3: {endpoint: %q, bucket: %s, access_key: %s, secret_key_file: %s, insecure: true}\n",
			name, role, m.Endpoint, bucket, m.AccessKey, m.SecretKeyFile())
	}
	dbURL := fmt.Sprintf("postgres://%s:%d/bench_dr?user=bench&password_file=%s", pg.Host, pg.Port, passFile)
	cfg := fmt.Sprintf("state_dir: %q\nrestic: {binary: %q}\ndrcs:\n", state, resticBin) +
		s3("local", "primary", m1, "primary") + s3("offsite", "secondary", m2, "offsite") +
		fmt.Sprintf(`agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: simpus-db, agency: dinkes, kind: postgres, postgres: {host: %[1]s, port: %[2]d, database: bench, user: bench, password_file: %[3]s}}
  - {name: simpus-vm, agency: dinkes, kind: libvirt, libvirt: {uri: %[4]q, domain: %[5]s}}
runbooks:
  - name: simpus-failover
    objectives: {rto: 2h}
    services: {db: {rto: 1h}, vm: {rto: 1h}}
    groups:
      - name: data
        parallel: true
        steps:
          - {name: restore-db, service: db, restore: {target: simpus-db, drc: offsite, to: %[6]q}}
          - {name: restore-vm, service: vm, restore: {target: simpus-vm, drc: offsite, domain: %[5]s-dr, to: %[7]q}}
`, pg.Host, pg.Port, passFile, testenv.LibvirtURI, vm.Name, dbURL, filepath.Join(disks, vm.Name+"-dr"))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cli := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "CADANG_CONFIG="+cfgFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("cadang %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cli("init")
	c, stop := benchDaemon(b, bin, cfgFile, state, filepath.Join(dir, "daemon.log"))
	b.Cleanup(stop)
	ctx := context.Background()
	cli("backup", "simpus-db")
	cli("backup", "simpus-vm")
	cli("drc", "sync", "--wait")
	b.Logf("%s; VM disk %d MiB", dbSize, vm.Size>>20)

	// dropDB and removeVM undo a hand restore.
	dropDB := func(name string) {
		pg.Exec(b, "postgres", fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name))
	}
	removeVM := func(name, folder string) {
		testenv.RemoveDomain(b, vm.L, name)
		if err := os.RemoveAll(folder); err != nil {
			b.Fatal(err)
		}
	}
	var hand, runbook, rtoDB, rtoVM, etaDB, etaVM time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// By hand, one restore after the other.
		b.StopTimer()
		db, dom := fmt.Sprintf("bench_hand_%d", i), fmt.Sprintf("%s-hand-%d", vm.Name, i)
		folder := filepath.Join(disks, dom)
		b.StartTimer()
		start := time.Now()
		cli("restore", "simpus-db", "--drc", "offsite", "--to", strings.Replace(dbURL, "/bench_dr?", "/"+db+"?", 1))
		cli("restore", "simpus-vm", "--drc", "offsite", "--to", folder, "--define", dom)
		hand += time.Since(start)
		b.StopTimer()
		dropDB(db)
		removeVM(dom, folder)

		// The plan's ETA (from the restores just done), then the runbook.
		plan, err := c.RunbookPlan(ctx, "simpus-failover", "test")
		if err != nil {
			b.Fatal(err)
		}
		for _, st := range plan.Steps {
			eta, err := time.ParseDuration(strings.Fields(st.ETA + " ")[0])
			if err != nil {
				b.Fatalf("plan: step %s: ETA %q", st.Step, st.ETA)
			}
			if st.Step == "restore-db" {
				etaDB += eta
			} else {
				etaVM += eta
			}
		}
		b.StartTimer()
		run, err := c.StartRunbook(ctx, api.RunbookRunRequest{Runbook: "simpus-failover", Mode: "test"})
		if err != nil {
			b.Fatal(err)
		}
		for run.Status == "running" || run.Status == "waiting" {
			time.Sleep(100 * time.Millisecond)
			if run, err = c.RunbookRun(ctx, run.ID); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if run.Status != "succeeded" {
			b.Fatalf("runbook run %d: %s %+v\n%s", run.ID, run.Status, run.Steps, readFile(filepath.Join(dir, "daemon.log")))
		}
		js, err := c.RunbookReport(ctx, run.ID, "json", "en")
		if err != nil {
			b.Fatal(err)
		}
		var rep struct {
			Results []struct {
				Target string  `json:"target"`
				RTO    float64 `json:"rto_measured_seconds"`
			} `json:"results"`
		}
		if err := json.Unmarshal(js, &rep); err != nil {
			b.Fatal(err)
		}
		var db1, vm1 time.Duration
		for _, r := range rep.Results {
			switch r.Target {
			case "db":
				db1 = time.Duration(r.RTO * float64(time.Second))
			case "vm":
				vm1 = time.Duration(r.RTO * float64(time.Second))
			}
		}
		if db1 == 0 || vm1 == 0 {
			b.Fatalf("the report measures no RTO per service: %s", js)
		}
		rtoDB, rtoVM, runbook = rtoDB+db1, rtoVM+vm1, runbook+max(db1, vm1)
	}
	n := float64(b.N)
	b.ReportMetric(runbook.Seconds()/n, "runbook-s")
	b.ReportMetric(rtoDB.Seconds()/n, "rto-db-s")
	b.ReportMetric(etaDB.Seconds()/n, "eta-db-s")
	b.ReportMetric(rtoVM.Seconds()/n, "rto-vm-s")
	b.ReportMetric(etaVM.Seconds()/n, "eta-vm-s")
	b.ReportMetric(hand.Seconds()/n, "baseline-s")
	b.ReportMetric(runbook.Seconds()/hand.Seconds(), "ratio")
	b.Logf("per round: runbook %.1fs (db RTO %.1fs, ETA %.1fs; vm RTO %.1fs, ETA %.1fs); by hand in sequence %.1fs; ratio %.2f (goal < 0.7)",
		runbook.Seconds()/n, rtoDB.Seconds()/n, etaDB.Seconds()/n, rtoVM.Seconds()/n, etaVM.Seconds()/n, hand.Seconds()/n, runbook.Seconds()/hand.Seconds())
}
