package dbdump_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// fakeKind is a database kind without a server: its restore does nothing, Inspect
// finds got, a check is true unless its SQL says false, and endpoints and identities
// are given.
type fakeKind struct {
	got       *dbdump.Manifest
	endpoints map[string]dbdump.Endpoint // by URL
	identity  map[string]string          // by URL
}

func (fakeKind) Scheme() string { return "postgres" }
func (fakeKind) Restore(context.Context, targets.Reader, targets.RestoreRequest) error {
	return nil
}
func (k fakeKind) Inspect(context.Context, string) (*dbdump.Manifest, error) { return k.got, nil }
func (fakeKind) Query(_ context.Context, _, sql string) ([]string, error) {
	if strings.Contains(sql, "false") {
		return []string{"f"}, nil
	}
	return []string{"t"}, nil
}
func (fakeKind) DropSQL(name string) string { return "DROP DATABASE " + name }
func (k fakeKind) Endpoint(to string) (dbdump.Endpoint, error) {
	if e, ok := k.endpoints[to]; ok {
		return e, nil
	}
	return dbdump.Endpoint{Host: to, Port: 1}, nil // a server of its own
}
func (k fakeKind) Identity(_ context.Context, to string) (string, error) {
	if id, ok := k.identity[to]; ok {
		return id, nil
	}
	return "", errors.New("no answer")
}

type fakeReader struct{}

