package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/schedule"
)

// The orchestrator at scale: a daemon with 10,000 targets of the stub kind (a backup
// that returns at once, so that only scheduling, queueing and the catalog are
// measured), beside a hand-made baseline: robfig/cron's own runner with the same
// 10,000 schedules calling an empty function (no catalog, no queue, nothing durable).
//
//   - idle: RSS and Go heap the 10,000 schedules add, and CPU per minute while nothing
//     is due;
//   - burst: all 10,000 targets at "0 2 * * *" with 1 minute of jitter (the nightly
//     rush), daemon.concurrency 64: how long from each run's due instant until it
//     starts (p50, p99), and the CPU the minute takes.
//
// Run with `make bench` (or go test -run '^$' -bench Daemon -benchtime 1x ./engine).
// CADANG_BENCH_IDLE sets the idle window (default 60s).
const benchTargets = 10000

func BenchmarkDaemon10000Targets(b *testing.B) {
	idle := time.Minute
	if s := os.Getenv("CADANG_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		idle = d
	}
	for range b.N {
		base := idleCron(b, idle)
		report(b, "baseline_cron_idle", base)
		dm := idleDaemon(b, idle)
		report(b, "daemon_idle", dm)

		baseLat := burstCron(b)
		report(b, "baseline_cron_burst", baseLat)
		lat := burstDaemon(b)
		report(b, "daemon_burst", lat)
	}
}

// measure is what one phase measured.
type measure struct {
	rssMiB, heapMiB float64 // added by the phase's 10,000 schedules
	cpuPerMin       time.Duration
	p50, p99, max   time.Duration
	runs            int
}

func report(b *testing.B, name string, m measure) {
	if m.runs == 0 {
		b.ReportMetric(m.rssMiB, name+"_rss_MiB")
		b.ReportMetric(m.heapMiB, name+"_heap_MiB")
		b.ReportMetric(float64(m.cpuPerMin.Milliseconds()), name+"_cpu_ms/min")
		b.Logf("%s: +%.1f MiB RSS, +%.1f MiB heap, %s CPU per minute", name, m.rssMiB, m.heapMiB, m.cpuPerMin.Round(time.Millisecond))
		return
	}
	b.ReportMetric(float64(m.p50.Microseconds())/1000, name+"_p50_ms")
	b.ReportMetric(float64(m.p99.Microseconds())/1000, name+"_p99_ms")
	b.ReportMetric(float64(m.cpuPerMin.Milliseconds()), name+"_cpu_ms/min")
	b.Logf("%s: %d runs, due to start p50 %s p99 %s max %s, %s CPU per minute", name, m.runs,
		m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), m.max.Round(time.Microsecond), m.cpuPerMin.Round(time.Millisecond))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMiB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func heapMiB() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(200 * time.Millisecond)
}

// idleWindow measures the CPU the process uses over d, per minute.
func idleWindow(d time.Duration) time.Duration {
	c0 := cpuTime()
	time.Sleep(d)
	return time.Duration(float64(cpuTime()-c0) * float64(time.Minute) / float64(d))
}

func percentiles(lat []time.Duration) (p50, p99, mx time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
}

func targetName(i int) string { return fmt.Sprintf("app-%05d", i) }

