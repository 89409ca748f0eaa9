package mirror_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/drc/resticfmt"
	"github.com/cadang/cadang/drc/storetest"
	"github.com/cadang/cadang/internal/testenv"
)

// memLedger is a MirrorLedger in memory.
type memLedger struct {
	mu      sync.Mutex
	seen    map[string]map[string]bool
	pending map[string]time.Time
}

func newMemLedger() *memLedger {
	return &memLedger{seen: map[string]map[string]bool{}, pending: map[string]time.Time{}}
}

func (l *memLedger) SeenAt(drcName string) (map[string]bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for k := range l.seen[drcName] {
		out[k] = true
	}
	return out, nil
}

func (l *memLedger) MarkSeen(drcName string, ids []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[drcName] == nil {
		l.seen[drcName] = map[string]bool{}
	}
	for _, id := range ids {
		l.seen[drcName][id] = true
	}
	return nil
}

func (l *memLedger) PendingDeletions() (map[string]time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range l.pending {
		out[k] = v
	}
	return out, nil
}

func (l *memLedger) SetPendingDeletions(m map[string]time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = map[string]time.Time{}
	for k, v := range m {
		l.pending[k] = v
	}
	return nil
}

// pair is one agency's repository at a primary and a secondary filesystem DRC, both
// behind fault-injecting wrappers.
type pair struct {
	t        *testing.T
	ctx      context.Context
	restic   *drc.Restic
	state    string
	p, s     *drc.Site
	pf, sf   *storetest.Faulty
	ledger   *memLedger
	contents *mirror.Contents
	now      time.Time
	alarms   []mirror.Alarm
	arrived  map[string][]string // drc -> snapshots that arrived there
	workers  int
}

const agency = "dinkes"

func newPair(t *testing.T) *pair {
	t.Helper()
	x := &pair{t: t, ctx: context.Background(), restic: newRestic(t), state: t.TempDir(), ledger: newMemLedger(),
		contents: mirror.NewContents(agency), now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), arrived: map[string][]string{}, workers: 4}
	x.p = openSite(t, x.restic, x.state, drc.Config{Name: "local", Role: drc.RolePrimary, Path: filepath.Join(t.TempDir(), "local")})
	x.s = openSite(t, x.restic, x.state, drc.Config{Name: "offsite", Role: drc.RoleSecondary, Path: filepath.Join(t.TempDir(), "offsite")})
	for _, r := range drc.Ensure(x.ctx, []*drc.Site{x.p, x.s}, agency) {
		if r.Error != "" {
			t.Fatalf("ensure: %+v", r)
		}
	}
	x.pf, x.sf = storetest.NewFaulty(x.p.Store), storetest.NewFaulty(x.s.Store)
	x.p.Store, x.s.Store = x.pf, x.sf
	return x
}

