package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// BenchmarkProtectDatabaseInBothDRCs times the whole job of issue 7: a PostgreSQL
// database (the one of targets/postgres's benchmark: 660 MB by pg_database_size, a
// 740 MiB dump) protected in both DRCs (two MinIO servers on loopback), from
// the moment the backup is asked for until the snapshot is restorable at the off-site
// DRC.
//
//   - cadang: the built binary (without the race detector) as a daemon, with a primary
//     and a secondary S3 DRC: `backup` of a postgres target; the daemon then queues a
//     replicate run on its own (as after every backup) and its mirror copies the new
//     objects. The time runs from the backup request to the end of that replicate run
//     (the run's own end time, so polling does not count).
//   - baseline, by hand: the same pg_dump piped into restic (`restic backup
//     --stdin-from-command -- pg_dump -Fc -Z0`, through the same restic invocation as
//     cadang's, into the primary server), then `restic copy` of that snapshot to a
//     repository on the second server (created with --copy-chunker-params).
//
// Every round starts from empty repositories on both sides (a first, full backup);
// the two sides alternate who goes first. Repository creation (`cadang init`, `restic
// init`) and the daemon's start are not timed. "ratio" is cadang's total time over the
// baseline's (the goal: under 0.65). cadang also computes its manifest while
// pg_dump runs (row counts, and per-table checksums in the first sub-benchmark: the
// default), which the baseline does not.
//
//	make bench    or    go test -run '^$' -bench ProtectDatabaseInBothDRCs -benchtime 1x -timeout 60m ./e2e
func BenchmarkProtectDatabaseInBothDRCs(b *testing.B) {
	const rounds = 2
	resticBin := testenv.Restic(b)
	if _, err := exec.LookPath("pg_dump"); err != nil {
		testenv.Skip(b, "pg_dump is not installed: run `make services` (e2e/setup/services.d/10-postgres.sh)")
	}
	pg := testenv.NewPostgresCluster(b)
	m1 := testenv.StartMinIO(b)
	m2 := testenv.StartMinIO(b)
	// restic copy reads one set of S3 credentials for both repositories: give the
	// second server the first one's.
	m2.Stop()
	m2.SecretKey = m1.SecretKey
	m2.Start()

	// A cadang binary without the race detector (TestMain's has it, for the tests).
	bin := filepath.Join(b.TempDir(), "cadang")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/cadang")
	build.Dir = testenv.Root(b)
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building cadang: %v\n%s", err, out)
	}

	dbSize := pg.BenchDatabase(b)
	passFile := testenv.SecretFile(b, "bench-secret")

	env := &protectEnv{b: b, bin: bin, restic: resticBin, pg: pg, passFile: passFile, m1: m1, m2: m2}
	for _, checksums := range []bool{true, false} {
		name := "manifest=counts+checksums"
		if !checksums {
			name = "manifest=counts"
		}
		b.Run(name, func(b *testing.B) {
			b.Log(dbSize)
			env.b = b
			var cadang, baseline protectTimes
			for i := 0; i < b.N; i++ {
				for round := 0; round < rounds; round++ {
					runs := []func(){
						func() { cadang.add(env.cadang(checksums)) },
						func() { baseline.add(env.baseline()) },
					}
					if round%2 == 1 {
						runs[0], runs[1] = runs[1], runs[0]
					}
					runs[0]()
					runs[1]()
				}
			}
			n := float64(rounds * b.N)
			b.ReportMetric(cadang.total.Seconds()/n, "cadang-s")
			b.ReportMetric(cadang.backup.Seconds()/n, "cadang-backup-s")
			b.ReportMetric(cadang.replicate.Seconds()/n, "cadang-replicate-s")
			b.ReportMetric(baseline.total.Seconds()/n, "baseline-s")
			b.ReportMetric(baseline.backup.Seconds()/n, "baseline-backup-s")
			b.ReportMetric(baseline.replicate.Seconds()/n, "baseline-copy-s")
			b.ReportMetric(cadang.total.Seconds()/baseline.total.Seconds(), "ratio")
			b.Logf("per round: cadang %.2fs (backup %.2fs, then replication %.2fs); baseline %.2fs (backup %.2fs, restic copy %.2fs); ratio %.2f (goal < 0.65)",
				cadang.total.Seconds()/n, cadang.backup.Seconds()/n, cadang.replicate.Seconds()/n,
				baseline.total.Seconds()/n, baseline.backup.Seconds()/n, baseline.replicate.Seconds()/n,
				cadang.total.Seconds()/baseline.total.Seconds())
		})
	}
}

