package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// goroutineAgent takes jobs as `cadang agent` does (a pull from its consumer, the job
// opened with its age key, "started" progress, ack, a result on CADANG_RESULTS), with a
// no-op instead of the backup.
func goroutineAgent(ctx context.Context, b *testing.B, x *Controller, dir, name string) {
	nc, js := rawAgent(b, x, dir, name)
	raw, err := os.ReadFile(filepath.Join(dir, "agent.age"))
	if err != nil {
		b.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(raw)))
	if err != nil {
		b.Fatal(err)
	}
	cons, err := js.Consumer(ctx, JobsStream, agentConsumer(name))
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				continue
			}
			for m := range batch.Messages() {
				var j Job
				var sec Secret
				_ = json.Unmarshal(m.Data(), &j)
				if err := open(j.Sealed, id, &sec); err != nil {
					b.Error(err)
				}
				p, _ := json.Marshal(Progress{Run: j.Run, Agent: name, Phase: "started"})
				_ = nc.Publish(progressSubject(name), p)
				_ = m.Ack()
				r, _ := json.Marshal(Result{Run: j.Run, Agent: name, Error: "no-op"})
				_, _ = js.Publish(ctx, resultSubject(name), r)
			}
		}
	}()
}

// Dispatch benchmark sizes: 5,000 jobs a batch (issue 21), at most 100 in flight.
const dispatchJobs, inFlight = 5000, 100

// BenchmarkDispatch: no-op jobs over 50 goroutine agents through the embedded JetStream,
// at most 100 in flight. It reports the time from "due" (Dispatch called) to "started
// on the agent" (the controller hears so), p50 and p99, the CPU and peak memory of the
// process (reportResources), and, as a hand-made baseline in the same run, a core NATS
// request-reply round trip to the same number of responders.
func BenchmarkDispatch(b *testing.B) {
	const agents = 50
	names := map[string]string{}
	for i := 0; i < agents; i++ {
		names[fmt.Sprintf("a%02d", i)] = ""
	}
	x, dirs := testCluster(b, 30*time.Second, func(*Result) error { return nil }, names)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for name, dir := range dirs {
		goroutineAgent(ctx, b, x, dir, name)
	}

	b.Run("jetstream", func(b *testing.B) {
		var next atomic.Uint64
		defer reportResources(b)()
		runBatches(b, func(i int) time.Duration {
			run := next.Add(1)
			due := time.Now()
			var started time.Duration
			var once sync.Once
			_, ack, err := x.Dispatch(ctx, Request{Run: run, Agent: fmt.Sprintf("a%02d", i%agents)}, func(Progress) {
				once.Do(func() { started = time.Since(due) })
			})
			if err != nil {
				b.Error(err)
				return 0
			}
			_ = ack()
			return started
		})
	})

	b.Run("baseline-core-request", func(b *testing.B) {
		nc, err := nats.Connect(x.emb.URL(), nats.Nkey(x.emb.pub, mustSign(b, x.emb.seed)))
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		for i := 0; i < agents; i++ {
			sub, err := nc.Subscribe(fmt.Sprintf("bench.%02d", i), func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Unsubscribe()
		}
		defer reportResources(b)()
		runBatches(b, func(i int) time.Duration {
			due := time.Now()
			if _, err := nc.Request(fmt.Sprintf("bench.%02d", i%agents), []byte("job"), 10*time.Second); err != nil {
				b.Error(err)
			}
			return time.Since(due)
		})
	})
}

// runBatches runs b.N batches of dispatchJobs jobs, inFlight at a time, and reports
// the latencies job returns.
func runBatches(b *testing.B, job func(i int) time.Duration) {
	lat := make([]time.Duration, b.N*dispatchJobs)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		var wg sync.WaitGroup
		sem := make(chan struct{}, inFlight)
		for i := n * dispatchJobs; i < (n+1)*dispatchJobs; i++ {
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				lat[i] = job(i)
			}(i)
		}
		wg.Wait()
	}
	b.StopTimer()
	report(b, lat)
}

func report(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// reportResources, deferred at the start of a sub-benchmark, reports what the process
// used meanwhile: cpu-s/batch, the CPU seconds (user + system, getrusage RUSAGE_SELF)
// per batch of 5,000 jobs of the whole test process, so of the controller, the
// embedded NATS server and the 50 goroutine agents together (an upper bound of the
// controller's); peak-rss-MiB, the process's peak resident set (VmHWM of
// /proc/self/status, reset at the start through /proc/self/clear_refs: the same upper
// bound); heap-MiB, the Go heap in use at the end (runtime.MemStats.HeapInuse).
func reportResources(b *testing.B) func() {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS not reset (%v): it is the process's since it started", err)
	}
	before := cpuSeconds(b)
	return func() {
		b.ReportMetric((cpuSeconds(b)-before)/float64(b.N), "cpu-s/batch")
		b.ReportMetric(peakRSSMiB(b), "peak-rss-MiB")
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heap-MiB")
	}
}

func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func peakRSSMiB(b *testing.B) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kib); err != nil {
				b.Fatalf("VmHWM: %q: %v", v, err)
			}
			return kib / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

func mustSign(b *testing.B, seed []byte) nats.SignatureHandler {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		b.Fatal(err)
	}
	return kp.Sign
}
