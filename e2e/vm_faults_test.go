package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/libvirt"
)

// kill -9 of the daemon during a VM backup, once while libvirt's backup job copies the
// disk and once while restic stores it. restic dies with the daemon. The next daemon
// aborts the job, deletes the checkpoint it created (with its bitmap) and removes the
// run's scratch folder; a snapshot the killed run's restic finished anyway is recorded
// as bad, with its run; the catch-up backup succeeds and restores to the disk as it is.
func TestVMKill9(t *testing.T) {
	// 2 GiB of data (a pattern: restic stores it in little room), so that the backup
	// job and restic run long enough to be caught.
	d := testenv.NewDomain(t, testenv.DomainOptions{Size: 2 << 30, Seeded: 1 << 20, Seed: 31})
	d.HMP(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x55 1M 2047M"`)
	fillModel(t, d.Model, 0x55, 1<<20, 2047<<20)
	scratch, err := os.MkdirTemp("", "cadang-e2e-scratch-") // QEMU must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scratch) })
	if err := os.Chmod(scratch, 0o711); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	w.config(pathDRC(w) + fmt.Sprintf(`agencies:
  - {id: diskominfo, name: Dinas Komunikasi dan Informatika}
targets:
  - name: vm
    agency: diskominfo
    kind: libvirt
    libvirt: {domain: %s, scratch_dir: %s}
`, d.Name, scratch))
	w.must("init")
	w.startDaemon()

	for _, tc := range []struct {
		name string
		// when waits until the run is where the daemon is to be killed.
		when func(t *testing.T, pid int)
		// orphan, if set, plays a restic that finished the killed run's snapshot.
		orphan bool
	}{
		{name: "during the libvirt job", when: func(t *testing.T, pid int) {
			images := filepath.Join(scratch, "vm-*", "vda.qcow2")
			waitUntil(t, "the backup job to start", func() bool {
				found, _ := filepath.Glob(images)
				return len(found) > 0 || d.ActiveJob()
			})
			// Paused in QEMU, the job is still there when the daemon dies.
			pauseBlockJobs(t, d)
		}},
		{name: "while restic stores", orphan: true, when: func(t *testing.T, pid int) {
			// A full backup (the catch-up's checkpoint is deleted first: see below),
			// so that restic reads the whole disk and is still running when killed.
			waitUploading(t, w, w.runs("vm")[0].ID)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("runs: %+v\ndaemon log:\n%s", w.runs(""), w.log())
				}
			}()
			d.Write(byte(len(tc.name)), 100<<20, 2<<20)
			if tc.orphan {
				for _, cp := range d.Checkpoints() {
					testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "checkpoint-delete", d.Name, cp)
				}
			}
			var queued api.RunInfo
			mustJSON(t, w.must("backup", "vm", "--json").stdout, &queued)
			pid := w.daemon.Process.Pid
			tc.when(t, pid)
			resticPIDs := children(pid, "restic")
			w.stopDaemon(syscall.SIGKILL, 30*time.Second)
			jobLeft := d.ActiveJob()
			t.Logf("a backup job outlived the daemon: %v", jobLeft)
			for _, p := range resticPIDs {
				waitUntil(t, fmt.Sprintf("restic (pid %d) to die with the daemon", p), func() bool { return !alive(p) })
			}
			var orphan string
			if tc.orphan {
				orphan = orphanSnapshot(t, w, queued.ID)
			}

			w.startDaemon()
			runs := waitRuns(t, w, 5*time.Minute, func(rs []api.RunInfo) bool {
				for _, r := range rs {
					if !r.Status.Done() {
						return false
					}
				}
				return len(rs) > 0 && rs[0].Op == "backup" && rs[0].ID > queued.ID
			})
			var killed, catchUp *api.RunInfo
			for i := range runs {
				switch r := &runs[i]; {
				case r.ID == queued.ID:
					killed = r
				case r.ID > queued.ID && r.Op == "backup":
					catchUp = r
				}
			}
			if killed == nil || killed.Status != "interrupted" {
				t.Fatalf("the killed run: %+v", killed)
			}
			if catchUp == nil || catchUp.Status != "succeeded" || catchUp.Reason != "catch-up" {
				t.Fatalf("the catch-up backup: %+v\n%s", catchUp, w.log())
			}
			var m libvirt.Manifest
			mustJSON(t, string(catchUp.Manifest), &m)
			t.Logf("catch-up: %s, notes %v", m.Level, catchUp.Notes)

			// Nothing left in libvirt or scratch but the catch-up's checkpoint.
			if d.ActiveJob() {
				t.Error("a backup job still runs")
			}
			if cps := d.Checkpoints(); !reflect.DeepEqual(cps, []string{m.Checkpoint}) {
				t.Errorf("checkpoints: %v, want only the catch-up's %s", cps, m.Checkpoint)
			}
			if b := d.Bitmaps(); !reflect.DeepEqual(b, []string{m.Checkpoint}) {
				t.Errorf("bitmaps in the image: %v, want only %s", b, m.Checkpoint)
			}
			if left, _ := os.ReadDir(scratch); len(left) > 0 {
				t.Errorf("scratch left: %v", left)
			}
			if !strings.Contains(w.log(), "removed the scratch folder of a backup a stopped daemon left") {
				t.Error("the daemon did not log the scratch folder it removed")
			}
			if jobLeft && !strings.Contains(w.log(), "aborted the backup job a stopped daemon left") {
				t.Error("the daemon did not log the backup job it aborted")
			}

			// One record: every snapshot has its run, and only the catch-up's of this
			// round is good.
			var snaps []api.SnapshotInfo
			mustJSON(t, w.must("snapshots", "vm", "--json").stdout, &snaps)
			for _, s := range snaps {
				if s.Run == 0 {
					t.Errorf("snapshot %s has no run: %+v", s.ID, s)
				}
				if s.Run == queued.ID && s.Status == "good" {
					t.Errorf("snapshot %s of the killed run is good", s.ID)
				}
			}
			if orphan != "" {
				if killed.SnapshotID == "" || !containsNote(killed.Notes, "completed by restic after the daemon stopped") {
					t.Errorf("the killed run does not record the snapshot its restic finished: %+v", killed.Run)
				}
				found := false
				for _, s := range snaps {
					if s.ID == killed.SnapshotID {
						found = s.Status == "bad" && s.Run == queued.ID
					}
				}
				if !found {
					t.Errorf("the orphan snapshot is not recorded as bad with run %d: %+v", queued.ID, snaps)
				}
			}

			// The catch-up restores to the disk as it is.
			dest := filepath.Join(scratch, "restored")
			w.must("restore", "vm", "--snapshot", catchUp.SnapshotID[:8], "--to", dest)
			d.HMP(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
			if ok, msg := testenv.Identical(t, d.Model, filepath.Join(dest, "vda.qcow2")); !ok {
				t.Errorf("the catch-up restored: %s", msg)
			}
			os.RemoveAll(dest)
		})
	}
}

