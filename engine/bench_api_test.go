package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/server"
	"github.com/cadang/cadang/internal/testenv"
)

// The network API under a portal's load, beside the same load on the unix socket (the
// bare API: no TLS, no token, no agency scoping): 200 concurrent clients, each with
// its own agency-viewer token, list their agency's newest runs, the runs and the
// snapshots of one of their agency's targets, and their agency's targets, 25
// requests each, against a catalog of 5 agencies x 200 targets x 2,000 runs (the
// issue's size: 2,000,000 runs, loaded in batches). CADANG_BENCH_RUNS_PER_TARGET
// makes it smaller. Reported: p50 and p99 latency and requests per second of each,
// and the ratio. Each client connects (TLS handshake included) before the clock starts,
// as a portal that keeps its connections does.
//
// Run with `make bench` (or go test -run '^$' -bench APINetwork -benchtime 1x ./engine).
func BenchmarkAPINetworkVsSocket(b *testing.B) {
	const agencies, targets, clients, perClient = 5, 200, 200, 25
	runsPer := 2000
	if v, err := strconv.Atoi(os.Getenv("CADANG_BENCH_RUNS_PER_TARGET")); err == nil && v > 0 {
		runsPer = v
	}
	dir := b.TempDir()
	var cfg strings.Builder
	cfg.WriteString("drcs:\n  - {name: local, role: primary, path: $DIR/local}\nagencies:\n")
	for a := range agencies {
		fmt.Fprintf(&cfg, "  - {id: a%d}\n", a)
	}
	cfg.WriteString("targets:\n")
	for a := range agencies {
		for t := range targets {
			fmt.Fprintf(&cfg, "  - {name: a%d-t%d, agency: a%d, kind: stub, stub: {}}\n", a, t, a)
		}
	}
	clk := &clock{t: wib("2026-12-01 10:00:00")}
	d := newTestDaemon(b, testConfig(b, dir, cfg.String()), clk.Now)
	if err := d.startup(nil); err != nil {
		b.Fatal(err)
	}
	// Runs are added in time order, interleaved across targets as a daemon makes them,
	// in transactions of 10,000.
	loadStart := time.Now()
	batch := make([]*catalog.Run, 0, 10000)
	flush := func() {
		if err := d.cat.Due(batch, nil); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := runsPer - 1; i >= 0; i-- {
		q := clk.Now().Add(-time.Duration(i) * time.Hour)
		for a := range agencies {
			for t := range targets {
				batch = append(batch, &catalog.Run{Op: "backup", Target: fmt.Sprintf("a%d-t%d", a, t), Agency: fmt.Sprintf("a%d", a), Kind: "stub",
					DRC: "local", Reason: "schedule", Status: catalog.Succeeded, Queued: q, Started: q, Ended: q.Add(time.Minute)})
				if len(batch) == cap(batch) {
					flush()
				}
			}
		}
	}
	flush()
	b.Logf("catalog: %d runs of %d targets loaded in %s", agencies*targets*runsPer, agencies*targets, time.Since(loadStart).Round(time.Second))
	secrets := make([]string, clients)
	for i := range clients {
		s, _, err := d.cat.CreateToken(fmt.Sprintf("client-%d", i), "agency-viewer", fmt.Sprintf("a%d", i%agencies), clk.Now().Add(time.Hour), clk.Now())
		if err != nil {
			b.Fatal(err)
		}
		secrets[i] = s
	}

	sock := filepath.Join(dir, "api.sock")
	sln, err := listenSocket(sock)
	if err != nil {
		b.Fatal(err)
	}
	ssrv := &http.Server{Handler: d.handler(), ConnContext: server.PeerContext}
	go func() { _ = ssrv.Serve(sln) }()
	defer ssrv.Close()
	pki := testenv.NewTLSFiles(b, b.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b))
	nln, err := listenNetwork(config.API{Listen: addr, TLS: config.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey}})
	if err != nil {
		b.Fatal(err)
	}
	nsrv := d.networkServer()
	go func() { _ = nsrv.Serve(nln) }()
	defer nsrv.Close()

	socketClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	netClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, TLSClientConfig: pki.ClientConfig(b, false)}}

	load := func(base string, c *http.Client, auth bool) (p50, p99 time.Duration, rps float64) {
		var mu sync.Mutex
		var lat []time.Duration
		var wg, ready sync.WaitGroup
		begin := make(chan struct{})
		ready.Add(clients)
		for i := range clients {
			wg.Go(func() {
				// Connect first (a portal keeps its connections): TLS handshakes are
				// not what is measured.
				req, _ := http.NewRequest("GET", base+"/v1/status", nil)
				if auth {
					req.Header.Set("Authorization", "Bearer "+secrets[i])
				}
				if resp, err := c.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				ready.Done()
				<-begin
				mine := make([]time.Duration, 0, perClient)
				for j := range perClient {
					target := fmt.Sprintf("a%d-t%d", i%agencies, (i*perClient+j)%targets)
					path := []string{"/v1/runs?limit=20", "/v1/runs?target=" + target + "&limit=20",
						"/v1/snapshots?target=" + target, "/v1/targets"}[j%4]
					if !auth && j%4 == 0 {
						path += "&agency=" + fmt.Sprintf("a%d", i%agencies) // the socket's operator asks for the agency's
					}
					req, _ := http.NewRequest("GET", base+path, nil)
					if auth {
						req.Header.Set("Authorization", "Bearer "+secrets[i])
					}
					t0 := time.Now()
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("%s: %s", path, resp.Status)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		ready.Wait()
		start := time.Now()
		close(begin)
		wg.Wait()
		took := time.Since(start)
		slices.Sort(lat)
		if len(lat) == 0 {
			b.Fatal("no answer")
		}
		return lat[len(lat)/2], lat[len(lat)*99/100], float64(len(lat)) / took.Seconds()
	}
	for range b.N {
		sp50, sp99, srps := load("http://cadang", socketClient, false)
		np50, np99, nrps := load("https://"+addr, netClient, true)
		b.ReportMetric(float64(sp50.Microseconds())/1000, "socket-p50-ms")
		b.ReportMetric(float64(sp99.Microseconds())/1000, "socket-p99-ms")
		b.ReportMetric(srps, "socket-req/s")
		b.ReportMetric(float64(np50.Microseconds())/1000, "network-p50-ms")
		b.ReportMetric(float64(np99.Microseconds())/1000, "network-p99-ms")
		b.ReportMetric(nrps, "network-req/s")
		b.ReportMetric(float64(np99)/float64(sp99), "p99-ratio")
		b.Logf("socket: p50 %s p99 %s %.0f req/s; network (TLS, token, scope): p50 %s p99 %s %.0f req/s; p99 x%.2f",
			sp50, sp99, srps, np50, np99, nrps, float64(np99)/float64(sp99))
	}
}
