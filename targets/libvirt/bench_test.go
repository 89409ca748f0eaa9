package libvirt

import (
	"math/rand/v2"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
)

// BenchmarkBackup backs up a running domain with a 1 GiB disk (random data) after
// 50 MiB were changed in it (50 writes of 1 MiB at random places): a full backup (the
// baseline: the domain's checkpoints are removed first) against an incremental one, in
// the same run, into a repository that already holds the disk. Besides the time, it
// reports the bytes read from the domain's disk, the bytes restic read (block files
// written), the bytes read back from the repository to complete partly changed blocks,
// the scratch space and the bytes added to the repository.
func BenchmarkBackup(b *testing.B) {
	d := testenv.NewDomain(b, testenv.DomainOptions{Size: 1 << 30, Seeded: 1 << 30, Seed: 9})
	repo := targettest.NewRepo(b)
	tg := newTarget(b, testConfig(d, scratchFolder(b)))
	if _, _, _, err := backup(b, repo, tg); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	pattern := byte(0)
	change := func() {
		for range 50 {
			pattern++
			d.Write(pattern, rng.Int64N(1024)<<20, 1<<20)
		}
	}
	run := func(b *testing.B, level string) {
		var m *Manifest
		var w *targettest.Writer
		for b.Loop() {
			b.StopTimer()
			change()
			if level == Full {
				for _, cp := range d.Checkpoints() {
					testenv.Run(b, "virsh", "-c", testenv.LibvirtURI, "checkpoint-delete", d.Name, cp)
				}
			}
			b.StartTimer()
			var err error
			if m, w, _, err = backup(b, repo, tg); err != nil {
				b.Fatal(err)
			}
			if m.Level != level {
				b.Fatalf("want a %s backup, got %s", level, m.Level)
			}
		}
		dm := m.Disks[0]
		const mib = 1 << 20
		b.ReportMetric(float64(dm.ReadBytes)/mib, "MiB-read-from-vm")
		b.ReportMetric(float64(dm.WrittenBytes)/mib, "MiB-read-by-restic")
		b.ReportMetric(float64(dm.ParentBytes)/mib, "MiB-read-from-repo")
		b.ReportMetric(float64(dm.ScratchBytes)/mib, "MiB-scratch")
		b.ReportMetric(float64(w.Summary.DataAdded)/mib, "MiB-added")
	}
	b.Run("full", func(b *testing.B) { run(b, Full) })
	b.Run("incremental", func(b *testing.B) { run(b, Incremental) })
}