// benchDaemon serves a daemon of 10,000 stub targets at sched with 1m jitter on a
// clock that reads virtualStart now and runs at real speed.
func benchDaemon(b *testing.B, sched string, virtualStart time.Time) (*Daemon, func()) {
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("restic: {binary: true}\ndaemon: {concurrency: 64}\ndrcs: [{name: local, role: primary, path: $DIR/drc}]\nagencies:\n")
	for a := range 100 {
		fmt.Fprintf(&sb, "  - {id: a%02d}\n", a)
		// The repository "exists", so a run never calls restic to create it.
		if err := os.MkdirAll(filepath.Join(dir, "drc", fmt.Sprintf("a%02d", a)), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "drc", fmt.Sprintf("a%02d", a), "config"), []byte("x"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	sb.WriteString("targets:\n")
	for i := range benchTargets {
		fmt.Fprintf(&sb, "  - {name: %s, agency: a%02d, kind: stub, stub: {}, schedule: %q, jitter: 1m}\n", targetName(i), i%100, sched)
	}
	cfg := testConfig(b, dir, sb.String())
	real0 := time.Now()
	d, err := New(cfg, Options{Now: func() time.Time { return virtualStart.Add(time.Since(real0)) }, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	return d, func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}

func idleDaemon(b *testing.B, window time.Duration) measure {
	settle()
	rss0, heap0 := rssMiB(), heapMiB()
	d, stop := benchDaemon(b, "0 2 * * *", wib("2026-11-23 12:00:00"))
	time.Sleep(2 * time.Second) // startup: 10,000 schedule states stored
	if next, ok := d.conf().sched.NextDue(); !ok || next.Before(wib("2026-11-24 02:00:00")) {
		b.Fatalf("next due %s", next)
	}
	settle()
	m := measure{rssMiB: rssMiB() - rss0, heapMiB: heapMiB() - heap0, cpuPerMin: idleWindow(window)}
	stop()
	return m
}

func burstDaemon(b *testing.B) measure {
	settle()
	d, stop := benchDaemon(b, "0 2 * * *", wib("2026-11-23 01:59:55"))
	defer stop()
	c0, t0 := cpuTime(), time.Now()
	deadline := time.Now().Add(15 * time.Minute)
	for {
		runs, err := d.cat.Runs(catalog.RunFilter{Op: "backup"})
		if err != nil {
			b.Fatal(err)
		}
		ended := 0
		for _, r := range runs {
			if r.Status.Done() {
				ended++
			}
		}
		if ended == benchTargets {
			cpu := cpuTime() - c0
			lat := make([]time.Duration, 0, len(runs))
			slot := wib("2026-11-23 02:00:00")
			for _, r := range runs {
				due := slot.Add(d.conf().sched.Lookup("backup/" + r.Target).Offset)
				lat = append(lat, r.Started.Sub(due))
			}
			m := measure{runs: len(runs), cpuPerMin: time.Duration(float64(cpu) * float64(time.Minute) / float64(time.Since(t0)))}
			m.p50, m.p99, m.max = percentiles(lat)
			return m
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d runs ended in 15 minutes", ended, benchTargets)
		}
		time.Sleep(time.Second)
	}
}

// idleCron is the baseline of idleDaemon: robfig/cron's runner with the same 10,000
// schedules, nothing due.
func idleCron(b *testing.B, window time.Duration) measure {
	settle()
	rss0, heap0 := rssMiB(), heapMiB()
	c := cron.New(cron.WithSeconds(), cron.WithLocation(jakarta))
	for i := range benchTargets {
		off := schedule.JitterOffset(targetName(i), time.Minute)
		if _, err := c.AddFunc(fmt.Sprintf("%d 0 2 * * *", int(off.Seconds())), func() {}); err != nil {
			b.Fatal(err)
		}
	}
	c.Start()
	time.Sleep(2 * time.Second)
	settle()
	m := measure{rssMiB: rssMiB() - rss0, heapMiB: heapMiB() - heap0, cpuPerMin: idleWindow(window)}
	<-c.Stop().Done()
	return m
}

// burstCron is the baseline of burstDaemon: robfig/cron's runner firing 10,000 empty
// functions over one minute; latency is from each due second to the function running.
func burstCron(b *testing.B) measure {
	settle()
	start := time.Now().Add(5 * time.Second).Truncate(time.Second)
	c := cron.New(cron.WithSeconds(), cron.WithLocation(time.UTC))
	var mu sync.Mutex
	lat := make([]time.Duration, 0, benchTargets)
	var wg sync.WaitGroup
	wg.Add(benchTargets)
	for i := range benchTargets {
		due := start.Add(schedule.JitterOffset(targetName(i), time.Minute)).UTC()
		spec := fmt.Sprintf("%d %d %d %d %d *", due.Second(), due.Minute(), due.Hour(), due.Day(), int(due.Month()))
		if _, err := c.AddFunc(spec, func() {
			l := time.Since(due)
			mu.Lock()
			if len(lat) < benchTargets {
				lat = append(lat, l)
				wg.Done()
			}
			mu.Unlock()
		}); err != nil {
			b.Fatal(err)
		}
	}
	c0, t0 := cpuTime(), time.Now()
	c.Start()
	wg.Wait()
	cpu := cpuTime() - c0
	<-c.Stop().Done()
	m := measure{runs: len(lat), cpuPerMin: time.Duration(float64(cpu) * float64(time.Minute) / float64(time.Since(t0)))}
	m.p50, m.p99, m.max = percentiles(lat)
	return m
}