func (x *pair) mirror() *mirror.Mirror {
	return &mirror.Mirror{
		Primary: x.p.Repo(agency), Secondary: x.s.Repo(agency), Contents: x.contents, Workers: x.workers,
		DeleteAfter: 24 * time.Hour, Ledger: x.ledger, Now: func() time.Time { return x.now },
		Log:        slog.New(slog.NewTextHandler(testWriter{x.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnAlarm:    func(a mirror.Alarm) { x.alarms = append(x.alarms, a) },
		OnSnapshot: func(d, id string) { x.arrived[d] = append(x.arrived[d], id) },
	}
}

func (x *pair) run() (*mirror.MirrorResult, error) {
	x.t.Helper()
	res, err := x.mirror().Run(x.ctx)
	if res == nil {
		x.t.Fatalf("Run returned no result (err %v)", err)
	}
	x.t.Logf("pass: copied %+v back %+v deleted %+v pending %+v pending deletions %d held %v notes %v failures %v err %v",
		res.Copied, res.BroughtBack, res.Deleted, res.Pending, res.PendingDeletions, res.HeldBack, res.Notes, res.Failures, err)
	return res, err
}

func (x *pair) mustRun() *mirror.MirrorResult {
	x.t.Helper()
	res, err := x.run()
	if err != nil {
		x.t.Fatalf("mirror: %v", err)
	}
	return res
}

func (x *pair) backup(site *drc.Site, src string) string {
	x.t.Helper()
	sum, _, err := site.Repo(agency).Backup(x.ctx, drc.BackupOptions{Paths: []string{src}, Host: "t", Tags: []string{"target=t1"}}, nil)
	if err != nil {
		x.t.Fatal(err)
	}
	return sum.SnapshotID
}

// objects lists a site's replicated objects with their sizes.
func (x *pair) objects(site *drc.Site) map[string]int64 {
	x.t.Helper()
	out := map[string]int64{}
	for _, prefix := range []string{"data/", "index/", "snapshots/"} {
		err := site.Repo(agency).Store.List(x.ctx, prefix, func(o drc.ObjectInfo) error {
			out[o.Name] = o.Size
			return nil
		})
		if err != nil {
			x.t.Fatal(err)
		}
	}
	return out
}

func (x *pair) sameObjects() {
	x.t.Helper()
	a, b := x.objects(x.p), x.objects(x.s)
	if d := diffSets(a, b); d != "" {
		x.t.Fatalf("the sites differ: %s", d)
	}
}

func diffSets(a, b map[string]int64) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "only at primary: "+k)
		} else if v != w {
			out = append(out, fmt.Sprintf("%s: size %d vs %d", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "only at secondary: "+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// intact checks that every object of a site hashes to its name.
func (x *pair) intact(site *drc.Site) {
	x.t.Helper()
	for name := range x.objects(site) {
		rc, err := site.Repo(agency).Store.Get(x.ctx, name)
		if err != nil {
			x.t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			x.t.Fatal(err)
		}
		rc.Close()
		if got := fmt.Sprintf("%x", h.Sum(nil)); !strings.HasSuffix(name, "/"+got) {
			x.t.Errorf("drc %s: %s is damaged (hash %s)", site.Name, name, got)
		}
	}
}

func (x *pair) check(site *drc.Site) {
	x.t.Helper()
	if _, err := site.Repo(agency).ResticCheck(x.ctx, false); err != nil {
		x.t.Fatalf("restic check at %s: %v", site.Name, err)
	}
}

func (x *pair) restoreMatches(site *drc.Site, snap, src string) {
	x.t.Helper()
	dest := x.t.TempDir()
	if _, err := site.Repo(agency).Restore(x.ctx, snap, dest, nil, nil); err != nil {
		x.t.Fatalf("restore %s at %s: %v", snap[:8], site.Name, err)
	}
	if d := testenv.DiffTrees(testenv.Tree(x.t, src), testenv.Tree(x.t, filepath.Join(dest, src))); len(d) > 0 {
		x.t.Fatalf("restore of %s at %s differs: %v", snap[:8], site.Name, d)
	}
}

// resticAt runs restic on the agency's repository at a site (as an operator would).
func (x *pair) resticAt(site *drc.Site, args ...string) string {
	x.t.Helper()
	cmd := exec.Command(x.restic.Binary, args...)
	cmd.Env = []string{"RESTIC_REPOSITORY=" + filepath.Join(site.Path, agency), "PATH=/usr/bin:/bin",
		"RESTIC_PASSWORD_FILE=" + filepath.Join(x.state, "keys", site.Name, agency+".key"), "RESTIC_CACHE_DIR=" + filepath.Join(x.state, "cache-test")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		x.t.Fatalf("restic %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func tree(t *testing.T, files map[string]int64, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	for name, size := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		testenv.RandomFile(t, p, size, seed)
		seed++
	}
	return dir
}

// Objects go data, then index, then snapshots; both sites end identical and the
// secondary restores on its own.
func TestMirrorCopiesInOrder(t *testing.T) {
	x := newPair(t)
	src1 := tree(t, map[string]int64{"a.bin": 3 << 20, "d/b.bin": 100 << 10}, 1)
	src2 := tree(t, map[string]int64{"c.bin": 2 << 20}, 9)
	s1, s2 := x.backup(x.p, src1), x.backup(x.p, src2)

	x.sf.ResetLog()
	res := x.mustRun()
	x.sameObjects()
	if res.Copied.Objects != len(x.objects(x.p)) || len(res.NewSnapshots) != 2 || res.Pending.Objects != 0 {
		t.Fatalf("result: %+v", res)
	}
	if got := x.arrived["offsite"]; len(got) != 2 {
		t.Errorf("OnSnapshot saw %v", got)
	}
	// Order of the writes at the secondary.
	rank := map[string]int{"data": 0, "index": 1, "snapshots": 2}
	last := 0
	for _, c := range x.sf.Log() {
		if c.Op != "Put" || strings.Contains(c.Object, "/locks/") {
			continue
		}
		kind := strings.Split(strings.TrimPrefix(c.Object, agency+"/"), "/")[0]
		if rank[kind] < last {
			t.Fatalf("%s written after a later kind: %v", c.Object, x.sf.Log())
		}
		last = rank[kind]
	}
	// keys/ stay per site; config is the same.
	if k1, k2 := objectNames(t, x.p.Repo(agency).Store, "keys/"), objectNames(t, x.s.Repo(agency).Store, "keys/"); len(k1) != 1 || len(k2) != 1 || k1[0] == k2[0] {
		t.Errorf("keys: %v %v", k1, k2)
	}
	x.check(x.s)
	x.restoreMatches(x.s, s1, src1)
	x.restoreMatches(x.s, s2, src2)

	// A second pass has nothing to do.
	x.sf.ResetLog()
	res = x.mustRun()
	if res.Copied.Objects != 0 {
		t.Errorf("second pass copied %+v", res.Copied)
	}
	for _, c := range x.sf.Log() {
		if c.Op == "Put" {
			t.Errorf("second pass wrote %s", c.Object)
		}
	}
}

// An interrupted pass leaves nothing partial and the next one finishes the job
// without copying again what already arrived.
func TestMirrorResumesAfterInterruption(t *testing.T) {
	x := newPair(t)
	src := tree(t, map[string]int64{"a.bin": 6 << 20, "b.bin": 5 << 20}, 3)
	snap := x.backup(x.p, src)
	total := len(x.objects(x.p))

	// The secondary does not answer: the pass stops early, nothing arrives.
	down := fmt.Errorf("dial tcp: %w", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED})
	x.sf.Add(storetest.Fault{Op: "Put", Err: down})
	res, err := x.run()
	if err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("a pass against a DRC that went away: %v", err)
	}
	if len(x.objects(x.s)) != 0 || len(res.NewSnapshots) != 0 {
		t.Fatalf("objects arrived while the DRC was away: %v", x.objects(x.s))
	}

	// It goes away half way: a pack arrives, then nothing; no index, no snapshot.
	x.sf.Clear()
	x.sf.Add(storetest.Fault{Op: "Put", Match: "/data/", Skip: 1, Err: down})
	x.workers = 1 // so that the pack let through is not cancelled by the failure of the next
	_, err = x.run()
	x.workers = 4
	if err == nil {
		t.Fatal("a pass cut half way reported success")
	}
	mid := x.objects(x.s)
	if len(mid) != 1 {
		t.Fatalf("want the pack that got through, have %v", mid)
	}
	for name := range mid {
		if !strings.HasPrefix(name, "data/") {
			t.Fatalf("%s arrived before all the data", name)
		}
	}
	x.intact(x.s)

	puts := 0
	x.sf.Clear()
	x.sf.ResetLog()
	x.mustRun()
	for _, c := range x.sf.Log() {
		if c.Op == "Put" && !strings.Contains(c.Object, "/locks/") {
			puts++
			if _, had := mid[strings.TrimPrefix(c.Object, agency+"/")]; had {
				t.Errorf("%s was copied again", c.Object)
			}
		}
	}
	if puts+len(mid) != total {
		t.Errorf("resumed pass wrote %d objects, %d were there, want %d in all", puts, len(mid), total)
	}
	x.sameObjects()
	x.intact(x.s)
	x.check(x.s)
	x.restoreMatches(x.s, snap, src)
}

// A damaged object at the primary is an alarm, never a copy; what does not need it
// still goes; a transient bad read is only retried.
func TestMirrorRefusesDamagedObjects(t *testing.T) {
	x := newPair(t)
	src1 := tree(t, map[string]int64{"a.bin": 2 << 20}, 5)
	s1 := x.backup(x.p, src1)
	x.mustRun()
	src2 := tree(t, map[string]int64{"b.bin": 3 << 20}, 50)
	s2 := x.backup(x.p, src2)

	// Flip one byte of a pack that only the second snapshot needs, on disk.
	before := x.objects(x.s)
	var victim string
	for name := range x.objects(x.p) {
		if strings.HasPrefix(name, "data/") {
			if _, old := before[name]; !old {
				victim = name
				break
			}
		}
	}
	if victim == "" {
		t.Fatal("no new pack")
	}
	path := filepath.Join(x.p.Path, agency, victim)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	res, err := x.run()
	if err == nil || !strings.Contains(err.Error(), "alarm") || !strings.Contains(err.Error(), victim) {
		t.Fatalf("want an alarm naming %s, got %v", victim, err)
	}
	if len(x.alarms) != 1 || x.alarms[0].Kind != mirror.AlarmHashMismatch || x.alarms[0].DRC != "local" || x.alarms[0].Object != victim {
		t.Fatalf("alarms: %+v", x.alarms)
	}
	if _, ok := x.objects(x.s)[victim]; ok {
		t.Fatal("the damaged object was copied")
	}
	if _, held := res.HeldBack[s2]; !held {
		t.Errorf("the snapshot that needs the damaged pack was not held back: %+v", res.HeldBack)
	}
	x.intact(x.s)
	x.check(x.s) // still a consistent repository, with the first snapshot
	x.restoreMatches(x.s, s1, src1)

	// A bad read that does not repeat is retried, not an alarm.
	x2 := newPair(t)
	src := tree(t, map[string]int64{"c.bin": 1 << 20}, 77)
	snap := x2.backup(x2.p, src)
	flip := x2.pf.Add(storetest.Fault{Op: "Get", Match: "/data/", Times: 1, Flip: true, FlipByte: 100})
	x2.mustRun()
	if x2.pf.Fired(flip) != 1 || len(x2.alarms) != 0 {
		t.Fatalf("flip fired %d times, alarms %v", x2.pf.Fired(flip), x2.alarms)
	}
	x2.intact(x2.s)
	x2.restoreMatches(x2.s, snap, src)
}

// Short reads, slow reads and reads cut off by an error leave nothing partial.
func TestMirrorSurvivesBadReads(t *testing.T) {
	x := newPair(t)
	src := tree(t, map[string]int64{"a.bin": 4 << 20, "b.bin": 300 << 10}, 11)
	snap := x.backup(x.p, src)
	short := x.pf.Add(storetest.Fault{Op: "Get", Match: "/data/", Times: 2, ShortRead: 1000})
	cut := x.pf.Add(storetest.Fault{Op: "Get", Match: "/index/", Times: 1, FailAfter: 10, ReadErr: errors.New("connection reset by peer (injected)")})
	slow := x.pf.Add(storetest.Fault{Op: "Get", Match: "/snapshots/", ReadDelay: 20 * time.Millisecond})
	x.mustRun()
	if x.pf.Fired(short) != 2 || x.pf.Fired(cut) != 1 || x.pf.Fired(slow) == 0 {
		t.Fatalf("faults fired: short %d cut %d slow %d", x.pf.Fired(short), x.pf.Fired(cut), x.pf.Fired(slow))
	}
	x.sameObjects()
	x.intact(x.s)
	x.restoreMatches(x.s, snap, src)

	// A read that keeps failing is reported with the object's name; nothing partial.
	y := newPair(t)
	y.backup(y.p, src)
	y.pf.Add(storetest.Fault{Op: "Get", Match: "/data/", ShortRead: 10})
	_, err := y.run()
	if err == nil || !strings.Contains(err.Error(), "short read") || !strings.Contains(err.Error(), `drc "local"`) {
		t.Fatalf("want a failure naming the DRC and the short read, got %v", err)
	}
	if n := len(y.objects(y.s)); n != 0 {
		t.Errorf("%d objects arrived without their data", n)
	}

	// A store that stops sending, without failing, is given up after the stall
	// timeout: the pass fails naming the object, nothing partial or damaged is
	// recorded, and the next pass copies everything.
	z := newPair(t)
	snap = z.backup(z.p, src)
	z.restic.StallTimeout = time.Second
	hang := z.pf.Add(storetest.Fault{Op: "Get", Match: "/data/", ReadDelay: time.Hour})
	_, err = z.run()
	if err == nil || !strings.Contains(err.Error(), "no byte moved for 1s") || !strings.Contains(err.Error(), "data/") || z.pf.Fired(hang) == 0 {
		t.Fatalf("want a failure naming the stalled object, got %v", err)
	}
	if len(z.alarms) != 0 {
		t.Errorf("a stall is not damage (which end stopped is not known): alarms %v", z.alarms)
	}
	if n := len(objectNames(t, z.s.Repo(agency).Store, "data/")); n != 0 {
		t.Errorf("%d packs arrived although every read of them stalled", n)
	}
	z.pf.Clear()
	z.mustRun()
	z.sameObjects()
	z.restoreMatches(z.s, snap, src)
}

// Deletions at the primary reach the secondary only after delete_after, and never
// while a snapshot at the secondary needs the object.
func TestMirrorDeletionGrace(t *testing.T) {
	x := newPair(t)
	shared := tree(t, map[string]int64{"shared.bin": 2 << 20}, 21)
	only1 := tree(t, map[string]int64{"only1.bin": 2 << 20}, 22)
	s1 := x.backup(x.p, only1)
	s2 := x.backup(x.p, shared)
	x.mustRun()
	x.sameObjects()

	x.resticAt(x.p, "forget", s1, "--prune")
	x.now = x.now.Add(time.Hour)
	res := x.mustRun()
	if res.Deleted.Objects != 0 || res.PendingDeletions == 0 {
		t.Fatalf("deleted at once: %+v", res)
	}
	if !res.NextDeletion.Equal(x.now.Add(24 * time.Hour)) {
		t.Errorf("next deletion %v, want %v", res.NextDeletion, x.now.Add(24*time.Hour))
	}
	x.restoreMatches(x.s, s1, only1) // still there during the grace period

	// Packs due, but the snapshot that needs them is not: they stay.
	pending, _ := x.ledger.PendingDeletions()
	for obj := range pending {
		if !strings.HasPrefix(obj, "snapshots/") {
			pending[obj] = x.now.Add(-48 * time.Hour)
		}
	}
	_ = x.ledger.SetPendingDeletions(pending)
	packsBefore := objectNames(t, x.s.Repo(agency).Store, "data/")
	res = x.mustRun()
	if !strings.Contains(strings.Join(res.Notes, " "), "still need them") {
		t.Fatalf("objects a snapshot needs are not explained: %+v", res)
	}
	if after := objectNames(t, x.s.Repo(agency).Store, "data/"); len(after) != len(packsBefore) {
		t.Fatalf("packs a snapshot at the secondary needs were deleted: %v -> %v", packsBefore, after)
	}
	x.check(x.s)
	x.restoreMatches(x.s, s1, only1)

	// Past delete_after for everything: the secondary matches the primary.
	x.now = x.now.Add(25 * time.Hour)
	res = x.mustRun()
	if res.Deleted.Objects == 0 || len(res.DeletedSnapshots) != 1 || res.DeletedSnapshots[0] != s1 || res.PendingDeletions != 0 {
		t.Fatalf("after the grace period: %+v", res)
	}
	x.sameObjects()
	x.check(x.s)
	x.restoreMatches(x.s, s2, shared)
	x.restoreMatches(x.p, s2, shared)
}

// Deletions wait while another process holds a lock at the secondary.
func TestMirrorDeletionsWaitForLocks(t *testing.T) {
	x := newPair(t)
	s1 := x.backup(x.p, tree(t, map[string]int64{"a.bin": 1 << 20}, 31))
	x.backup(x.p, tree(t, map[string]int64{"b.bin": 1 << 20}, 32))
	x.mustRun()
	x.resticAt(x.p, "forget", s1, "--prune")
	x.mustRun()
	x.now = x.now.Add(48 * time.Hour)

	// A restic that reads the secondary (a restore) holds a shared lock there.
	key, err := x.contents.MasterKey(x.ctx, x.s.Repo(agency))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	data, id := key.EncodeLock(resticfmt.Lock{Time: time.Now(), Hostname: host, PID: 1, Username: "restore"})
	lockName := "locks/" + id.String()
	if err := x.s.Repo(agency).Store.Put(x.ctx, lockName, strings.NewReader(string(data)), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	res := x.mustRun()
	if res.Deleted.Objects != 0 || !strings.Contains(strings.Join(res.Notes, " "), "wait") {
		t.Fatalf("deleted under another's lock: %+v", res)
	}
	if err := x.s.Repo(agency).Store.Delete(x.ctx, lockName); err != nil {
		t.Fatal(err)
	}
	res = x.mustRun()
	if res.Deleted.Objects == 0 {
		t.Fatalf("deletions did not happen once the lock was gone: %+v", res)
	}
	x.sameObjects()
	if names := objectNames(t, x.s.Repo(agency).Store, "locks/"); len(names) != 0 {
		t.Errorf("cadang left locks behind: %v", names)
	}
}

// A snapshot written at the secondary while the primary was down goes back to the
// primary; an emptied primary gets everything back; neither is deleted.
func TestMirrorBringsBack(t *testing.T) {
	x := newPair(t)
	src1 := tree(t, map[string]int64{"a.bin": 2 << 20}, 41)
	s1 := x.backup(x.p, src1)
	x.mustRun()
	src2 := tree(t, map[string]int64{"b.bin": 2 << 20, "a.bin": 0}, 42)
	s2 := x.backup(x.s, src2) // the primary was down
	x.now = x.now.Add(30 * 24 * time.Hour)

	res := x.mustRun()
	if len(res.BroughtBackSnapshots) != 1 || res.BroughtBackSnapshots[0] != s2 || res.Deleted.Objects != 0 || res.PendingDeletions != 0 {
		t.Fatalf("bring back: %+v", res)
	}
	if got := x.arrived["local"]; len(got) != 1 || got[0] != s2 {
		t.Errorf("OnSnapshot(local): %v", got)
	}
	x.sameObjects()
	x.check(x.p)
	x.restoreMatches(x.p, s2, src2)

	// The primary loses everything but its config and keys: it is rebuilt.
	for _, folder := range []string{"data", "index", "snapshots"} {
		if err := os.RemoveAll(filepath.Join(x.p.Path, agency, folder)); err != nil {
			t.Fatal(err)
		}
	}
	res = x.mustRun()
	if !res.Rebuild || len(res.BroughtBackSnapshots) != 2 || res.PendingDeletions != 0 {
		t.Fatalf("rebuild: %+v", res)
	}
	x.sameObjects()
	x.check(x.p)
	x.restoreMatches(x.p, s1, src1)
}

func TestMirrorRefusesADifferentRepository(t *testing.T) {
	x := newPair(t)
	x.backup(x.p, tree(t, map[string]int64{"a": 10}, 1))
	other := openSite(t, x.restic, t.TempDir(), drc.Config{Name: "offsite", Role: drc.RoleSecondary, Path: x.s.Path + "-other"})
	drc.Ensure(x.ctx, []*drc.Site{other}, agency)
	m := x.mirror()
	m.Secondary = other.Repo(agency)
	_, err := m.Run(x.ctx)
	if err == nil || !strings.Contains(err.Error(), "holds a different repository") || len(x.alarms) != 1 || x.alarms[0].Kind != mirror.AlarmDifferentRepo {
		t.Fatalf("err %v, alarms %+v", err, x.alarms)
	}
	if n := len(objectNames(t, other.Repo(agency).Store, "data/")); n != 0 {
		t.Errorf("%d packs copied into another repository", n)
	}
}
