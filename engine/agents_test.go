package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/cluster"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/notify"
	"github.com/cadang/cadang/internal/testenv"
)

// An enrolled agent that never beats is down: agent.down is raised (once) and
// cadang_agent_up says 0; once a real agent process beats (in this test process,
// over the daemon's embedded NATS server), the condition clears and the metric says 1.
func TestAgentDownNotifiedAndMeasured(t *testing.T) {
	var mu sync.Mutex
	var got []notify.Event
	rcvURL, secretFile := webhookReceiver(t, "kunci-webhook", func(e notify.Event) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	agentDir := filepath.Join(t.TempDir(), "hyp-07")
	en, err := cluster.Enroll("hyp-07", "hv", "nats://"+listen, agentDir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startedDaemon(t, fmt.Sprintf(`drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies: [{id: dinkes}]
cluster:
  listen: %s
  heartbeat_timeout: 2s
  agents: [{name: hyp-07, pool: hv, nkey: %s, recipient: %s}]
notify:
  - {name: ops, kind: webhook, url: %q, secret_file: %q, events: [agent.down]}
`, listen, en.Entry.NKey, en.Entry.Recipient, rcvURL, secretFile))
	d.notifier.Backoff = 10 * time.Millisecond
	d.notifier.SetRoutes(d.notifyRoutes(d.conf().cfg))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.notifier.Run(ctx)
	scrape := func() string {
		rec := httptest.NewRecorder()
		d.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	events := func() []notify.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]notify.Event(nil), got...)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; events %+v; metrics:\n%s", what, events(), scrape())
			}
		}
	}

	if m := scrape(); !strings.Contains(m, `cadang_agent_up{agent="hyp-07",pool="hv"} 0`) || strings.Contains(m, "cadang_agent_last_heartbeat_timestamp_seconds") {
		t.Errorf("an agent never heard from: metrics\n%s", m)
	}
	// In a status answer (GET /v1/status, `cadang status`): down, never heard from,
	// and a problem for `cadang status --check`.
	status := func() Status {
		t.Helper()
		st, err := svc(d).Status()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); len(st.Agents) != 1 || st.Agents[0].Name != "hyp-07" || st.Agents[0].Pool != "hv" || st.Agents[0].Up ||
		st.Agents[0].LastHeartbeat != nil || !slices.ContainsFunc(st.Problems, func(p string) bool {
		return strings.Contains(p, `agent "hyp-07" is down: it has never sent a heartbeat`)
	}) {
		t.Errorf("status of an agent never heard from: agents %+v, problems %q", st.Agents, st.Problems)
	}
	d.lookAtConditions()
	d.lookAtConditions() // raised once, not per look
	wait("agent.down", func() bool { return len(events()) >= 1 })
	if e := events()[0]; e.Kind != notify.AgentDown || e.Cleared || e.Subject != "agent/hyp-07" ||
		!strings.Contains(e.Text, "belum pernah mengirim heartbeat") || !strings.Contains(e.Text, "2s") {
		t.Errorf("down event: %+v", e)
	}

	acfg, err := cluster.LoadAgentConfig(filepath.Join(agentDir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	acfg.Heartbeat = 500 * time.Millisecond // up for as long as it runs, against heartbeat_timeout 2s
	a, err := cluster.NewAgent(acfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	actx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = a.Run(actx); close(ran) }()
	defer func() { stop(); <-ran }()
	wait("the agent's heartbeat", func() bool { return strings.Contains(scrape(), `cadang_agent_up{agent="hyp-07",pool="hv"} 1`) })
	if m := scrape(); !strings.Contains(m, `cadang_agent_last_heartbeat_timestamp_seconds{agent="hyp-07"}`) ||
		!strings.Contains(m, `cadang_agent_running_jobs{agent="hyp-07"} 0`) {
		t.Errorf("an agent up: metrics\n%s", m)
	}
	if st := status(); len(st.Agents) != 1 || !st.Agents[0].Up || st.Agents[0].Version != "test" || st.Agents[0].Host == "" ||
		st.Agents[0].LastHeartbeat == nil || st.Agents[0].Running == nil || st.Agents[0].Capacity != 1 ||
		slices.ContainsFunc(st.Problems, func(p string) bool { return strings.Contains(p, "hyp-07") }) {
		t.Errorf("status of an agent up: agents %+v, problems %q", st.Agents, st.Problems)
	}
	d.lookAtConditions()
	wait("the condition cleared", func() bool { return len(events()) >= 2 })
	evs := events()
	if len(evs) != 2 || !evs[1].Cleared || evs[1].Subject != "agent/hyp-07" {
		t.Errorf("events: %+v", evs)
	}

	// Scrapes and status answers read the cache the bucket's watch feeds: 50 of each
	// publish nothing (a read of the bucket per scrape would be 50 requests at least;
	// the margin is for the controller's own background messages meanwhile).
	sent := d.cluster.Sent()
	for range 50 {
		scrape()
		status()
	}
	if n := d.cluster.Sent() - sent; n >= 25 {
		t.Errorf("50 scrapes and status answers published %d NATS messages", n)
	}
}

// The heartbeat cache the bucket's watch feeds: an agent is up while its last
// heartbeat is younger than heartbeat_timeout, down after, never heard from without
// one (or once its key is deleted); its running runs are a copy.
func TestAgentCache(t *testing.T) {
	c := newAgentCache(config.Cluster{HeartbeatTimeout: 10 * time.Second,
		Agents: []config.ClusterAgent{{Name: "hyp-08", Pool: "hv"}, {Name: "hyp-07", Pool: "hv"}}})
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	running := []uint64{42}
	c.seen("hyp-07", &cluster.Heartbeat{Name: "hyp-07", Host: "hyp07", Version: "v1", Running: running, Capacity: 2}, at)
	c.seen("stranger", &cluster.Heartbeat{Name: "stranger"}, at) // not enrolled: not listed
	running[0] = 7
	st := c.statuses(at.Add(10 * time.Second))
	if len(st) != 2 || st[0].Name != "hyp-07" || !st[0].Up || st[0].Host != "hyp07" || !st[0].LastSeen.Equal(at) ||
		len(st[0].Running) != 1 || st[0].Running[0] != 42 || st[0].Capacity != 2 ||
		st[1].Name != "hyp-08" || st[1].Up || !st[1].LastSeen.IsZero() || st[1].Running == nil {
		t.Errorf("statuses: %+v", st)
	}
	if st := c.statuses(at.Add(11 * time.Second)); st[0].Up {
		t.Errorf("an agent silent for longer than the timeout is up: %+v", st[0])
	}
	c.seen("hyp-07", nil, at.Add(time.Second))
	if st := c.statuses(at); st[0].Up || !st[0].LastSeen.IsZero() {
		t.Errorf("an agent whose key was deleted: %+v", st[0])
	}
}

// An agent's result that reaches a restarted daemon is recorded once: the run
// (interrupted at start-up) takes the agent's outcome and snapshot, the target's
// retention is queued as after any good backup; the same result again changes nothing,
// nor does another agent's result for the same run (a job handed twice).
func TestAdoptedResultRecordedOnce(t *testing.T) {
	d, clk := startedDaemon(t, `drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies: [{id: dinkes}]
targets:
  - {name: sehat, agency: dinkes, kind: stub, stub: {}, retention: {keep_last: 3}}
`)
	r := &catalog.Run{Op: "backup", Target: "sehat", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Interrupted,
		Error: "the daemon stopped"}
	if err := d.cat.AddRun(r); err != nil {
		t.Fatal(err)
	}
	snap := strings.Repeat("ef", 32)
	res := &cluster.Result{Run: r.ID, Agent: "hyp-07", Started: clk.Now(), Ended: clk.Now().Add(time.Minute),
		Summary: &drc.BackupSummary{SnapshotID: snap, BackupStart: clk.Now(), TotalBytesProcessed: 42}}
	if err := d.adoptResult(res); err != nil {
		t.Fatal(err)
	}
	got, err := d.cat.Run(r.ID)
	if err != nil || got.Status != catalog.Succeeded || got.Agent != "hyp-07" || got.SnapshotID != snap || got.Error != "" {
		t.Fatalf("the adopted run: %+v %v", got, err)
	}
	if s, err := d.cat.Snapshot(snap); err != nil || s.Status != catalog.SnapshotGood || s.RunID != r.ID {
		t.Errorf("the adopted snapshot: %+v %v", s, err)
	}
	forgets := func() int {
		n := 0
		for _, j := range d.queue.Take() {
			if j.Run.Op == "forget" && j.Run.Reason == reasonRetention {
				n++
			}
		}
		return n
	}
	if n := forgets(); n != 1 {
		t.Errorf("%d retention runs queued after the adopted backup, want 1", n)
	}
	other := *res
	other.Agent, other.Summary = "hyp-08", &drc.BackupSummary{SnapshotID: strings.Repeat("0a", 32), BackupStart: clk.Now()}
	for _, again := range []*cluster.Result{res, &other} {
		if err := d.adoptResult(again); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := d.cat.Run(r.ID); again.Agent != "hyp-07" || again.SnapshotID != snap || len(again.Notes) != len(got.Notes) {
		t.Errorf("the run after the result came again, and another agent's: %+v, want %+v", again, got)
	}
	if _, err := d.cat.Snapshot(strings.Repeat("0a", 32)); err == nil {
		t.Error("the second agent's snapshot was recorded")
	}
	if n := forgets(); n != 0 {
		t.Errorf("%d more retention runs queued", n)
	}
}

// A partial result adopted after a restart is tagged status=partial in the repository
// too, as after a run of the daemon's own: a catalog rebuilt from the DRC would
// otherwise count it good.
func TestAdoptedPartialSnapshotTagged(t *testing.T) {
	d, repo := lockWorld(t)
	ctx := context.Background()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("laporan\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, _, err := repo.Backup(ctx, drc.BackupOptions{Paths: []string{src}, Host: "app", Tags: []string{"target=app"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &catalog.Run{Op: "backup", Target: "app", Agency: "dinkes", Kind: "stub", DRC: "local", Status: catalog.Interrupted}
	if err := d.cat.AddRun(r); err != nil {
		t.Fatal(err)
	}
	if err := d.adoptResult(&cluster.Result{Run: r.ID, Agent: "hyp-07", Partial: true, Error: "file a.txt: permission denied",
		Summary: sum, Started: time.Now(), Ended: time.Now()}); err != nil {
		t.Fatal(err)
	}
	got, err := d.cat.Run(r.ID)
	if err != nil || got.Status != catalog.Partial || got.SnapshotID == "" {
		t.Fatalf("the adopted run: %+v %v", got, err)
	}
	snaps, err := repo.Snapshots(ctx, "target=app")
	if err != nil || len(snaps) != 1 || snaps[0].ID != got.SnapshotID || snaps[0].Tag(catalog.StatusTag) != catalog.SnapshotPartial {
		t.Errorf("the repository's snapshots: %+v %v, want one tagged %s=%s with the run's id %s", snaps, err, catalog.StatusTag, catalog.SnapshotPartial, got.SnapshotID)
	}
	if s, err := d.cat.Snapshot(got.SnapshotID); err != nil || s.Status != catalog.SnapshotPartial {
		t.Errorf("the catalog's snapshot: %+v %v", s, err)
	}
}