// orphanSnapshot plays the restic of run id that finished its snapshot after the daemon
// had died: a snapshot with the run's tags, unknown to the catalog.
func orphanSnapshot(t *testing.T, w *world, id uint64) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(src, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(w.restic, "backup", "--json", "--host", "vm", "--tag",
		fmt.Sprintf("cadang,target=vm,agency=diskominfo,kind=libvirt,run=%d", id), src)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "RESTIC_CACHE_DIR=" + t.TempDir(),
		"RESTIC_REPOSITORY=" + filepath.Join(w.dir, "drc", "diskominfo"),
		"RESTIC_PASSWORD_FILE=" + filepath.Join(w.stateDir, "keys", "local", "diskominfo.key")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restic backup: %v: %s", err, out)
	}
	i := strings.Index(string(out), `"snapshot_id":"`)
	if i < 0 {
		t.Fatalf("restic backup printed no snapshot id: %s", out)
	}
	return string(out[i+15 : i+15+64])
}

func containsNote(notes []string, s string) bool {
	for _, n := range notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// waitUntil polls cond until it holds, for at most two minutes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited two minutes for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fillModel writes n bytes of pattern at off into a model file.
func fillModel(t *testing.T, model string, pattern byte, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(model, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{pattern}, 1<<20)
	for done := int64(0); done < n; done += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk[:min(int64(len(chunk)), n-done)], off+done); err != nil {
			t.Fatal(err)
		}
	}
}

// pauseBlockJobs pauses QEMU's block jobs of the domain (behind libvirt's back).
func pauseBlockJobs(t *testing.T, d *testenv.Domain) {
	t.Helper()
	out, err := d.L.QEMUDomainMonitorCommand(d.Dom, `{"execute":"query-block-jobs"}`, 0)
	if err != nil {
		t.Logf("query-block-jobs: %v", err)
		return
	}
	var res struct {
		Return []struct {
			Device string `json:"device"`
		} `json:"return"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("query-block-jobs: %v: %s", err, out)
	}
	for _, j := range res.Return {
		cmd := fmt.Sprintf(`{"execute":"block-job-pause","arguments":{"device":%q}}`, j.Device)
		if out, err := d.L.QEMUDomainMonitorCommand(d.Dom, cmd, 0); err != nil {
			t.Logf("%s: %v %s", cmd, err, out) // it may have ended meanwhile
		}
	}
}

// children lists the processes named name whose parent is ppid.
func children(ppid int, name string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) > 1 && s[open+1:end] == name && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether process pid exists (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}