func (fakeReader) Snapshot() targets.Snapshot {
	return targets.Snapshot{ID: "3f9a6c2e", Paths: []string{"/simpus.pgc"}}
}
func (fakeReader) RestoreTo(context.Context, string, []string) error { return nil }
func (fakeReader) Open(context.Context, string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (fakeReader) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// drillTexts runs a drill of k and returns every text it gives the report: the steps'
// summaries and errors, and the checks.
func drillTexts(t *testing.T, k fakeKind, env targets.DrillEnv) []msg.Message {
	t.Helper()
	var out []msg.Message
	env.Scratch, env.Name, env.Restored = t.TempDir(), "cadang_drill_42", func(int64) {}
	env.Check = func(c targets.DrillCheck) { out = append(out, c.Checked(), c.Result()) }
	for _, st := range dbdump.DrillSteps(k, fakeReader{}, &env) {
		sum, err := st.Exec(context.Background())
		out = append(out, st.Heading(), sum, msg.Of(err))
	}
	return out
}

// englishKindWords are the English names of the kinds of schema objects.
var englishKindWords = []string{"tables", "views", "sequences", "functions", "extensions", "triggers", "routines", "events"}

// Issue 13, point 23: what the database kinds write into a drill's report (the schema
// objects "as recorded: 2 views, 1 function", the differences from the manifest, the
// manifest's note, failed checks, a refused drill server) is in the report's language:
// the Indonesian holds no English kind word and no English text of the db.* catalog.
func TestDrillTextsInIndonesian(t *testing.T) {
	objects := map[string]int{"tables": 2, "views": 2, "sequences": 1, "functions": 3, "extensions": 1, "triggers": 1, "routines": 2, "events": 1}
	tables := []dbdump.Table{{Schema: "klinik", Name: "pasien", Rows: 50, Checksum: "aa"}, {Schema: "klinik", Name: "log", Rows: 1, Checksum: "bb"}}
	want := dbdump.Manifest{Kind: "postgres", Databases: []dbdump.Database{{Name: "simpus", Exact: false,
		Note: msg.New("db.note.dump_options"), Tables: tables, Objects: objects}}}
	raw, _ := json.Marshal(want)
	var texts []msg.Message

	// As recorded, with a note, and a failed check.
	same := want
	texts = append(texts, drillTexts(t, fakeKind{got: &same}, targets.DrillEnv{Server: "postgres://drill:5432/", Manifest: raw,
		Checks: []string{"SELECT true", "SELECT false"}})...)
	// Every difference from the manifest.
	differ := dbdump.Manifest{Databases: []dbdump.Database{{Name: "cadang_drill_42", Tables: []dbdump.Table{
		{Schema: "klinik", Name: "pasien", Rows: 49, Checksum: "aa"}, {Schema: "klinik", Name: "log", Rows: 1, Checksum: "cc"}, {Name: "extra"}},
		Objects: map[string]int{}}}}
	texts = append(texts, drillTexts(t, fakeKind{got: &differ}, targets.DrillEnv{Server: "postgres://drill:5432/", Manifest: raw})...)
	texts = append(texts, dbdump.CompareObjects(objects, map[string]int{})...)
	texts = append(texts, dbdump.Compare(tables, differ.Databases[0].Tables)...)
	texts = append(texts, dbdump.Compare(tables, tables[:1])...)
	// Notes of the other manifests.
	texts = append(texts, msg.New("db.note.no_facts", "err", "permission denied"), msg.New("db.note.own_snapshot", "err", "Access denied"),
		msg.New("db.note.late", "wait", 30*time.Second))
	// Drill servers refused: none, another kind, production by endpoint or by identity.
	texts = append(texts, drillTexts(t, fakeKind{}, targets.DrillEnv{})...)
	texts = append(texts, drillTexts(t, fakeKind{}, targets.DrillEnv{Server: "mysql://drill/"})...)
	for _, eps := range [][2]dbdump.Endpoint{
		{{Host: "db1", Port: 5432}, {Host: "db1", Port: 5432}},
		{{Host: "localhost", Port: 5432}, {Host: "127.0.0.1", Port: 5432}},
		{{Socket: "/run/postgresql/.s.PGSQL.5432"}, {Socket: "/run/postgresql/.s.PGSQL.5432"}},
	} {
		k := fakeKind{endpoints: map[string]dbdump.Endpoint{"postgres://drill/": eps[0], "postgres:///": eps[1]}}
		texts = append(texts, drillTexts(t, k, targets.DrillEnv{Server: "postgres://drill/"})...)
	}
	k := fakeKind{identity: map[string]string{"postgres://drill/": "postmaster started 1", "postgres:///": "postmaster started 1"}}
	texts = append(texts, drillTexts(t, k, targets.DrillEnv{Server: "postgres://drill/"})...)

	var en, id []string
	for _, m := range texts {
		if !m.IsZero() {
			en, id = append(en, m.In(msg.EN)), append(id, m.In(msg.ID))
		}
	}
	english := strings.Join(en, "\n")
	indonesian := strings.Join(id, "\n")
	t.Logf("Indonesian:\n%s", indonesian)

	// The English says every kind, and every db.* text the test means to cover: else the
	// test checks nothing.
	for _, w := range englishKindWords {
		if !regexp.MustCompile(`\b` + w + `\b`).MatchString(english) {
			t.Errorf("the English texts do not say %q: the test does not cover it", w)
		}
	}
	for _, want := range []string{"schema objects as recorded", "views: 0 restored, 2 in the manifest", "is not in the manifest", "has 49 rows, want 50",
		"has checksum cc, want bb", "dump_options choose what is dumped", "checks failed, first: SELECT false: returned", "no drill.server is set",
		"is not a postgres:// server", "the same host and port", "both resolve to 127.0.0.1", "the same socket", "answer as one server", "did not start its transaction within"} {
		if !strings.Contains(english, want) {
			t.Errorf("the English texts lack %q: the test does not cover it", want)
		}
	}

	frags := append([]string(nil), englishKindWords...)
	for _, key := range msg.Keys() {
		en, id := msg.Template(key, msg.EN), msg.Template(key, msg.ID)
		if !strings.HasPrefix(key, "db.") || en == id {
			continue
		}
		for _, part := range regexp.MustCompile(`\{[^}]*\}`).Split(en, -1) {
			if part = strings.Trim(part, " .,:;()…"); len(strings.Fields(part)) >= 2 {
				frags = append(frags, part)
			}
		}
	}
	for _, f := range frags {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(f) + `\b`).MatchString(indonesian) {
			t.Errorf("the Indonesian texts hold English: %q", f)
		}
	}
	for _, want := range []string{"objek skema sesuai catatan: 1 kejadian terjadwal (event), 1 ekstensi, 3 fungsi, 2 rutin tersimpan (prosedur dan fungsi), 1 sekuens (sequence), 1 pemicu (trigger), 2 tampilan (view)",
		"tabel klinik.pasien berisi 49 baris, seharusnya 50", "fungsi: 0 dipulihkan, 3 dalam manifes"} {
		if !strings.Contains(indonesian, want) {
			t.Errorf("the Indonesian texts lack %q", want)
		}
	}
}
