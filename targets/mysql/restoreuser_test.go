package mysql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
)

// A user without SUPER or SET USER restores views, routines, triggers and events with
// the restore option definer=drop: they are then defined by that user (issue 13,
// point 19). Without it the restore fails on the first DEFINER.
func TestRestoreAsNonSuperuser(t *testing.T) {
	my := testenv.MariaDB(t)
	ctx := context.Background()
	db := my.CreateDB(t, "cadang_arsip")
	owner := my.CreateUser(t, "cadang_owner", "owner-secret")
	my.Exec(t, "", fmt.Sprintf("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%'", db, owner))
	my.Exec(t, db, fmt.Sprintf(`CREATE TABLE arsip (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO arsip SELECT seq FROM seq_1_to_10;
CREATE DEFINER = '%[1]s'@'%%' PROCEDURE hitung() SELECT COUNT(*) FROM arsip;
CREATE DEFINER = '%[1]s'@'%%' VIEW v_arsip AS SELECT id FROM arsip;`, owner))
	password := "pw-" + testenv.Name("backup")
	user := my.CreateUser(t, "cadang_backup", password)
	my.Exec(t, "", fmt.Sprintf("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `%s`.* TO '%s'@'%%'; GRANT SELECT ON mysql.proc TO '%s'@'%%';", db, user, user))
	tg := build(t, &mysql.Config{Host: my.Host, Port: my.Port, Database: db, User: user, PasswordFile: testenv.SecretFile(t, password)})
	repo := targettest.NewRepo(t)
	_, snap := backup(t, repo, tg)

	other := testenv.NewMariaDBServer(t)
	other.Exec(t, "", "CREATE USER restorer@'%' IDENTIFIED BY 'restore-secret'; GRANT ALL PRIVILEGES ON `cadang\\_%`.* TO restorer@'%';")
	to := func(name string) string {
		return fmt.Sprintf("mysql://restorer@127.0.0.1:%d/%s?password_file=%s", other.Port, name, testenv.SecretFile(t, "restore-secret"))
	}
	err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to("cadang_plain")})
	if err == nil || !strings.Contains(err.Error(), "SUPER") {
		t.Errorf("restore with the definers as a plain user: %v, want the missing privilege", err)
	}
	req := targets.RestoreRequest{To: to("cadang_nodefiner"), Options: map[string]string{"definer": "drop"}}
	if err := tg.Restore(ctx, repo.Reader(t, snap), req); err != nil {
		t.Fatalf("restore with definer=drop: %v", err)
	}
	got := other.Query(t, "", "SELECT CONCAT((SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'cadang_nodefiner'), ' ', (SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'cadang_nodefiner'))")
	if got != "restorer@% restorer@%" {
		t.Errorf("definers after the restore: %q", got)
	}
	if n := other.Query(t, "cadang_nodefiner", "CALL hitung()"); n != "10" {
		t.Errorf("CALL hitung() = %q", n)
	}
	for _, bad := range []map[string]string{{"definer": "keep"}, {"no_owner": ""}} {
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to("cadang_bad"), Options: bad}); err == nil {
			t.Errorf("options %v were accepted", bad)
		}
	}
}
