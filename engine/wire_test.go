package engine

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
)

var updateWire = flag.Bool("update-wire", false, "rewrite engine/testdata/wire/*.json from what the API answers now")

// The wire format is the contract of the API (package api): every GET endpoint's answer
// for a fixed state (catalog records, an injected clock, two directory DRCs) is
// compared with a golden file. A change to the catalog's records that leaked into the
// answers, or a change of the contract itself, shows here as a diff to review
// (go test ./engine -run TestWireGolden -update-wire rewrites the files).
func TestWireGolden(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `daemon: {site: main}
drcs:
  - {name: local, role: primary, path: $DIR/local}
  - {name: offsite, role: secondary, path: $DIR/offsite, replication: {max_lag: 1h}}
agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: portal, agency: dinkes, kind: stub, stub: {}, schedule: "0 2 * * *", rpo: 26h}
`)
	for _, p := range []string{"local", "offsite"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{t: wib("2026-12-01 10:17:00")}
	d := newTestDaemon(t, cfg, clk.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	d.started = clk.Now()

	start := clk.Now().Add(-8 * time.Hour)
	run := &catalog.Run{Op: "backup", Target: "portal", Agency: "dinkes", Kind: "stub", DRC: "local", Reason: "schedule",
		Status: catalog.Succeeded, Queued: start, Started: start.Add(time.Second), Ended: start.Add(42 * time.Second),
		SnapshotID: "5afa721c0123456789abcdef0123456789abcdef0123456789abcdef01234567", BytesProcessed: 3 << 20,
		BytesAdded: 1 << 20, BytesStored: 512 << 10, FilesProcessed: 12, FilesNew: 2, Notes: []string{"a note"},
		Manifest: json.RawMessage(`{"files":12}`), PID: 4242}
	failed := &catalog.Run{Op: "restore", Target: "portal", Agency: "dinkes", Kind: "stub", DRC: "local", Reason: "on-demand",
		Status: catalog.Failed, Queued: start.Add(time.Hour), Started: start.Add(time.Hour), Ended: start.Add(time.Hour + time.Second),
		Destination: "postgres://u:xxxxx@db/x", Error: "cannot restore", PID: 4242}
	for _, r := range []*catalog.Run{run, failed} {
		if err := d.cat.AddRun(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.cat.MergeSnapshot(&catalog.Snapshot{ID: run.SnapshotID, Target: "portal", Agency: "dinkes", Kind: "stub",
		Time: start, RunID: run.ID, Status: catalog.SnapshotGood, DRC: "local", Bytes: 3 << 20,
		Sites: map[string]time.Time{"local": run.Ended}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cat.RaiseAlarm(catalog.Alarm{Kind: "hash-mismatch", DRC: "offsite", Agency: "dinkes", Object: "data/5a/5afa",
		Message: "object data/5a/5afa does not hash to its name"}, start); err != nil {
		t.Fatal(err)
	}
	if err := d.cat.UpdateRepoState("local", "dinkes", func(s *catalog.RepoState) {
		s.Parts, s.NextPart = 20, 4
		s.LastCheck = &catalog.CheckResult{Run: 9, Time: start, Status: catalog.Succeeded, Subset: "3/20"}
		s.LastPrune = &catalog.OpResult{Run: 8, Time: start, Status: catalog.Succeeded}
	}); err != nil {
		t.Fatal(err)
	}

	for i, e := range []catalog.AuditEntry{
		{Principal: "uid:0", Role: "operator", Agency: "dinkes", Action: "POST /v1/backups", Object: "portal",
			Ticket: "EL-2026-0042", Status: 202, Result: "ok", Source: "unix"},
		{Principal: "uid:1000", Role: "operator", Action: "POST /v1/backups", Object: "nope", Status: 404,
			Result: `unknown target "nope"`, Source: "unix"},
	} {
		if _, err := d.cat.AppendAudit(e, start.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}

	if _, _, err := d.cat.CreateToken("dinkes-portal", catalog.RoleAgencyRequester, "dinkes", start.Add(90*24*time.Hour), start); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.cat.CreateToken("old-auditor", catalog.RoleAuditor, "", start.Add(24*time.Hour), start.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := d.cat.RevokeToken("old-auditor", start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	h := d.handler()
	for _, c := range []struct{ name, path string }{
		{"status", "/v1/status"},
		{"targets", "/v1/targets"},
		{"runs", "/v1/runs?limit=10"},
		{"run", "/v1/runs/1"},
		{"snapshots", "/v1/snapshots?target=portal"},
		{"schedule", "/v1/schedule?hours=24"},
		{"drcs", "/v1/drcs"},
		{"alarms", "/v1/alarms"},
		{"audit", "/v1/audit"},
		{"audit-verify", "/v1/audit/verify"},
		{"tokens", "/v1/tokens"},
		{"error", "/v1/runs/999"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
			got := normalizeWire(t, rec.Body.Bytes(), dir)
			file := filepath.Join("testdata", "wire", c.name+".json")
			if *updateWire {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update-wire to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("GET %s answers (HTTP %d):\n%s\nwant (%s):\n%s", c.path, rec.Code, got, file, want)
			}
		})
	}
}

// normalizeWire indents an answer and replaces what differs from one run to the next:
// the test's folder, this process's pid and version, a DRC probe's timings and sizes.
func normalizeWire(t *testing.T, body []byte, dir string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				switch k {
				case "latency_ms", "free_bytes", "total_bytes", "version", "restic":
					x[k] = "<" + k + ">"
				case "pid":
					if n, ok := e.(float64); ok && n != 4242 {
						x[k] = "<pid>"
					}
				default:
					x[k] = walk(e)
				}
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		case string:
			return strings.ReplaceAll(x, dir, "$DIR")
		}
		return x
	}
	out, err := json.MarshalIndent(walk(v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}
