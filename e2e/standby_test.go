package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// A warm standby at the DR site, its takeover and the handback: two daemons on one
// machine with separate state dirs share two real MinIO servers. The standby follows
// the main site's state within its interval and runs nothing; the main site is lost
// (kill -9, its MinIO stopped); `takeover` promotes the standby and a scheduled backup
// lands at the off-site DRC; the main site comes back and starts read-only because of
// the lease; `handback` at the DR site brings both DRCs together and hands the role
// back with a last bundle, which `handback --identity` at the main site applies: its
// catalog then has every snapshot, once, and `verify` is clean at both DRCs.
func TestStandbyTakeoverAndHandback(t *testing.T) {
	t.Parallel()
	primary, drcs := twoDRCs(t)
	kepala, _ := age.GenerateX25519Identity()
	protect := fmt.Sprintf("state_protection: {escrow_recipients: [%s], interval: 1h}", kepala.Recipient())

	main := newWorld(t)
	main.daemonX = ", site: main"
	src := filepath.Join(main.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "a.bin"), 256<<10, 21)
	agencies := "agencies:\n  - {id: dinkes, name: Dinas Kesehatan}\n"
	main.config(drcs+agencies+fmt.Sprintf("targets:\n  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}}\n", src), protect)
	main.must("init")
	main.startDaemon()

	dr := newWorld(t)
	idFile := filepath.Join(dr.dir, "kepala.agekey")
	writeFile(t, idFile, kepala.String()+"\n")
	dr.daemonX = fmt.Sprintf(", site: dr, standby: {source_drc: offsite, identity_file: %q, interval: 1s}", idFile)
	// The DR site's configuration schedules the target: nothing runs until the takeover.
	dr.config(drcs+agencies+fmt.Sprintf("targets:\n  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}, schedule: \"@every 10s\"}\n", src), protect)
	dr.startDaemon()

	site := func(w *world) api.SiteStatus {
		t.Helper()
		var st api.Status
		mustJSON(t, w.must("status", "--json").stdout, &st)
		if st.Site == nil {
			t.Fatalf("status without its site")
		}
		return *st.Site
	}
	if s := site(main); s.Role != "primary" {
		t.Fatalf("main site: %+v", s)
	}

	// The standby follows the main site's state.
	if ri, r := main.backupJSON("portal-files"); ri.Status != "succeeded" {
		t.Fatalf("backup at the main site: %s", r)
	}
	main.must("drc", "sync", "--wait")
	want := snapshotIDs(t, main, "portal-files")
	waitFor(t, "the standby to apply the main site's state", 2*time.Minute, func() (bool, string) {
		r := dr.cadang("snapshots", "portal-files", "--json")
		return r.code == 0 && strings.Join(snapshotIDs(t, dr, "portal-files"), ",") == strings.Join(want, ","), r.stdout + r.stderr
	})
	s := site(dr)
	if s.Role != "standby" || s.Standby == nil || s.Standby.Of != "main" || s.Standby.Lag == "" || s.Standby.StateAsOf.IsZero() {
		t.Errorf("standby's site: %+v %+v", s, s.Standby)
	}
	if out := dr.must("status").stdout; !strings.Contains(out, "standby of main, state as of") {
		t.Errorf("status at the standby: %s", out)
	}
	if r := dr.cadang("backup", "portal-files"); r.code == 0 || !strings.Contains(r.stderr, "standby") {
		t.Errorf("a backup at the standby: %s", r)
	}

	// The main site is lost.
	main.stopDaemon(syscall.SIGKILL, time.Minute)
	primary.Stop()
	if r := dr.cadang("takeover", "--confirm", "dr"); r.code == 0 || !strings.Contains(r.stderr, "--confirm main") {
		t.Errorf("takeover with the wrong confirmation: %s", r)
	}
	out := dr.must("takeover", "--confirm", "main").stdout
	if !strings.Contains(out, "takeover lease (epoch 1) written") || !strings.Contains(out, `drc "local" marked down`) {
		t.Errorf("takeover: %s", out)
	}
	took := site(dr)
	if took.Role != "primary" || took.Lease == nil || took.Lease.Site != "dr" {
		t.Fatalf("after the takeover: %+v", took)
	}
	// A scheduled backup lands at the off-site DRC.
	testenv.RandomFile(t, filepath.Join(src, "b.bin"), 256<<10, 22)
	var during api.RunInfo
	waitFor(t, "a scheduled backup at the DR site", 2*time.Minute, func() (bool, string) {
		for _, r := range dr.runs("portal-files") {
			if r.Op == "backup" && r.Status == "succeeded" && r.Reason != "on-demand" && r.DRC == "offsite" && r.Started.After(took.Lease.Since) {
				during = r
				return true, ""
			}
		}
		return false, dr.must("runs").stdout
	})
	if during.SnapshotID == "" {
		t.Fatalf("the scheduled backup names no snapshot: %+v", during)
	}

	// The main site comes back: read-only because of the lease.
	primary.Start()
	main.startDaemon()
	if s := site(main); s.Role != "read-only" || !strings.Contains(s.Why, `site "dr" took over`) {
		t.Errorf("main site back: %+v", s)
	}
	if r := main.cadang("backup", "portal-files"); r.code == 0 || !strings.Contains(r.stderr, "took over") {
		t.Errorf("a backup at the read-only main site: %s", r)
	}
	if r := main.cadang("handback", "--identity", idFile); r.code == 0 || !strings.Contains(r.stderr, "handback --confirm main") {
		t.Errorf("handback at the main site first: %s", r)
	}

	// Handback: the DR site brings both DRCs together and hands the role back...
	out = dr.must("handback", "--confirm", "main").stdout
	if !strings.Contains(out, "brought together") || !strings.Contains(out, "site dr is now standby") {
		t.Errorf("handback at the DR site: %s", out)
	}
	drSnaps := snapshotIDs(t, dr, "portal-files")
	// ...and the main site applies the last bundle and acts again.
	out = main.must("handback", "--identity", idFile).stdout
	if !strings.Contains(out, "site main is now primary") {
		t.Errorf("handback at the main site: %s", out)
	}
	got := snapshotIDs(t, main, "portal-files")
	if strings.Join(got, ",") != strings.Join(drSnaps, ",") || !holdsSnapshot(got, during.SnapshotID) || len(got) < 2 {
		t.Errorf("main site's snapshots after the handback: %v, want %v with %s", got, drSnaps, during.SnapshotID)
	}
	for _, d := range []string{"local", "offsite"} {
		if ri := verifyJSON(t, main, d); ri.Status != "succeeded" {
			t.Errorf("verify --drc %s after the handback: %+v", d, ri)
		}
	}
	if s := site(main); s.Role != "primary" || s.Lease == nil || s.Lease.Site != "main" || s.Lease.Epoch != 2 {
		t.Errorf("main site after the handback: %+v", s)
	}
	if s := site(dr); s.Role != "standby" {
		t.Errorf("DR site after the handback: %+v", s)
	}
	if r := main.cadang("backup", "portal-files"); r.code != 0 {
		t.Errorf("a backup at the main site after the handback: %s", r)
	}
	if r := dr.cadang("backup", "portal-files"); r.code == 0 {
		t.Errorf("a backup at the DR site after the handback: %s", r)
	}
}

// verifyJSON runs `cadang verify --drc NAME` and returns its run.
func verifyJSON(t *testing.T, w *world, drcName string) api.RunInfo {
	t.Helper()
	var ri api.RunInfo
	mustJSON(t, w.cadang("verify", "--drc", drcName, "--json").stdout, &ri)
	return ri
}

// holdsSnapshot says whether a list of id:status holds the snapshot id (short or long).
func holdsSnapshot(list []string, id string) bool {
	for _, e := range list {
		short, _, _ := strings.Cut(e, ":")
		if short != "" && (strings.HasPrefix(id, short) || strings.HasPrefix(short, id)) {
			return true
		}
	}
	return false
}
