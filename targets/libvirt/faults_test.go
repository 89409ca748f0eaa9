package libvirt

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/domxml"
)

// A disk shrunk and grown back to its size keeps a bitmap that says the grown part did
// not change, although it lost its data: the next backup is full, says why, and
// restores to the disk as it is; the one after is incremental again.
func TestShrinkAndRegrow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resize func(d *testenv.Domain, sizes ...string)
	}{
		{"live blockresize", func(d *testenv.Domain, sizes ...string) {
			for _, s := range sizes {
				testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "blockresize", d.Name, "vda", s)
			}
		}},
		{"offline qemu-img resize", func(d *testenv.Domain, sizes ...string) {
			// SIGTERM: QEMU stores the bitmaps in the image as it ends.
			if err := d.L.DomainDestroyFlags(d.Dom, golibvirt.DomainDestroyGraceful); err != nil {
				t.Fatal(err)
			}
			for _, s := range sizes {
				testenv.Run(t, "qemu-img", "resize", "--shrink", "-f", "qcow2", d.Disk, s)
			}
			d.Start()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 21})
			scratch := scratchFolder(t)
			repo := targettest.NewRepo(t)
			tg := newTarget(t, testConfig(d, scratch))
			m1, _, _, err := backup(t, repo, tg)
			if err != nil {
				t.Fatal(err)
			}
			// 48 MiB of data on 64 MiB: shrunk to 32 MiB and grown back, the disk
			// reads zeros from 32 MiB on.
			tc.resize(d, "32M", "64M")
			d.ResizeModel(32 << 20)
			d.ResizeModel(64 << 20)
			state := d.Keep()
			m2, w2, notes, err := backup(t, repo, tg)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("checkpoint %s cannot be trusted: disk vda: block ", m1.Checkpoint)
			if m2.Level != Full || m2.Parent != nil || !containsPrefix(notes, want) {
				t.Errorf("after shrink and regrow: want a full backup noting %q, got %s with %v", want, m2.Level, notes)
			}
			assertSame(t, state, filepath.Join(restoreTo(t, repo, tg, w2.Snapshot, nil), "vda.qcow2"))
			if cps := d.Checkpoints(); !reflect.DeepEqual(cps, []string{m2.Checkpoint}) {
				t.Errorf("checkpoints: %v, want only %s", cps, m2.Checkpoint)
			}

			d.Write(0x5a, 40<<20, 1<<20)
			state = d.Keep()
			m3, w3, notes, err := backup(t, repo, tg)
			if err != nil {
				t.Fatal(err)
			}
			if m3.Level != Incremental || m3.Parent.Checkpoint != m2.Checkpoint {
				t.Errorf("the backup after: want incremental from %s, got %+v %v", m2.Checkpoint, m3, notes)
			}
			assertSame(t, state, filepath.Join(restoreTo(t, repo, tg, w3.Snapshot, nil), "vda.qcow2"))
			assertScratchEmpty(t, scratch)
		})
	}
}

