package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// immutableDRC is the YAML of an S3 secondary whose bucket cadang creates with object
// lock, with immutability and replication settings.
func immutableDRC(name string, m *testenv.MinIO, bucket, mode string) string {
	return fmt.Sprintf("  - name: %s\n    role: secondary\n    s3: {endpoint: %q, bucket: %s, access_key: %s, secret_key_file: %s, insecure: true, create_bucket: true}\n"+
		"    immutability: {mode: %s, retain: 1d}\n    replication: {interval: 1h, delete_after: 1h}\n",
		name, m.Endpoint, bucket, m.AccessKey, m.SecretKeyFile(), mode)
}

// Ransomware with root on cadang's host (docs/ransomware.md): it holds the S3 keys of
// both DRCs and the repository passwords. With two real MinIO servers, the off-site
// bucket made by `cadang init` with object lock: after a backup, a sync and a state
// bundle, every object off-site is locked; an attacker using the host's keys deletes
// every version it can (refused by the lock), runs `restic forget --prune` at the
// off-site DRC, puts new versions over a pack, an index file and a snapshot file, hides
// everything left with plain deletes (delete markers), tries to delete the bucket, and
// empties the primary. `drc status` reports the hidden objects (the state bundle's
// too); `drc recover` makes them visible again and gives the overwritten ones their
// locked version back; a restore and a drill from the off-site DRC give back the
// source; `cadang init` and `drc sync` rebuild the primary from the off-site copy, and
// `cadang verify` is clean at both DRCs.
func TestImmutableOffsiteSurvivesAnAttacker(t *testing.T) {
	w := newWorld(t)
	local := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "warmup") // the off-site bucket is cadang's to create
	src := filepath.Join(w.dir, "srv", "portal")
	makeTree(t, src, 4<<20)
	escrow, _ := age.GenerateX25519Identity()

	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") + immutableDRC("offsite", offsite, "cadang-offsite", "governance") + `
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [` + src + `]}}
state_protection: {escrow_recipients: [` + escrow.Recipient().String() + `], interval: 1h}
`)
	w.must("init")
	ctx := context.Background()
	oc := offsite.Client()
	if enabled, _, _, _, err := oc.GetObjectLockConfig(ctx, "cadang-offsite"); err != nil || enabled != "Enabled" {
		t.Fatalf("init did not create the off-site bucket with object lock: %q %v", enabled, err)
	}
	w.startDaemon()
	backup, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	sync := w.must("drc", "sync", "--wait")
	if !strings.Contains(sync.stdout, "succeeded") {
		t.Fatalf("drc sync: %s", sync)
	}
	// cadang's own state goes to every DRC too (locked off-site like all it writes there).
	bundleOffsite := func() (bool, string) {
		out := w.must("state", "status", "--json").stdout
		var ss api.StateStatus
		mustJSON(t, out, &ss)
		for _, d := range ss.DRCs {
			if d.DRC == "offsite" && d.Whole && d.Bundles > 0 {
				return true, out
			}
		}
		return false, out
	}
	waitFor(t, "a state bundle off-site", 2*time.Minute, bundleOffsite)
	// The ledger says until when the snapshot's off-site copy is locked (not the primary's).
	snaps := w.snapshotsJSON("portal-files")
	if len(snaps) != 1 || snaps[0].Immutable["offsite"].Before(time.Now().Add(24*time.Hour)) || !snaps[0].Immutable["local"].IsZero() {
		t.Errorf("snapshots: immutable %v, want the off-site copy locked for at least a day", snaps[0].Immutable)
	}
	if table := w.must("snapshots", "portal-files").stdout; !strings.Contains(table, "locked until") {
		t.Errorf("snapshots does not say until when the copy is locked:\n%s", table)
	}
	// The first pass since the daemon started extended the retention (once a day after).
	extended := 0
	for _, ri := range w.runs("") {
		if ri.Op == "replicate" && strings.Contains(strings.Join(ri.Notes, "\n"), `retention at drc "offsite"`) {
			extended++
		}
	}
	if extended != 1 {
		t.Errorf("%d replicate runs extended the retention; want 1", extended)
	}

	// Every replicated object off-site (and config and keys) is locked for retain + delete_after.
	now := time.Now()
	n := 0
	for obj := range oc.ListObjects(ctx, "cadang-offsite", minio.ListObjectsOptions{Prefix: agencyID + "/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, agencyID+"/")
		if strings.HasPrefix(name, "locks/") {
			continue
		}
		mode, until, err := oc.GetObjectRetention(ctx, "cadang-offsite", obj.Key, "")
		if err != nil || mode == nil || *mode != minio.Governance || until == nil || until.Before(now.Add(24*time.Hour)) {
			t.Errorf("%s: retention %v %v %v", name, mode, until, err)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d objects off-site", n)
	}
	st := w.drcStatus()
	im := st[1].Immutability
	if im == nil || im.Mode != "governance" || im.Retain != "1d" || im.LockedUntil.Before(now.Add(24*time.Hour)) || len(im.Hidden) != 0 || st[1].Status != "ok" ||
		im.KeyCanDelete == nil || !*im.KeyCanDelete || im.Warning != "" {
		t.Fatalf("drc status of the immutable DRC: %+v %+v", st[1], im)
	}
	if table := w.must("drc", "status").stdout; !strings.Contains(table, "IMMUTABLE") || !strings.Contains(table, "governance 1d, newest snapshot locked until") {
		t.Errorf("drc status table:\n%s", table)
	}

	// The attacker, with the host's keys (the same access key as cadang's) and the
	// repository passwords in the host's state dir. First every version of everything
	// off-site: refused by the lock.
	refused, hidden := 0, 0
	type version struct{ key, id string }
	var versions []version
	overwrite := map[string]string{} // kind -> a key of that kind
	for obj := range oc.ListObjects(ctx, "cadang-offsite", minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		versions = append(versions, version{obj.Key, obj.VersionID})
		if kind := strings.Split(strings.TrimPrefix(obj.Key, agencyID+"/"), "/")[0]; strings.HasPrefix(obj.Key, agencyID+"/") && (kind == "data" || kind == "index" || kind == "snapshots") {
			overwrite[kind] = obj.Key
		}
	}
	for _, v := range versions {
		if err := oc.RemoveObject(ctx, "cadang-offsite", v.key, minio.RemoveObjectOptions{VersionID: v.id}); err != nil {
			refused++
		}
	}
	// restic forget --prune at the off-site DRC.
	w.resticAt(offsite, "cadang-offsite", "offsite", "forget", backup.SnapshotID, "--prune")
	if out := w.resticAt(offsite, "cadang-offsite", "offsite", "snapshots", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("restic forget --prune left snapshots off-site: %s", out)
	}
	// New versions over a pack, an index file and a snapshot file.
	if len(overwrite) != 3 {
		t.Fatalf("objects to overwrite: %v", overwrite)
	}
	for _, key := range overwrite {
		note := "your files are encrypted"
		if _, err := oc.PutObject(ctx, "cadang-offsite", key, strings.NewReader(note), int64(len(note)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("an overwrite off-site: %v", err)
		}
	}
	// Plain deletes of everything still visible (the state bundles too).
	for obj := range oc.ListObjects(ctx, "cadang-offsite", minio.ListObjectsOptions{Recursive: true}) {
		if err := oc.RemoveObject(ctx, "cadang-offsite", obj.Key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("a plain delete off-site: %v", err)
		}
		hidden++
	}
	if err := oc.RemoveBucket(ctx, "cadang-offsite"); err == nil {
		t.Fatal("the off-site bucket was removed")
	}
	if err := oc.RemoveBucketWithOptions(ctx, "cadang-offsite", minio.RemoveBucketOptions{ForceDelete: true}); err == nil {
		t.Fatal("the off-site bucket was force-removed")
	}
	lc := local.Client()
	for obj := range lc.ListObjects(ctx, "cadang", minio.ListObjectsOptions{Recursive: true}) {
		if err := lc.RemoveObject(ctx, "cadang", obj.Key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if refused < n || hidden < 3 {
		t.Fatalf("attack: %d version deletes refused, %d objects hidden; %d locked objects", refused, hidden, n)
	}
	if left := bucketObjects(t, offsite, "cadang-offsite"); len(left) != 0 {
		t.Fatalf("the attack left objects visible: %v", left)
	}

	// drc status sees the hidden objects, the state bundle's included.
	st = w.drcStatus()
	im = st[1].Immutability
	if im == nil || im.Hidden[agencyID] < n || im.Hidden["_state"] < 2 || st[1].Status != "alarm" || !strings.Contains(strings.Join(st[1].Problems, "\n"), "cadang drc recover --drc offsite") {
		t.Fatalf("drc status after the attack: %+v %+v", st[1], im)
	}
	if r := w.cadang("drc", "status", "--check"); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "hidden behind delete markers") {
		t.Errorf("drc status --check after the attack: %s", r)
	}

	rec := w.must("drc", "recover", "--drc", "offsite", "--wait")
	if !strings.Contains(rec.stdout, "succeeded") || !strings.Contains(rec.stdout, "made visible again") {
		t.Fatalf("drc recover: %s", rec)
	}
	var runs []api.RunInfo
	for _, ri := range w.runs("") {
		if ri.Op == "recover" {
			runs = append(runs, ri)
		}
	}
	var repoRun, stateRun *api.RunInfo
	for i := range runs {
		switch runs[i].Agency {
		case agencyID:
			repoRun = &runs[i]
		case "":
			stateRun = &runs[i]
		}
	}
	if len(runs) != 2 || repoRun == nil || stateRun == nil || repoRun.DRC != "offsite" || repoRun.FilesProcessed < uint64(n) || stateRun.FilesProcessed < 2 {
		t.Fatalf("recover runs: %+v", runs)
	}
	var rep api.RecoverReport
	mustJSON(t, string(repoRun.Manifest), &rep)
	if rep.Overwritten != 3 || rep.Restored != 3 || rep.Failed != 0 || len(rep.Replaced) != 3 {
		t.Errorf("recover of the overwritten objects: %+v", rep)
	}
	st = w.drcStatus()
	if im := st[1].Immutability; im == nil || len(im.Hidden) != 0 {
		t.Errorf("hidden after recover: %+v", im)
	}
	if ok, out := bundleOffsite(); !ok {
		t.Errorf("the state bundle off-site after recover: %s", out)
	}
	w.restoreCompare("portal-files", backup.SnapshotID, "offsite", src)
	w.must("drill", "portal-files", "--drc", "offsite", "--wait")
	if drills, _ := drillRuns(t, w, "portal-files"); len(drills) != 1 || drills[0].Status != "succeeded" {
		t.Fatalf("the drill from offsite after recover: %+v", drills)
	}

	// The primary, emptied, is rebuilt from the off-site copy: init seeds its repository
	// from there, and the next pass brings everything back (docs/two-drcs.md).
	if r := w.must("init"); !strings.Contains(r.stdout, "seeded from offsite") {
		t.Fatalf("init after the attack: %s", r)
	}
	if s := w.must("drc", "sync", "--wait"); !strings.Contains(s.stdout, "succeeded") {
		t.Fatalf("drc sync after the attack: %s", s)
	}
	for _, d := range []string{"local", "offsite"} {
		w.must("verify", "--drc", d)
	}
	w.restoreCompare("portal-files", backup.SnapshotID, "local", src)
	st = w.drcStatus()
	if st[0].Status != "ok" || st[1].Status != "ok" {
		t.Errorf("drc status after the rebuild: %+v\n%+v", st[0], st[1])
	}
}

// An immutable DRC on an existing bucket without object lock: `cadang config check`
// reports it as a located problem (file:line:col at the DRC's immutability section,
// exit 2), `cadang init` refuses it in one line naming the DRC and the bucket, and
// nothing is written there. With the DRC unreachable, config check says its lock was
// not checked and passes.
func TestImmutableDRCWithoutObjectLock(t *testing.T) {
	w := newWorld(t)
	local := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "plain")
	src := filepath.Join(w.dir, "srv")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") + immutableDRC("offsite", offsite, "plain", "compliance") + `
