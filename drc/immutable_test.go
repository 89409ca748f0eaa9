package drc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/minio/minio-go/v7"
)

func immutableConfig(m *testenv.MinIO, bucket string, create bool) drc.Config {
	return drc.Config{Name: "offsite", Role: drc.RoleSecondary,
		S3:           &drc.S3Config{Endpoint: m.Endpoint, Bucket: bucket, AccessKey: m.AccessKey, SecretKeyFile: m.SecretKeyFile(), Insecure: true, CreateBucket: create},
		Immutability: &drc.Immutability{Mode: drc.ModeGovernance, Retain: 24 * time.Hour},
		Replication:  drc.Replication{DeleteAfter: time.Hour}}
}

// With real MinIO: init creates an immutable DRC's bucket with object lock; objects put
// there carry a retention date of now + retain + delete_after, cannot be removed
// before it (Delete says so, and leaves them), can be extended; restic's lock files are
// not locked. An existing bucket without object lock is refused at init and in the
// health check, in one line naming the DRC and the bucket.
func TestImmutableBucketAndRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := testenv.StartMinIO(t, "plain")
	r := newRestic(t)

	// A bucket without object lock: refused.
	bad := openSite(t, r, t.TempDir(), immutableConfig(m, "plain", true))
	res := drc.Ensure(ctx, []*drc.Site{bad}, "dinkes")
	if res[0].Action != "failed" || !strings.Contains(res[0].Error, `bucket "plain" of drc "offsite" has no object lock`) || strings.Contains(res[0].Error, "\n") {
		t.Fatalf("init of an immutable drc on a bucket without lock: %+v", res[0])
	}
	if h := bad.Health(ctx, time.Now); h.LockError == "" || !strings.Contains(h.LockError, `bucket "plain" of drc "offsite" has no object lock`) || h.Immutability != "governance, 1d" {
		t.Errorf("health of the bucket without lock: %+v", h)
	}
	// A write with a retention date is refused there: never stored unlocked.
	if err := bad.Repo("dinkes").Store.Put(ctx, "data/ab/abff", strings.NewReader("x"), 1); err == nil {
		t.Errorf("a locked put to a bucket without object lock succeeded")
	}
	if objs := objectNames(t, bad.Store, ""); len(objs) != 0 {
		t.Errorf("nothing may be written to a bucket that cannot lock: %v", objs)
	}

	// create_bucket: made with object lock.
	site := openSite(t, r, t.TempDir(), immutableConfig(m, "locked", true))
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Error != "" {
		t.Fatalf("init: %+v", res[0])
	}
	if enabled, _, _, _, err := m.Client().GetObjectLockConfig(ctx, "locked"); err != nil || enabled != "Enabled" {
		t.Fatalf("the bucket was not made with object lock: %q %v", enabled, err)
	}
	if h := site.Health(ctx, time.Now); h.LockError != "" || !h.Reachable {
		t.Errorf("health: %+v", h)
	}
	repo := site.Repo("dinkes")
	// The config seeded by init is locked.
	before := time.Now()
	cr, err := drc.ObjectRetention(ctx, repo.Store, "config")
	if err != nil || cr.Mode != "GOVERNANCE" || cr.Until.Before(before.Add(25*time.Hour-time.Minute)) || cr.Until.After(before.Add(25*time.Hour+time.Minute)) {
		t.Errorf("retention of config: %+v, %v", cr, err)
	}

	data := []byte("pack bytes")
	if err := repo.Store.Put(ctx, "data/ab/abcd", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put with retention: %v", err)
	}
	ret, err := drc.ObjectRetention(ctx, repo.Store, "data/ab/abcd")
	if err != nil || ret.Mode != "GOVERNANCE" || ret.Until.Before(before.Add(25*time.Hour-time.Minute)) {
		t.Fatalf("retention of a put object: %+v, %v", ret, err)
	}
	// Delete leaves a locked object and says why.
	err = repo.Store.Delete(ctx, "data/ab/abcd")
	if !errors.Is(err, drc.ErrRetained) || !strings.Contains(err.Error(), "data/ab/abcd") {
		t.Errorf("delete of a locked object: %v", err)
	}
	if _, err := repo.Store.Stat(ctx, "data/ab/abcd"); err != nil {
		t.Errorf("the locked object must stay: %v", err)
	}
	// The store's key cannot remove the version either (no bypass).
	info, _ := m.Client().StatObject(ctx, "locked", "dinkes/data/ab/abcd", minio.StatObjectOptions{})
	if err := m.Client().RemoveObject(ctx, "locked", "dinkes/data/ab/abcd", minio.RemoveObjectOptions{VersionID: info.VersionID}); err == nil {
		t.Errorf("the locked version was removed")
	}

	// Extension: later only.
	later := time.Now().Add(72 * time.Hour)
	if ok, err := drc.ExtendRetention(ctx, repo.Store, "data/ab/abcd", later); !ok || err != nil {
		t.Fatalf("extend: %v %v", ok, err)
	}
	if ret, _ := drc.ObjectRetention(ctx, repo.Store, "data/ab/abcd"); ret.Until.Before(later) {
		t.Errorf("not extended: %+v", ret)
	}
	if ok, err := drc.ExtendRetention(ctx, repo.Store, "data/ab/abcd", time.Now().Add(time.Hour)); ok || err != nil {
		t.Errorf("an earlier date must not be set: %v %v", ok, err)
	}

	// restic's lock files are not locked: restic removes them when done.
	if err := repo.Store.Put(ctx, "locks/0011", strings.NewReader("l"), 1); err != nil {
		t.Fatal(err)
	}
	if ret, _ := drc.ObjectRetention(ctx, repo.Store, "locks/0011"); !ret.Until.IsZero() {
		t.Errorf("a lock file was locked: %+v", ret)
	}
	if err := repo.Store.Delete(ctx, "locks/0011"); err != nil {
		t.Errorf("delete a lock file: %v", err)
	}

	// An object whose retention has expired is removed for good (no delete marker).
	short := m.Client()
	until := time.Now().Add(2 * time.Second)
	mode := minio.Governance
	if _, err := short.PutObject(ctx, "locked", "dinkes/index/ef01", strings.NewReader("ix"), 2,
		minio.PutObjectOptions{Mode: mode, RetainUntilDate: until}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(until) + time.Second)
	if err := repo.Store.Delete(ctx, "index/ef01"); err != nil {
		t.Fatalf("delete of an expired object: %v", err)
	}
	n := 0
	for obj := range short.ListObjects(ctx, "locked", minio.ListObjectsOptions{Prefix: "dinkes/index/", Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
	}
	if n != 0 {
		t.Errorf("%d versions left of an expired object", n)
	}
}

