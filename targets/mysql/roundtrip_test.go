package mysql_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
	"github.com/cadang/cadang/targets/mysql"
)

// bigRows × 4 KiB of incompressible bytes: the large table of the round trip (200 MiB).
const bigRows = 51200

// schemaSQL builds the database the round trip protects: InnoDB tables with a foreign
// key, utf8mb4 text (accents, CJK, emoji), binary and JSON columns, a large
// incompressible table, a trigger, a procedure, a function, an event and a view, all
// defined by the application's user.
const schemaSQL = `
CREATE TABLE pasien (id INT AUTO_INCREMENT PRIMARY KEY, nama VARCHAR(200) NOT NULL, lahir DATE, foto VARBINARY(64),
  data JSON, skor DECIMAL(10,3), tinggi DOUBLE, dibuat TIMESTAMP NOT NULL DEFAULT '2026-01-02 03:04:05', catatan TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO pasien (nama, lahir, foto, data, skor, tinggi, catatan)
SELECT CONCAT('Pasien ', seq, ' — Ñoño 数据 ü 🏥'), DATE_ADD('1950-01-01', INTERVAL seq DAY), UNHEX(SHA2(seq, 256)),
  JSON_OBJECT('g', seq, 'tags', JSON_ARRAY('a', seq % 7)), seq / 7, 150 + seq / 3, IF(seq % 5 = 0, NULL, REPEAT('catatan ', seq % 20))
FROM seq_1_to_3000;
CREATE TABLE kunjungan (id BIGINT AUTO_INCREMENT PRIMARY KEY, pasien INT NOT NULL, waktu DATETIME(6), keluhan VARCHAR(100),
  FOREIGN KEY (pasien) REFERENCES pasien (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE DEFINER = 'OWNER'@'%' TRIGGER catat BEFORE INSERT ON kunjungan FOR EACH ROW SET NEW.keluhan = UPPER(NEW.keluhan);
INSERT INTO kunjungan (pasien, waktu, keluhan) SELECT 1 + seq % 3000, TIMESTAMPADD(MICROSECOND, seq * 1234567, '2026-01-01'), CONCAT('demam ', seq) FROM seq_1_to_10000;
CREATE DEFINER = 'OWNER'@'%' FUNCTION umur(lahir DATE) RETURNS INT DETERMINISTIC RETURN TIMESTAMPDIFF(YEAR, lahir, '2026-01-01');
CREATE DEFINER = 'OWNER'@'%' PROCEDURE kunjungan_pasien(IN p INT) SELECT COUNT(*) FROM kunjungan WHERE pasien = p;
CREATE DEFINER = 'OWNER'@'%' EVENT bersih ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM kunjungan WHERE waktu < '2000-01-01';
CREATE DEFINER = 'OWNER'@'%' SQL SECURITY DEFINER VIEW v_kunjungan AS SELECT p.nama, umur(p.lahir) AS umur, COUNT(*) AS kali FROM pasien p JOIN kunjungan k ON k.pasien = p.id GROUP BY p.id;
CREATE TABLE dokumen (id INT PRIMARY KEY, isi LONGBLOB NOT NULL) ENGINE=InnoDB;
INSERT INTO dokumen SELECT seq, CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024)) FROM seq_1_to_BIGROWS;
CREATE TABLE kosong (x INT) ENGINE=InnoDB;
`