type protectTimes struct{ total, backup, replicate time.Duration }

func (t *protectTimes) add(o protectTimes) {
	t.total += o.total
	t.backup += o.backup
	t.replicate += o.replicate
}

// protectEnv is what both sides share: the servers, the database and the binaries.
type protectEnv struct {
	b           *testing.B
	bin, restic string
	pg          *testenv.PG
	passFile    string
	m1, m2      *testenv.MinIO
	buckets     int
}

// newBucket makes an empty bucket of that name on each server.
func (e *protectEnv) newBucket(prefix string) string {
	e.buckets++
	name := fmt.Sprintf("%s%d", prefix, e.buckets)
	for _, m := range []*testenv.MinIO{e.m1, e.m2} {
		if err := m.Client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
			e.b.Fatalf("minio: make bucket %s: %v", name, err)
		}
	}
	return name
}

// cadang times a backup through the daemon until the snapshot is at the secondary.
func (e *protectEnv) cadang(checksums bool) protectTimes {
	b := e.b
	b.StopTimer()
	defer b.StopTimer()
	dir := b.TempDir()
	bucket := e.newBucket("cadang")
	s3 := func(name, role string, m *testenv.MinIO, bucket string) string {
		return fmt.Sprintf("  - name: %s\n    role: %s\n    s3: {endpoint: %q, bucket: %s, access_key: %s, secret_key_file: %s, insecure: true}\n",
			name, role, m.Endpoint, bucket, m.AccessKey, m.SecretKeyFile())
	}
	cfgFile := filepath.Join(dir, "cadang.yaml")
	state := filepath.Join(dir, "state")
	cfg := fmt.Sprintf("state_dir: %q\nrestic: {binary: %q}\ndrcs:\n", state, e.restic) +
		s3("local", "primary", e.m1, bucket) + s3("offsite", "secondary", e.m2, bucket) +
		fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: simpus-db
    agency: dinkes
    kind: postgres
    postgres: {host: %s, port: %d, database: bench, user: bench, password_file: %s, checksums: %t}
`, e.pg.Host, e.pg.Port, e.passFile, checksums)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cli := func(args ...string) {
		cmd := exec.Command(e.bin, args...)
		cmd.Env = append(os.Environ(), "CADANG_CONFIG="+cfgFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("cadang %v: %v\n%s", args, err, out)
		}
	}
	cli("init")
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		b.Fatal(err)
	}
	daemon := exec.Command(e.bin, "daemon")
	daemon.Env = append(os.Environ(), "CADANG_CONFIG="+cfgFile)
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = daemon.Wait(); logf.Close(); close(done) }()
	defer func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			_ = daemon.Process.Kill()
			<-done
		}
	}()
	ctx := context.Background()
	c := api.NewClient(filepath.Join(state, "cadang.sock"))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := c.Status(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the daemon did not answer: %s", readFile(logf.Name()))
		}
	}

	b.StartTimer()
	start := time.Now()
	ri, err := c.Backup(ctx, "simpus-db")
	if err != nil {
		b.Fatal(err)
	}
	bk, err := c.Wait(ctx, ri.ID, 100*time.Millisecond, nil)
	if err != nil || bk.Status != api.Succeeded || bk.SnapshotID == "" {
		b.Fatalf("backup: %v %+v\n%s", err, bk, readFile(logf.Name()))
	}
	// The replicate run the daemon queued after the backup.
	var rep *api.RunInfo
	for deadline := time.Now().Add(time.Minute); rep == nil; time.Sleep(100 * time.Millisecond) {
		runs, err := c.Runs(ctx, "", 0)
		if err != nil {
			b.Fatal(err)
		}
		for i := range runs {
			if runs[i].Op == "replicate" && runs[i].Reason == fmt.Sprintf("after backup run %d", bk.ID) {
				rep = &runs[i]
			}
		}
		if rep == nil && time.Now().After(deadline) {
			b.Fatalf("no replicate run after backup run %d: %+v", bk.ID, runs)
		}
	}
	rep, err = c.Wait(ctx, rep.ID, 100*time.Millisecond, nil)
	if err != nil || rep.Status != api.Succeeded {
		b.Fatalf("replicate: %v %+v\n%s", err, rep, readFile(logf.Name()))
	}
	b.StopTimer()
	t := protectTimes{total: rep.Ended.Sub(start), backup: bk.Ended.Sub(start), replicate: rep.Ended.Sub(bk.Ended)}

	snaps, err := c.Snapshots(ctx, "simpus-db", "")
	if err != nil || len(snaps) != 1 || snaps[0].ID != bk.SnapshotID || len(snaps[0].Sites) != 2 {
		b.Fatalf("the snapshot must be at both DRCs: %+v %v", snaps, err)
	}
	b.Logf("cadang: snapshot %s, %d MiB stored, at both DRCs in %s (backup %s, replication %s: %s)", bk.SnapshotID[:8],
		bk.BytesStored>>20, t.total.Round(time.Millisecond), t.backup.Round(time.Millisecond), t.replicate.Round(time.Millisecond),
		strings.Join(rep.Notes, "; "))
	return t
}

// baseline times pg_dump piped into restic at the first server, then `restic copy` to
// the second, by hand: the restic binary alone, as an operator would script it.
func (e *protectEnv) baseline() protectTimes {
	b := e.b
	b.StopTimer()
	defer b.StopTimer()
	dir := b.TempDir()
	bucket := e.newBucket("hand")
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("bench-repository-password\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	from := "s3:http://" + e.m1.Endpoint + "/" + bucket + "/dinkes"
	to := "s3:http://" + e.m2.Endpoint + "/" + bucket + "/dinkes"
	base := []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "RESTIC_CACHE_DIR=" + filepath.Join(dir, "cache"),
		"RESTIC_PASSWORD_FILE=" + pw, "AWS_ACCESS_KEY_ID=" + e.m1.AccessKey, "AWS_SECRET_ACCESS_KEY=" + e.m1.SecretKey}
	resticRun := func(repo string, extra []string, args ...string) []byte {
		cmd := exec.Command(e.restic, args...)
		cmd.Env = append(append(append([]string{}, base...), "RESTIC_REPOSITORY="+repo), extra...)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("restic %v: %v\n%s", args, err, out)
		}
		return out
	}
	copyEnv := []string{"RESTIC_FROM_REPOSITORY=" + from, "RESTIC_FROM_PASSWORD_FILE=" + pw}
	resticRun(from, nil, "init")
	resticRun(to, copyEnv, "init", "--copy-chunker-params")
	pgpass := filepath.Join(dir, "pgpass")
	if err := os.WriteFile(pgpass, []byte("*:*:*:*:bench-secret\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	argv := []string{"pg_dump", "--format=custom", "--compress=0", "--no-password",
		fmt.Sprintf("--dbname=host=%s port=%d user=bench dbname=bench", e.pg.Host, e.pg.Port)}

	b.StartTimer()
	start := time.Now()
	out := resticRun(from, []string{"PGPASSFILE=" + pgpass}, append([]string{"backup", "--json", "--host", "bench",
		"--stdin-filename", "bench.pgc", "--stdin-from-command", "--"}, argv...)...)
	backedUp := time.Since(start)
	var sum struct {
		MessageType         string `json:"message_type"`
		SnapshotID          string `json:"snapshot_id"`
		TotalBytesProcessed uint64 `json:"total_bytes_processed"`
		DataAddedPacked     uint64 `json:"data_added_packed"`
	}
	for _, line := range strings.Split(string(out), "\n") {
		var m struct {
			MessageType string `json:"message_type"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.MessageType == "summary" {
			if err := json.Unmarshal([]byte(line), &sum); err != nil {
				b.Fatal(err)
			}
		}
	}
	if sum.SnapshotID == "" {
		b.Fatalf("restic backup printed no summary:\n%s", out)
	}
	resticRun(to, copyEnv, "copy", sum.SnapshotID)
	t := protectTimes{total: time.Since(start), backup: backedUp}
	t.replicate = t.total - backedUp
	b.StopTimer()
	b.Logf("baseline: snapshot %s, %d MiB dumped, %d MiB stored, at both servers in %s (backup %s, restic copy %s)",
		sum.SnapshotID[:8], sum.TotalBytesProcessed>>20, sum.DataAddedPacked>>20, t.total.Round(time.Millisecond),
		t.backup.Round(time.Millisecond), t.replicate.Round(time.Millisecond))
	return t
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
