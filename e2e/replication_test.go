package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// Replication between the DRCs, end to end: two MinIO servers (the primary and an
// off-site secondary) and a filesystem DRC (a second secondary).

const agencyID = "dinkes"

// bucketObjects lists the replicated objects (data, index, snapshots) of the agency's
// repository in a bucket, with their sizes.
func bucketObjects(t *testing.T, m *testenv.MinIO, bucket string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for obj := range m.Client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: agencyID + "/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("listing %s: %v", bucket, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, agencyID+"/")
		if replicated(name) {
			out[name] = obj.Size
		}
	}
	return out
}

func dirObjects(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	root := filepath.Join(dir, agencyID)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := filepath.ToSlash(rel)
		if replicated(name) && !strings.Contains(name, ".cadang-tmp-") {
			info, err := d.Info()
			if err != nil {
				return err
			}
			out[name] = info.Size()
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func replicated(name string) bool {
	return strings.HasPrefix(name, "data/") || strings.HasPrefix(name, "index/") || strings.HasPrefix(name, "snapshots/")
}

func diffObjects(a, b map[string]int64) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "only in the first: "+k)
		} else if v != w {
			out = append(out, fmt.Sprintf("%s: %d vs %d bytes", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "only in the second: "+k)
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... %d more", len(out)-10))
	}
	return strings.Join(out, "; ")
}

// intactBucket checks that every object of the agency in a bucket hashes to its name.
func intactBucket(t *testing.T, m *testenv.MinIO, bucket string) int {
	t.Helper()
	n := 0
	for name := range bucketObjects(t, m, bucket) {
		obj, err := m.Client().GetObject(context.Background(), bucket, agencyID+"/"+name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, obj); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		obj.Close()
		if got := hex.EncodeToString(h.Sum(nil)); !strings.HasSuffix(name, "/"+got) {
			t.Errorf("bucket %s: %s is damaged (its content hashes to %s)", bucket, name, got)
		}
		n++
	}
	return n
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s: %s", what, timeout, state)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (w *world) drcStatus() []api.DRCStatus {
	w.t.Helper()
	var out []api.DRCStatus
	mustJSON(w.t, w.must("drc", "status", "--json").stdout, &out)
	return out
}

func (w *world) snapshotsJSON(target string, args ...string) []api.SnapshotInfo {
	w.t.Helper()
	var out []api.SnapshotInfo
	mustJSON(w.t, w.must(append([]string{"snapshots", target, "--json"}, args...)...).stdout, &out)
	return out
}

// restoreCompare restores a snapshot from a DRC and compares it with the source.
func (w *world) restoreCompare(target, snap, drcName, src string) {
	w.t.Helper()
	w.restoreMatches(target, snap, drcName, src, testenv.Tree(w.t, src))
}

// restoreMatches restores src from snap and compares it with the tree want.
func (w *world) restoreMatches(target, snap, drcName, src string, want map[string]testenv.Entry) {
	w.t.Helper()
	dest := filepath.Join(w.dir, fmt.Sprintf("restore-%s-%s-%d", drcName, snap[:8], time.Now().UnixNano()))
	args := []string{"restore", target, "--snapshot", snap, "--to", dest}
	if drcName != "" {
		args = append(args, "--drc", drcName)
	}
	w.must(args...)
	if d := testenv.DiffTrees(want, testenv.Tree(w.t, filepath.Join(dest, src))); len(d) > 0 {
		w.t.Fatalf("restore of %s from drc %q differs from the source: %v", snap[:8], drcName, d)
	}
	if err := os.RemoveAll(dest); err != nil {
		w.t.Fatal(err)
	}
}