// Round trip of a whole server (all: true) into a fresh server, then of one database
// into a new database: every table's rows (checksummed in order), the trigger, routines,
// event and view, and the accounts with their grants come back, and the manifest recorded
// at backup time matches the restored databases.
func TestRoundTrip(t *testing.T) {
	a := testenv.NewMariaDBServer(t)
	b := testenv.NewMariaDBServer(t)
	ctx := context.Background()

	a.Exec(t, "", `CREATE USER app_owner@'%' IDENTIFIED BY 'owner-secret';
CREATE USER cadang_backup@'%' IDENTIFIED BY 'backup-secret';
GRANT ALL PRIVILEGES ON *.* TO cadang_backup@'%';
CREATE DATABASE simpus CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE eoffice CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
GRANT ALL PRIVILEGES ON simpus.* TO app_owner@'%';
GRANT ALL PRIVILEGES ON eoffice.* TO app_owner@'%';
GRANT ALL PRIVILEGES ON simpus_copy.* TO app_owner@'%';
GRANT RELOAD ON *.* TO app_owner@'%';`)
	a.Exec(t, "simpus", strings.NewReplacer("OWNER", "app_owner", "BIGROWS", fmt.Sprint(bigRows)).Replace(schemaSQL))
	a.Exec(t, "eoffice", `CREATE TABLE surat (id INT AUTO_INCREMENT PRIMARY KEY, perihal VARCHAR(100), isi JSON);
INSERT INTO surat (perihal, isi) SELECT CONCAT('Surat ', seq), JSON_OBJECT('no', seq) FROM seq_1_to_100;`)
	want := map[string]map[string]string{"simpus": tableState(t, a, "simpus"), "eoffice": tableState(t, a, "eoffice")}
	if len(want["simpus"]) != 9 {
		t.Fatalf("source state: %v", want["simpus"])
	}
	repo := targettest.NewRepo(t)

	t.Run("all databases into a new server", func(t *testing.T) {
		cfg := &mysql.Config{Host: a.Host, Port: a.Port, All: true, User: "cadang_backup", PasswordFile: testenv.SecretFile(t, "backup-secret")}
		tg := build(t, cfg)
		res, snap := backup(t, repo, tg)
		m := manifest(t, res)
		if names := dbNames(m); !reflect.DeepEqual(names, []string{"eoffice", "simpus"}) {
			t.Fatalf("manifest databases: %v", names)
		}
		if m.Globals != "users.sql" || m.DumpBytes < 200<<20 || !m.Databases[0].Exact {
			t.Errorf("manifest: globals %q, %d dump bytes, exact %v (%s)", m.Globals, m.DumpBytes, m.Databases[0].Exact, m.Databases[0].Note)
		}
		to := b.AdminURL("")
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to}); err != nil {
			t.Fatalf("restore: %v", err)
		}
		for db, state := range want {
			if got := tableState(t, b, db); !reflect.DeepEqual(got, state) {
				t.Errorf("database %s after restore:\n got %v\nwant %v", db, got, state)
			}
		}
		for _, q := range []string{
			"SHOW GRANTS FOR app_owner@'%'",
			"SELECT CONCAT(SCHEMA_NAME, ' ', DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('simpus', 'eoffice') ORDER BY 1",
		} {
			if got, w := b.Query(t, "", q), a.Query(t, "", q); got != w {
				t.Errorf("%s:\n got %q\nwant %q", q, got, w)
			}
		}
		checkObjects(t, b, "simpus")
		restored, err := tg.Inspect(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		compareManifest(t, m, restored)

		dir := filepath.Join(t.TempDir(), "dumps")
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: dir}); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for i := range files {
			files[i] = filepath.Base(files[i])
		}
		if w := []string{"cadang.json", "databases.sql", "manifest.json", "users.sql"}; !reflect.DeepEqual(files, w) {
			t.Errorf("restored folder holds %v, want %v", files, w)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "users.sql")); !strings.Contains(string(b), "CREATE USER IF NOT EXISTS `app_owner`@`%`") {
			t.Errorf("users.sql lacks the accounts:\n%.800s", b)
		}
	})

	t.Run("one database into a new database", func(t *testing.T) {
		cfg := &mysql.Config{Host: a.Host, Port: a.Port, Database: "simpus", User: "app_owner", PasswordFile: testenv.SecretFile(t, "owner-secret")}
		tg := build(t, cfg)
		res, snap := backup(t, repo, tg)
		m := manifest(t, res)
		if len(m.Databases) != 1 || !m.Databases[0].Exact || m.Databases[0].File != "simpus.sql" || m.DumpBytes < 200<<20 {
			t.Fatalf("manifest: %+v", m.Databases)
		}
		tags := repo.Reader(t, snap).Snapshot().Tags
		for _, tag := range []string{"database=simpus", "charset=utf8mb4", "collation=utf8mb4_unicode_ci", "server_version=mariadb-" + strings.Split(a.Query(t, "", "SELECT VERSION()"), "-")[0]} {
			if !contains(tags, tag) {
				t.Errorf("snapshot tags %v lack %s", tags, tag)
			}
		}
		to := fmt.Sprintf("mysql://%s:%d/simpus_copy", a.Host, a.Port)
		a.DropDBAtCleanup(t, "simpus_copy")
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to}); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if got := tableState(t, a, "simpus_copy"); !reflect.DeepEqual(got, want["simpus"]) {
			t.Errorf("simpus_copy:\n got %v\nwant %v", got, want["simpus"])
		}
		checkObjects(t, a, "simpus_copy")
		restored, err := tg.Inspect(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		m.Databases[0].Name = "simpus_copy"
		compareManifest(t, m, restored)

		err = tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to})
		if !errors.Is(err, targets.ErrDestinationNotEmpty) || !strings.Contains(err.Error(), `database "simpus_copy"`) {
			t.Errorf("restore into a database that holds data: %v", err)
		}
		file := filepath.Join(t.TempDir(), "simpus.sql")
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: file}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(file); int64(len(b)) != m.DumpBytes || !strings.Contains(string(b), "CREATE TABLE `pasien`") {
			t.Errorf("restored file: %d bytes, want %d bytes of SQL", len(b), m.DumpBytes)
		}
	})
}

