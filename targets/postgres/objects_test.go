package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
)

// The manifest counts the database's schema objects (tables, views, sequences,
// functions, extensions, triggers) from the catalog, in the dump's snapshot, and checks
// that the dump holds each (issue 13, point 2): a dump that lacks one fails, naming it;
// a drill compares the restored database's counts with the manifest's. A partition's
// copy of its parent's trigger is not an object of its own.
func TestSchemaObjectsCounted(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	src := newSource(t, pg)
	src.exec(t, `CREATE EXTENSION pgcrypto; CREATE EXTENSION citext;
CREATE SCHEMA klinik;
CREATE TABLE klinik.pasien (id serial PRIMARY KEY, nama citext NOT NULL, lahir date);
INSERT INTO klinik.pasien (nama, lahir) SELECT 'pasien ' || g, date '1980-01-01' + g FROM generate_series(1, 50) g;
CREATE TABLE klinik.log (id bigint GENERATED ALWAYS AS IDENTITY, pasien int, waktu timestamptz DEFAULT now());
CREATE SEQUENCE klinik.nomor_antrian;
CREATE FUNCTION klinik.umur(d date) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT extract(year FROM age(date ''2026-01-01'', d))::int';
CREATE PROCEDURE klinik.bersihkan() LANGUAGE sql AS 'DELETE FROM klinik.log WHERE false';
CREATE FUNCTION klinik.catat() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO klinik.log (pasien) VALUES (NEW.id); RETURN NEW; END$$;
CREATE TRIGGER catat AFTER INSERT ON klinik.pasien FOR EACH ROW EXECUTE FUNCTION klinik.catat();
CREATE VIEW klinik.v_umur AS SELECT nama, klinik.umur(lahir) AS umur FROM klinik.pasien;
CREATE MATERIALIZED VIEW klinik.mv_jumlah AS SELECT count(*) AS n FROM klinik.pasien;
CREATE TABLE klinik.kunjungan (id int, tanggal date) PARTITION BY RANGE (tanggal);
CREATE TABLE klinik.kunjungan_2026 PARTITION OF klinik.kunjungan FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TRIGGER catat_kunjungan AFTER INSERT ON klinik.kunjungan FOR EACH ROW EXECUTE FUNCTION klinik.catat();`)
	repo := targettest.NewRepo(t)

	// A dump that leaves an object out fails, naming it: here --extension (dump only the
	// extensions named) drops citext.
	cfg := src.config()
	cfg.DumpOptions = []string{"--extension=pgcrypto"}
	w := repo.Writer(t)
	_, err := build(t, cfg).Backup(ctx, w)
	if err == nil || !strings.Contains(err.Error(), "extension citext is in the server's catalog but not in the dump") || strings.Contains(err.Error(), "\n") {
		t.Errorf("a dump without citext: %v", err)
	} else {
		t.Logf("refused: %v", err)
	}
	if w.Snapshot != "" && !w.Failed {
		t.Errorf("snapshot %s of the incomplete dump looks good", w.Snapshot)
	}

	tg := build(t, src.config())
	res, snap := backup(t, repo, tg)
	m := manifest(t, res)
	want := map[string]int{"tables": 4, "views": 2, "sequences": 3, "functions": 3, "extensions": 2, "triggers": 2}
	if got := m.Databases[0].Objects; !reflect.DeepEqual(got, want) {
		t.Errorf("manifest objects: %v, want %v", got, want)
	}

	other := testenv.NewPostgresCluster(t)
	other.Exec(t, "postgres", "CREATE ROLE "+src.role)
	drill := func(manifest json.RawMessage) (msg.Message, error) {
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: testenv.Name("cadang_drill"), Manifest: manifest,
			Server: other.AdminURL(""), Log: testLogger(t), Restored: func(int64) {}}
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
	if !strings.Contains(detail.String(), "2 extensions, 3 functions, 3 sequences, 2 triggers, 2 views") {
		t.Errorf("the drill's check does not show the object counts: %q", detail)
	}
	// In an Indonesian report, in Bahasa Indonesia (issue 13, point 23).
	if got := detail.In(msg.ID); !strings.Contains(got, "objek skema sesuai catatan: 2 ekstensi, 3 fungsi, 3 sekuens (sequence), 2 pemicu (trigger), 2 tampilan (view)") {
		t.Errorf("the drill's check in Indonesian: %q", got)
	}
	t.Logf("drill: %s", detail)

	m.Databases[0].Objects["functions"]++
	tampered, _ := json.Marshal(m)
	_, err = drill(tampered)
	var failed *msg.Error
	if err == nil || !strings.Contains(err.Error(), "functions: 3 restored, 4 in the manifest") {
		t.Errorf("drill with a function fewer than the manifest: %v", err)
	} else if !errors.As(err, &failed) || !strings.Contains(failed.Msg.In(msg.ID), "fungsi: 3 dipulihkan, 4 dalam manifes") {
		t.Errorf("the drill's failure in Indonesian: %v", err)
	}
}