agencies:
  - {id: dinkes}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [` + src + `]}}
`)
	r := w.cadang("config", "check")
	located := regexp.MustCompile(`(?m)^\S+cadang\.yaml:\d+:\d+: drc "offsite": immutability: bucket "plain" of drc "offsite" has no object lock: `)
	if r.code != 2 || !located.MatchString(r.stderr) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("config check of an immutable drc on a bucket without object lock: %s", r)
	}
	unreachable := immutableDRC("offsite", offsite, "plain", "compliance")
	unreachable = strings.Replace(unreachable, offsite.Endpoint, fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), 1)
	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") + unreachable + `
agencies:
  - {id: dinkes}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [` + src + `]}}
`)
	if r := w.cadang("config", "check"); r.code != 0 || !strings.Contains(r.stderr, "object lock was not checked: the drc is unreachable") || !strings.Contains(r.stdout, ": ok:") {
		t.Fatalf("config check with the immutable drc unreachable: %s", r)
	}
	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") + immutableDRC("offsite", offsite, "plain", "compliance") + `
agencies:
  - {id: dinkes}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [` + src + `]}}
`)

	r = w.cadang("init")
	if r.code == 0 {
		t.Fatalf("init on a bucket without object lock succeeded: %s", r)
	}
	var line string
	for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
		if strings.Contains(l, "no object lock") {
			line = l
		}
	}
	if !strings.Contains(line, `bucket "plain" of drc "offsite" has no object lock`) {
		t.Fatalf("init: %s", r)
	}
	if objs := bucketObjects(t, offsite, "plain"); len(objs) != 0 {
		t.Errorf("objects written to the bucket without lock: %v", objs)
	}
}

// noDeletePolicy is the off-site key's policy of docs/ransomware.md (kept in step with it).
const noDeletePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketVersions",
                "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration",
                "s3:GetLifecycleConfiguration"],
     "Resource": ["arn:aws:s3:::BUCKET"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObjectRetention", "s3:PutObjectRetention"],
     "Resource": ["arn:aws:s3:::BUCKET/*"]},
    {"Effect": "Allow",
     "Action": ["s3:DeleteObject"],
     "Resource": ["arn:aws:s3:::BUCKET/*/locks/*"]}
  ]
}`

