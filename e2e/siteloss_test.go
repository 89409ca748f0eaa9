package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// The loss of the main site, end to end: a PostgreSQL database and a files target are
// backed up into two real MinIO servers; the daemon's state is written, encrypted to
// two escrow keys, into both DRCs. The main daemon is killed (-9), its state dir
// deleted, the primary MinIO stopped. On a fresh state dir, `state restore` from the
// off-site DRC with ONE escrow identity rebuilds it: a damaged newest bundle is refused
// with the reason and an older one is taken with --at; the undamaged newest is then
// restored with --force; the daemon lists the same snapshots and runs, and the
// database restores from the off-site DRC into a new database row for row. No bundle
// holds a readable key.
func TestLossOfTheMainSite(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	w := newWorld(t)
	primary := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "cadang-offsite")
	password := "secret-" + testenv.Name("pw")
	role := pg.CreateRole(t, "cadang_loss", password, "CREATEDB")
	db := testenv.Name("cadang_loss")
	pg.Exec(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, role))
	pg.DropDBAtCleanup(t, db)
	pg.Exec(t, db, fmt.Sprintf(`SET ROLE %s;
CREATE TABLE pasien (id serial PRIMARY KEY, nama text, lahir date);
INSERT INTO pasien (nama, lahir) SELECT 'pasien ' || g, date '1970-01-01' + g FROM generate_series(1, 3000) g;
RESET ROLE;`, role))
	passFile := testenv.SecretFile(t, password)
	src := filepath.Join(w.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 1<<20, 11)
	kepala, _ := age.GenerateX25519Identity()
	persandian, _ := age.GenerateX25519Identity()
	w.config("drcs:\n"+s3DRC("local", "primary", primary, "", "cadang")+s3DRC("offsite", "secondary", offsite, "", "cadang-offsite")+
		fmt.Sprintf(`agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}}
  - name: simpus-db
    agency: dinkes
    kind: postgres
    postgres: {host: 127.0.0.1, port: %d, database: %s, user: %s, password_file: %s}
`, src, pg.Port, db, role, passFile),
		fmt.Sprintf("state_protection: {escrow_recipients: [%s, %s], interval: 1h}", kepala.Recipient(), persandian.Recipient()))
	w.must("init")
	w.startDaemon()

	// waitBundle waits until both DRCs hold a whole bundle newer than after.
	waitBundle := func(after time.Time) api.StateStatus {
		t.Helper()
		var st api.StateStatus
		waitFor(t, "a state bundle at both DRCs", 2*time.Minute, func() (bool, string) {
			out := w.must("state", "status", "--json").stdout
			mustJSON(t, out, &st)
			for _, d := range st.DRCs {
				if !d.Whole || !d.Time.After(after) {
					return false, out
				}
			}
			return len(st.DRCs) == 2, out
		})
		return st
	}
	for _, target := range []string{"simpus-db", "portal-files"} {
		if ri, r := w.backupJSON(target); ri.Status != "succeeded" {
			t.Fatalf("backup %s: %s", target, r)
		}
	}
	w.must("drc", "sync", "--wait")
	b1 := waitBundle(lastEnded(w)).DRCs[1]
	testenv.RandomFile(t, filepath.Join(src, "b.bin"), 1<<20, 12)
	if ri, r := w.backupJSON("portal-files"); ri.Status != "succeeded" {
		t.Fatalf("second backup: %s", r)
	}
	w.must("drc", "sync", "--wait")
	b2 := waitBundle(lastEnded(w)).DRCs[1]
	if b1.DRC != "offsite" || b2.Newest == b1.Newest {
		t.Fatalf("bundles at offsite: %+v then %+v", b1, b2)
	}
	// What the lost site knew.
	snapsBefore := map[string][]string{}
	for _, target := range []string{"simpus-db", "portal-files"} {
		snapsBefore[target] = snapshotIDs(t, w, target)
	}
	runsBefore := runStates(w)
	keyFile := filepath.Join(w.stateDir, "keys", "offsite", "dinkes.key")
	key, err := os.ReadFile(keyFile)
	if err != nil || len(key) < 16 {
		t.Fatalf("the key file: %v", err)
	}

	// The main site burns.
	w.stopDaemon(syscall.SIGKILL, time.Minute)
	if err := os.RemoveAll(w.stateDir); err != nil {
		t.Fatal(err)
	}
	primary.Stop()

	// No bundle holds a readable key, the S3 secret or the database password.
	ctx := context.Background()
	mc := offsite.Client()
	var bundles []string
	for o := range mc.ListObjects(ctx, "cadang-offsite", minio.ListObjectsOptions{Prefix: "_state/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		bundles = append(bundles, o.Key)
		b := getObject(t, mc, o.Key)
		for what, secret := range map[string][]byte{"a repository key": bytes.TrimSpace(key), "the database password": []byte(password)} {
			if bytes.Contains(b, secret) {
				t.Errorf("%s holds %s in the clear", o.Key, what)
			}
		}
	}
	// The newest bundle and the one before it (the daemon may have written more than
	// the two waited for).
	var names []string
	for _, b := range bundles {
		if strings.HasSuffix(b, ".tar.zst.age") {
			names = append(names, b)
		}
	}
	sort.Strings(names) // by time: the names hold it, UTC, fixed width
	if len(names) < 2 || names[len(names)-1] < b2.Newest {
		t.Fatalf("bundles at offsite: %v (waited for %s)", bundles, b2.Newest)
	}
	newest, previous := names[len(names)-1], names[len(names)-2]
	prevTime, err := time.Parse("20060102T150405.000Z", strings.TrimSuffix(strings.TrimPrefix(previous, "_state/cadang-state-"), ".tar.zst.age"))
	if err != nil {
		t.Fatal(err)
	}

	// The newest bundle, damaged (a flipped byte), is refused with the reason.
	good := getObject(t, mc, newest)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0x40
	putObject(t, mc, newest, bad)
	idFile := filepath.Join(t.TempDir(), "kepala.agekey")
	writeFile(t, idFile, kepala.String()+"\n")
	r := w.cadang("state", "restore", "--from-drc", "offsite", "--identity", idFile)
	if r.code != 1 || !testenv.OneLine(r.stderr) || !strings.Contains(r.stderr, newest) || !strings.Contains(r.stderr, "damaged") || !strings.Contains(r.stderr, "--at") {
		t.Errorf("restore from a damaged newest bundle: %s", r)
	}
	if _, err := os.Stat(filepath.Join(w.stateDir, "catalog.db")); err == nil {
		t.Error("a damaged bundle wrote a catalog")
	}
	// The previous one, with --at.
	var res struct {
		Bundle  string `json:"bundle"`
		MovedTo string `json:"moved_aside"`
	}
	mustJSON(t, w.must("state", "restore", "--from-drc", "offsite", "--identity", idFile, "--at", prevTime.Format(time.RFC3339Nano), "--json").stdout, &res)
	if res.Bundle != previous {
		t.Errorf("restore --at: bundle %s, want %s", res.Bundle, previous)
	}
	// Over an existing state dir: refused without --force.
	putObject(t, mc, newest, good)
	if r := w.cadang("state", "restore", "--from-drc", "offsite", "--identity", idFile); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("restore over a state dir: %s", r)
	}
	mustJSON(t, w.must("state", "restore", "--from-drc", "offsite", "--identity", idFile, "--force", "--json").stdout, &res)
	if res.Bundle != newest || res.MovedTo == "" {
		t.Errorf("restore --force: %+v, want %s and the old state dir moved aside", res, newest)
	}

	// The daemon at the DR site knows what the lost site knew.
	w.startDaemon()
	for target, want := range snapsBefore {
		if got := snapshotIDs(t, w, target); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s snapshots after the restore: %v, want %v", target, got, want)
		}
	}
	after := runStates(w)
	for id, st := range runsBefore {
		if after[id] != st {
			t.Errorf("run %d: %q after the restore, %q before", id, after[id], st)
		}
	}
	// The database restores from the off-site DRC into a new database, row for row.
	newDB := testenv.Name("cadang_loss_pulih")
	pg.DropDBAtCleanup(t, newDB)
	var ri api.RunInfo
	mustJSON(t, w.must("restore", "simpus-db", "--drc", "offsite", "--to", pg.AdminURL(newDB), "--json").stdout, &ri)
	if ri.Status != "succeeded" {
		t.Fatalf("restore from offsite: %+v", ri)
	}
	q := "SELECT count(*) || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pasien t"
	if got, want := pg.Query(t, newDB, q), pg.Query(t, db, q); got != want {
		t.Errorf("restored pasien: %s, want %s", got, want)
	}
}

