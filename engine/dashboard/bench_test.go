package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/internal/testenv"
)

// The fleet view and the /metrics scrape with the fleet: 5,000 targets (10
// agencies x 500) and 1,000,000 runs in the catalog (200 backups per target, loaded in
// time order in transactions of 10,000, as engine's BenchmarkAPINetworkVsSocket loads
// its catalog). The daemon runs in-process (engine.Serve) with the dashboard on the
// network listener (loopback, plain HTTP); each page is fetched over HTTP with an
// operator's bearer token, as a browser's request would be, and read to the end.
// Reported: p50 and max of 10 loads of the fleet view (first page, and a filtered
// page), of an agency user's fleet view, of a target page, and of the /metrics
// scrape. Goals (issue 19): fleet view under 300 ms, scrape under 200 ms.
// CADANG_BENCH_RUNS_PER_TARGET makes the catalog smaller.
//
// Run with `make bench` (or go test -run '^$' -bench Dashboard -benchtime 1x ./engine/dashboard).
func BenchmarkDashboardFleet(b *testing.B) {
	const agencies, perAgency = 10, 500
	runsPer := 200
	if v, err := strconv.Atoi(os.Getenv("CADANG_BENCH_RUNS_PER_TARGET")); err == nil && v > 0 {
		runsPer = v
	}
	dir := b.TempDir()
	for _, p := range []string{"local", "src"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b))
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "state_dir: %s/state\napi: {listen: %q}\ndrcs:\n  - {name: local, role: primary, path: %s/local}\nagencies:\n", dir, addr, dir)
	for a := range agencies {
		fmt.Fprintf(&cfg, "  - {id: a%d}\n", a)
	}
	cfg.WriteString("targets:\n")
	for a := range agencies {
		for t := range perAgency {
			fmt.Fprintf(&cfg, "  - {name: a%d-t%d, agency: a%d, kind: files, rpo: 26h, files: {paths: [%s/src]}}\n", a, t, a, dir)
		}
	}
	file := filepath.Join(dir, "cadang.yaml")
	if err := os.WriteFile(file, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	conf, err := config.Load(file)
	if err != nil {
		b.Fatal(err)
	}

	// The catalog, before the daemon opens it.
	if err := os.MkdirAll(conf.StateDir, 0o700); err != nil {
		b.Fatal(err)
	}
	cat, err := catalog.Open(filepath.Join(conf.StateDir, "catalog.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	loadStart := time.Now()
	batch := make([]*catalog.Run, 0, 10000)
	flush := func() {
		if err := cat.Due(batch, nil); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := runsPer - 1; i >= 0; i-- {
		q := now.Add(-time.Duration(i) * 24 * time.Hour)
		for a := range agencies {
			for t := range perAgency {
				st := catalog.Succeeded
				if (a+t+i)%97 == 0 {
					st = catalog.Failed
				}
				batch = append(batch, &catalog.Run{Op: "backup", Target: fmt.Sprintf("a%d-t%d", a, t), Agency: fmt.Sprintf("a%d", a), Kind: "files",
					DRC: "local", Reason: "schedule", Status: st, Queued: q, Started: q, Ended: q.Add(time.Minute)})
				if len(batch) == cap(batch) {
					flush()
				}
			}
		}
	}
	flush()
	ops, _, err := cat.CreateToken("ops", "operator", "", now.Add(24*time.Hour), now)
	if err != nil {
		b.Fatal(err)
	}
	agency, _, err := cat.CreateToken("a3", "agency-viewer", "a3", now.Add(24*time.Hour), now)
	if err != nil {
		b.Fatal(err)
	}
	cat.Close()
	b.Logf("catalog: %d runs of %d targets loaded in %s", agencies*perAgency*runsPer, agencies*perAgency, time.Since(loadStart).Round(time.Second))

	d, err := engine.New(conf, engine.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	client := api.NewClient(conf.Daemon.Socket)
	testenv.Eventually(b, time.Minute, "the daemon's socket", func() bool {
		_, err := client.Status(ctx)
		return err == nil
	})

	base := "http://" + addr
	hc := &http.Client{}
	get := func(path, token string) time.Duration {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(t0)
		if resp.StatusCode != 200 || n == 0 {
			b.Fatalf("GET %s: %s (%d bytes)", path, resp.Status, n)
		}
		return took
	}
	measure := func(name, path, token string) {
		get(path, token) // warm: first answers fill caches
		var lat []time.Duration
		for range 10 {
			lat = append(lat, get(path, token))
			time.Sleep(100 * time.Millisecond) // the API allows a principal 50 requests a second
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, name+"-max-ms")
		b.Logf("%s (GET %s): p50 %s, max %s", name, path, lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	}
	for range b.N {
		measure("fleet", "/", ops)
		measure("fleet-filtered", "/?agency=a7&state=failed&q=t1&page=2", ops)
		measure("fleet-agency", "/", agency)
		measure("target", "/targets/a3-t42", ops)
		measure("metrics", "/metrics", ops)
	}
}
