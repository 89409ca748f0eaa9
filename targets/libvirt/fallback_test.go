package libvirt

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
)

// When the previous backup cannot be built on, the backup is full and says why; the
// snapshot restores to the disk as it is.
func TestFallbackToFull(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 4})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	tg := newTarget(t, testConfig(d, scratch))
	m1, _, _, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, repo *targettest.Repo, why string) *Manifest {
		t.Helper()
		state := d.Keep()
		m, w, notes, err := backup(t, repo, tg)
		if err != nil {
			t.Fatal(err)
		}
		if m.Level != Full || m.Parent != nil || !containsPrefix(notes, why) {
			t.Errorf("want a full backup noting %q, got %s with %v", why, m.Level, notes)
		}
		if cps := d.Checkpoints(); !reflect.DeepEqual(cps, []string{m.Checkpoint}) {
			t.Errorf("checkpoints: %v, want only %s", cps, m.Checkpoint)
		}
		assertSame(t, state, filepath.Join(restoreTo(t, repo, tg, w.Snapshot, nil), "vda.qcow2"))
		assertScratchEmpty(t, scratch)
		return m
	}

	t.Run("checkpoint without a snapshot", func(t *testing.T) {
		// Another repository (a DRC that lost its data, a new primary) has no snapshot
		// of the checkpoint.
		d.Write(0x11, 2<<20, 1<<20)
		m1 = check(t, targettest.NewRepo(t), fmt.Sprintf("checkpoint %s has no good snapshot in the repository", m1.Checkpoint))
	})
	t.Run("broken checkpoint", func(t *testing.T) {
		// The checkpoint's bitmap is removed behind libvirt's back, as when an image is
		// edited offline.
		repo := targettest.NewRepo(t)
		m, _, _, err := backup(t, repo, tg)
		if err != nil {
			t.Fatal(err)
		}
		out, err := d.L.QEMUDomainMonitorCommand(d.Dom, fmt.Sprintf(
			`{"execute":"block-dirty-bitmap-remove","arguments":{"node":"libvirt-1-format","name":%q}}`, m.Checkpoint), 0)
		if err != nil || !strings.Contains(out, `"return":{}`) {
			t.Fatalf("removing the bitmap: %s %v", out, err)
		}
		d.Write(0x22, 3<<20, 1<<20)
		check(t, repo, fmt.Sprintf("checkpoint %s cannot be used (checkpoint inconsistent", m.Checkpoint))
	})
	t.Run("checkpoint gone", func(t *testing.T) {
		repo := targettest.NewRepo(t)
		m, _, _, err := backup(t, repo, tg)
		if err != nil {
			t.Fatal(err)
		}
		testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "checkpoint-delete", d.Name, m.Checkpoint)
		d.Write(0x33, 4<<20, 1<<20)
		check(t, repo, "no checkpoint of an earlier backup")
	})
	t.Run("disk grown", func(t *testing.T) {
		repo := targettest.NewRepo(t)
		m, w, _, err := backup(t, repo, tg)
		if err != nil {
			t.Fatal(err)
		}
		testenv.Run(t, "virsh", "-c", testenv.LibvirtURI, "blockresize", d.Name, "vda", "80M")
		d.Size = 80 << 20
		testenv.Run(t, "truncate", "-s", "80M", d.Model)
		check(t, repo, fmt.Sprintf("snapshot %.8s of checkpoint %s has disk vda of %d bytes, %d now", w.Snapshot, m.Checkpoint, 64<<20, 80<<20))
	})
}

// A shut-off domain is backed up from its disk file, in full, and stays shut off.
func TestShutOffDomain(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 5})
	scratch := scratchFolder(t)
	repo := targettest.NewRepo(t)
	tg := newTarget(t, testConfig(d, scratch))
	if _, _, _, err := backup(t, repo, tg); err != nil {
		t.Fatal(err)
	}
	d.Write(0x44, 10<<20, 2<<20)
	d.Destroy()
	state := d.Keep()
	cps := d.Checkpoints()
	m, w, notes, err := backup(t, repo, tg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Level != Full || m.Consistency != Offline || m.State != "shut off" || m.Checkpoint != "" || !containsPrefix(notes, "offline") {
		t.Errorf("backup of a shut-off domain: %+v, %v", m, notes)
	}
	assertSame(t, state, filepath.Join(restoreTo(t, repo, tg, w.Snapshot, nil), "vda.qcow2"))
	assertScratchEmpty(t, scratch)
	if s := d.State(); s != "shut off" {
		t.Errorf("domain is %s", s)
	}
	if got := d.Checkpoints(); !reflect.DeepEqual(got, cps) {
		t.Errorf("checkpoints changed: %v, were %v", got, cps)
	}
}
