package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// A role that is not a superuser restores into a server without the dumped roles with
// the restore options no_owner and no_privileges (issue 13, point 19); without them
// the restore fails on the first owner.
func TestRestoreAsNonSuperuser(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	src := newSource(t, pg)
	reader := pg.CreateRole(t, "cadang_reader", "x", "")
	src.exec(t, `CREATE TABLE pasien (id int PRIMARY KEY); INSERT INTO pasien SELECT generate_series(1, 10);
CREATE VIEW v_pasien AS SELECT id FROM pasien; GRANT SELECT ON pasien TO `+reader+`;`)
	tg := build(t, src.config())
	repo := targettest.NewRepo(t)
	_, snap := backup(t, repo, tg)

	other := testenv.NewPostgresCluster(t)
	other.Exec(t, "postgres", "CREATE ROLE restorer LOGIN CREATEDB PASSWORD 'restore-secret'")
	to := func(name string) string {
		return fmt.Sprintf("postgres://restorer@127.0.0.1:%d/%s?password_file=%s", other.Port, name, testenv.SecretFile(t, "restore-secret"))
	}
	err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to("plain")})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("restore with the owners as a plain role: %v, want a missing role", err)
	}
	req := targets.RestoreRequest{To: to("noowner"), Options: map[string]string{"no_owner": "true", "no_privileges": ""}}
	if err := tg.Restore(ctx, repo.Reader(t, snap), req); err != nil {
		t.Fatalf("restore with no_owner, no_privileges: %v", err)
	}
	if got := other.Query(t, "noowner", "SELECT string_agg(pg_get_userbyid(relowner), ' ' ORDER BY relname) || ' ' || count(*) FROM pg_class WHERE relname IN ('pasien', 'v_pasien')"); got != "restorer restorer 2" {
		t.Errorf("owners after the restore: %q", got)
	}
	for _, bad := range []map[string]string{{"no_owner": "maybe"}, {"definer": "drop"}, {"role": ""}} {
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to("bad"), Options: bad}); err == nil {
			t.Errorf("options %v were accepted", bad)
		}
	}
}