// A backup that meets a job of someone else on the domain does not freeze the guest
// while libvirt waits for it: it waits (unfrozen) and fails after its wait, or goes on
// once the job ended, with the guest frozen for at most MaxFrozen. The guest agent's
// freeze status is polled throughout.
func TestForeignJobDoesNotFreezeTheGuest(t *testing.T) {
	// vdb holds 1 GiB of data, so that a backup job of it runs long enough to be paused.
	dir := scratchFolder(t)
	vdb := filepath.Join(dir, "vdb.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", vdb, "1G")
	testenv.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x55 0 1G", vdb)
	testenv.Run(t, "chmod", "0666", vdb)
	d := testenv.NewDomain(t, testenv.DomainOptions{Guest: true, ExtraDevices: fmt.Sprintf(
		`<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vdb' bus='virtio'/></disk>`, vdb)})
	testenv.WaitAgent(t, d.L, d.Name)

	// The freeze status, every 100 ms.
	type sample struct {
		at     time.Time
		frozen bool
	}
	var mu sync.Mutex
	var samples []sample
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			frozen, err := d.Frozen()
			if err == nil {
				mu.Lock()
				samples = append(samples, sample{time.Now(), frozen})
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	frozenSince := func(from time.Time) (longest time.Duration, any bool) {
		mu.Lock()
		defer mu.Unlock()
		var start time.Time
		for _, s := range samples {
			if s.at.Before(from) {
				continue
			}
			switch {
			case s.frozen && start.IsZero():
				start, any = s.at, true
			case !s.frozen && !start.IsZero():
				longest = max(longest, s.at.Sub(start))
				start = time.Time{}
			}
		}
		if !start.IsZero() {
			longest = max(longest, time.Since(start))
		}
		return longest, any
	}

	// Someone else's backup job of vdb, paused in QEMU so that it stays active. Each job
	// gets a file of its own: libvirt refuses a target that exists, and a job that
	// completed (rather than being aborted) leaves its file behind.
	jobs := 0
	foreign := func() {
		for attempt := 1; ; attempt++ {
			jobs++
			target := filepath.Join(dir, fmt.Sprintf("foreign-%d.qcow2", jobs))
			xml := fmt.Sprintf(`<domainbackup><disks><disk name='vda' backup='no'/><disk name='vdb' type='file'><target file='%s'/><driver type='qcow2'/></disk></disks></domainbackup>`, target)
			if err := d.L.DomainBackupBegin(d.Dom, xml, nil, 0); err != nil {
				t.Fatalf("foreign backup job: %v", err)
			}
			if pauseJobs(t, d) {
				return
			}
			if attempt == 5 {
				t.Fatal("the foreign backup job ended before it could be paused, 5 times")
			}
			waitNoJob(t, d)
		}
	}
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	cfg := testConfig(d, scratch)
	cfg.Disks = []string{"vda"}
	tg := newTarget(t, cfg)

	t.Run("fails after its wait", func(t *testing.T) {
		foreign()
		t.Cleanup(func() { abortJob(t, d) })
		from := time.Now()
		tg.jobWait = 3 * time.Second
		_, _, _, err := backup(t, repo, tg)
		tg.jobWait = 0
		if err == nil || !strings.Contains(err.Error(), "has an active backup job that this backup did not start") ||
			!strings.Contains(err.Error(), "the guest was not frozen") {
			t.Errorf("want a failure naming the other job, got %v", err)
		}
		if longest, frozen := frozenSince(from); frozen {
			t.Errorf("the guest was frozen while another job was active (for %s)", longest)
		}
		assertScratchEmpty(t, scratch)
	})
	t.Run("thawed when libvirt waits anyway", func(t *testing.T) {
		// The other job starts between the check and the freeze: libvirt waits for
		// its job lock (30 s) with the guest frozen, unless cadang thaws it.
		tg.beforeFreeze = func(string) {
			tg.beforeFreeze = nil
			foreign()
		}
		t.Cleanup(func() { abortJob(t, d) })
		from := time.Now()
		_, _, _, err := backup(t, repo, tg)
		if err == nil || !strings.Contains(err.Error(), "cannot acquire state change lock") {
			t.Errorf("want libvirt's lock timeout, got %v", err)
		}
		longest, frozen := frozenSince(from)
		if !frozen {
			t.Error("the guest was never seen frozen")
		}
		if longest > MaxFrozen {
			t.Errorf("the guest stayed frozen %s, more than %s", longest, MaxFrozen)
		}
		t.Logf("frozen for %s at most", longest)
	})
	t.Run("goes on once the job ended", func(t *testing.T) {
		foreign()
		from := time.Now()
		var ended time.Time
		tg.onJobWait = func(string) {
			if _, frozen := frozenSince(from); frozen {
				t.Error("the guest was frozen while another job was active")
			}
			abortJob(t, d)
			ended = time.Now()
		}
		defer func() { tg.onJobWait = nil }()
		m, _, notes, err := backup(t, repo, tg)
		if err != nil {
			t.Fatal(err)
		}
		if ended.IsZero() {
			t.Fatal("the backup did not wait for the other job")
		}
		if m.Consistency != AppConsistent || !containsPrefix(notes, "waited for another backup job of the domain to end before the backup started") {
			t.Errorf("want an app-consistent backup that waited: %s, %v", m.Consistency, notes)
		}
		longest, frozen := frozenSince(from)
		if !frozen {
			t.Log("the freeze was too short to be seen")
		}
		if longest > MaxFrozen {
			t.Errorf("the guest stayed frozen %s, more than %s", longest, MaxFrozen)
		}
	})
	close(stop)
	<-polled
	if frozen, err := d.Frozen(); err != nil || frozen {
		t.Errorf("the guest is left frozen (%v)", err)
	}
}

func abortJob(t *testing.T, d *testenv.Domain) {
	t.Helper()
	if d.ActiveJob() {
		if err := d.L.DomainAbortJob(d.Dom); err != nil {
			t.Logf("domjobabort: %v", err)
		}
	}
	waitNoJob(t, d)
}

func waitNoJob(t *testing.T, d *testenv.Domain) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for d.ActiveJob() {
		if time.Now().After(deadline) {
			t.Fatalf("domain %s still has an active job after a minute", d.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A checkpoint of a domain that is shut off is deleted with its bitmap: the image holds
// no bitmap that libvirt does not know. Here the domain stops while restic stores the
// second backup, which then deletes the first backup's checkpoint.
func TestShutOffCheckpointLeavesNoBitmap(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 22})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	tg := newTarget(t, testConfig(d, scratch))
	if _, _, _, err := backup(t, repo, tg); err != nil {
		t.Fatal(err)
	}
	// (QEMU writes the bitmaps into the image when it ends.)
	d.Write(0x66, 5<<20, 1<<20)
	tg.beforeStore = func(string) {
		if err := d.L.DomainDestroyFlags(d.Dom, golibvirt.DomainDestroyGraceful); err != nil {
			t.Errorf("stopping the domain: %v", err)
		}
	}
	m2, _, _, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	if s := d.State(); s != "shut off" {
		t.Fatalf("domain is %s", s)
	}
	if cps := d.Checkpoints(); !reflect.DeepEqual(cps, []string{m2.Checkpoint}) {
		t.Errorf("checkpoints: %v, want only %s", cps, m2.Checkpoint)
	}
	if b := d.Bitmaps(); !reflect.DeepEqual(b, []string{m2.Checkpoint}) {
		t.Errorf("bitmaps in the image: %v, want only %s (a bitmap libvirt no longer knows records writes for ever)", b, m2.Checkpoint)
	}
	assertScratchEmpty(t, scratch)
}

// A scratch folder that fills up while the previous snapshot's blocks are read back
// for an incremental backup: the run fails saying so, and which folder.
func TestScratchFullReadingThePreviousSnapshot(t *testing.T) {
	small := scratchFolder(t) // mounted before QEMU starts: it has a mount namespace of its own
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12m,mode=0711", "tmpfs", small).CombinedOutput(); err != nil {
		testenv.Skip(t, "cannot mount a small tmpfs as a full scratch disk (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", small).Run() })
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 23})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	if _, _, _, err := backup(t, repo, newTarget(t, testConfig(d, scratch))); err != nil {
		t.Fatal(err)
	}
	// 24 blocks changed in part: 1.5 MiB in the job's image, 24 MiB of the previous
	// snapshot to read back.
	for i := range 24 {
		d.Write(byte(i+1), int64(i)<<20+4096, 64<<10)
	}
	_, _, _, err := backup(t, repo, newTarget(t, testConfig(d, small)))
	if err == nil {
		t.Fatal("backup succeeded")
	}
	t.Logf("error: %v", err)
	if want := "the scratch folder " + small + " is full"; !strings.Contains(err.Error(), want) {
		t.Errorf("error does not say %q: %v", want, err)
	}
	assertScratchEmpty(t, small)
}

