package mysql_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// A table that --ignore-table leaves out is out of the manifest too (even one the
// backup user may not read), so that a restore matches its manifest.
func TestIgnoredTable(t *testing.T) {
	my := testenv.MariaDB(t)
	src := newSource(t, my)
	my.Exec(t, src.db, `CREATE TABLE kept (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO kept SELECT seq FROM seq_1_to_10;
CREATE TABLE cache (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO cache SELECT seq FROM seq_1_to_10;`)
	// Only INSERT on cache: a manifest that counted it would fail. SELECT on mysql.proc:
	// the routines (none here) are checked too.
	my.Exec(t, "", fmt.Sprintf("REVOKE ALL PRIVILEGES ON `cadang\\_%%`.* FROM '%[1]s'@'%%'; GRANT SELECT, TRIGGER ON %[2]s.kept TO '%[1]s'@'%%'; GRANT INSERT ON %[2]s.cache TO '%[1]s'@'%%'; GRANT SHOW VIEW, TRIGGER, EVENT ON %[2]s.* TO '%[1]s'@'%%'; GRANT SELECT ON mysql.proc TO '%[1]s'@'%%';", src.user, src.db))
	cfg := src.config()
	cfg.DumpOptions = []string{"--ignore-table=" + src.db + ".cache"}
	tg := build(t, cfg)
	repo := targettest.NewRepo(t)
	res, snap := backup(t, repo, tg)
	m := manifest(t, res)
	if len(res.Notes) != 0 || len(m.Databases) != 1 || len(m.Databases[0].Tables) != 1 || m.Databases[0].Tables[0].Name != "kept" || m.Databases[0].Tables[0].Rows != 10 {
		t.Fatalf("manifest %+v, notes %v", m.Databases, res.Notes)
	}
	dst := testenv.Name("cadang_dst")
	my.DropDBAtCleanup(t, dst)
	admin := my.AdminURL(dst)
	if err := tg.Restore(context.Background(), repo.Reader(t, snap), targets.RestoreRequest{To: admin}); err != nil {
		t.Fatal(err)
	}
	if got := my.Query(t, "", "SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '"+dst+"'"); got != "kept" {
		t.Errorf("restored tables: %q", got)
	}
	inspected, err := tg.Inspect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	m.Databases[0].Name = dst
	compareManifest(t, m, inspected)
}