// lastEnded is when the newest run ended (zero while one runs).
func lastEnded(w *world) time.Time {
	var last time.Time
	for _, r := range w.runs("") {
		if r.Ended.After(last) {
			last = r.Ended
		}
	}
	return last
}

// snapshotIDs lists a target's snapshots as id:status, sorted.
func snapshotIDs(t *testing.T, w *world, target string) []string {
	t.Helper()
	var snaps []api.SnapshotInfo
	mustJSON(t, w.must("snapshots", target, "--json").stdout, &snaps)
	var out []string
	for _, s := range snaps {
		out = append(out, s.ID+":"+s.Status)
	}
	sort.Strings(out)
	return out
}

// runStates maps every finished run to its op, target and status.
func runStates(w *world) map[uint64]string {
	out := map[uint64]string{}
	for _, r := range w.runs("") {
		if r.Status != "queued" && r.Status != "running" {
			out[r.ID] = fmt.Sprintf("%s %s %s", r.Op, r.Target, r.Status)
		}
	}
	return out
}

func getObject(t *testing.T, mc *minio.Client, key string) []byte {
	t.Helper()
	o, err := mc.GetObject(context.Background(), "cadang-offsite", key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putObject(t *testing.T, mc *minio.Client, key string, b []byte) {
	t.Helper()
	if _, err := mc.PutObject(context.Background(), "cadang-offsite", key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}
