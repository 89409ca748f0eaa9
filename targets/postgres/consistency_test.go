package postgres_test

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// Rows written while the dump runs never make a restore that breaks a foreign key or
// splits a transaction: every order comes back with exactly its three lines or not at
// all, and the manifest, taken in the dump's own snapshot, matches the restored
// database exactly although the source kept changing.
func TestConsistentUnderConcurrentWrites(t *testing.T) {
	pg := testenv.Postgres(t)
	src := newSource(t, pg)
	src.exec(t, `CREATE TABLE pesanan (id bigserial PRIMARY KEY, dibuat timestamptz DEFAULT now());
CREATE TABLE baris (id bigserial PRIMARY KEY, pesanan bigint NOT NULL REFERENCES pesanan ON DELETE CASCADE, jumlah int);
CREATE TABLE pengisi (id int PRIMARY KEY, isi bytea);
ALTER TABLE pengisi ALTER COLUMN isi SET STORAGE EXTERNAL;
INSERT INTO pengisi SELECT g, (SELECT string_agg(sha256(int8send(g::bigint * 1000 + i)), '') FROM generate_series(1, 128) i) FROM generate_series(1, 10000) g;`)

	// A writer: each transaction adds an order with three lines and removes an old one.
	ctx, stop := context.WithCancel(context.Background())
	w := exec.CommandContext(ctx, "psql", "-X", "-q", "-h", "/var/run/postgresql", "-p", strconv.Itoa(pg.Port), "-d", src.db)
	in, err := w.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ctx.Err() == nil; i++ {
			tx := `BEGIN; WITH p AS (INSERT INTO pesanan DEFAULT VALUES RETURNING id)
INSERT INTO baris (pesanan, jumlah) SELECT id, k FROM p, generate_series(1, 3) k;
DELETE FROM pesanan WHERE id = (SELECT min(id) FROM pesanan) AND ` + fmt.Sprint(i%3 == 0) + `; COMMIT;` + "\n"
			if _, err := io.WriteString(in, tx); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); <-writerDone; in.Close(); _ = w.Wait() })
	maxID := func() int {
		n, _ := strconv.Atoi(pg.Query(t, src.db, "SELECT coalesce(max(id), 0) FROM pesanan"))
		return n
	}
	waitFor(t, func() bool { return maxID() > 50 })

	repo := targettest.NewRepo(t)
	cfg := src.config()
	cfg.RestoreJobs = 1 // the streaming, single-transaction restore
	tg := build(t, cfg)
	before := maxID()
	res, snap := backup(t, repo, tg)
	after := maxID()
	stop()
	<-writerDone

	dst := testenv.Name("cadang_dst")
	pg.DropDBAtCleanup(t, dst)
	if err := tg.Restore(context.Background(), repo.Reader(t, snap), targets.RestoreRequest{To: src.url(dst)}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	restored, _ := strconv.Atoi(pg.Query(t, dst, "SELECT coalesce(max(id), 0) FROM pesanan"))
	if !(before < restored && restored < after) {
		t.Fatalf("the writer did not write during the dump: newest order %d before the backup, %d in the dump, %d after", before, restored, after)
	}
	for q, want := range map[string]string{
		"SELECT count(*) FROM baris b LEFT JOIN pesanan p ON p.id = b.pesanan WHERE p.id IS NULL":         "0",
		"SELECT count(*) FROM pesanan p WHERE (SELECT count(*) FROM baris b WHERE b.pesanan = p.id) <> 3": "0",
		"SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated":                         "1",
	} {
		if got := pg.Query(t, dst, q); got != want {
			t.Errorf("restored database: %s: %s, want %s", q, got, want)
		}
	}
	m := manifest(t, res)
	inspected, err := tg.Inspect(context.Background(), src.url(dst))
	if err != nil {
		t.Fatal(err)
	}
	m.Databases[0].Name = dst
	compareManifest(t, m, inspected)
	t.Logf("newest order: %d before the backup, %d in the dump, %d after", before, restored, after)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
