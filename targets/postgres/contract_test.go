package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/postgres"
)

func TestContract(t *testing.T) {
	pg := testenv.Postgres(t)
	src := newSource(t, pg)
	src.exec(t, `CREATE TABLE patient (id serial PRIMARY KEY, name text NOT NULL, born date, photo bytea);
INSERT INTO patient (name, born, photo) SELECT 'pasien ' || g, date '1980-01-01' + g, sha256(int4send(g)) FROM generate_series(1, 500) g;
CREATE TABLE visit (id bigserial PRIMARY KEY, patient int REFERENCES patient, note jsonb);
INSERT INTO visit (patient, note) SELECT 1 + g % 500, jsonb_build_object('n', g) FROM generate_series(1, 2000) g;`)

	targettest.Run(t, targettest.Case{
		Kind:   "postgres",
		Config: func(t *testing.T) any { return src.config() },
		State:  func(t *testing.T) any { return tableState(t, pg, src.db) },
		Change: func(t *testing.T) {
			src.exec(t, `INSERT INTO patient (name) VALUES ('baru'); UPDATE visit SET note = '{"changed": true}' WHERE id = 7;`)
		},
		Destination: func(t *testing.T) targets.RestoreRequest {
			name := testenv.Name("cadang_dst")
			pg.DropDBAtCleanup(t, name)
			return targets.RestoreRequest{To: src.url(name)}
		},
		Restored: func(t *testing.T, req targets.RestoreRequest) any {
			return tableState(t, pg, req.To[len(src.url("")):])
		},
		Occupy: func(t *testing.T, req targets.RestoreRequest) {
			name := req.To[len(src.url("")):]
			pg.Exec(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", name, src.role))
			pg.Exec(t, name, "SET ROLE "+src.role+"; CREATE TABLE occupied (x int); INSERT INTO occupied VALUES (1);")
		},
		Broken: func(t *testing.T) any {
			c := src.config()
			c.Database = "no_such_database"
			return c
		},
		DrillEnv: func(t *testing.T, env *targets.DrillEnv) {
			// The test has one server: the drill server is the target's own.
			env.Server, env.AllowProduction = src.url(""), true
			env.Checks = []string{"SELECT count(*) >= 500 FROM patient", "SELECT NOT EXISTS (SELECT 1 FROM visit v LEFT JOIN patient p ON p.id = v.patient WHERE p.id IS NULL)"}
		},
		Leftovers: func(t *testing.T) []string {
			return strings.Fields(pg.Query(t, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'cadang_drill_contract%'"))
		},
	})
	_ = postgres.DefaultPort
}
