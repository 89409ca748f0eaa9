package mysql_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

func TestContract(t *testing.T) {
	my := testenv.MariaDB(t)
	src := newSource(t, my)
	my.Exec(t, src.db, `CREATE TABLE patient (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, born DATE, photo VARBINARY(64)) ENGINE=InnoDB;
INSERT INTO patient (name, born, photo) SELECT CONCAT('pasien ', seq), DATE_ADD('1980-01-01', INTERVAL seq DAY), UNHEX(SHA2(seq, 256)) FROM seq_1_to_500;
CREATE TABLE visit (id BIGINT AUTO_INCREMENT PRIMARY KEY, patient INT, note JSON, FOREIGN KEY (patient) REFERENCES patient(id)) ENGINE=InnoDB;
INSERT INTO visit (patient, note) SELECT 1 + seq % 500, JSON_OBJECT('n', seq) FROM seq_1_to_2000;`)

	name := func(req targets.RestoreRequest) string { return strings.TrimPrefix(req.To, src.url("")) }
	targettest.Run(t, targettest.Case{
		Kind:   "mysql",
		Config: func(t *testing.T) any { return src.config() },
		State:  func(t *testing.T) any { return tableState(t, my, src.db) },
		Change: func(t *testing.T) {
			my.Exec(t, src.db, `INSERT INTO patient (name) VALUES ('baru'); UPDATE visit SET note = '{"changed": true}' WHERE id = 7;`)
		},
		Destination: func(t *testing.T) targets.RestoreRequest {
			db := testenv.Name("cadang_dst")
			my.DropDBAtCleanup(t, db)
			return targets.RestoreRequest{To: src.url(db)}
		},
		Restored: func(t *testing.T, req targets.RestoreRequest) any { return tableState(t, my, name(req)) },
		Occupy: func(t *testing.T, req targets.RestoreRequest) {
			my.Exec(t, "", fmt.Sprintf("CREATE DATABASE %s; CREATE TABLE %s.occupied (x INT); INSERT INTO %s.occupied VALUES (1);", name(req), name(req), name(req)))
		},
		Broken: func(t *testing.T) any {
			c := src.config()
			c.Database = "cadang_no_such_database"
			return c
		},
		DrillEnv: func(t *testing.T, env *targets.DrillEnv) {
			// The test has one server: the drill server is the target's own.
			env.Server, env.AllowProduction = src.url(""), true
			env.Checks = []string{"SELECT COUNT(*) >= 500 FROM patient", "SELECT NOT EXISTS (SELECT 1 FROM visit v LEFT JOIN patient p ON p.id = v.patient WHERE p.id IS NULL)"}
		},
		Leftovers: func(t *testing.T) []string {
			return strings.Fields(my.Query(t, "", "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'cadang_drill_contract%'"))
		},
	})
}
