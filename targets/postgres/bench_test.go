package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/dbdump"
	"github.com/cadang/cadang/targets/postgres"
)

// BenchmarkBackup times cadang's backup of a PostgreSQL database of about 500 MB of
// mixed data (half incompressible bytea, half rows of text, jsonb and numbers) beside
// the same dump piped by hand into restic: `restic backup --stdin-from-command --
// pg_dump -Fc -Z0`, through the same restic invocation, credentials and connection.
// Each side backs up into a fresh repository, alternately first, three times; "ratio" is
// cadang's total time over the baseline's (the goal is under 1.05). cadang's time
// includes what the baseline does not do: the check that the server answers, the
// manifest (row counts and, in the first sub-benchmark, checksums of every table,
// computed while pg_dump runs) and its own process in the pipe.
//
//	make bench    or    go test -run '^$' -bench BenchmarkBackup -benchtime 1x ./targets/postgres/
func BenchmarkBackup(b *testing.B) {
	const rounds = 3
	pg := testenv.NewPostgresCluster(b)
	b.Log(pg.BenchDatabase(b))
	passFile := testenv.SecretFile(b, "bench-secret")

	for _, checksums := range []bool{true, false} {
		name := "manifest=counts+checksums"
		if !checksums {
			name = "manifest=counts"
		}
		b.Run(name, func(b *testing.B) {
			cfg := &postgres.Config{Host: pg.Host, Port: pg.Port, Database: "bench", User: "bench", PasswordFile: passFile, Checksums: &checksums}
			var cadang, baseline time.Duration
			var bytes uint64
			for i := 0; i < b.N; i++ {
				for round := 0; round < rounds; round++ {
					runs := []func(){
						func() { cadang += timeCadang(b, cfg) },
						func() { d, n := timeBaseline(b, pg, passFile); baseline += d; bytes = n },
					}
					if round%2 == 1 {
						runs[0], runs[1] = runs[1], runs[0]
					}
					runs[0]()
					runs[1]()
				}
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(cadang.Seconds()/float64(rounds*b.N), "cadang-s")
			b.ReportMetric(baseline.Seconds()/float64(rounds*b.N), "baseline-s")
			b.ReportMetric(cadang.Seconds()/baseline.Seconds(), "ratio")
			b.ReportMetric(float64(bytes)/(1<<20), "dump-MiB")
		})
	}
}

// timeCadang times the kind's backup into a new repository.
func timeCadang(b *testing.B, cfg *postgres.Config) time.Duration {
	b.StopTimer()
	repo := targettest.NewRepo(b)
	kind := build(b, cfg)
	w := repo.Writer(b)
	b.StartTimer()
	start := time.Now()
	if _, err := kind.Backup(context.Background(), w); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	b.StopTimer()
	return d
}

// timeBaseline times pg_dump piped into restic by hand, into a new repository.
func timeBaseline(b *testing.B, pg *testenv.PG, passFile string) (time.Duration, uint64) {
	b.StopTimer()
	repo := targettest.NewRepo(b)
	p, err := dbdump.NewPrivate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	secret, _ := dbdump.ReadSecret(passFile)
	pgpass, err := p.WriteFile("pgpass", []byte("*:*:*:*:"+secret+"\n"))
	if err != nil {
		b.Fatal(err)
	}
	argv := []string{"pg_dump", "--format=custom", "--compress=0", "--no-password",
		fmt.Sprintf("--dbname=host=%s port=%d user=bench dbname=bench", pg.Host, pg.Port)}
	b.StartTimer()
	start := time.Now()
	sum, _, err := repo.Backup(context.Background(), drc.BackupOptions{Host: "bench",
		Stdin: &drc.StdinCommand{Filename: "bench.pgc", Argv: argv, Env: []string{"PGPASSFILE=" + pgpass}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	b.StopTimer()
	return d, sum.TotalBytesProcessed
}
