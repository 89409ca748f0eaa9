package mirror_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/internal/testenv"
)

// BenchmarkMirrorVsResticCopy measures, in one run, how long cadang's mirror takes to
// bring about 300 MiB of new repository data from one MinIO server to another on
// loopback, against `restic copy` of the same snapshot between the same servers (the
// hand-made baseline). Run with: make bench (or go test -run '^$' -bench Mirror
// -benchtime 1x ./drc/mirror). Reported: mirror-s, restic-copy-s and their ratio.
func BenchmarkMirrorVsResticCopy(b *testing.B) {
	ctx := context.Background()
	r := &drc.Restic{Binary: testenv.Restic(b), Logger: slog.New(slog.DiscardHandler)}
	m1 := testenv.StartMinIO(b, "primary")
	m2 := testenv.StartMinIO(b, "offsite", "copy")
	// restic copy reads one set of S3 credentials for both repositories: give the
	// second server the first one's.
	m2.Stop()
	m2.SecretKey = m1.SecretKey
	m2.Start()
	state := b.TempDir()
	s3 := func(name, role string, m *testenv.MinIO, bucket string) *drc.Site {
		s, err := drc.Open(drc.Config{Name: name, Role: role, S3: &drc.S3Config{Endpoint: m.Endpoint, Bucket: bucket,
			AccessKey: m.AccessKey, SecretKey: m.SecretKey, Insecure: true}}, r, state)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	p, s := s3("local", drc.RolePrimary, m1, "primary"), s3("offsite", drc.RoleSecondary, m2, "offsite")
	for _, res := range drc.Ensure(ctx, []*drc.Site{p, s}, "bench") {
		if res.Error != "" {
			b.Fatal(res.Error)
		}
	}
	src := b.TempDir()
	for i := range 3 {
		testenv.RandomFile(b, filepath.Join(src, "part"+string(rune('a'+i))+".bin"), 100<<20, uint64(i+1))
	}
	sum, _, err := p.Repo("bench").Backup(ctx, drc.BackupOptions{Paths: []string{src}, Host: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("repository data: %d bytes added (%d stored)", sum.DataAdded, sum.DataAddedPacked)

	// The baseline's destination: a repository on the second server with the same
	// chunker parameters, as `restic copy` wants.
	pw := filepath.Join(state, "keys", "local", "bench.key")
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + state, "RESTIC_CACHE_DIR=" + filepath.Join(state, "copy-cache"),
		"RESTIC_REPOSITORY=s3:http://" + m2.Endpoint + "/copy/bench", "RESTIC_PASSWORD_FILE=" + pw,
		"RESTIC_FROM_REPOSITORY=s3:http://" + m1.Endpoint + "/primary/bench", "RESTIC_FROM_PASSWORD_FILE=" + pw,
		"AWS_ACCESS_KEY_ID=" + m1.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m1.SecretKey}
	resticRun := func(args ...string) {
		cmd := exec.Command(r.Binary, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("restic %v: %v\n%s", args, err, out)
		}
	}
	resticRun("init", "--copy-chunker-params")

	b.ResetTimer()
	for range b.N {
		start := time.Now()
		mr := &mirror.Mirror{Primary: p.Repo("bench"), Secondary: s.Repo("bench"), Ledger: newMemLedger()}
		res, err := mr.Run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		mirrorTook := time.Since(start)

		start = time.Now()
		resticRun("copy")
		copyTook := time.Since(start)

		b.ReportMetric(mirrorTook.Seconds(), "mirror-s")
		b.ReportMetric(copyTook.Seconds(), "restic-copy-s")
		b.ReportMetric(mirrorTook.Seconds()/copyTook.Seconds(), "ratio")
		b.Logf("mirror: %d objects, %d bytes in %s; restic copy: %s; ratio %.2f (goal < 0.3)",
			res.Copied.Objects, res.Copied.Bytes, mirrorTook.Round(time.Millisecond), copyTook.Round(time.Millisecond),
			mirrorTook.Seconds()/copyTook.Seconds())
	}
	b.StopTimer()
	snaps, err := s.Repo("bench").Snapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].ID != sum.SnapshotID {
		b.Fatalf("the mirrored repository: %+v %v", snaps, err)
	}
	_ = os.RemoveAll(src)
}
