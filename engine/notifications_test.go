package engine

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/notify"
)

// webhookReceiver starts a real webhook receiver (closed when the test ends) that
// checks each request's signature with secret, answers 401 to a wrong one, and hands
// every event it accepts to got. It answers the receiver's URL and a file holding the
// secret (with a trailing newline, as an editor leaves it), for a channel's
// secret_file.
func webhookReceiver(t *testing.T, secret string, got func(notify.Event)) (url, secretFile string) {
	t.Helper()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !hmac.Equal([]byte(r.Header.Get(notify.SignatureHeader)), []byte(notify.Sign([]byte(secret), body))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e notify.Event
		_ = json.Unmarshal(body, &e)
		got(e)
	}))
	t.Cleanup(rcv.Close)
	secretFile = filepath.Join(t.TempDir(), "webhook.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return rcv.URL, secretFile
}

// The daemon's conditions reach a real webhook receiver that checks the signature: a
// failed backup once (however often it fails), its recovery once; a target past its RPO
// when the clock passes it; a request waiting for approval; and `notify test`.
func TestDaemonNotifications(t *testing.T) {
	var mu sync.Mutex
	var got []notify.Event
	rcvURL, secretFile := webhookReceiver(t, "kunci-webhook", func(e notify.Event) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	d, clk := startedDaemon(t, fmt.Sprintf(`drcs:
  - {name: local, role: primary, path: $DIR/local}
scheduler: {blackout: [{name: upgrade-san, from: "2026-12-02 20:00", to: "2026-12-03 02:00"}]}
agencies: [{id: dinkes}, {id: disdik}]
targets:
  - {name: sehat, agency: dinkes, kind: stub, stub: {}, rpo: 2h, schedule: "0 23 * * *"}
  - {name: sekolah, agency: disdik, kind: stub, stub: {}, schedule: "0 9 * * *"}
notify:
  - {name: ops, kind: webhook, url: %q, secret_file: %q}
`, rcvURL, secretFile))
	d.notifier.Backoff = 10 * time.Millisecond
	d.notifier.SetRoutes(d.notifyRoutes(d.conf().cfg))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.notifier.Run(ctx)
	events := func(kind string) []notify.Event {
		mu.Lock()
		defer mu.Unlock()
		var out []notify.Event
		for _, e := range got {
			if e.Kind == kind {
				out = append(out, e)
			}
		}
		return out
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("timed out waiting for %s; received %+v", what, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	failed := &catalog.Run{ID: 7, Op: "backup", Target: "sehat", Agency: "dinkes", DRC: "local", Status: catalog.Failed, Error: "pg_dump: error"}
	for range 5 {
		d.runEnded(failed)
	}
	wait("the failed backup", func() bool { return len(events(notify.BackupFailed)) == 1 })
	if e := events(notify.BackupFailed)[0]; e.Cleared || !strings.Contains(e.Title, "gagal") || !strings.Contains(e.Text, "pg_dump: error") {
		t.Errorf("the failed backup's event: %+v", e)
	}
	d.runEnded(&catalog.Run{ID: 8, Op: "backup", Target: "sehat", Agency: "dinkes", DRC: "local", Status: catalog.Succeeded})
	wait("the recovery", func() bool { return len(events(notify.BackupFailed)) == 2 })
	if e := events(notify.BackupFailed)[1]; !e.Cleared {
		t.Errorf("the recovery's event: %+v", e)
	}

	// A good snapshot an hour old: within the RPO; three hours later, past it.
	now := d.now()
	if err := d.cat.PutSnapshot(&catalog.Snapshot{ID: strings.Repeat("cd", 32), Target: "sehat", Agency: "dinkes", Kind: "stub",
		Time: now.Add(-time.Hour), Status: catalog.SnapshotGood, DRC: "local", Sites: map[string]time.Time{"local": now.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	d.lookAtConditions()
	clk.Add(3 * time.Hour)
	d.lookAtConditions()
	d.lookAtConditions()
	// sekolah, never backed up, is past its RPO from the first look; sehat once the
	// clock passed its 2 hours; each once.
	rpoOf := func(target string) []notify.Event {
		var out []notify.Event
		for _, e := range events(notify.RPOExceeded) {
			if e.Target == target {
				out = append(out, e)
			}
		}
		return out
	}
	wait("the RPO", func() bool { return len(rpoOf("sehat")) == 1 && len(rpoOf("sekolah")) == 1 })
	if e := rpoOf("sehat")[0]; e.DRC != "local" || !strings.Contains(e.Title, "terlampaui") || e.Cleared {
		t.Errorf("the RPO event: %+v", e)
	}
	if e := rpoOf("sekolah")[0]; !strings.Contains(e.Text, "tidak ada salinan baik") {
		t.Errorf("the RPO event of a target never backed up: %+v", e)
	}

	// A DRC that does not answer its probe, then answers again.
	d.repl.SetHealth(drc.Health{DRC: "local", Reachable: false, Error: `drc "local": no such directory`, Checked: d.now()})
	d.lookAtConditions()
	d.lookAtConditions()
	d.repl.SetHealth(drc.Health{DRC: "local", Reachable: true, Checked: d.now()})
	d.lookAtConditions()
	wait("the DRC down and back", func() bool { return len(events(notify.DRCUnreachable)) == 2 })
	if e := events(notify.DRCUnreachable); e[0].Cleared || !e[1].Cleared || !strings.Contains(e[0].Title, "tidak dapat dihubungi") {
		t.Errorf("the DRC's events: %+v", e)
	}

	d.requestMade(catalog.Request{ID: 3, Kind: catalog.RequestRestore, Agency: "dinkes", Target: "sehat", Requester: "token:elayanan",
		Approvers: []string{"agency-admin", "operator"}, Ticket: "ELY-1"})
	wait("the request", func() bool { return len(events(notify.RequestPending)) == 1 })

	// The maintenance window (tomorrow 20:00-02:00 WIB) is told to dinkes, whose 23:00
	// backup it holds, once it is less than 24 hours away; not to disdik (09:00).
	if n := len(events(notify.Maintenance)); n != 0 {
		t.Errorf("maintenance told %d times more than 24 hours ahead", n)
	}
	clk.Set(wib("2026-12-01 21:00:00"))
	d.lookAtConditions()
	d.lookAtConditions()
	wait("the maintenance notice", func() bool { return len(events(notify.Maintenance)) == 1 })
	if e := events(notify.Maintenance)[0]; e.Agency != "dinkes" || !strings.Contains(e.Text, "sehat") || strings.Contains(e.Text, "sekolah") ||
		!strings.Contains(e.Title, "2026-12-02 20:00") {
		t.Errorf("the maintenance notice: %+v", e)
	}

	if err := (service{d}).NotifyTest(ctx, api.NotifyTestRequest{Channel: "ops"}); err != nil {
		t.Errorf("notify test: %v", err)
	}
	wait("the test message", func() bool { return len(events(notify.Test)) == 1 })
	if err := (service{d}).NotifyTest(ctx, api.NotifyTestRequest{Channel: "nope"}); err == nil || !strings.Contains(err.Error(), `unknown channel "nope"`) {
		t.Errorf("notify test of an unknown channel: %v", err)
	}
}

// A restart of the daemon neither tells again a condition told before it (a backup
// still failing, a target still past its RPO) nor forgets to tell its end; a condition
// of a target no longer configured is dropped.
func TestNotificationsSurviveRestart(t *testing.T) {
	var mu sync.Mutex
	var got []notify.Event
	rcvURL, secretFile := webhookReceiver(t, "kunci-webhook", func(e notify.Event) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	received := func() []notify.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]notify.Event(nil), got...)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "local"), 0o700); err != nil {
		t.Fatal(err)
	}
	config := func(targets string) string {
		return fmt.Sprintf("drcs:\n  - {name: local, role: primary, path: $DIR/local}\nagencies: [{id: dinkes}]\ntargets:\n%s"+
			"notify:\n  - {name: ops, kind: webhook, url: %q, secret_file: %q}\n", targets, rcvURL, secretFile)
	}
	both := "  - {name: sehat, agency: dinkes, kind: stub, stub: {}, rpo: 2h}\n  - {name: lama, agency: dinkes, kind: stub, stub: {}}\n"
	clk := &clock{t: wib("2026-12-01 10:17:00")}
	start := func(targets string) (*Daemon, context.CancelFunc) {
		t.Helper()
		d := newTestDaemon(t, testConfig(t, dir, config(targets)), clk.Now)
		if err := d.takeOver(nil); err != nil {
			t.Fatal(err)
		}
		d.notifier.Backoff = 10 * time.Millisecond
		d.notifier.SetRoutes(d.notifyRoutes(d.conf().cfg))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.notifier.Run(ctx); close(done) }()
		return d, func() { cancel(); <-done }
	}
	wait := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(received()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; received %+v", what, received())
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // and nothing more
		if r := received(); len(r) != n {
			t.Fatalf("%s: %d events, want %d: %+v", what, len(r), n, r)
		}
	}

	d, stop := start(both)
	d.runEnded(&catalog.Run{ID: 7, Op: "backup", Target: "sehat", Agency: "dinkes", DRC: "local", Status: catalog.Failed, Error: "pg_dump: error"})
	d.runEnded(&catalog.Run{ID: 8, Op: "backup", Target: "lama", Agency: "dinkes", DRC: "local", Status: catalog.Failed, Error: "tar: error"})
	d.lookAtConditions() // sehat, never backed up, is past its RPO
	wait("two failed backups and the RPO", 3)
	stop()
	d.cat.Close()

	// The same daemon again, without the target lama: nothing is told again.
	d, stop = start("  - {name: sehat, agency: dinkes, kind: stub, stub: {}, rpo: 2h}\n")
	defer stop()
	d.runEnded(&catalog.Run{ID: 9, Op: "backup", Target: "sehat", Agency: "dinkes", DRC: "local", Status: catalog.Failed, Error: "pg_dump: error"})
	d.lookAtConditions()
	// Its end is told: a good backup, and a good snapshot within the RPO.
	d.runEnded(&catalog.Run{ID: 10, Op: "backup", Target: "sehat", Agency: "dinkes", DRC: "local", Status: catalog.Succeeded})
	now := d.now()
	if err := d.cat.PutSnapshot(&catalog.Snapshot{ID: strings.Repeat("ab", 32), Target: "sehat", Agency: "dinkes", Kind: "stub",
		Time: now, Status: catalog.SnapshotGood, DRC: "local", Sites: map[string]time.Time{"local": now}}); err != nil {
		t.Fatal(err)
	}
	d.lookAtConditions()
	wait("the ends after the restart", 5)
	for _, e := range received()[3:] {
		if !e.Cleared || e.Target != "sehat" {
			t.Errorf("after the restart: %+v, want only the ends of sehat's conditions", e)
		}
	}
	if raised, err := d.cat.Raised(); err != nil || len(raised) != 0 {
		t.Errorf("conditions still on in the catalog: %v %v", raised, err)
	}
}