// checkObjects checks the trigger, routines, event and view of a restored database.
func checkObjects(t *testing.T, my *testenv.My, db string) {
	t.Helper()
	for _, c := range []struct{ q, want string }{
		{"SELECT umur('2000-06-01')", "25"},
		{"CALL kunjungan_pasien(7)", "4"},
		{"SELECT kali FROM v_kunjungan WHERE nama LIKE 'Pasien 7 %'", "4"},
		{"SELECT CONCAT(EVENT_NAME, ' ', STATUS, ' ', DEFINER) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()", "bersih DISABLED app_owner@%"},
		{"BEGIN; INSERT INTO kunjungan (pasien, keluhan) VALUES (1, 'batuk'); SELECT keluhan FROM kunjungan ORDER BY id DESC LIMIT 1; ROLLBACK;", "BATUK"},
		{"SELECT nama FROM pasien WHERE id = 1", "Pasien 1 — Ñoño 数据 ü 🏥"},
	} {
		if got := my.Query(t, db, c.q); got != c.want {
			t.Errorf("%s: %s: got %q, want %q", db, c.q, got, c.want)
		}
	}
}

func build(t *testing.T, cfg *mysql.Config) *mysql.Target {
	t.Helper()
	cfg.Validate(func(field, msg string) { t.Fatalf("config: %s: %s", field, msg) })
	kind, _ := targets.Lookup("mysql")
	tg, err := kind.New(targets.Spec{Name: "test", Agency: "test", Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return tg.(*mysql.Target)
}

func backup(t *testing.T, repo *targettest.Repo, tg targets.Target) (*targets.BackupResult, string) {
	t.Helper()
	w := repo.Writer(t)
	res, err := tg.Backup(context.Background(), w)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if w.Calls != 1 || w.Snapshot == "" || res == nil {
		t.Fatalf("backup wrote %d snapshots (%q), result %v", w.Calls, w.Snapshot, res)
	}
	return res, w.Snapshot
}

func manifest(t *testing.T, res *targets.BackupResult) *dbdump.Manifest {
	t.Helper()
	var m dbdump.Manifest
	if err := json.Unmarshal(res.Manifest, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, res.Manifest)
	}
	if m.Kind != "mysql" || m.ChecksumMethod == "" {
		t.Errorf("manifest: kind %q, checksum method %q", m.Kind, m.ChecksumMethod)
	}
	return &m
}

func dbNames(m *dbdump.Manifest) []string {
	var names []string
	for _, d := range m.Databases {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return names
}

// compareManifest checks every database of want against got with dbdump.Compare.
func compareManifest(t *testing.T, want, got *dbdump.Manifest) {
	t.Helper()
	index := map[string]dbdump.Database{}
	for _, d := range got.Databases {
		index[d.Name] = d
	}
	for _, w := range want.Databases {
		g, ok := index[w.Name]
		if !ok {
			t.Errorf("database %s is missing after restore", w.Name)
			continue
		}
		if len(w.Tables) == 0 {
			t.Errorf("manifest of %s lists no tables", w.Name)
		}
		for _, tb := range w.Tables {
			if tb.Checksum == "" && tb.Rows > 0 {
				t.Errorf("manifest of %s: table %s has no checksum", w.Name, tb.Name)
			}
		}
		if diffs := dbdump.Compare(w.Tables, g.Tables); len(diffs) > 0 {
			t.Errorf("database %s differs from its manifest: %v", w.Name, diffs)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
