package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// Integrity end to end (docs/integrity.md): damage found at a DRC is recorded, raised
// as an alarm, and healed from the other DRC; damage no DRC can heal is named, and no
// backup builds on it.

// flipByte damages a file on disk in place, keeping its size (as bitrot does).
func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// damageRecords returns the damage records (all of them).
func (w *world) damageRecords() []api.Damage {
	w.t.Helper()
	var out []api.Damage
	mustJSON(w.t, w.must("drc", "damage", "--all", "--json").stdout, &out)
	return out
}

// waitDamage waits until the damage record of object at drcName has the status.
func (w *world) waitDamage(drcName, object, status string) api.Damage {
	w.t.Helper()
	var found api.Damage
	waitFor(w.t, fmt.Sprintf("damage of %s at drc %q to be %s", object, drcName, status), 3*time.Minute, func() (bool, string) {
		recs := w.damageRecords()
		for _, d := range recs {
			if d.DRC == drcName && d.Object == object && d.Status == status {
				found = d
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", recs)
	})
	return found
}

// biggestPack is the largest data pack of the agency in a path DRC's repository, as
// an object name and a file.
func biggestPack(t *testing.T, drcDir string) (string, string) {
	t.Helper()
	var file string
	var size int64
	for name, n := range dirObjects(t, drcDir) {
		if strings.HasPrefix(name, "data/") && n > size {
			file, size = name, n
		}
	}
	if file == "" {
		t.Fatal("no data pack")
	}
	return file, filepath.Join(drcDir, agencyID, filepath.FromSlash(file))
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// twoSites starts a daemon with a directory primary and the given secondary, backs up
// a files target once and replicates it; it returns the source folder.
func twoSites(t *testing.T, w *world, secondary string) string {
	t.Helper()
	src := filepath.Join(w.dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 3<<20, 11)
	testenv.RandomFile(t, filepath.Join(src, "docs", "b.bin"), 1<<20, 12)
	w.config(fmt.Sprintf("drcs:\n  - {name: local, role: primary, path: %q}\n", filepath.Join(w.dir, "local")) +
		secondary + fmt.Sprintf(oneTarget, src))
	w.must("init")
	w.startDaemon()
	if _, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	w.must("drc", "sync", "--wait")
	return src
}

// Damage at the secondary, a directory there: verify --read-data finds it, records it
// and raises the alarm; the object is healed from the primary by itself; both DRCs
// then read clean and the secondary restores the data byte for byte.
func TestDamageAtTheSecondaryIsHealed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offsite := filepath.Join(w.dir, "offsite")
	src := twoSites(t, w, fmt.Sprintf("  - {name: offsite, role: secondary, path: %q}\n", offsite))
	obj, file := biggestPack(t, offsite)
	good := fileSum(t, file)
	flipByte(t, file)
	w.healedAtSecondary(obj, src, "content does not match its name")
	if got := fileSum(t, file); got != good {
		t.Errorf("the healed file is not the good copy: %s", got)
	}
}

// The same with the secondary on S3, the damage being bitrot in MinIO's part file: a
// read there fails (it is not other bytes), and that too is damage to heal.
func TestDamageAtAnS3SecondaryIsHealed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	m := testenv.StartMinIO(t, "offsite")
	src := twoSites(t, w, s3DRC("offsite", "secondary", m, "", "offsite"))
	var obj string
	var size int64
	for name, n := range bucketObjects(t, m, "offsite") {
		if strings.HasPrefix(name, "data/") && n > size {
			obj, size = name, n
		}
	}
	m.Bitrot(t, "offsite", agencyID+"/"+obj)
	w.healedAtSecondary(obj, src, "")
	intactBucket(t, m, "offsite")
}

// healedAtSecondary: verify --read-data at the secondary finds obj damaged; the
// damage is recorded with its alarm, repaired from the primary, and both DRCs verify
// clean; the secondary restores the source.
func (w *world) healedAtSecondary(obj, src, why string) {
	t := w.t
	t.Helper()
	r := w.cadang("verify", "--drc", "offsite", "--read-data")
	if r.code != 1 || !strings.Contains(r.stdout, obj) || !strings.Contains(r.stdout, why) {
		t.Fatalf("verify --read-data of the damaged secondary: %s", r)
	}
	d := w.waitDamage("offsite", obj, "repaired")
	if d.How != "verify" || d.RepairedFrom != "local" || d.RepairRun == 0 || d.Lost {
		t.Errorf("damage record: %+v", d)
	}
	alarms := w.alarms(true)
	raised := false
	for _, a := range alarms {
		if a.Kind == "damaged-object" && a.DRC == "offsite" && a.Object == obj {
			raised = a.Status == "resolved"
		}
	}
	if !raised {
		t.Errorf("no damaged-object alarm raised and resolved for %s: %+v", obj, alarms)
	}
	for _, a := range w.alarms(false) {
		t.Errorf("an alarm stays active after the repair: %+v", a)
	}
	for _, s := range w.drcStatus() {
		if s.Status != "ok" {
			t.Errorf("drc %s is %s after the repair: %v", s.DRC, s.Status, s.Problems)
		}
	}
	for _, site := range []string{"offsite", "local"} {
		if r := w.cadang("verify", "--drc", site, "--read-data"); r.code != 0 {
			t.Errorf("verify --read-data at %s after the repair: %s", site, r)
		}
	}
	snaps := w.snapshotsJSON("portal-files")
	w.restoreCompare("portal-files", snaps[len(snaps)-1].ID, "offsite", src)
}

// alarms returns the alarms (active ones, or all).
func (w *world) alarms(all bool) []api.Alarm {
	w.t.Helper()
	path := "/v1/alarms"
	if all {
		path += "?all=1"
	}
	code, body := w.get(path)
	if code != 200 {
		w.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var out []api.Alarm
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
	return out
}

// Damage at both DRCs in the same object: no site can heal the other. cadang names the
// snapshot and the files that are lost, marks the snapshot, moves the object aside at
// the primary (so no backup builds on it again), and every other snapshot restores.
func TestDamageAtBothSitesNamesTheLoss(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	local, offsite := filepath.Join(w.dir, "local"), filepath.Join(w.dir, "offsite")
	src := twoSites(t, w, fmt.Sprintf("  - {name: offsite, role: secondary, path: %q}\n", offsite))
	first := w.snapshotsJSON("portal-files")[0]
	before := dirObjects(t, local)
	keep := testenv.Tree(t, src)
	testenv.RandomFile(t, filepath.Join(src, "docs", "c.bin"), 3<<20, 13)
	second, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("second backup: %s", r)
	}
	w.must("drc", "sync", "--wait")
	var victim string
	var size int64
	for name, n := range dirObjects(t, local) {
		if _, old := before[name]; !old && strings.HasPrefix(name, "data/") && n > size {
			victim, size = name, n
		}
	}
	if victim == "" {
		t.Fatal("the second backup wrote no data pack")
	}
	for _, site := range []string{local, offsite} {
		flipByte(t, filepath.Join(site, agencyID, filepath.FromSlash(victim)))
	}

	if r := w.cadang("verify", "--drc", "offsite", "--read-data"); r.code != 1 || !strings.Contains(r.stdout, victim) {
		t.Fatalf("verify --read-data at the secondary: %s", r)
	}
	d := w.waitDamage("local", victim, "quarantined")
	if !d.Lost || len(d.Snapshots) != 1 || d.Snapshots[0] != second.SnapshotID {
		t.Errorf("damage at the primary: %+v (want snapshot %s lost)", d, second.SnapshotID)
	}
	var rep api.RepairReport
	for _, run := range w.runs("") {
		if run.ID == d.RepairRun {
			mustJSON(t, string(run.Manifest), &rep)
		}
	}
	if len(rep.Lost) != 1 || rep.Lost[0].Snapshot != second.SnapshotID || !strings.Contains(strings.Join(rep.Lost[0].Paths, " "), "c.bin") {
		t.Errorf("the repair's report must name snapshot %s and docs/c.bin: %+v", second.SnapshotID, rep)
	}
	for _, p := range rep.Lost[0:min(1, len(rep.Lost))] {
		if strings.Contains(strings.Join(p.Paths, " "), "a.bin") {
			t.Errorf("a.bin is whole and must not be named lost: %+v", p)
		}
	}
	for _, recs := range w.damageRecords() {
		if recs.DRC == "offsite" && recs.Object == victim && (!recs.Lost || recs.Status != "open") {
			t.Errorf("damage at the secondary: %+v (want open, lost)", recs)
		}
	}
	snaps := w.snapshotsJSON("portal-files")
	if len(snaps) != 2 || snaps[1].Damaged["local"] == "" || snaps[0].Damaged["local"] != "" {
		t.Fatalf("only the second snapshot is damaged: %+v", snaps)
	}
	if out := w.must("snapshots", "portal-files").stdout; !strings.Contains(out, "damaged at local") {
		t.Errorf("snapshots does not show the damage:\n%s", out)
	}
	// `latest` skips the damaged snapshot, with a note, and gets the first.
	dest := filepath.Join(w.dir, "latest")
	rr := w.must("restore", "portal-files", "--snapshot", "latest", "--drc", "local", "--to", dest)
	if !strings.Contains(rr.stdout+rr.stderr, second.SnapshotID[:8]) {
		t.Errorf("restore of latest does not say it skipped %s: %s", second.SnapshotID[:8], rr)
	}
	if d := testenv.DiffTrees(keep, testenv.Tree(t, filepath.Join(dest, src))); len(d) > 0 {
		t.Errorf("latest restored is not the first snapshot: %v", d)
	}
	for _, site := range []string{"local", "offsite"} {
		w.restoreMatches("portal-files", first.ID, site, src, keep)
	}
	// The next backup stores c.bin again and restores whole.
	third, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup after the loss: %s", r)
	}
	w.restoreCompare("portal-files", third.SnapshotID, "local", src)
}

