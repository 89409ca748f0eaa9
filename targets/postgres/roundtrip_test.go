package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
	"github.com/cadang/cadang/targets/postgres"
)

// bigRows × 4 KiB of incompressible bytes: the large table of the round trip (200 MiB).
const bigRows = 51200

// schemaSQL builds the database the round trip protects, run as its owner: two schemas,
// bytea (a large incompressible table, stored uncompressed), jsonb, types without an
// extended hash (json, point, arrays, intervals: checksummed through their text),
// sequences, a view, functions, a trigger, comments and grants to another role.
const schemaSQL = `
CREATE SCHEMA klinik;
CREATE SCHEMA arsip;
CREATE TABLE klinik.pasien (
  id serial PRIMARY KEY, nama text NOT NULL, lahir date, data jsonb, foto bytea, dibuat timestamptz DEFAULT '2026-01-02 03:04:05+07',
  skor numeric(10,3), aktif bool, tinggi float8, kode uuid, catatan json, lokasi point, alergi text[], masa interval);
INSERT INTO klinik.pasien (nama, lahir, data, foto, skor, aktif, tinggi, kode, catatan, lokasi, alergi, masa)
SELECT 'Pasien ' || g || ' — Ñoño 数据 ü', date '1950-01-01' + g, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 7)),
  sha256(int4send(g)), g / 7.0, g % 2 = 0, 150 + g / 3.0, md5(g::text)::uuid, json_build_object('raw', g), point(g, -g),
  ARRAY['debu', 'obat-' || g], make_interval(days => g)
FROM generate_series(1, 3000) g;
CREATE SEQUENCE klinik.nomor_antrian;
SELECT setval('klinik.nomor_antrian', 42);
CREATE TABLE klinik.kunjungan (id bigserial PRIMARY KEY, pasien int NOT NULL REFERENCES klinik.pasien, waktu timestamp, keluhan text);
CREATE FUNCTION klinik.catat() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.keluhan := upper(NEW.keluhan); RETURN NEW; END $$;
CREATE TRIGGER catat BEFORE INSERT ON klinik.kunjungan FOR EACH ROW EXECUTE FUNCTION klinik.catat();
INSERT INTO klinik.kunjungan (pasien, waktu, keluhan) SELECT 1 + g % 3000, timestamp '2026-01-01' + g * interval '1 hour', 'demam ' || g FROM generate_series(1, 10000) g;
CREATE FUNCTION klinik.umur(lahir date) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT extract(year FROM age(date '2026-01-01', lahir))::int $$;
CREATE VIEW klinik.v_kunjungan AS SELECT p.nama, klinik.umur(p.lahir) AS umur, count(*) AS kali FROM klinik.pasien p JOIN klinik.kunjungan k ON k.pasien = p.id GROUP BY 1, 2;
COMMENT ON TABLE klinik.pasien IS 'data pasien';
CREATE TABLE arsip.dokumen (id int PRIMARY KEY, isi bytea NOT NULL);
ALTER TABLE arsip.dokumen ALTER COLUMN isi SET STORAGE EXTERNAL;
INSERT INTO arsip.dokumen SELECT g, (SELECT string_agg(sha256(int8send(g::bigint * 1000 + i)), '') FROM generate_series(1, 128) i)
FROM generate_series(1, BIGROWS) g;
CREATE TABLE arsip.kosong ();
`