// The off-site DRC with a key that cannot delete (docs/ransomware.md's policy, made
// with MinIO's mc): init, backups, replication with retention, drc status, and a
// restore from the off-site DRC all work; the key cannot delete, nor hide, a
// replicated object there. drc status tells that the key cannot delete, warns while
// the bucket has no lifecycle rule expiring noncurrent versions and delete markers,
// and once one is added (mc ilm, as documented) says expired objects are left to it.
func TestImmutableWithAKeyThatCannotDelete(t *testing.T) {
	w := newWorld(t)
	local := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "warmup")
	ctx := context.Background()
	if err := offsite.Client().MakeBucket(ctx, "cadang-offsite", minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	const user, secret = "cadang-offsite", "offsite-secret-of-the-test"
	offsite.AddUser(t, user, secret, "cadang-nodelete", strings.ReplaceAll(noDeletePolicy, "BUCKET", "cadang-offsite"))
	secretFile := filepath.Join(w.dir, "offsite.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(w.dir, "srv", "portal")
	makeTree(t, src, 4<<20)
	w.config("drcs:\n" + s3DRC("local", "primary", local, "", "cadang") +
		fmt.Sprintf("  - name: offsite\n    role: secondary\n    s3: {endpoint: %q, bucket: cadang-offsite, access_key: %s, secret_key_file: %s, insecure: true}\n"+
			"    immutability: {mode: compliance, retain: 1d}\n    replication: {interval: 1h, delete_after: 1h}\n", offsite.Endpoint, user, secretFile) + `
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [` + src + `]}}
`)
	w.must("init")
	w.startDaemon()
	backup, r := w.backupJSON("portal-files")
	if r.code != 0 {
		t.Fatalf("backup: %s", r)
	}
	if s := w.must("drc", "sync", "--wait"); !strings.Contains(s.stdout, "succeeded") {
		t.Fatalf("drc sync: %s", s)
	}
	// Without a lifecycle rule, expired objects would stay forever: drc status warns
	// (not a problem: the status stays ok).
	st := w.drcStatus()
	if im := st[1].Immutability; st[1].Status != "ok" || im == nil || im.Mode != "compliance" || im.LockedUntil.IsZero() || im.Error != "" ||
		im.KeyCanDelete == nil || *im.KeyCanDelete || im.Lifecycle != "" || !strings.Contains(im.Warning, `bucket "cadang-offsite" has no lifecycle rule expiring noncurrent versions`) {
		t.Fatalf("drc status with the key that cannot delete: %+v %+v", st[1], im)
	}
	if table := w.must("drc", "status").stdout; !strings.Contains(table, "WARNING: drc \"offsite\": its key may not delete") {
		t.Errorf("drc status does not warn of the missing lifecycle rule:\n%s", table)
	}
	// The lifecycle rule of docs/ransomware.md, made with mc.
	if out, err := offsite.Mc(t, "ilm", "rule", "add", "--noncurrent-expire-days", "7", "--expire-delete-marker", "m/cadang-offsite"); err != nil {
		t.Fatalf("mc ilm rule add: %v\n%s", err, out)
	}
	st = w.drcStatus()
	if im := st[1].Immutability; st[1].Status != "ok" || im == nil || im.Warning != "" || im.Lifecycle != "noncurrent versions expire after 7 day(s), expired delete markers removed" {
		t.Fatalf("drc status with the lifecycle rule: %+v %+v", st[1], im)
	}
	if table := w.must("drc", "status").stdout; !strings.Contains(table, "offsite: expired objects left to the bucket's lifecycle rule (noncurrent versions expire after 7 day(s), expired delete markers removed)") {
		t.Errorf("drc status does not say expired objects are left to the lifecycle rule:\n%s", table)
	}
	w.restoreCompare("portal-files", backup.SnapshotID, "offsite", src)
	// A drill from the off-site DRC works with that key, and its Berita Acara says until
	// when the copy drilled cannot be changed.
	w.must("drill", "portal-files", "--drc", "offsite", "--wait")
	drills, _ := drillRuns(t, w, "portal-files")
	if len(drills) != 1 || drills[0].Status != "succeeded" {
		t.Fatalf("the drill from offsite: %+v", drills)
	}
	if html := w.must("report", "drill", fmt.Sprint(drills[0].ID), "--format", "html", "-o", "-").stdout; !strings.Contains(html, "tidak dapat diubah atau dihapus sekurang-kurangnya hingga") {
		t.Errorf("the drill's report does not say until when the off-site copy is locked")
	}

	// The key itself cannot delete a replicated object, nor hide it, nor remove its version.
	kc, err := minio.New(offsite.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(user, secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for obj := range kc.ListObjects(ctx, "cadang-offsite", minio.ListObjectsOptions{Prefix: agencyID + "/data/", Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if err := kc.RemoveObject(ctx, "cadang-offsite", obj.Key, minio.RemoveObjectOptions{}); err == nil {
			t.Errorf("the key hid %s", obj.Key)
		}
		if err := kc.RemoveObject(ctx, "cadang-offsite", obj.Key, minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: true}); err == nil {
			t.Errorf("the key deleted a version of %s", obj.Key)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no pack off-site")
	}
}
