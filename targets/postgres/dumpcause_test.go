package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
)

// A dump whose server connection is terminated midway fails with the cause on one line
// ("server closed the connection unexpectedly", "terminating connection due to
// administrator command"), not only pg_dump's first line (issue 13, point 12).
func TestDumpTerminatedMidwayKeepsCause(t *testing.T) {
	pg := testenv.Postgres(t)
	src := newSource(t, pg)
	src.exec(t, "CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 100000) g;")
	w := &targettest.PausingWriter{T: t}
	w.During = func() {
		// pg_dump waits on its full pipe in the middle of its COPY: end its backend.
		deadline := time.Now().Add(30 * time.Second)
		for {
			n := pg.Query(t, "postgres", fmt.Sprintf(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = '%s' AND application_name = 'cadang pg_dump' AND query LIKE 'COPY%%'`, src.db))
			if n == "1" {
				return
			}
			if time.Now().After(deadline) {
				t.Error("pg_dump's COPY never showed in pg_stat_activity")
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	_, err := build(t, src.config()).Backup(context.Background(), w)
	if err == nil {
		t.Fatal("a dump whose connection was terminated succeeded")
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if !strings.Contains(msg, `Dumping the contents of table "bulk" failed`) {
		t.Errorf("the error does not say what failed: %s", msg)
	}
	// The cause depends on the moment and the connection (over SSL the lost connection
	// shows as an SSL error): any of them, as the server or libpq said it.
	cause := false
	for _, c := range []string{"server closed the connection unexpectedly", "terminating connection due to administrator command", "SSL SYSCALL error: EOF detected"} {
		cause = cause || strings.Contains(msg, c)
	}
	if !cause {
		t.Errorf("the error lost the cause: %s", msg)
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "Command was") || strings.Contains(msg, src.password) {
		t.Errorf("the error is not one clean line: %q", msg)
	}
}