// resticAt runs restic by hand on the agency's repository in a bucket (as an operator,
// or the prune of retention, would).
func (w *world) resticAt(m *testenv.MinIO, bucket, drcName string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command(w.restic, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + w.dir,
		"RESTIC_REPOSITORY=s3:http://" + m.Endpoint + "/" + bucket + "/" + agencyID,
		"RESTIC_PASSWORD_FILE=" + filepath.Join(w.stateDir, "keys", drcName, agencyID+".key"),
		"RESTIC_CACHE_DIR=" + filepath.Join(w.dir, "restic-cache"),
		"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey}
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("restic %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func replicationYAML(extra string) string {
	return fmt.Sprintf("    replication: {interval: 2s%s}\n", extra)
}

// After backups both sites hold the same objects, and the off-site DRC alone (the
// primary stopped) restores byte for byte; verify compares the sites.
func TestReplicationTwoSitesIdentical(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	local := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "cadang-offsite")
	archive := filepath.Join(w.dir, "archive-drc")
	src := filepath.Join(w.dir, "srv", "portal")
	makeTree(t, src, 40<<20)

	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") +
		s3DRC("offsite", "secondary", offsite, "", "cadang-offsite") + replicationYAML(", max_lag: 1h, workers: 4") +
		fmt.Sprintf("  - name: archive\n    role: secondary\n    path: %q\n", archive) + replicationYAML("") + `
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [` + src + `]}}
`)
	w.must("init")
	w.startDaemon()

	first, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	testenv.RandomFile(t, filepath.Join(src, "new-upload.bin"), 8<<20, 77)
	second, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	sync := w.must("drc", "sync", "--wait")
	if !strings.Contains(sync.stdout, "succeeded") {
		t.Fatalf("drc sync: %s", sync)
	}

	p := bucketObjects(t, local, "cadang")
	if d := diffObjects(p, bucketObjects(t, offsite, "cadang-offsite")); d != "" {
		t.Fatalf("local and offsite differ: %s", d)
	}
	if d := diffObjects(p, dirObjects(t, archive)); d != "" {
		t.Fatalf("local and archive differ: %s", d)
	}
	if intactBucket(t, offsite, "cadang-offsite") < 5 {
		t.Fatal("too few objects off-site")
	}
	// The same repository (config), each site with its own key.
	cfgL, _ := local.Client().GetObject(context.Background(), "cadang", agencyID+"/config", minio.GetObjectOptions{})
	cfgO, _ := offsite.Client().GetObject(context.Background(), "cadang-offsite", agencyID+"/config", minio.GetObjectOptions{})
	bl, _ := io.ReadAll(cfgL)
	bo, _ := io.ReadAll(cfgO)
	if len(bl) == 0 || !bytes.Equal(bl, bo) {
		t.Fatal("the config objects differ")
	}

	// The ledger: every snapshot at every DRC.
	snaps := w.snapshotsJSON("portal-files")
	if len(snaps) != 2 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	for _, s := range snaps {
		for _, d := range []string{"local", "offsite", "archive"} {
			if _, ok := s.Sites[d]; !ok {
				t.Errorf("snapshot %s not recorded at %s: %+v", s.ShortID, d, s.Sites)
			}
		}
		if len(s.Missing) != 0 || s.DRC != "local" {
			t.Errorf("snapshot %s: %+v", s.ShortID, s)
		}
	}
	table := w.must("snapshots", "portal-files").stdout
	if !strings.Contains(table, "AT LOCAL") || !strings.Contains(table, "AT OFFSITE") || !strings.Contains(table, "AT ARCHIVE") {
		t.Errorf("snapshots table:\n%s", table)
	}
	st := w.drcStatus()
	for _, d := range st {
		if d.Status != "ok" || !d.Health.Reachable {
			t.Errorf("drc status: %+v", d)
		}
		if d.Role == "secondary" && (d.Replication == nil || d.Replication.SnapshotsPending != 0 || d.Replication.LagSeconds != 0) {
			t.Errorf("drc %s lags: %+v", d.DRC, d.Replication)
		}
	}
	if st[2].Health.FreeBytes == nil || st[0].Health.Versioning != "off" || st[0].Health.ObjectLock != "off" {
		t.Errorf("health: %+v / %+v", st[0].Health, st[2].Health)
	}
	v := w.must("verify", "--drc", "offsite")
	if !strings.Contains(v.stdout, "succeeded") || !strings.Contains(v.stdout, "0 / 0 / 0") {
		t.Errorf("verify --drc offsite:\n%s", v)
	}

	// The primary is gone: the off-site DRC restores on its own.
	local.Stop()
	w.restoreCompare("portal-files", second.SnapshotID, "offsite", src)
	os.Remove(filepath.Join(src, "new-upload.bin"))
	w.restoreCompare("portal-files", first.SnapshotID, "archive", src)
	// Without --drc, a restore falls back to a secondary and says so.
	dest := filepath.Join(w.dir, "fallback")
	r = w.must("restore", "portal-files", "--snapshot", first.SnapshotID, "--to", dest)
	if !strings.Contains(r.stdout, "primary unreachable") || !strings.Contains(r.stdout, `restored from drc "offsite"`) {
		t.Errorf("restore without --drc while the primary is down:\n%s", r)
	}
	if offs := w.snapshotsJSON("portal-files", "--drc", "offsite"); len(offs) != 2 {
		t.Errorf("snapshots --drc offsite: %+v", offs)
	}
	local.Start()
}

