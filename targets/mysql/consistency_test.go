package mysql_test

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
// splits a transaction (the dump sets FOREIGN_KEY_CHECKS=0 on restore, so the queries
// below are what would see it), and the manifest, taken in a snapshot started together
// with the dump's while commits were held back, matches the restored database exactly
// although the source kept changing.
func TestConsistentUnderConcurrentWrites(t *testing.T) {
	my := testenv.MariaDB(t)
	src := newSource(t, my)
	my.Exec(t, src.db, `CREATE TABLE pesanan (id BIGINT AUTO_INCREMENT PRIMARY KEY, dibuat DATETIME(6) DEFAULT NOW(6)) ENGINE=InnoDB;
CREATE TABLE baris (id BIGINT AUTO_INCREMENT PRIMARY KEY, pesanan BIGINT NOT NULL, jumlah INT,
  FOREIGN KEY (pesanan) REFERENCES pesanan (id) ON DELETE CASCADE) ENGINE=InnoDB;
CREATE TABLE pengisi (id INT PRIMARY KEY, isi BLOB) ENGINE=InnoDB;
INSERT INTO pengisi SELECT seq, CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024)) FROM seq_1_to_10000;`)

	ctx, stop := context.WithCancel(context.Background())
	w := exec.CommandContext(ctx, "mariadb", "--protocol=socket", "-S", my.Socket, "--database="+src.db)
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
			tx := `START TRANSACTION; INSERT INTO pesanan () VALUES (); SET @p = LAST_INSERT_ID();
INSERT INTO baris (pesanan, jumlah) VALUES (@p, 1), (@p, 2), (@p, 3);
DELETE FROM pesanan WHERE ` + fmt.Sprint(i%3 == 0) + ` ORDER BY id LIMIT 1; COMMIT;` + "\n"
			if _, err := io.WriteString(in, tx); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); <-writerDone; in.Close(); _ = w.Wait() })
	maxID := func(db string) int {
		n, _ := strconv.Atoi(my.Query(t, db, "SELECT COALESCE(MAX(id), 0) FROM pesanan"))
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for maxID(src.db) < 50 {
		if time.Now().After(deadline) {
			t.Fatal("the writer does not write")
		}
		time.Sleep(50 * time.Millisecond)
	}

	repo := targettest.NewRepo(t)
	tg := build(t, src.config())
	before := maxID(src.db)
	res, snap := backup(t, repo, tg)
	after := maxID(src.db)
	stop()
	<-writerDone

	dst := testenv.Name("cadang_dst")
	my.DropDBAtCleanup(t, dst)
	if err := tg.Restore(context.Background(), repo.Reader(t, snap), targets.RestoreRequest{To: src.url(dst)}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	restored := maxID(dst)
	if !(before < restored && restored < after) {
		t.Fatalf("the writer did not write during the dump: newest order %d before the backup, %d in the dump, %d after", before, restored, after)
	}
	for q, want := range map[string]string{
		"SELECT COUNT(*) FROM baris b LEFT JOIN pesanan p ON p.id = b.pesanan WHERE p.id IS NULL":         "0",
		"SELECT COUNT(*) FROM pesanan p WHERE (SELECT COUNT(*) FROM baris b WHERE b.pesanan = p.id) <> 3": "0",
	} {
		if got := my.Query(t, dst, q); got != want {
			t.Errorf("restored database: %s: %s, want %s", q, got, want)
		}
	}
	m := manifest(t, res)
	if !m.Databases[0].Exact {
		t.Fatalf("the manifest is not exact: %s", m.Databases[0].Note)
	}
	inspected, err := tg.Inspect(context.Background(), src.url(dst))
	if err != nil {
		t.Fatal(err)
	}
	m.Databases[0].Name = dst
	compareManifest(t, m, inspected)
	t.Logf("newest order: %d before the backup, %d in the dump, %d after", before, restored, after)
}