// Round trip of a whole server (all: true) into a fresh server, then of one database
// into a new database: every table's rows (checksummed in order), sequences, views,
// functions, triggers, roles with their passwords, owners and grants come back, and the
// manifest recorded at backup time matches the restored databases.
func TestRoundTrip(t *testing.T) {
	a := testenv.NewPostgresCluster(t)
	b := testenv.NewPostgresCluster(t)
	ctx := context.Background()

	a.Exec(t, "postgres", `CREATE ROLE app_owner LOGIN PASSWORD 'owner-secret' CREATEDB;
CREATE ROLE app_reader NOLOGIN;
CREATE ROLE cadang_backup LOGIN SUPERUSER PASSWORD 'backup-secret';
CREATE DATABASE simpus OWNER app_owner;
CREATE DATABASE eoffice OWNER app_owner;`)
	a.Exec(t, "simpus", "SET ROLE app_owner;\n"+strings.ReplaceAll(schemaSQL, "BIGROWS", fmt.Sprint(bigRows))+
		"GRANT USAGE ON SCHEMA klinik TO app_reader; GRANT SELECT ON ALL TABLES IN SCHEMA klinik TO app_reader;")
	a.Exec(t, "eoffice", `SET ROLE app_owner; CREATE TABLE surat (id serial PRIMARY KEY, perihal text, isi jsonb);
INSERT INTO surat (perihal, isi) SELECT 'Surat ' || g, jsonb_build_object('no', g) FROM generate_series(1, 100) g;`)
	if size := a.Query(t, "simpus", "SELECT pg_total_relation_size('arsip.dokumen')"); len(size) < 9 {
		t.Fatalf("arsip.dokumen holds %s bytes, want at least 200 MB", size)
	}
	want := map[string]map[string]string{"simpus": tableState(t, a, "simpus"), "eoffice": tableState(t, a, "eoffice")}
	repo := targettest.NewRepo(t)

	t.Run("all databases into a new server", func(t *testing.T) {
		cfg := &postgres.Config{Host: a.Host, Port: a.Port, All: true, User: "cadang_backup",
			PasswordFile: testenv.SecretFile(t, "backup-secret"), RestoreJobs: 2}
		tg := build(t, cfg)
		res, snap := backup(t, repo, tg)
		m := manifest(t, res)
		if names := dbNames(m); !reflect.DeepEqual(names, []string{"eoffice", "postgres", "simpus"}) {
			t.Fatalf("manifest databases: %v", names)
		}
		if m.Globals != "globals.sql" || m.ServerVersion == "" || m.DumpBytes < 200<<20 {
			t.Errorf("manifest: globals %q, version %q, %d dump bytes", m.Globals, m.ServerVersion, m.DumpBytes)
		}

		// Into the fresh server B: roles from the globals, then each database.
		// As a fresh server's administrator, over its socket.
		to := b.AdminURL("")
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to}); err != nil {
			t.Fatalf("restore: %v", err)
		}
		for db, state := range want {
			if got := tableState(t, b, db); !reflect.DeepEqual(got, state) {
				t.Errorf("database %s after restore:\n got %v\nwant %v", db, got, state)
			}
		}
		checkObjects(t, b)
		for _, q := range []string{
			"SELECT rolpassword FROM pg_authid WHERE rolname = 'app_owner'",
			"SELECT rolcanlogin || ' ' || rolcreatedb || ' ' || rolsuper FROM pg_roles WHERE rolname IN ('app_owner', 'app_reader', 'cadang_backup') ORDER BY rolname",
			"SELECT datname || ' ' || pg_get_userbyid(datdba) || ' ' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname IN ('simpus', 'eoffice') ORDER BY 1",
		} {
			if got, w := b.Query(t, "postgres", q), a.Query(t, "postgres", q); got != w {
				t.Errorf("%s:\n got %q\nwant %q", q, got, w)
			}
		}
		// The manifest recorded at backup describes the restored server.
		restored, err := tg.Inspect(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		compareManifest(t, m, restored)

		// The same snapshot restored to a folder: the raw dumps, for pg_restore by hand.
		dir := filepath.Join(t.TempDir(), "dumps")
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: dir}); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for i := range files {
			files[i] = filepath.Base(files[i])
		}
		if w := []string{"cadang.json", "eoffice.pgc", "globals.sql", "manifest.json", "postgres.pgc", "simpus.pgc"}; !reflect.DeepEqual(files, w) {
			t.Errorf("restored folder holds %v, want %v", files, w)
		}
		if out, err := exec.Command("pg_restore", "-l", filepath.Join(dir, "simpus.pgc")).CombinedOutput(); err != nil || !strings.Contains(string(out), "TABLE DATA arsip dokumen") {
			t.Errorf("pg_restore -l of the restored dump: %v\n%.500s", err, out)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "globals.sql")); !strings.Contains(string(b), "CREATE ROLE app_reader;") {
			t.Errorf("globals.sql lacks the roles:\n%.500s", b)
		}
	})

	t.Run("one database into a new database", func(t *testing.T) {
		cfg := &postgres.Config{Host: a.Host, Port: a.Port, Database: "simpus", User: "app_owner",
			PasswordFile: testenv.SecretFile(t, "owner-secret")}
		tg := build(t, cfg)
		res, snap := backup(t, repo, tg)
		m := manifest(t, res)
		if len(m.Databases) != 1 || !m.Databases[0].Exact || m.Databases[0].File != "simpus.pgc" || m.Databases[0].DumpBytes < 200<<20 {
			t.Fatalf("manifest: %+v", m.Databases)
		}
		for _, tb := range m.Databases[0].Tables {
			if tb.QualifiedName() == "arsip.dokumen" && (tb.Rows != bigRows || tb.Checksum == "") {
				t.Errorf("manifest of arsip.dokumen: %+v", tb)
			}
		}
		for _, tag := range []string{"database=simpus", "encoding=UTF8", "server_version=" + strings.Fields(a.Query(t, "postgres", "SHOW server_version"))[0]} {
			if !contains(repo.Reader(t, snap).Snapshot().Tags, tag) {
				t.Errorf("snapshot tags %v lack %s", repo.Reader(t, snap).Snapshot().Tags, tag)
			}
		}
		to := fmt.Sprintf("postgres://%s:%d/simpus_copy", a.Host, a.Port)
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to}); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if got := tableState(t, a, "simpus_copy"); !reflect.DeepEqual(got, want["simpus"]) {
			t.Errorf("simpus_copy:\n got %v\nwant %v", got, want["simpus"])
		}
		restored, err := tg.Inspect(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		m.Databases[0].Name = "simpus_copy"
		compareManifest(t, m, restored)

		// Again into the same database: refused, it is not empty now.
		err = tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: to})
		if !errors.Is(err, targets.ErrDestinationNotEmpty) || !strings.Contains(err.Error(), `database "simpus_copy"`) {
			t.Errorf("restore into a database that holds data: %v", err)
		}

		// To a file: the raw custom-format dump.
		file := filepath.Join(t.TempDir(), "simpus.pgc")
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: file}); err != nil {
			t.Fatal(err)
		}
		if head, _ := os.ReadFile(file); !strings.HasPrefix(string(head[:5]), "PGDMP") || int64(len(head)) != m.DumpBytes {
			t.Errorf("restored file: %d bytes starting %q, want %d bytes of a custom-format dump", len(head), head[:5], m.DumpBytes)
		}
		if err := tg.Restore(ctx, repo.Reader(t, snap), targets.RestoreRequest{To: file}); !errors.Is(err, targets.ErrDestinationNotEmpty) {
			t.Errorf("restore over an existing file: %v", err)
		}
	})
}

