package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// BenchmarkContinuousDay measures issue 22's two PostgreSQL benchmarks on one database
// (pgbench's tables at scale CADANG_BENCH_PG_SCALE, 130 by default: about 2 GB; a
// private PostgreSQL 15 cluster with WAL segments of CADANG_BENCH_PG_WALSEG MiB, 16 by
// default as PostgreSQL's, two MinIO servers, the built
// cadang without the race detector).
//
// A day of changes: 1% of the rows of pgbench_accounts (every hundredth, spread over
// the whole table: each change touches its own page, the worst case for WAL) change
// during a "day" scaled down to CADANG_BENCH_DAY_INTERVALS archive intervals (6 by
// default, archive_interval 5s; CADANG_BENCH_PG_SETTINGS adds server settings, as
// "wal_compression=lz4"). Continuous mode's cost of that day is what the daemon
// and its restic processes spend (CPU seconds, their whole process tree) plus
// PostgreSQL's archiver and its `cadang wal-push` children, until the day's WAL is in
// both DRCs (`drc sync --wait`), plus a seventh of a base backup (weekly, the default)
// taken the same way; the bytes read from the server are the WAL segments archived plus
// a seventh of the base backup. Tonight's full dump is a backup of the same database by
// a target in mode: dump (the second one, after the same changes: restic deduplicates,
// pg_dump still reads everything) until it is in both DRCs, with the CPU of the
// daemon's tree and of the whole PostgreSQL cluster (pg_dump's backend); its bytes are
// the dump's. "day-ratio" is continuous over dump, in CPU seconds (goal: under 0.1).
//
// Point-in-time restore: with the primary MinIO stopped, `cadang restore --to-time T
// --drc offsite` (T before the day's last change) against the pgBackRest-style manual
// procedure from the same off-site repository: `restic dump BASE /base.tar | tar -x`,
// `restic restore` of each WAL snapshot since the base into a folder, recovery.signal,
// restore_command, recovery_target_time and recovery_target_action=promote, pg_ctl
// start, wait for the promotion, pg_ctl stop. Both are checked to hold exactly the
// changes before T. "restore-ratio" is cadang's wall time over the manual one (goal:
// within 1.2). cadang's restore goes first, the manual one first with
// CADANG_BENCH_RESTORE_FIRST=manual; the page cache is dropped before each (as root),
// so that both read the off-site objects cold.
//
//	go test -run '^$' -bench BenchmarkContinuousDay -benchtime 1x -timeout 60m ./e2e
func BenchmarkContinuousDay(b *testing.B) {
	logf := func(format string, args ...any) { // the figures as they come, and in the benchmark's log
		b.Helper()
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
		b.Logf(format, args...)
	}
	scale := envInt(b, "CADANG_BENCH_PG_SCALE", 130)
	intervals := envInt(b, "CADANG_BENCH_DAY_INTERVALS", 6)
	resticBin := testenv.Restic(b)
	settings := []string{"-c", "shared_buffers=128MB"}
	for _, kv := range strings.Fields(os.Getenv("CADANG_BENCH_PG_SETTINGS")) { // e.g. wal_compression=lz4
		settings = append(settings, "-c", kv)
	}
	segMiB := envInt(b, "CADANG_BENCH_PG_WALSEG", 16)
	c := testenv.NewArchivingPGSegments(b, segMiB, settings...)
	m1 := testenv.StartMinIO(b, "cadang")
	m2 := testenv.StartMinIO(b, "cadang-offsite")

	// A cadang binary without the race detector, reachable by the postgres user.
	binDir, err := os.MkdirTemp("", "cadang-bench-bin-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(binDir) })
	bin := filepath.Join(binDir, "cadang")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/cadang")
	build.Dir = testenv.Root(b)
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building cadang: %v\n%s", err, out)
	}

	// The database, made while the server archives nothing (archive_command true).
	c.Query(b, c.Port, "postgres", "ALTER SYSTEM SET archive_command = 'true'")
	c.Query(b, c.Port, "postgres", "SELECT pg_reload_conf()")
	password := "bench-" + testenv.Name("pw")
	c.Query(b, c.Port, "postgres", fmt.Sprintf("CREATE ROLE pitr LOGIN SUPERUSER REPLICATION PASSWORD '%s'; CREATE DATABASE app OWNER pitr;", password))
	start := time.Now()
	pgbench := exec.Command(filepath.Join(c.Bin, "pgbench"), "-i", "-I", "dtGvp", "-s", strconv.Itoa(scale), "-q",
		"-h", c.Dir, "-p", strconv.Itoa(c.Port), "-U", testenv.PGAdmin, "app")
	if out, err := pgbench.CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	logf("database app: %s (pgbench scale %d), made in %s", c.Query(b, c.Port, "app", "SELECT pg_size_pretty(pg_database_size('app'))"),
		scale, time.Since(start).Round(time.Second))
	c.Query(b, c.Port, "postgres", "CHECKPOINT")

	w := newBenchWorld(b, bin, resticBin)
	for _, d := range []string{binDir, w.dir, filepath.Dir(w.dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			b.Fatal(err)
		}
	}
	iv := 5 * time.Second
	w.config("drcs:\n" + s3DRC("local", "primary", m1, "", "cadang") + s3DRC("offsite", "secondary", m2, "", "cadang-offsite") + fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: pg
    agency: dinkes
    kind: postgres
    postgres: {host: 127.0.0.1, port: %d, database: app, user: pitr, password_file: %[2]s, bin_dir: %[3]s, mode: continuous, archive_interval: %[4]s}
  - name: pgdump
    agency: dinkes
    kind: postgres
    schedule: "0 2 1 1 *"
    postgres: {host: 127.0.0.1, port: %[1]d, database: app, user: pitr, password_file: %[2]s, bin_dir: %[3]s}
`, c.Port, testenv.SecretFile(b, password), c.Bin, iv))
	w.startDaemon()
	if err := os.Chmod(w.stateDir, 0o711); err != nil {
		b.Fatal(err)
	}
	w.must("pg", "setup", "pg", "--apply")

	pgTree := func() int {
		pid, err := os.ReadFile(filepath.Join(c.Data, "postmaster.pid"))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.Atoi(strings.SplitN(string(pid), "\n", 2)[0])
		return n
	}()
	archiver := func() int {
		for _, p := range procChildren(pgTree) {
			if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); strings.HasPrefix(string(cmd), "postgres: archiver") {
				return p
			}
		}
		b.Fatal("no archiver process under the postmaster")
		return 0
	}()
	segSize := int64(segMiB) << 20
	archived := func() int64 {
		n, _ := strconv.ParseInt(c.Query(b, c.Port, "postgres", "SELECT archived_count FROM pg_stat_archiver"), 10, 64)
		return n
	}
	spool := filepath.Join(w.stateDir, "wal", "spool", "pg")
	settle := func() {
		seg := c.Query(b, c.Port, "app", "SELECT pg_walfile_name(pg_switch_wal())")
		c.WaitArchived(b, seg, 30*time.Minute)
		testenv.Eventually(b, 30*time.Minute, "the WAL spool emptied", func() bool {
			left, _ := filepath.Glob(filepath.Join(spool, "0*"))
			time.Sleep(50 * time.Millisecond)
			return len(left) == 0
		})
		w.must("drc", "sync", "--wait")
	}

	// The base backup (weekly: a seventh of it per day), then the first full dump.
	cpu0, arch0 := procTreeCPU(w.daemon.Process.Pid)+procTreeCPU(archiver), archived()
	base := w.backup("pg")
	settle()
	baseCPU := procTreeCPU(w.daemon.Process.Pid) + procTreeCPU(archiver) - cpu0
	baseBytes := float64(base.BytesProcessed) + float64((archived()-arch0)*segSize)
	w.backup("pgdump")
	w.must("drc", "sync", "--wait")

	// The day: 1% of the rows change over the intervals; T before the last change.
	rows := scale * 100000
	before := func(i int) int { return int(int64(rows) * int64(i) / int64(intervals)) }
	var at string
	var wantAtT string
	cpu0, arch0 = procTreeCPU(w.daemon.Process.Pid)+procTreeCPU(archiver), archived()
	dayStart := time.Now()
	for i := 0; i < intervals; i++ {
		if i == intervals-1 {
			wantAtT = c.Query(b, c.Port, "app", "SELECT count(*) FROM pgbench_accounts WHERE abalance <> 0")
			at = c.Query(b, c.Port, "app", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
			time.Sleep(20 * time.Millisecond)
		}
		next := time.Now().Add(iv)
		c.Query(b, c.Port, "app", fmt.Sprintf("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid > %d AND aid <= %d AND aid %% 100 = 0", before(i), before(i+1)))
		time.Sleep(time.Until(next))
	}
	settle()
	dayCPU := procTreeCPU(w.daemon.Process.Pid) + procTreeCPU(archiver) - cpu0
	dayBytes := float64((archived() - arch0) * segSize)
	dayWall := time.Since(dayStart)
	var all []api.RunInfo
	if err := json.Unmarshal([]byte(w.must("runs", "pg", "--json", "--limit", "0")), &all); err != nil {
		b.Fatal(err)
	}
	batches := 0
	for _, r := range all {
		if r.Reason == "wal-archive" && r.Status == "succeeded" && r.Time.After(dayStart) {
			batches++
		}
	}
	logf("the day: %d archive intervals of %s, %d rows changed, %.0f MiB of WAL archived in %d batches in %s (%.2f CPU s a batch)",
		intervals, iv, rows/100, dayBytes/(1<<20), batches, dayWall.Round(time.Second), dayCPU/float64(max(batches, 1)))

	// Tonight's full dump.
	cpu0 = procTreeCPU(w.daemon.Process.Pid) + procTreeCPU(pgTree)
	dump := w.backup("pgdump")
	w.must("drc", "sync", "--wait")
	dumpCPU := procTreeCPU(w.daemon.Process.Pid) + procTreeCPU(pgTree) - cpu0

	contCPU := dayCPU + baseCPU/7
	contBytes := dayBytes + baseBytes/7
	logf("continuous, per day: %.1f CPU s (the day's WAL %.1f s + a seventh of the base backup's %.1f s), %.0f MiB read from the server (WAL %.0f MiB + base %.0f MiB / 7)",
		contCPU, dayCPU, baseCPU, contBytes/(1<<20), dayBytes/(1<<20), baseBytes/(1<<20))
	logf("tonight's full dump: %.1f CPU s, %.0f MiB read from the server; ratio: CPU %.3f, bytes %.3f (goal < 0.1)",
		dumpCPU, float64(dump.BytesProcessed)/(1<<20), contCPU/dumpCPU, contBytes/float64(dump.BytesProcessed))

	// Point-in-time restore from the off-site DRC alone.
	m1.Stop()
	cadangDir := filepath.Join(testenv.PostgresDir(b, "cadang"), "data")
	manualDir := filepath.Join(testenv.PostgresDir(b, "manual"), "data")
	var cadangRestore, manualRestore time.Duration
	sides := []func(){
		func() {
			start := time.Now()
			w.must("restore", "pg", "--to-time", at, "--drc", "offsite", "--to", cadangDir)
			cadangRestore = time.Since(start)
		},
		func() {
			start := time.Now()
			manualPITR(b, c, resticBin, w, m2, manualDir, at)
			manualRestore = time.Since(start)
		},
	}
	if os.Getenv("CADANG_BENCH_RESTORE_FIRST") == "manual" { // cadang's goes first by default
		sides[0], sides[1] = sides[1], sides[0]
	}
	// Both sides read cold objects, as from an off-site server: MinIO writes large
	// objects with O_DIRECT, so the first reader would read the disk and the second
	// the page cache the first one filled (measured: cadang first 70.6 s against 36.3 s,
	// manual first 38.9 s against 34.9 s).
	for _, side := range sides {
		dropCaches(b)
		side()
	}
	for name, dir := range map[string]string{"cadang": cadangDir, "manual": manualDir} {
		port := testenv.FreePort(b)
		c.Start(b, dir, port, "-c", "listen_addresses=", "-c", "archive_mode=off")
		if got := c.Query(b, port, "app", "SELECT count(*) FROM pgbench_accounts WHERE abalance <> 0"); got != wantAtT {
			b.Errorf("%s: %s rows changed at T, want %s", name, got, wantAtT)
		}
	}
	logf("point-in-time restore from the off-site DRC: cadang %.1fs, manual %.1fs, ratio %.2f (goal <= 1.2)",
		cadangRestore.Seconds(), manualRestore.Seconds(), cadangRestore.Seconds()/manualRestore.Seconds())

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(contCPU, "day-cont-cpu-s")
	b.ReportMetric(dumpCPU, "day-dump-cpu-s")
	b.ReportMetric(contCPU/dumpCPU, "day-ratio")
	b.ReportMetric(contBytes/float64(dump.BytesProcessed), "day-bytes-ratio")
	b.ReportMetric(cadangRestore.Seconds(), "restore-cadang-s")
	b.ReportMetric(manualRestore.Seconds(), "restore-manual-s")
	b.ReportMetric(cadangRestore.Seconds()/manualRestore.Seconds(), "restore-ratio")
}

// manualPITR is the pgBackRest-style procedure, by hand from the off-site repository:
// the newest base backup before at and every WAL snapshot since it.
// dropCaches empties the kernel's page cache (root only; otherwise it says so).
func dropCaches(b *testing.B) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200); err != nil {
		b.Logf("page cache not dropped (%v): the side that reads second may read from memory", err)
	}
}

func manualPITR(b *testing.B, c *testenv.ArchivingPG, resticBin string, w *benchWorld, m *testenv.MinIO, dest, at string) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.TempDir(),
		"RESTIC_REPOSITORY=s3:http://" + m.Endpoint + "/cadang-offsite/dinkes",
		"RESTIC_PASSWORD_FILE=" + filepath.Join(w.stateDir, "keys", "offsite", "dinkes.key"),
		"RESTIC_CACHE_DIR=" + filepath.Join(b.TempDir(), "cache"),
		"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey}
	restic := func(args ...string) *exec.Cmd {
		cmd := exec.Command(resticBin, args...)
		cmd.Env = env
		return cmd
	}
	out, err := restic("snapshots", "--json", "--host", "pg").Output()
	if err != nil {
		b.Fatalf("restic snapshots: %v", err)
	}
	var snaps []struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
		Tags []string  `json:"tags"`
	}
	if err := json.Unmarshal(out, &snaps); err != nil {
		b.Fatal(err)
	}
	until, err := time.Parse("2006-01-02 15:04:05.999999Z07", at)
	if err != nil {
		b.Fatal(err)
	}
	var baseID string
	var baseTime time.Time
	has := func(tags []string, prefix string) bool {
		for _, t := range tags {
			if strings.HasPrefix(t, prefix) {
				return true
			}
		}
		return false
	}
	for _, s := range snaps {
		if has(s.Tags, "pg_base=1") && s.Time.Before(until) && s.Time.After(baseTime) {
			baseID, baseTime = s.ID, s.Time
		}
	}
	if baseID == "" {
		b.Fatal("no base backup at the off-site DRC")
	}
	if err := os.Mkdir(dest, 0o700); err != nil {
		b.Fatal(err)
	}
	cred := c.Cred
	if cred != nil {
		if err := os.Chown(dest, int(cred.Uid), int(cred.Gid)); err != nil {
			b.Fatal(err)
		}
	}
	dump := restic("dump", baseID, "/base.tar")
	tar := exec.Command("tar", "-x", "-C", dest)
	tar.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	pipe, err := dump.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	tar.Stdin = pipe
	var tarErr bytes.Buffer
	tar.Stderr = &tarErr
	if err := dump.Start(); err != nil {
		b.Fatal(err)
	}
	if err := tar.Run(); err != nil {
		b.Fatalf("tar -x: %v: %s", err, tarErr.String())
	}
	if err := dump.Wait(); err != nil {
		b.Fatalf("restic dump: %v", err)
	}
	walDir := dest + ".wal"
	for _, s := range snaps {
		if has(s.Tags, "pg_wal=") && !s.Time.Before(baseTime) {
			if out, err := restic("restore", s.ID, "--target", walDir).CombinedOutput(); err != nil {
				b.Fatalf("restic restore %s: %v\n%s", s.ID, err, out)
			}
		}
	}
	if cred != nil {
		if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", cred.Uid, cred.Gid), walDir).CombinedOutput(); err != nil {
			b.Fatalf("chown: %v\n%s", err, out)
		}
	}
	conf := fmt.Sprintf("restore_command = 'cp %s/%%f %%p'\nrecovery_target_time = '%s'\nrecovery_target_action = 'promote'\narchive_mode = 'off'\n", walDir, at)
	f, err := os.OpenFile(filepath.Join(dest, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		b.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dest, "recovery.signal"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	if cred != nil {
		_ = os.Chown(filepath.Join(dest, "recovery.signal"), int(cred.Uid), int(cred.Gid))
	}
	port := testenv.FreePort(b)
	pgctl := func(args ...string) {
		cmd := exec.Command(filepath.Join(c.Bin, "pg_ctl"), append([]string{"-D", dest, "-w", "-t", "3600"}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
		}
	}
	pgctl("-l", dest+".log", "-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=", port, c.Dir), "start")
	deadline := time.Now().Add(time.Hour)
	for {
		if out, err := c.Try(port, "postgres", "SELECT pg_is_in_recovery()"); err == nil && out == "f" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the manual restore never promoted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pgctl("-m", "fast", "stop")
}

// benchWorld is a cadang installation of a benchmark (world is the tests').
type benchWorld struct {
	b                      testing.TB
	bin, restic            string
	dir, cfgFile, stateDir string
	daemon                 *exec.Cmd
	daemonLog              string
}

func newBenchWorld(b testing.TB, bin, restic string) *benchWorld {
	dir := b.TempDir()
	w := &benchWorld{b: b, bin: bin, restic: restic, dir: dir, cfgFile: filepath.Join(dir, "cadang.yaml"), stateDir: filepath.Join(dir, "state")}
	b.Cleanup(func() {
		if w.daemon != nil {
			_ = w.daemon.Process.Signal(syscall.SIGTERM)
			_ = w.daemon.Wait()
		}
	})
	return w
}

func (w *benchWorld) config(body string) {
	head := fmt.Sprintf("state_dir: %q\nrestic: {binary: %q}\n", w.stateDir, w.restic)
	if err := os.WriteFile(w.cfgFile, []byte(head+body), 0o600); err != nil {
		w.b.Fatal(err)
	}
}

func (w *benchWorld) must(args ...string) string {
	w.b.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Env = append(os.Environ(), "CADANG_CONFIG="+w.cfgFile)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(w.daemonLog)
		w.b.Fatalf("cadang %v: %v\n%s%s\ndaemon log tail:\n%s", args, err, out.String(), errb.String(), tail(string(log), 3000))
	}
	return out.String()
}

func (w *benchWorld) backup(target string) api.RunInfo {
	var ri api.RunInfo
	out := w.must("backup", target, "--wait", "--json")
	if err := json.Unmarshal([]byte(out), &ri); err != nil || ri.Status != "succeeded" {
		w.b.Fatalf("backup %s: %v %s", target, err, out)
	}
	return ri
}

func (w *benchWorld) startDaemon() {
	w.daemonLog = filepath.Join(w.dir, "daemon.log")
	logf, err := os.Create(w.daemonLog)
	if err != nil {
		w.b.Fatal(err)
	}
	cmd := exec.Command(w.bin, "daemon")
	cmd.Env = append(os.Environ(), "CADANG_CONFIG="+w.cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		w.b.Fatal(err)
	}
	w.daemon = cmd
	client := api.NewClient(filepath.Join(w.stateDir, "cadang.sock"))
	testenv.Eventually(w.b, 30*time.Second, "the daemon's API", func() bool {
		_, err := client.Status(context.Background())
		return err == nil
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func envInt(b testing.TB, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: not a positive number", name, v)
		}
		return n
	}
	return def
}

// procChildren is every process under pid (not pid itself).
func procChildren(pid int) []int {
	parent := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procStat(p); err == nil {
			pp, _ := strconv.Atoi(st[1])
			parent[pp] = append(parent[pp], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, ch := range parent[p] {
			out = append(out, ch)
			walk(ch)
		}
	}
	walk(pid)
	return out
}

// procStat is /proc/PID/stat from the state field on (field 3 is index 0).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	return strings.Fields(s[i+1:]), nil
}

// procTreeCPU is the CPU seconds of pid and every process under it, with the children
// each has waited for (utime, stime, cutime, cstime), at 100 ticks a second.
func procTreeCPU(pid int) float64 {
	var ticks int64
	for _, p := range append([]int{pid}, procChildren(pid)...) {
		st, err := procStat(p)
		if err != nil || len(st) < 15 {
			continue
		}
		for _, f := range st[11:15] { // fields 14-17
			n, _ := strconv.ParseInt(f, 10, 64)
			ticks += n
		}
	}
	return float64(ticks) / 100
}