// With real MinIO: plain deletes with the DRC's own keys hide objects behind delete
// markers; HiddenObjects finds them (not restic's lock files) and Unhide brings them
// back, byte for byte.
func TestHiddenObjectsAndUnhide(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := testenv.StartMinIO(t, "warmup") // waits until the server makes buckets
	r := newRestic(t)
	site := openSite(t, r, t.TempDir(), immutableConfig(m, "locked", true))
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Error != "" {
		t.Fatalf("init: %+v", res[0])
	}
	repo := site.Repo("dinkes")
	for _, name := range []string{"data/ab/ab01", "snapshots/cd02"} {
		if err := repo.Store.Put(ctx, name, strings.NewReader(name), int64(len(name))); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := site.HiddenObjects(ctx, "dinkes"); err != nil || len(h) != 0 {
		t.Fatalf("hidden before the attack: %+v %v", h, err)
	}
	// The attacker: plain deletes of everything, twice (two markers), and a lock file.
	c := m.Client()
	for i := 0; i < 2; i++ {
		for obj := range c.ListObjects(ctx, "locked", minio.ListObjectsOptions{Prefix: "dinkes/", Recursive: true}) {
			if err := c.RemoveObject(ctx, "locked", obj.Key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.RemoveObject(ctx, "locked", "dinkes/data/ab/ab01", minio.RemoveObjectOptions{})
	}
	if _, err := repo.Store.Stat(ctx, "data/ab/ab01"); !errors.Is(err, drc.ErrNotExist) {
		t.Fatalf("the attack did not hide the pack: %v", err)
	}
	hidden, err := site.HiddenObjects(ctx, "dinkes")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, h := range hidden {
		names[h.Name] = true
	}
	if !names["data/ab/ab01"] || !names["snapshots/cd02"] || !names["config"] || len(hidden) < 4 {
		t.Fatalf("hidden: %+v", hidden)
	}
	for _, h := range hidden {
		if strings.HasPrefix(h.Name, "locks/") {
			t.Errorf("a lock file counted as hidden: %s", h.Name)
		}
		if err := site.Unhide(ctx, "dinkes", h); err != nil {
			t.Fatal(err)
		}
	}
	got, err := drc.ReadObject(ctx, repo.Store, "data/ab/ab01")
	if err != nil || string(got) != "data/ab/ab01" {
		t.Errorf("after unhide: %q %v", got, err)
	}
	if err := repo.Open(ctx); err != nil {
		t.Errorf("the repository does not open after unhide: %v", err)
	}
	if h, err := site.HiddenObjects(ctx, "dinkes"); err != nil || len(h) != 0 {
		t.Errorf("hidden after unhide: %+v %v", h, err)
	}
}

// With real MinIO: an attacker puts new versions over a pack, an index file, the
// repository's config and a state bundle (one of them hidden behind a delete marker
// as well); OverwrittenObjects finds exactly those (a pack written twice with the same
// content, as a repair does, is not), RestoreVersion makes the intact earlier version
// current again, locked, and the state bundle's hidden marker is found under StateScope.
func TestOverwrittenObjectsAndRestoreVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := testenv.StartMinIO(t, "warmup")
	r := newRestic(t)
	site := openSite(t, r, t.TempDir(), immutableConfig(m, "locked", true))
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Error != "" {
		t.Fatalf("init: %+v", res[0])
	}
	repo := site.Repo("dinkes")
	named := func(content string) string {
		sum := sha256.Sum256([]byte(content))
		return hex.EncodeToString(sum[:])
	}
	pack, index, twice := "pack content", "index content", "repaired pack"
	objs := map[string]string{
		"data/" + named(pack)[:2] + "/" + named(pack):   pack,
		"index/" + named(index):                         index,
		"data/" + named(twice)[:2] + "/" + named(twice): twice,
	}
	for name, content := range objs {
		if err := repo.Store.Put(ctx, name, strings.NewReader(content), int64(len(content))); err != nil {
			t.Fatal(err)
		}
	}
	twiceName := "data/" + named(twice)[:2] + "/" + named(twice)
	if err := repo.Store.Put(ctx, twiceName, strings.NewReader(twice), int64(len(twice))); err != nil {
		t.Fatal(err)
	}
	const bundle = "_state/cadang-state-20261202T080000Z.age"
	if err := site.Store.Put(ctx, bundle, strings.NewReader("bundle"), 6); err != nil {
		t.Fatal(err)
	}
	config, err := drc.ReadObject(ctx, repo.Store, "config")
	if err != nil {
		t.Fatal(err)
	}
	if o, err := site.OverwrittenObjects(ctx, "dinkes"); err != nil || len(o) != 0 {
		t.Fatalf("overwritten before the attack: %+v %v", o, err)
	}

	// The attacker: garbage of the same size over the pack, of another size over the
	// index, the config and the bundle; then the bundle hidden too.
	c := m.Client()
	packName, indexName := "data/"+named(pack)[:2]+"/"+named(pack), "index/"+named(index)
	for key, garbage := range map[string]string{
		"dinkes/" + packName:  strings.Repeat("x", len(pack)),
		"dinkes/" + indexName: "garbage",
		"dinkes/config":       "garbage config",
		bundle:                "garbage bundle",
	} {
		if _, err := c.PutObject(ctx, "locked", key, strings.NewReader(garbage), int64(len(garbage)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveObject(ctx, "locked", bundle, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	hidden, err := site.HiddenObjects(ctx, drc.StateScope)
	if err != nil || len(hidden) != 1 || hidden[0].Name != strings.TrimPrefix(bundle, "_state/") {
		t.Fatalf("hidden state bundles: %+v %v", hidden, err)
	}
	if err := site.Unhide(ctx, drc.StateScope, hidden[0]); err != nil {
		t.Fatal(err)
	}

	for scope, want := range map[string][]string{"dinkes": {"config", indexName, packName}, drc.StateScope: {strings.TrimPrefix(bundle, "_state/")}} {
		over, err := site.OverwrittenObjects(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range over {
			got = append(got, o.Name)
			if o.Good == "" || o.Why == "" {
				t.Errorf("%s: %+v", o.Name, o)
			}
			if err := site.RestoreVersion(ctx, scope, o); err != nil {
				t.Fatal(err)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: overwritten %v, want %v", scope, got, want)
		}
		if o, err := site.OverwrittenObjects(ctx, scope); err != nil || len(o) != 0 {
			t.Errorf("%s: overwritten after the restore: %+v %v", scope, o, err)
		}
	}
	for name, content := range map[string]string{packName: pack, indexName: index, "config": string(config)} {
		got, err := drc.ReadObject(ctx, repo.Store, name)
		if err != nil || string(got) != content {
			t.Errorf("%s after the restore: %q %v", name, got, err)
		}
		if ret, err := drc.ObjectRetention(ctx, repo.Store, name); err != nil || ret.Until.Before(time.Now().Add(24*time.Hour)) {
			t.Errorf("%s restored without its lock: %+v %v", name, ret, err)
		}
	}
	if got, err := drc.ReadObject(ctx, site.Store, bundle); err != nil || string(got) != "bundle" {
		t.Errorf("the bundle after the restore: %q %v", got, err)
	}
	if err := repo.Open(ctx); err != nil {
		t.Errorf("the repository does not open after the restore: %v", err)
	}
}

// With real MinIO and a key that cannot delete (docs/ransomware.md's policy, made with
// mc): deleting an object whose retention has expired is ErrDeleteDenied (left for a
// lifecycle rule), not a failure of another kind; a locked one is still ErrRetained.
func TestDeleteWithAKeyThatCannotDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := testenv.StartMinIO(t, "warmup")
	root := m.Client()
	if err := root.MakeBucket(ctx, "locked", minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"], "Resource": ["arn:aws:s3:::locked"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObjectRetention", "s3:PutObjectRetention"], "Resource": ["arn:aws:s3:::locked/*"]},
  {"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": ["arn:aws:s3:::locked/*/locks/*"]}]}`
	m.AddUser(t, "offsite-key", "offsite-key-secret", "nodelete", policy)
	cfg := immutableConfig(m, "locked", false)
	cfg.S3.AccessKey, cfg.S3.SecretKeyFile, cfg.S3.SecretKey = "offsite-key", "", "offsite-key-secret"
	site := openSite(t, newRestic(t), t.TempDir(), cfg)
	st := site.Repo("dinkes").Store
	if err := st.Put(ctx, "data/ab/ab01", strings.NewReader("x"), 1); err != nil {
		t.Fatalf("put with the key that cannot delete: %v", err)
	}
	if err := st.Delete(ctx, "data/ab/ab01"); !errors.Is(err, drc.ErrRetained) {
		t.Errorf("delete of a locked object: %v", err)
	}
	until := time.Now().Add(2 * time.Second)
	if _, err := root.PutObject(ctx, "locked", "dinkes/index/cd02", strings.NewReader("ix"), 2,
		minio.PutObjectOptions{Mode: minio.Governance, RetainUntilDate: until}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(until) + time.Second)
	err := st.Delete(ctx, "index/cd02")
	if !errors.Is(err, drc.ErrDeleteDenied) || !strings.Contains(err.Error(), "index/cd02") || strings.Contains(err.Error(), "offsite-key-secret") {
		t.Errorf("delete of an expired object with a key that cannot delete: %v", err)
	}
	if _, err := st.Stat(ctx, "index/cd02"); err != nil {
		t.Errorf("the expired object must stay: %v", err)
	}
}
