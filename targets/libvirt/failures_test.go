package libvirt

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
)

// Every failure ends as a one-line error with libvirt's reason, no good snapshot, an
// empty scratch folder, and the domain running with its disk and checkpoints as they
// were; the next backup is still incremental from the last good one.
func TestFailures(t *testing.T) {
	// A small file system as a full scratch disk. It is mounted before QEMU starts:
	// QEMU runs in a mount namespace of its own.
	small := scratchFolder(t) // QEMU must reach it
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,mode=0711", "tmpfs", small).CombinedOutput(); err != nil {
		testenv.Skip(t, "cannot mount a small tmpfs as a full scratch disk (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", small).Run() })
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 3})
	// A domain with 2 GiB of data, whose full backup job runs long enough to be
	// aborted (its content is not followed: only the other domain's is compared).
	big := testenv.NewDomain(t, testenv.DomainOptions{Size: 2 << 30, Seeded: 1 << 20, Seed: 4})
	big.HMP(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x55 1M 2047M"`)

	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	good, w, _, err := backup(t, repo, newTarget(t, testConfig(d, scratch)))
	if err != nil {
		t.Fatal(err)
	}
	d.Write(0x77, 10<<20, 2<<20)
	state := d.Keep()
	cps := map[*testenv.Domain][]string{d: d.Checkpoints(), big: big.Checkpoints()}

	for _, tc := range []struct {
		name string
		dom  *testenv.Domain
		// target is the target's name: "vm" has a checkpoint (an incremental
		// backup), another name has none (a full backup).
		target string
		cfg    func(c *Config)
		// begun runs once the backup job started; it sets *missed if the job ended
		// before it could act.
		begun func(t *testing.T, cancel context.CancelFunc, missed *bool) func(string)
		want  []string // in the error
	}{
		{name: "domain missing", dom: d, cfg: func(c *Config) { c.Domain = "cadang-no-such-domain" },
			want: []string{`domain "cadang-no-such-domain"`, "Domain not found"}},
		{name: "libvirtd down", dom: d, cfg: func(c *Config) { c.URI = "qemu+unix:///system?socket=/run/cadang-no-libvirtd/sock" },
			want: []string{"cannot connect (is libvirtd running?)", "no such file or directory"}},
		{name: "disk missing", dom: d, cfg: func(c *Config) { c.Disks = []string{"vdz"} },
			want: []string{`has no disk "vdz"`, "vda"}},
		{name: "scratch disk full", dom: d, target: "other", cfg: func(c *Config) { c.ScratchDir = small },
			want: []string{"backup job failed", "No space left on device"}},
		{name: "job aborted through libvirt", dom: big, target: "big",
			begun: func(t *testing.T, _ context.CancelFunc, missed *bool) func(string) {
				return func(dom string) {
					// Pause the job (in QEMU, behind libvirt) so that it still runs
					// when libvirt is asked to abort it.
					if *missed = !pauseJobs(t, big); *missed {
						return
					}
					if out, err := exec.Command("virsh", "-c", testenv.LibvirtURI, "domjobabort", dom).CombinedOutput(); err != nil {
						t.Errorf("virsh domjobabort: %v: %s", err, out)
					}
				}
			},
			want: []string{"backup job was aborted", "Operation canceled"}},
		{name: "run cancelled", dom: big, target: "big",
			begun: func(t *testing.T, cancel context.CancelFunc, missed *bool) func(string) {
				return func(string) { cancel() }
			},
			want: []string{"context canceled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.dom, scratch)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			tg := newTarget(t, cfg)
			if tc.target != "" {
				tg.name = tc.target
			}
			var w *targettest.Writer
			var err error
			// A job that ends before the test can act on it (a loaded machine) proves
			// nothing: it is tried again, as a full backup again.
			for attempt := 1; ; attempt++ {
				ctx, cancel := context.WithCancel(context.Background())
				missed := false
				if tc.begun != nil {
					tg.afterBegin = tc.begun(t, cancel, &missed)
				}
				_, w, _, err = backupCtx(ctx, t, repo, tg)
				cancel()
				if !missed || attempt == 5 {
					break
				}
				t.Logf("attempt %d: the backup job ended before the test could act", attempt)
				for _, cp := range tc.dom.Checkpoints() {
					if strings.HasPrefix(cp, "cadang-"+tc.target+"-") {
						testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "checkpoint-delete", tc.dom.Name, cp)
					}
				}
			}
			if err == nil {
				t.Fatal("backup succeeded")
			}
			t.Logf("error: %v", err)
			msg := err.Error()
			for _, s := range tc.want {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if w.Snapshot != "" && !w.Failed {
				t.Errorf("snapshot %s counted as good", w.Snapshot)
			}
			assertScratchEmpty(t, scratch)
			assertScratchEmpty(t, small)
			for _, dom := range []*testenv.Domain{d, big} {
				if s := dom.State(); s != "running" {
					t.Errorf("domain %s is %s", dom.Name, s)
				}
				if got := dom.Checkpoints(); !reflect.DeepEqual(got, cps[dom]) {
					t.Errorf("checkpoints of %s changed: %v, were %v", dom.Name, got, cps[dom])
				}
			}
		})
	}
	d.HMP(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
	assertSame(t, state, d.Disk)

	m, w2, _, err := backup(t, repo, newTarget(t, testConfig(d, scratch)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Level != Incremental || m.Parent.Snapshot != w.Snapshot || m.Parent.Checkpoint != good.Checkpoint {
		t.Errorf("after the failures, the backup is not incremental from the last good one: %+v", m)
	}
	assertSame(t, state, filepath.Join(restoreTo(t, repo, newTarget(t, testConfig(d, scratch)), w2.Snapshot, nil), "vda.qcow2"))
}

// pauseJobs pauses QEMU's block jobs of the domain (behind libvirt's back); it reports
// whether one was paused before it had copied everything.
func pauseJobs(t *testing.T, d *testenv.Domain) bool {
	type job struct {
		Device string `json:"device"`
		Status string `json:"status"`
		Offset int64  `json:"offset"`
		Len    int64  `json:"len"`
		Paused bool   `json:"paused"`
	}
	query := func() []job {
		out, err := d.L.QEMUDomainMonitorCommand(d.Dom, `{"execute":"query-block-jobs"}`, 0)
		var res struct {
			Return []job `json:"return"`
		}
		if err == nil {
			err = json.Unmarshal([]byte(out), &res)
		}
		if err != nil {
			t.Errorf("query-block-jobs: %s: %v", out, err)
		}
		return res.Return
	}
	for _, j := range query() {
		cmd := fmt.Sprintf(`{"execute":"block-job-pause","arguments":{"device":%q}}`, j.Device)
		if out, err := d.L.QEMUDomainMonitorCommand(d.Dom, cmd, 0); err != nil {
			t.Logf("%s: %v %s", cmd, err, out) // it may have ended meanwhile
		}
	}
	for _, j := range query() {
		if j.Paused && j.Offset < j.Len {
			return true
		}
	}
	return false
}