// The secondary's MinIO stops while a 300 MB snapshot is replicated: when it is back
// the backlog drains on its own, and no object there is partial or damaged.
func TestReplicationResumesAfterSecondaryOutage(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	local := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "cadang-offsite")
	src := filepath.Join(w.dir, "srv", "big")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		testenv.RandomFile(t, filepath.Join(src, fmt.Sprintf("part-%d.bin", i)), 100<<20, uint64(100+i))
	}
	// A slow link to the off-site DRC, so that the outage lands in the middle.
	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") +
		s3DRC("offsite", "secondary", offsite, "", "cadang-offsite") + replicationYAML(", bandwidth: 5MiB/s") + fmt.Sprintf(oneTarget, src))
	w.must("init")
	w.startDaemon()
	bk, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	waitFor(t, "replication to be under way", 3*time.Minute, func() (bool, string) {
		n := len(bucketObjects(t, offsite, "cadang-offsite"))
		return n >= 3, fmt.Sprintf("%d objects off-site", n)
	})
	n, all := len(bucketObjects(t, offsite, "cadang-offsite")), len(bucketObjects(t, local, "cadang"))
	offsite.Stop()
	if n >= all {
		t.Fatalf("replication finished (%d of %d objects) before the outage", n, all)
	}
	waitFor(t, "the replicate run to fail", 2*time.Minute, func() (bool, string) {
		for _, run := range w.runs("") {
			if run.Op == "replicate" && run.Status == "failed" {
				return true, ""
			}
		}
		return false, "no failed replicate run yet"
	})
	runs := w.runs("")
	for _, run := range runs {
		if run.Op == "replicate" && run.Status == "failed" && !strings.Contains(run.Error, `drc "offsite"`) {
			t.Errorf("the failure does not name the DRC: %q", run.Error)
		}
	}
	offsite.Start() // no manual step from here
	waitFor(t, "the backlog to drain", 5*time.Minute, func() (bool, string) {
		s := w.snapshotsJSON("portal-files")
		if len(s) == 1 {
			if _, ok := s[0].Sites["offsite"]; ok {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", s)
	})
	if d := diffObjects(bucketObjects(t, local, "cadang"), bucketObjects(t, offsite, "cadang-offsite")); d != "" {
		t.Fatalf("after the outage the sites differ: %s", d)
	}
	if n := intactBucket(t, offsite, "cadang-offsite"); n < 20 {
		t.Fatalf("only %d objects off-site", n)
	}
	var succeeded int
	for _, run := range w.runs("") {
		if run.Op == "replicate" && run.Status == "succeeded" {
			succeeded++
		}
	}
	if succeeded == 0 {
		t.Fatal("no replicate run succeeded")
	}
	v := w.must("verify", "--drc", "offsite", "--read-data")
	if !strings.Contains(v.stdout, "succeeded") {
		t.Fatalf("verify --read-data: %s", v)
	}
	local.Stop()
	w.restoreCompare("portal-files", bk.SnapshotID, "offsite", src)
	local.Start()
}

// A byte flipped in an object at the primary: the mirror refuses it and raises the
// alarm, in `drc status`, in the run and in the log.
func TestReplicationAlarmOnDamagedObject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	local := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "cadang-offsite")
	src := filepath.Join(w.dir, "srv", "portal")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 3<<20, 1)
	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") +
		s3DRC("offsite", "secondary", offsite, "", "cadang-offsite") + replicationYAML("") + fmt.Sprintf(oneTarget, src))
	w.must("init")
	w.startDaemon()
	if _, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	w.must("drc", "sync", "--wait")
	before := bucketObjects(t, offsite, "cadang-offsite")

	// The off-site DRC is away while a new backup is taken, so that its new pack can be
	// damaged at the primary before it is copied.
	offsite.Stop()
	testenv.RandomFile(t, filepath.Join(src, "b.bin"), 3<<20, 2)
	if _, r := w.backupJSON("portal-files"); r.code != 0 {
		t.Fatalf("backup with the secondary down must succeed: %s", r)
	}
	var victim string
	for name, size := range bucketObjects(t, local, "cadang") {
		if _, old := before[name]; !old && strings.HasPrefix(name, "data/") && size > 1<<20 {
			victim = name
		}
	}
	if victim == "" {
		t.Fatal("no new data pack at the primary")
	}
	ctx := context.Background()
	obj, err := local.Client().GetObject(ctx, "cadang", agencyID+"/"+victim, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0x20
	if _, err := local.Client().PutObject(ctx, "cadang", agencyID+"/"+victim, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	offsite.Start()

	waitFor(t, "the alarm", 3*time.Minute, func() (bool, string) {
		for _, d := range w.drcStatus() {
			if d.DRC == "local" && len(d.Alarms) > 0 {
				return true, ""
			}
		}
		return false, "no alarm yet"
	})
	// The hash-mismatch alarm, or, when the healer has already found no good copy
	// anywhere and quarantined the object (it may before the first poll above), the
	// data-lost alarm that replaces it; which run found the damage is checked below.
	st := w.drcStatus()
	var a api.Alarm
	for _, x := range st[0].Alarms {
		if x.Kind == "hash-mismatch" || x.Kind == "data-lost" && a.Kind == "" {
			a = x
		}
	}
	if st[0].Status != "alarm" || a.Object != victim ||
		a.Kind == "hash-mismatch" && !strings.Contains(a.Message, "content does not match its name") {
		t.Fatalf("no hash-mismatch alarm for %s: %+v (status %s)", victim, st[0].Alarms, st[0].Status)
	}
	if _, there := bucketObjects(t, offsite, "cadang-offsite")[victim]; there {
		t.Fatal("the damaged object was copied off-site")
	}
	intactBucket(t, offsite, "cadang-offsite")
	// The table shows the alarm: the damaged object's, or, once the healer found no good
	// copy anywhere and quarantined it (which may be before this line), the data loss
	// that replaces it.
	table := w.must("drc", "status").stdout
	if !strings.Contains(table, "ALARM") || !strings.Contains(table, victim) && !strings.Contains(table, "data-lost") {
		t.Errorf("drc status does not show the alarm:\n%s", table)
	}
	// The replication found it, whichever alarm the status shows now.
	if l := w.log(); !strings.Contains(l, "ALARM") || !strings.Contains(l, "kind=hash-mismatch") || !strings.Contains(l, "object="+victim) {
		t.Error("the daemon's log does not show the hash-mismatch alarm")
	}
	// No DRC holds a good copy: cadang moves the object aside at the primary, repairs
	// the index there (so no backup deduplicates against it again) and names the loss.
	d := w.waitDamage("local", victim, "quarantined")
	if !d.Lost || d.RepairRun == 0 {
		t.Errorf("damage record: %+v", d)
	}
	s := w.snapshotsJSON("portal-files")
	if len(s) != 2 || s[1].Damaged["local"] == "" || s[0].Damaged["local"] != "" {
		t.Fatalf("the snapshot built on the damaged pack must be marked, the other not: %+v", s)
	}
	lost := false
	for _, a := range w.alarms(false) {
		lost = lost || (a.Kind == "data-lost" && a.DRC == "local" && strings.Contains(a.Message, s[1].ID[:8]))
	}
	if !lost {
		t.Errorf("no data-lost alarm naming snapshot %s: %+v", s[1].ID, w.alarms(false))
	}
	// The next backup uploads the data again; its snapshot restores at both DRCs and
	// nothing damaged reached the secondary.
	third, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("the backup after the repair: %s", r)
	}
	if sync := w.cadang("drc", "sync", "--wait"); sync.code != 0 {
		t.Logf("drc sync after the repair: %s", sync)
	}
	waitFor(t, "the new snapshot at the secondary", 3*time.Minute, func() (bool, string) {
		s := w.snapshotsJSON("portal-files")
		_, ok := s[len(s)-1].Sites["offsite"]
		return ok, fmt.Sprintf("%+v", s[len(s)-1])
	})
	intactBucket(t, offsite, "cadang-offsite")
	if v := w.must("verify", "--drc", "offsite"); !strings.Contains(v.stdout, "succeeded") {
		t.Errorf("the secondary must stay a consistent repository: %s", v)
	}
	w.restoreCompare("portal-files", third.SnapshotID, "local", src)
	w.restoreCompare("portal-files", third.SnapshotID, "offsite", src)
}

