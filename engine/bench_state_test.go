package engine

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/escrow"
)

// The state bundle of a big data center: a catalog of 5,000 targets and 1,000,000 runs
// (CADANG_BENCH_STATE_RUNS makes it smaller), written to two filesystem DRCs as the
// daemon does it (protectState), then a state dir rebuilt from it (RestoreState).
// Reported: the bundle's time, CPU time (user + system) and share of a 15-minute
// interval, its size beside the catalog's, and the rebuild's time; beside the baseline
// of a plain copy of the catalog file (what a file copy would cost, though it would not
// be consistent, nor encrypted).
//
// Run with `make bench` (or go test -run '^$' -bench StateBundle -benchtime 1x ./engine).
func BenchmarkStateBundle(b *testing.B) {
	const targets = 5000
	runs := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CADANG_BENCH_STATE_RUNS")); err == nil && v > 0 {
		runs = v
	}
	dir := b.TempDir()
	id, _ := age.GenerateX25519Identity()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "drcs:\n  - {name: local, role: primary, path: $DIR/local}\n  - {name: offsite, role: secondary, path: $DIR/offsite}\n")
	fmt.Fprintf(&cfg, "state_protection: {escrow_recipients: [%s]}\nagencies: [{id: a0}, {id: a1}, {id: a2}, {id: a3}, {id: a4}]\ntargets:\n", id.Recipient())
	for t := range targets {
		fmt.Fprintf(&cfg, "  - {name: t%d, agency: a%d, kind: stub, stub: {}}\n", t, t%5)
	}
	clk := &clock{t: wib("2026-12-01 10:00:00")}
	c := testConfig(b, dir, cfg.String())
	d := newTestDaemon(b, c, clk.Now)
	if err := d.startup(nil); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	batch := make([]*catalog.Run, 0, 10000)
	for i := range runs {
		q := clk.Now().Add(-time.Duration(runs-i) * time.Minute)
		t := i % targets
		batch = append(batch, &catalog.Run{Op: "backup", Target: fmt.Sprintf("t%d", t), Agency: fmt.Sprintf("a%d", t%5), Kind: "stub",
			DRC: "local", Reason: "schedule", Status: catalog.Succeeded, Queued: q, Started: q, Ended: q.Add(time.Minute),
			SnapshotID: fmt.Sprintf("%064x", i), BytesAdded: uint64(i)})
		if len(batch) == cap(batch) || i == runs-1 {
			if err := d.cat.Due(batch, nil); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	catFile := filepath.Join(c.StateDir, "catalog.db")
	st, _ := os.Stat(catFile)
	b.Logf("catalog: %d runs of %d targets, %d MiB, loaded in %s", runs, targets, st.Size()>>20, time.Since(start).Round(time.Second))

	for range b.N {
		// A Prometheus scrape of the same daemon (issue: metrics with 5,000 targets
		// and 1,000,000 runs).
		t0 := time.Now()
		rec := httptest.NewRecorder()
		d.metricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		scrape := time.Since(t0)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "cadang_targets_expected") {
			b.Fatalf("scrape: %d", rec.Code)
		}
		b.ReportMetric(scrape.Seconds(), "metrics-scrape-s")
		b.Logf("metrics: scrape %s, %d KiB", scrape.Round(time.Millisecond), rec.Body.Len()>>10)

		// Baseline: a plain copy of the catalog file.
		t0 = time.Now()
		if err := copyFile(catFile, filepath.Join(dir, "catalog.copy")); err != nil {
			b.Fatal(err)
		}
		copyTook := time.Since(t0)

		cpu0 := cpuTime()
		t0 = time.Now()
		if err := d.protectState(b.Context()); err != nil {
			b.Fatal(err)
		}
		took, cpu := time.Since(t0), cpuTime()-cpu0
		site, _ := d.sites.site("offsite")
		times, err := stateBundles(b.Context(), site)
		if err != nil || len(times) == 0 {
			b.Fatalf("bundles at offsite: %v %v", times, err)
		}
		info, err := site.Store.Stat(b.Context(), escrow.BundleName(times[0]))
		if err != nil {
			b.Fatal(err)
		}

		restoreCfg := *c
		restoreCfg.StateDir = filepath.Join(b.TempDir(), "state")
		t0 = time.Now()
		res, err := RestoreState(b.Context(), &restoreCfg, RestoreStateOptions{DRC: "offsite", Identity: []byte(id.String())})
		if err != nil {
			b.Fatal(err)
		}
		rebuild := time.Since(t0)
		b.ReportMetric(took.Seconds(), "bundle-s")
		b.ReportMetric(cpu.Seconds(), "bundle-cpu-s")
		b.ReportMetric(100*cpu.Seconds()/(15*60), "cpu-%-of-15m")
		b.ReportMetric(float64(info.Size)/(1<<20), "bundle-MiB")
		b.ReportMetric(float64(st.Size())/(1<<20), "catalog-MiB")
		b.ReportMetric(rebuild.Seconds(), "rebuild-s")
		b.ReportMetric(copyTook.Seconds(), "baseline-copy-s")
		b.Logf("bundle (2 DRCs): %s, CPU %s (%.2f%% of 15m), %d MiB for a %d MiB catalog; rebuild %s (%s); baseline file copy %s",
			took.Round(time.Millisecond), cpu.Round(time.Millisecond), 100*cpu.Seconds()/(15*60), info.Size>>20, st.Size()>>20,
			rebuild.Round(time.Millisecond), res.Bundle, copyTook.Round(time.Millisecond))
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
