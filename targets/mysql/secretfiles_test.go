package mysql_test

import (
	"context"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
)

// No file holding the database password exists while a dump streams, nor after it: the
// password reaches the tools in memory only (issue 13, point 6).
func TestNoPasswordFileWhileDumping(t *testing.T) {
	my := testenv.MariaDB(t)
	src := newSource(t, my)
	my.Exec(t, src.db, "CREATE TABLE bulk (id INT PRIMARY KEY, pad VARCHAR(100)) ENGINE=InnoDB; INSERT INTO bulk SELECT seq, REPEAT(MD5(seq), 2) FROM seq_1_to_50000;")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	needle := src.password[:15] // "pw-x_" and random hex: as written in any file format
	w := &targettest.PausingWriter{T: t}
	scratch, _ := w.Scratch()
	var during []string
	w.During = func() { during = targettest.FilesHolding(t, needle, scratch, tmp) }
	if _, err := build(t, src.config()).Backup(context.Background(), w); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if w.Bytes < 2<<20 {
		t.Fatalf("the dump has %d bytes: too small to be paused midway", w.Bytes)
	}
	if len(during) > 0 {
		t.Errorf("while the dump streamed, files held the password: %v", during)
	}
	if after := targettest.FilesHolding(t, needle, scratch, tmp); len(after) > 0 {
		t.Errorf("after the backup, files hold the password: %v", after)
	}
}
