package postgres_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/postgres"
)

// source is a database of a test with its own password role, which owns it and may
// create databases (restores create theirs).
type source struct {
	pg       *testenv.PG
	db       string
	role     string
	password string
	passFile string
}

func newSource(t *testing.T, pg *testenv.PG) *source {
	t.Helper()
	s := &source{pg: pg, password: "pw-" + testenv.Name("x") + `:with\odd'chars`}
	s.role = pg.CreateRole(t, "cadang_role", strings.ReplaceAll(s.password, "'", "''"), "CREATEDB")
	s.db = testenv.Name("cadang_src")
	pg.Exec(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", s.db, s.role))
	pg.DropDBAtCleanup(t, s.db)
	s.passFile = testenv.SecretFile(t, s.password)
	return s
}

// exec runs SQL in the source database as its role.
func (s *source) exec(t *testing.T, sql string) {
	t.Helper()
	s.pg.Exec(t, s.db, "SET ROLE "+s.role+";\n"+sql)
}

func (s *source) config() *postgres.Config {
	return &postgres.Config{Host: s.pg.Host, Port: s.pg.Port, Database: s.db, User: s.role, PasswordFile: s.passFile}
}

func (s *source) url(db string) string {
	return fmt.Sprintf("postgres://%s:%d/%s", s.pg.Host, s.pg.Port, db)
}

// tableState is, per table of the database (schema.name), its row count and an md5 of
// its rows in order (of each row's md5: a sort of short strings, not of the rows), and
// per sequence its state: what a restore must give back.
func tableState(t *testing.T, pg *testenv.PG, db string) map[string]string {
	t.Helper()
	rels := pg.Query(t, db, `SELECT c.relkind::text || ' ' || format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'S') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%' ORDER BY 1`)
	state := map[string]string{}
	for _, line := range strings.Split(rels, "\n") {
		if line == "" {
			continue
		}
		kind, rel, _ := strings.Cut(line, " ")
		q := "SELECT count(*) || ' ' || md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM " + rel + " t"
		if kind == "S" {
			q = "SELECT last_value || ' ' || is_called FROM " + rel
		}
		state[rel] = pg.Query(t, db, "SET extra_float_digits = 3; SET TimeZone = 'UTC';\n"+q)
	}
	return state
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
