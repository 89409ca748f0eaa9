package libvirt

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadang/cadang/e2e/testenv"
	"github.com/cadang/cadang/targets/targettest"
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
	d := testenv.NewDomain(t, testenv.DomainOptions{Size: 512 << 20, Seeded: 384 << 20, Seed: 3})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	good, w, _, err := backup(t, repo, newTarget(t, testConfig(d, scratch)))
	if err != nil {
		t.Fatal(err)
	}
	d.Write(0x77, 100<<20, 2<<20)
	state := d.Keep()
	cps := d.Checkpoints()

	for _, tc := range []struct {
		name  string
		cfg   func(c *Config)
		full  bool // back up as another target, which has no checkpoint: a long job
		begun func(t *testing.T, cancel context.CancelFunc) func(string)
		want  []string // in the error
		dir   string   // scratch folder that must be left empty
	}{
		{name: "domain missing", cfg: func(c *Config) { c.Domain = "cadang-no-such-domain" },
			want: []string{`domain "cadang-no-such-domain"`, "Domain not found"}},
		{name: "libvirtd down", cfg: func(c *Config) { c.URI = "qemu+unix:///system?socket=/run/cadang-no-libvirtd/sock" },
			want: []string{"cannot connect (is libvirtd running?)", "no such file or directory"}},
		{name: "disk missing", cfg: func(c *Config) { c.Disks = []string{"vdz"} },
			want: []string{`has no disk "vdz"`, "vda"}},
		{name: "scratch disk full", full: true, cfg: func(c *Config) { c.ScratchDir = small },
			want: []string{"backup job failed", "No space left on device"}, dir: small},
		{name: "job aborted through libvirt", full: true,
			begun: func(t *testing.T, _ context.CancelFunc) func(string) {
				return func(dom string) { testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "domjobabort", dom) }
			},
			want: []string{"backup job was aborted"}},
		{name: "run cancelled", full: true,
			begun: func(t *testing.T, cancel context.CancelFunc) func(string) {
				return func(string) { cancel() }
			},
			want: []string{"context canceled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(d, scratch)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			tg := newTarget(t, cfg)
			if tc.full {
				tg.name = "other"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.begun != nil {
				tg.afterBegin = tc.begun(t, cancel)
			}
			_, w, _, err := backupCtx(ctx, t, repo, tg)
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
			if tc.dir != "" {
				assertScratchEmpty(t, tc.dir)
			}
			if s := d.State(); s != "running" {
				t.Errorf("domain is %s", s)
			}
			if got := d.Checkpoints(); !reflect.DeepEqual(got, cps) {
				t.Errorf("checkpoints changed: %v, were %v", got, cps)
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