// What a backup of a daemon killed with -9 left (its backup job writing into its
// scratch folder, the checkpoint the job created, the folder) is removed by Recover:
// the job aborted, the checkpoint deleted with its bitmap, the folder gone. A folder of
// a live process is left alone.
func TestRecoverAfterKill(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Size: 1 << 30, Seeded: 1 << 20, Seed: 24})
	d.HMP(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x55 1M 1023M"`)
	scratch := scratchFolder(t)
	tg := newTarget(t, testConfig(d, scratch))

	// A run of a process that is gone.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mkRun := func(name string, o owner) string {
		dir := filepath.Join(scratch, name)
		if err := os.Mkdir(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil { // QEMU writes there
			t.Fatal(err)
		}
		if err := writeOwner(dir, o); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	o := self("vm", d.Name)
	o.PID, o.Checkpoint = dead.Process.Pid, "cadang-vm-1"
	staleDir := mkRun("vm-1", o)
	live := self("vm", d.Name)
	liveDir := mkRun("vm-2", live)

	for attempt := 1; ; attempt++ {
		cpXML := golibvirt.OptString{domxml.Checkpoint(o.Checkpoint, "test", []string{"vda"}, map[string]string{"vda": ""})}
		bx := domxml.Backup([]string{"vda"}, map[string]string{"vda": filepath.Join(staleDir, "vda.qcow2")}, "")
		if err := d.L.DomainBackupBegin(d.Dom, bx, cpXML, 0); err != nil {
			t.Fatalf("backup job: %v", err)
		}
		if pauseJobs(t, d) {
			break
		}
		if attempt == 5 {
			t.Fatal("the backup job ended before it could be paused, 5 times")
		}
		waitNoJob(t, d)
		testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "checkpoint-delete", d.Name, o.Checkpoint)
	}
	if !d.ActiveJob() || !reflect.DeepEqual(d.Checkpoints(), []string{o.Checkpoint}) {
		t.Fatalf("the stale run: job %v, checkpoints %v", d.ActiveJob(), d.Checkpoints())
	}

	if err := tg.Recover(context.Background(), slog.Default()); err != nil {
		t.Fatal(err)
	}
	if d.ActiveJob() {
		t.Error("the stale backup job still runs")
	}
	if cps := d.Checkpoints(); len(cps) != 0 {
		t.Errorf("checkpoints left: %v", cps)
	}
	if b := d.Bitmaps(); len(b) != 0 {
		t.Errorf("bitmaps left in the image: %v", b)
	}
	if _, err := os.Stat(staleDir); !os.IsNotExist(err) {
		t.Errorf("the stale scratch folder is still there (%v)", err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("the folder of a live process was removed: %v", err)
	}
}

// A drill compares a sample of the snapshot's blocks with the live disk: all as in the
// snapshot right after the backup; after a write into a sampled block, the difference
// is reported with what libvirt says was written since, and the check still passes.
func TestDrillComparesTheLiveDisk(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 25})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	tg := newTarget(t, testConfig(d, scratch))
	_, w, _, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	drill := func() targets.DrillCheck {
		t.Helper()
		var got []targets.DrillCheck
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: "cadang_drill_live", BootSeconds: 1,
			Check: func(c targets.DrillCheck) { got = append(got, c) }, Restored: func(int64) {}}
		if err := runDrill(t, tg.DrillSteps(repo.Reader(t, w.Snapshot), env), env); err != nil {
			t.Fatalf("drill: %v", err)
		}
		for _, c := range got {
			if c.Checked().String() == "live disk sample vda" {
				return c
			}
		}
		t.Fatalf("no live disk check among %+v", got)
		return targets.DrillCheck{}
	}
	// 48 MiB of data: the last 8 blocks and 8 others.
	if c := drill(); !c.Passed || c.Result().String() != "16 of 16 sampled blocks as in the snapshot" {
		t.Errorf("right after the backup: %+v", c)
	}
	d.Write(0x77, 47<<20, 1<<20) // the last block that holds data: always sampled
	d.HMP(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
	if c := drill(); !c.Passed || !strings.Contains(c.Result().String(), "15 of 16 sampled blocks as in the snapshot; blocks 47 differ, and 1.0 MiB were written to the disk since the backup") {
		t.Errorf("after a write: %+v", c)
	}
}
