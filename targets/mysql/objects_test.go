package mysql_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
)

// A stored procedure that the backup user may not read is not silently missing from a
// backup recorded as good (issue 13, point 2). With exactly the grants the README used to
// recommend, mariadb-dump --routines exits 0 without the procedure (and the user's
// catalog does not show it either): the run fails, naming the privilege. With the
// corrected grants the backup holds the procedure, the manifest counts every kind of
// object, and a drill compares the restored database's counts with them.
func TestRoutinesNeedTheirPrivilege(t *testing.T) {
	my := testenv.MariaDB(t)
	ctx := context.Background()
	db := my.CreateDB(t, "cadang_arsip")
	owner := my.CreateUser(t, "cadang_owner", "owner-secret")
	my.Exec(t, "", fmt.Sprintf("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%'", db, owner))
	my.Exec(t, db, fmt.Sprintf(`CREATE TABLE arsip (id INT PRIMARY KEY, judul VARCHAR(100)) ENGINE=InnoDB;
INSERT INTO arsip SELECT seq, CONCAT('arsip ', seq) FROM seq_1_to_100;
CREATE TABLE log_arsip (id INT AUTO_INCREMENT PRIMARY KEY, arsip INT) ENGINE=InnoDB;
CREATE DEFINER = '%[1]s'@'%%' PROCEDURE hitung_arsip() SELECT COUNT(*) FROM arsip;
CREATE DEFINER = '%[1]s'@'%%' FUNCTION judul_arsip(i INT) RETURNS VARCHAR(100) READS SQL DATA RETURN (SELECT judul FROM arsip WHERE id = i);
CREATE DEFINER = '%[1]s'@'%%' TRIGGER catat AFTER INSERT ON arsip FOR EACH ROW INSERT INTO log_arsip (arsip) VALUES (NEW.id);
CREATE DEFINER = '%[1]s'@'%%' EVENT bersih ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM log_arsip;
CREATE DEFINER = '%[1]s'@'%%' SQL SECURITY DEFINER VIEW v_arsip AS SELECT id, judul FROM arsip;`, owner))

	password := "pw-" + testenv.Name("backup")
	user := my.CreateUser(t, "cadang_backup", password)
	// The README's grants before issue 13.
	my.Exec(t, "", fmt.Sprintf("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `%s`.* TO '%s'@'%%'; GRANT RELOAD, PROCESS ON *.* TO '%s'@'%%';", db, user, user))
	tg := build(t, &mysql.Config{Host: my.Host, Port: my.Port, Database: db, User: user, PasswordFile: testenv.SecretFile(t, password)})
	repo := targettest.NewRepo(t)

	w := repo.Writer(t)
	_, err := tg.Backup(ctx, w)
	switch {
	case err == nil:
		t.Fatal("the backup without the routines succeeded")
	case !strings.Contains(err.Error(), "routine") || !strings.Contains(err.Error(), "SELECT ON mysql.proc") || strings.Contains(err.Error(), "\n"):
		t.Errorf("the error does not name what is missing and the privilege on one line: %v", err)
	default:
		t.Logf("refused: %v", err)
	}
	if w.Snapshot != "" && !w.Failed {
		t.Errorf("snapshot %s of the incomplete dump looks good", w.Snapshot)
	}

	// The corrected grants.
	my.Exec(t, "", fmt.Sprintf("GRANT SELECT ON mysql.proc TO '%s'@'%%'", user))
	res, snap := backup(t, repo, tg)
	m := manifest(t, res)
	want := map[string]int{"tables": 2, "views": 1, "routines": 2, "triggers": 1, "events": 1}
	if got := m.Databases[0].Objects; !reflect.DeepEqual(got, want) {
		t.Errorf("manifest objects: %v, want %v", got, want)
	}

	// A drill on another server restores them all and compares the counts.
	other := testenv.NewMariaDBServer(t)
	drill := func(manifest json.RawMessage) (msg.Message, error) {
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Manifest: manifest,
			Server: other.AdminURL(""), Log: slog.New(slog.DiscardHandler), Restored: func(int64) {}}
		var detail msg.Message
		env.Check = func(c targets.DrillCheck) {
			if strings.HasPrefix(c.Checked().String(), "tables against the manifest") {
				detail = c.Result()
			}
		}
		return detail, targettest.RunDrill(ctx, tg.DrillSteps(repo.Reader(t, snap), env))
	}
	detail, err := drill(res.Manifest)
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	if !strings.Contains(detail.String(), "2 routines, 1 trigger, 1 view") {
		t.Errorf("the drill's check does not show the object counts: %q", detail)
	}
	// In an Indonesian report, in Bahasa Indonesia (issue 13, point 23).
	if got := detail.In(msg.ID); !strings.Contains(got, "2 rutin tersimpan (prosedur dan fungsi), 1 pemicu (trigger), 1 tampilan (view)") {
		t.Errorf("the drill's check in Indonesian: %q", got)
	}
	t.Logf("drill: %s", detail)

	// A manifest that counted a routine more fails the drill, naming the kind.
	m.Databases[0].Objects["routines"]++
	tampered, _ := json.Marshal(m)
	_, err = drill(tampered)
	var failed *msg.Error
	if err == nil || !strings.Contains(err.Error(), "routines: 2 restored, 3 in the manifest") {
		t.Errorf("drill with a routine fewer than the manifest: %v", err)
	} else if !errors.As(err, &failed) || !strings.Contains(failed.Msg.In(msg.ID), "rutin tersimpan (prosedur dan fungsi): 2 dipulihkan, 3 dalam manifes") {
		t.Errorf("the drill's failure in Indonesian: %v", err)
	}
}

// Triggers of tables the backup user holds no TRIGGER privilege on are hidden from it and
// left out of the dump without an error: such a backup fails, naming the privilege
// (issue 13, point 2).
func TestTriggersNeedTheirPrivilege(t *testing.T) {
	my := testenv.MariaDB(t)
	db := my.CreateDB(t, "cadang_arsip")
	my.Exec(t, db, `CREATE TABLE arsip (id INT PRIMARY KEY) ENGINE=InnoDB; CREATE TABLE log_arsip (id INT) ENGINE=InnoDB;
CREATE TRIGGER catat AFTER INSERT ON arsip FOR EACH ROW INSERT INTO log_arsip VALUES (NEW.id);`)
	password := "pw-" + testenv.Name("backup")
	user := my.CreateUser(t, "cadang_backup", password)
	my.Exec(t, "", fmt.Sprintf("GRANT SELECT, SHOW VIEW, EVENT ON `%s`.* TO '%s'@'%%'; GRANT SELECT ON mysql.proc TO '%s'@'%%';", db, user, user))
	tg := build(t, &mysql.Config{Host: my.Host, Port: my.Port, Database: db, User: user, PasswordFile: testenv.SecretFile(t, password)})
	repo := targettest.NewRepo(t)
	_, err := tg.Backup(context.Background(), repo.Writer(t))
	if err == nil || !strings.Contains(err.Error(), "every trigger") || !strings.Contains(err.Error(), "TRIGGER on the database") {
		t.Errorf("backup without TRIGGER: %v", err)
	}
	my.Exec(t, "", fmt.Sprintf("GRANT TRIGGER ON `%s`.* TO '%s'@'%%'", db, user))
	res, _ := backup(t, repo, tg)
	if n := manifest(t, res).Databases[0].Objects["triggers"]; n != 1 {
		t.Errorf("manifest counts %d triggers, want 1", n)
	}
}