// The primary is stopped: a backup lands at the secondary (recorded as such); when the
// primary is back, both converge. Then a prune at the primary: once delete_after has
// passed the deletions reach the secondary, and every snapshot restores at both.
func TestReplicationPrimaryOutageAndDeletions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	local := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "cadang-offsite")
	src := filepath.Join(w.dir, "srv", "portal")
	makeTree(t, src, 6<<20)
	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") +
		s3DRC("offsite", "secondary", offsite, "", "cadang-offsite") + replicationYAML(", delete_after: 30s") + fmt.Sprintf(oneTarget, src))
	w.must("init")
	w.startDaemon()
	first, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	w.must("drc", "sync", "--wait")

	local.Stop()
	testenv.RandomFile(t, filepath.Join(src, "during-outage.bin"), 5<<20, 9)
	routed, r := w.backupJSON("portal-files")
	if r.code != 0 || routed.DRC != "offsite" || !strings.Contains(strings.Join(routed.Notes, " "), "primary unreachable") {
		t.Fatalf("backup with the primary down: %s\n%+v", r, routed)
	}
	s := w.snapshotsJSON("portal-files")
	if len(s) != 2 || s[1].ID != routed.SnapshotID || s[1].DRC != "offsite" || len(s[1].Sites) != 1 || s[1].Missing[0] != "local" {
		t.Fatalf("the routed snapshot in the ledger: %+v", s)
	}
	if st := w.drcStatus(); st[0].Status != "unreachable" || st[1].Replication.ToPrimary != 1 {
		t.Errorf("drc status with the primary down: %+v %+v", st[0], st[1].Replication)
	}

	local.Start() // no manual step from here
	waitFor(t, "the routed snapshot at the primary", 3*time.Minute, func() (bool, string) {
		s := w.snapshotsJSON("portal-files")
		_, ok := s[len(s)-1].Sites["local"]
		return ok, fmt.Sprintf("%+v", s[len(s)-1].Sites)
	})
	if d := diffObjects(bucketObjects(t, local, "cadang"), bucketObjects(t, offsite, "cadang-offsite")); d != "" {
		t.Fatalf("the sites did not converge: %s", d)
	}
	w.restoreCompare("portal-files", routed.SnapshotID, "local", src)

	// Prune at the primary, as retention does: forget the first snapshot.
	w.resticAt(local, "cadang", "local", "forget", first.SnapshotID, "--prune")
	w.must("drc", "sync", "--wait")
	s = w.snapshotsJSON("portal-files")
	if len(s) != 2 || s[0].ID != first.SnapshotID || s[0].DeleteAt["offsite"].IsZero() || len(s[0].Sites) != 1 {
		t.Fatalf("a snapshot forgotten at the primary must wait at the secondary: %+v", s)
	}
	if d := diffObjects(bucketObjects(t, local, "cadang"), bucketObjects(t, offsite, "cadang-offsite")); d == "" {
		t.Fatal("the deletion reached the secondary at once")
	}
	st := w.drcStatus()
	if st[1].Replication.PendingDeletions == 0 {
		t.Errorf("pending deletions not shown: %+v", st[1].Replication)
	}
	aside := filepath.Join(w.dir, "aside.bin")
	if err := os.Rename(filepath.Join(src, "during-outage.bin"), aside); err != nil {
		t.Fatal(err)
	}
	w.restoreCompare("portal-files", first.SnapshotID, "offsite", src) // still there during the grace

	waitFor(t, "the deletions to reach the secondary", 3*time.Minute, func() (bool, string) {
		d := diffObjects(bucketObjects(t, local, "cadang"), bucketObjects(t, offsite, "cadang-offsite"))
		return d == "", d
	})
	s = w.snapshotsJSON("portal-files")
	if len(s) != 1 || s[0].ID != routed.SnapshotID || len(s[0].Sites) != 2 {
		t.Fatalf("after the deletions: %+v", s)
	}
	if err := os.Rename(aside, filepath.Join(src, "during-outage.bin")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"local", "offsite"} {
		w.restoreCompare("portal-files", routed.SnapshotID, d, src)
		if v := w.must("verify", "--drc", d); !strings.Contains(v.stdout, "succeeded") {
			t.Errorf("verify --drc %s: %s", d, v)
		}
	}
}
