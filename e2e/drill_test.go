package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/targets/dbdump"
	bolt "go.etcd.io/bbolt"
)

// drillRuns returns the drill runs of target, oldest first, with their results.
func drillRuns(t *testing.T, w *world, target string) ([]api.RunInfo, []runbooks.TargetResult) {
	t.Helper()
	var runs []api.RunInfo
	var res []runbooks.TargetResult
	all := w.runs(target)
	for i := len(all) - 1; i >= 0; i-- {
		r := all[i]
		if r.Op != "drill" {
			continue
		}
		var tr runbooks.TargetResult
		if err := json.Unmarshal(r.Manifest, &tr); err != nil {
			t.Fatalf("drill run %d: result: %v (%s)", r.ID, err, r.Manifest)
		}
		runs, res = append(runs, r), append(res, tr)
	}
	return runs, res
}

// leftovers lists what drills left in the scratch folder.
func leftovers(t *testing.T, w *world) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(w.stateDir, "scratch"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// A files target drilled from an S3 primary and a filesystem off-site DRC: both pass,
// with RPO and RTO measured, the listing and the sample compared, the reports written
// in Indonesian (and in English on request), and nothing left in scratch. Then a data
// pack damaged at the off-site DRC fails that DRC's drill at the pack step with a
// finding, while the primary's drill still passes; the period report counts both.
func TestDrillFiles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	m := testenv.StartMinIO(t, "primary")
	src := filepath.Join(w.dir, "src")
	makeTree(t, src, 8<<20)
	offsite := filepath.Join(w.dir, "offsite")
	reports := filepath.Join(w.dir, "reports")
	w.config("drcs:\n"+s3DRC("local", "primary", m, "", "primary")+
		fmt.Sprintf("  - {name: offsite, role: secondary, path: %q}\n", offsite)+
		fmt.Sprintf(`agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - name: portal-files
    agency: dinkes
    kind: files
    files: {paths: [%q]}
    rpo: 24h
    rto: 1h
`, src), fmt.Sprintf(`report:
  dir: %q
  office: {name: Dinas Komunikasi dan Informatika Kota Contoh, city: Contoh}
  signers:
    performed_by: {name: Budi Santoso, title: Pranata Komputer, nip: "198501012010011001"}
    approved_by: {name: Sari Dewi, title: Kepala Bidang}`, reports))
	w.must("init")
	w.startDaemon()
	if _, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	w.must("drc", "sync", "--wait")

	r := w.must("drill", "portal-files", "--wait")
	if strings.Count(r.stdout, "succeeded: drill of portal-files") != 2 || !strings.Contains(r.stdout, "note: report: "+reports) {
		t.Errorf("drill output:\n%s", r)
	}
	runs, res := drillRuns(t, w, "portal-files")
	if len(runs) != 2 {
		t.Fatalf("%d drill runs", len(runs))
	}
	drcs := []string{res[0].DRC, res[1].DRC}
	sort.Strings(drcs)
	if drcs[0] != "local" || drcs[1] != "offsite" {
		t.Errorf("drilled from %v, want local and offsite", drcs)
	}
	for i, tr := range res {
		if !tr.Passed || runs[i].Status != "succeeded" {
			t.Errorf("drill from %s: %s %+v", tr.DRC, runs[i].Status, tr.Steps)
		}
		if tr.RPOAchieved <= 0 || time.Duration(tr.RPOAchieved) > time.Hour || tr.RTOMeasured <= 0 || tr.RPOObjective != runbooks.Duration(24*time.Hour) {
			t.Errorf("drill from %s: RPO %v, RTO %v, RPO objective %v", tr.DRC, tr.RPOAchieved, tr.RTOMeasured, tr.RPOObjective)
		}
		if tr.BytesRestored < 8<<20 || tr.Throughput <= 0 {
			t.Errorf("drill from %s: %d bytes restored at %.0f B/s", tr.DRC, tr.BytesRestored, tr.Throughput)
		}
		var names []string
		for _, c := range tr.Checks {
			names = append(names, c.Name.String())
			if !c.Passed {
				t.Errorf("drill from %s: check %q failed: %s", tr.DRC, c.Name.String(), c.Detail.String())
			}
		}
		if len(tr.Checks) != 3 || !strings.Contains(strings.Join(names, "|"), "sampled at backup") {
			t.Errorf("drill from %s: checks %v", tr.DRC, names)
		}
		for _, c := range tr.Checks {
			if strings.Contains(c.Name.String(), "sampled") && !strings.Contains(c.Detail.String(), "7 of 7 sampled files identical") {
				t.Errorf("sample check: %s", c.Detail.String())
			}
		}
		for _, f := range []string{"json", "html", "pdf"} {
			p := filepath.Join(reports, fmt.Sprintf("drill-%d-portal-files-%s.%s", runs[i].ID, tr.DRC, f))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if f == "html" && (!strings.Contains(string(b), "BERITA ACARA UJI PEMULIHAN DRC") || !strings.Contains(string(b), "Budi Santoso")) {
				t.Errorf("%s: not the Indonesian minutes", p)
			}
			// What the engine and the files kind recorded is in Indonesian too.
			if f == "html" && (strings.Contains(string(b), "every one whole") || strings.Contains(string(b), "as listed") ||
				!strings.Contains(string(b), "seluruhnya utuh") || !strings.Contains(string(b), "sesuai daftar isi")) {
				t.Errorf("%s: the steps' summaries are not in Indonesian", p)
			}
			if f == "pdf" && !strings.HasPrefix(string(b), "%PDF-") {
				t.Errorf("%s: not a PDF", p)
			}
		}
	}
	if l := leftovers(t, w); len(l) != 0 {
		t.Errorf("scratch left behind: %v", l)
	}
	// The same report in English, on request.
	en := filepath.Join(w.dir, "en.html")
	w.must("report", "drill", fmt.Sprint(runs[0].ID), "--format", "html", "--lang", "en", "-o", en)
	if b, _ := os.ReadFile(en); !strings.Contains(string(b), "DRC RESTORE DRILL MINUTES") {
		t.Errorf("English report:\n%.400s", b)
	}

	// Damage the biggest data pack at the off-site DRC.
	var biggest string
	var size int64
	_ = filepath.Walk(filepath.Join(offsite, "dinkes", "data"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && info.Size() > size {
			biggest, size = p, info.Size()
		}
		return err
	})
	b, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(biggest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := w.cadang("drill", "portal-files", "--drc", "offsite", "--wait"); r.code != 1 ||
		!strings.Contains(r.stdout, "drill failed at step 2 (packs)") || !strings.Contains(r.stdout, "content does not match its name") {
		t.Errorf("drill of a damaged DRC: %s", r)
	}
	w.must("drill", "portal-files", "--drc", "local", "--wait")
	runs, res = drillRuns(t, w, "portal-files")
	bad, good := res[2], res[3]
	if bad.Passed || bad.DRC != "offsite" || runs[2].Status != "failed" || !good.Passed || good.DRC != "local" {
		t.Errorf("after the damage: offsite %v (%s), local %v", bad.Passed, runs[2].Status, good.Passed)
	}
	status := map[string]string{}
	for _, s := range bad.Steps {
		status[s.Key] = s.Status
	}
	if status["packs"] != "failed" || status["restore"] != "skipped" || status["cleanup"] != "ok" || len(bad.Steps) != 6 {
		t.Errorf("steps of the failed drill: %v", status)
	}
	if l := leftovers(t, w); len(l) != 0 {
		t.Errorf("scratch left behind: %v", l)
	}
	today := time.Now().In(time.FixedZone("WIB", 7*3600)).Format("2006-01-02")
	var period runbooks.Report
	mustJSON(t, w.must("report", "period", "--from", today, "--to", today, "--format", "json", "-o", "-").stdout, &period)
	if len(period.Results) != 4 || period.Passed || len(period.Findings) == 0 || period.Findings[0].DRC != "offsite" ||
		!strings.Contains(period.Findings[0].Step, "packs") && !strings.Contains(period.Findings[0].Text, "content does not match") {
		t.Errorf("period report: %d results, passed %v, findings %+v", len(period.Results), period.Passed, period.Findings)
	}
	w.checkLog()
}

// Drills of a PostgreSQL, a MariaDB and a libvirt target from both DRCs through the
// daemon: each restores into scratch (a database on the drill server, an isolated
// domain), verifies, and removes everything. Then a manifest that no longer matches
// the data (the backup's row count changed in the catalog) fails the database's
// drill at the manifest step.
func TestDrillDatabasesAndVM(t *testing.T) {
	pg := testenv.Postgres(t)
	my := testenv.MariaDB(t)
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 7})
	w := newWorld(t)
	pgdb := testenv.Name("cadang_src")
	pg.Exec(t, "postgres", "CREATE DATABASE "+pgdb)
	pg.DropDBAtCleanup(t, pgdb)
	pg.Exec(t, pgdb, `CREATE TABLE pasien (id serial PRIMARY KEY, nama text NOT NULL);
INSERT INTO pasien (nama) SELECT 'pasien ' || g FROM generate_series(1, 300) g;`)
	mydb := my.CreateDB(t, "cadang_src")
	my.Exec(t, mydb, `CREATE TABLE pasien (id INT AUTO_INCREMENT PRIMARY KEY, nama VARCHAR(100) NOT NULL) ENGINE=InnoDB;
INSERT INTO pasien (nama) SELECT CONCAT('pasien ', seq) FROM seq_1_to_300;`)
	w.config(fmt.Sprintf(`drcs:
  - {name: local, role: primary, path: %q}
  - {name: offsite, role: secondary, path: %q}
agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - name: simpus-db
    agency: dinkes
    kind: postgres
    postgres: {host: /var/run/postgresql, database: %s}
    rpo: 24h
    rto: 1h
    drill:
      server: "postgres://localhost/?host=/var/run/postgresql"
      allow_production: true        # the test has one server: the drill server is the target's
      checks: ["SELECT count(*) = 300 FROM pasien", "SELECT min(id) = 1 FROM pasien"]
  - name: portal-db
    agency: dinkes
    kind: mysql
    mysql: {host: /run/mysqld/mysqld.sock, database: %s, user: root}
    drill:
      server: "mysql://localhost/?socket=/run/mysqld/mysqld.sock&user=root"
      allow_production: true
      checks: ["SELECT COUNT(*) = 300 FROM pasien"]
  - name: web01-vm
    agency: dinkes
    kind: libvirt
    libvirt: {domain: %s}
    drill: {boot_seconds: 3}
`, filepath.Join(w.dir, "local"), filepath.Join(w.dir, "offsite"), pgdb, mydb, d.Name), "report: {language: en}")
	w.must("init")
	w.startDaemon()
	for _, tg := range []string{"simpus-db", "portal-db", "web01-vm"} {
		if _, r := w.backupJSON(tg); r.code != 0 {
			t.Fatalf("backup of %s: %s", tg, r)
		}
	}
	w.must("drc", "sync", "--wait")
	// The daemon names a drill's scratch resources after its run (cadang_drill_42); the
	// packages under targets/ run their own drills on the same servers meanwhile
	// (cadang_drill_contract, cadang_drill_<10 hex>): only this daemon's count.
	ours := regexp.MustCompile(`^cadang[-_]drill[-_][0-9]{1,6}$`)
	leftoverResources := func() []string {
		var out []string
		names := strings.Fields(pg.Query(t, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'cadang_drill%'"))
		names = append(names, strings.Fields(my.Query(t, "", "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'cadang_drill%'"))...)
		names = append(names, testenv.DomainNames(t, d.L)...)
		for _, n := range names {
			if ours.MatchString(n) {
				out = append(out, n)
			}
		}
		return append(out, leftovers(t, w)...)
	}

	r := w.must("drill", "--all", "--wait")
	if n := strings.Count(r.stdout, " succeeded: drill of "); n != 6 {
		t.Errorf("%d of 6 drills succeeded:\n%s", n, r)
	}
	for _, tg := range []string{"simpus-db", "portal-db", "web01-vm"} {
		runs, res := drillRuns(t, w, tg)
		if len(res) != 2 || res[0].DRC == res[1].DRC {
			t.Fatalf("%s: %d drills", tg, len(res))
		}
		for i, tr := range res {
			if !tr.Passed || tr.RTOMeasured <= 0 || tr.RPOAchieved <= 0 || tr.BytesRestored == 0 {
				t.Errorf("%s from %s: passed %v, RTO %v, RPO %v, %d bytes; steps %+v", tg, tr.DRC, tr.Passed, tr.RTOMeasured, tr.RPOAchieved, tr.BytesRestored, tr.Steps)
			}
			for _, c := range tr.Checks {
				if !c.Passed {
					t.Errorf("%s from %s: check %q: %s", tg, tr.DRC, c.Name.String(), c.Detail.String())
				}
			}
			report := filepath.Join(w.stateDir, "reports", fmt.Sprintf("drill-%d-%s-%s.html", runs[i].ID, tg, tr.DRC))
			if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), "DRC RESTORE DRILL MINUTES") {
				t.Errorf("%s: %v", report, err)
			}
		}
		if tg == "simpus-db" && (len(res[0].Checks) != 4 || !strings.Contains(res[0].Checks[1].Detail.String(), "300 rows, identical to the manifest")) {
			t.Errorf("postgres drill checks: %+v", res[0].Checks)
		}
		if tg == "web01-vm" && !strings.Contains(fmt.Sprint(res[0].Checks), "domain stays running for 3 s") {
			t.Errorf("libvirt drill checks: %+v", res[0].Checks)
		}
	}
	if l := leftoverResources(); len(l) != 0 {
		t.Errorf("drills left scratch resources: %v", l)
	}

	// The manifest no longer matches the data: the drill fails at the manifest step.
	// Fault injection at the storage level: the run's record is edited in the bbolt
	// file itself (the daemon is stopped), not through cadang's catalog package.
	var backup *api.RunInfo
	for _, r := range w.runs("simpus-db") {
		if r.Target == "simpus-db" && r.Op == "backup" {
			if backup != nil {
				t.Fatalf("more than one backup of simpus-db")
			}
			backup = &r
		}
	}
	if backup == nil {
		t.Fatal("no backup of simpus-db")
	}
	w.stopDaemon(syscall.SIGTERM, time.Minute)
	editRun(t, filepath.Join(w.stateDir, "catalog.db"), backup.ID, func(run map[string]any) {
		var m dbdump.Manifest
		raw, _ := json.Marshal(run["manifest"])
		mustJSON(t, string(raw), &m)
		m.Databases[0].Tables[0].Rows++
		run["manifest"] = m
	})
	w.startDaemon()
	r = w.cadang("drill", "simpus-db", "--drc", "local", "--wait")
	if r.code != 1 || !strings.Contains(r.stdout, "drill failed at step 4 (verify-manifest)") || !strings.Contains(r.stdout, "has 300 rows, want 301") {
		t.Errorf("drill against a manifest that does not match: %s", r)
	}
	if l := leftoverResources(); len(l) != 0 {
		t.Errorf("the failed drill left scratch resources: %v", l)
	}
	w.checkLog()
}

// editRun changes a run's record in a stopped daemon's catalog file with bbolt alone.
func editRun(t *testing.T, file string, id uint64, edit func(map[string]any)) {
	t.Helper()
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := binary.BigEndian.AppendUint64(nil, id)
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("runs"))
		var run map[string]any
		if err := json.Unmarshal(b.Get(key), &run); err != nil {
			return fmt.Errorf("run %d: %w", id, err)
		}
		edit(run)
		data, err := json.Marshal(run)
		if err != nil {
			return err
		}
		return b.Put(key, data)
	})
	if err != nil {
		t.Fatal(err)
	}
}