// A restore that meets a damaged pack at the secondary fails, naming the file; the pack
// is recorded damaged (found by the restore) and healed from the primary, and the same
// restore then succeeds.
func TestRestoreFindsDamageAndItIsHealed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	offsite := filepath.Join(w.dir, "offsite")
	src := twoSites(t, w, fmt.Sprintf("  - {name: offsite, role: secondary, path: %q}\n", offsite))
	obj, file := biggestPack(t, offsite)
	flipByte(t, file)
	snap := w.snapshotsJSON("portal-files")[0].ID
	dest := filepath.Join(w.dir, "first-try")
	r := w.cadang("restore", "portal-files", "--snapshot", snap, "--drc", "offsite", "--to", dest)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, ".bin") {
		t.Fatalf("restore from the damaged secondary: %s", r)
	}
	d := w.waitDamage("offsite", obj, "repaired")
	if d.How != "restore" || d.RepairedFrom != "local" {
		t.Errorf("damage record: %+v", d)
	}
	w.restoreCompare("portal-files", snap, "offsite", src)
}

// Damage at the primary while the secondary does not answer: the repair cannot check
// the other copy, so it fails and leaves the damage open; nothing is moved aside and no
// data loss is announced on a transient fault. Once the secondary answers again, a
// repair heals the object from it.
func TestRepairWaitsForAnUnreachableDRC(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	m := testenv.StartMinIO(t, "offsite")
	src := twoSites(t, w, s3DRC("offsite", "secondary", m, "", "offsite"))
	obj, file := biggestPack(t, filepath.Join(w.dir, "local"))
	good := fileSum(t, file)
	flipByte(t, file)
	m.Stop()

	if r := w.cadang("verify", "--drc", "local", "--read-data"); r.code != 1 || !strings.Contains(r.stdout, obj) {
		t.Fatalf("verify --read-data of the damaged primary: %s", r)
	}
	var failed api.RunInfo
	waitFor(t, "the repair at the primary to fail", 3*time.Minute, func() (bool, string) {
		for _, ri := range w.runs("") {
			if ri.Op == "repair" && ri.DRC == "local" && ri.Status != api.Queued && ri.Status != api.Running {
				failed = ri
				return true, ""
			}
		}
		return false, "no repair ended yet"
	})
	if failed.Status != api.Failed || !strings.Contains(string(failed.Manifest), "not every copy could be checked") ||
		!strings.Contains(string(failed.Manifest), `drc \"offsite\"`) {
		t.Fatalf("the repair with the secondary away must fail, naming it: %+v\n%s", failed.Run, failed.Manifest)
	}
	for _, d := range w.damageRecords() {
		if d.DRC == "local" && d.Object == obj && (d.Status != "open" || d.Lost) {
			t.Errorf("damage closed or called lost while a copy could not be checked: %+v", d)
		}
	}
	for _, a := range w.alarms(false) {
		if a.Kind == "data-lost" {
			t.Errorf("data loss announced while a copy could not be checked: %+v", a)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the damaged object was moved aside: %v", err)
	}

	m.Start()
	if r := w.cadang("drc", "repair", "--drc", "local", "--wait"); r.code != 0 {
		t.Fatalf("repair with the secondary back: %s", r)
	}
	d := w.waitDamage("local", obj, "repaired")
	if d.RepairedFrom != "offsite" || d.Lost {
		t.Errorf("damage record: %+v", d)
	}
	if got := fileSum(t, file); got != good {
		t.Errorf("the healed pack is not the good copy: %s", got)
	}
	snaps := w.snapshotsJSON("portal-files")
	w.restoreCompare("portal-files", snaps[len(snaps)-1].ID, "local", src)
}