// checkObjects checks that what is not table data came back on server p: owners,
// grants, the sequence, the view, the functions and the trigger.
func checkObjects(t *testing.T, p *testenv.PG) {
	t.Helper()
	for _, c := range []struct{ q, want string }{
		{"SELECT nextval('klinik.kunjungan_id_seq')", "10001"},
		{"SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname IN ('klinik', 'arsip')", "app_owner"},
		{"SELECT has_table_privilege('app_reader', 'klinik.pasien', 'SELECT')::text", "true"},
		{"SELECT has_table_privilege('app_reader', 'arsip.dokumen', 'SELECT')::text", "false"},
		{"SELECT nextval('klinik.nomor_antrian')", "43"},
		{"SELECT kali FROM klinik.v_kunjungan WHERE nama LIKE 'Pasien 7 %'", "4"},
		{"SELECT klinik.umur(date '2000-06-01')", "25"},
		{"BEGIN; INSERT INTO klinik.kunjungan (pasien, keluhan) VALUES (1, 'batuk') RETURNING keluhan; ROLLBACK;", "BATUK"},
		{"SELECT obj_description('klinik.pasien'::regclass)", "data pasien"},
	} {
		if got := p.Query(t, "simpus", c.q); got != c.want {
			t.Errorf("%s: got %q, want %q", c.q, got, c.want)
		}
	}
}

func build(t testing.TB, cfg *postgres.Config) *postgres.Target {
	t.Helper()
	cfg.Validate(func(field, msg string) { t.Fatalf("config: %s: %s", field, msg) })
	kind, _ := targets.Lookup("postgres")
	tg, err := kind.New(targets.Spec{Name: "test", Agency: "test", Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tg.(*postgres.Target)
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
	if m.Kind != "postgres" || m.ChecksumMethod == "" {
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

// compareManifest checks every database of want against got with dbdump.Compare, and
// that the comparison would see a difference.
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
		if len(w.Tables) == 0 && w.Name != "postgres" {
			t.Errorf("manifest of %s lists no tables", w.Name)
		}
		if diffs := dbdump.Compare(w.Tables, g.Tables); len(diffs) > 0 {
			t.Errorf("database %s differs from its manifest: %v", w.Name, diffs)
		}
		if len(g.Tables) > 0 {
			changed := append([]dbdump.Table(nil), g.Tables...)
			changed[0].Checksum += "0"
			if len(dbdump.Compare(g.Tables, changed)) != 1 {
				t.Errorf("Compare does not see a changed checksum")
			}
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
