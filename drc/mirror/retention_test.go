package mirror_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/internal/testenv"
)

// With real restic and MinIO, an immutable S3 secondary: every object the mirror
// copies there is locked for retain + delete_after; the extension pass (asked by the
// caller) counts what it read and moves the dates of objects still at the primary
// later when they come within retain/2 of their end (an injected clock); deletions that
// are due after the grace leave locked objects where they are, with a note, and the
// snapshot stays restorable there.
func TestMirrorImmutableSecondary(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, "warmup")
	start := time.Now()
	x := &pair{t: t, ctx: context.Background(), restic: newRestic(t), state: t.TempDir(), ledger: newMemLedger(),
		contents: mirror.NewContents(agency), now: start, arrived: map[string][]string{}, workers: 4}
	x.p = openSite(t, x.restic, x.state, drc.Config{Name: "local", Role: drc.RolePrimary, Path: filepath.Join(t.TempDir(), "local")})
	x.s = openSite(t, x.restic, x.state, drc.Config{Name: "offsite", Role: drc.RoleSecondary,
		S3:           &drc.S3Config{Endpoint: m.Endpoint, Bucket: "locked", AccessKey: m.AccessKey, SecretKeyFile: m.SecretKeyFile(), Insecure: true, CreateBucket: true},
		Immutability: &drc.Immutability{Mode: drc.ModeGovernance, Retain: 24 * time.Hour},
		Replication:  drc.Replication{DeleteAfter: 24 * time.Hour}})
	for _, r := range drc.Ensure(x.ctx, []*drc.Site{x.p, x.s}, agency) {
		if r.Error != "" {
			t.Fatalf("ensure: %+v", r)
		}
	}
	period := 48 * time.Hour // retain + delete_after
	run := func(extend bool) *mirror.MirrorResult {
		t.Helper()
		mm := x.mirror()
		mm.ExtendRetention, mm.Retain = extend, 24*time.Hour
		res, err := mm.Run(x.ctx)
		if err != nil {
			t.Fatalf("mirror: %v (%+v)", err, res)
		}
		t.Logf("pass: copied %+v deleted %+v locked %d retention %+v notes %v", res.Copied, res.Deleted, res.Locked, res.Retention, res.Notes)
		return res
	}

	only1 := tree(t, map[string]int64{"only1.bin": 1 << 20}, 41)
	shared := tree(t, map[string]int64{"shared.bin": 1 << 20}, 42)
	s1 := x.backup(x.p, only1)
	x.backup(x.p, shared)
	res := run(true)
	if res.Copied.Objects == 0 || res.Retention == nil || res.Retention.Checked < res.Copied.Objects || res.Retention.Extended != 0 {
		t.Fatalf("first pass: %+v %+v", res, res.Retention)
	}
	sec := x.s.Repo(agency).Store
	names := append(objectNames(t, sec, "data/"), objectNames(t, sec, "index/")...)
	names = append(names, objectNames(t, sec, "snapshots/")...)
	names = append(names, "config")
	for _, n := range names {
		r, err := drc.ObjectRetention(x.ctx, sec, n)
		if err != nil || r.Mode != "GOVERNANCE" || r.Until.Before(start.Add(period-time.Minute)) {
			t.Errorf("%s: retention %+v %v", n, r, err)
		}
	}
	// Without the caller asking, no extension.
	if res := run(false); res.Retention != nil {
		t.Errorf("extension not asked for: %+v", res.Retention)
	}

	// A day and a half later the dates are within retain/2 of their end: extended.
	x.now = start.Add(36 * time.Hour)
	res = run(true)
	if res.Retention == nil || res.Retention.Extended < len(names)-1 || !strings.Contains(strings.Join(res.Notes, " "), "extended") {
		t.Fatalf("extension pass: %+v", res.Retention)
	}
	for _, n := range names {
		if r, _ := drc.ObjectRetention(x.ctx, sec, n); r.Until.Before(x.now.Add(period - time.Minute)) {
			t.Errorf("%s not extended: %+v", n, r)
		}
	}

	// s1 forgotten and pruned at the primary; after delete_after, its objects at the
	// secondary are due, but locked: they stay, with a note, and s1 still restores there.
	x.resticAt(x.p, "forget", s1, "--prune")
	run(false)
	x.now = x.now.Add(25 * time.Hour)
	res = run(false)
	if res.Locked == 0 || res.Deleted.Objects != 0 || res.PendingDeletions == 0 ||
		!strings.Contains(strings.Join(res.Notes, " "), "wait for the objects' retention to expire") {
		t.Fatalf("deletion of locked objects: %+v", res)
	}
	x.restoreMatches(x.s, s1, only1)
}
