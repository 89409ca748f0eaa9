package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/testenv"
)

// Issue 13, point 16: a target added to the file is known after a reload, with its
// schedule; a file with problems, or one that changes what only a restart can, is not
// applied and says why, and the daemon goes on with what it runs; an unchanged file
// does nothing.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	base := `restic: {binary: "` + testenv.Restic(t) + `"}
drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets:
  - {name: old, agency: dinkes, kind: streamcmd, streamcmd: {argv: [echo, old]}}
`
	cfg := testConfig(t, dir, base)
	clk := &clock{t: wib("2026-12-01 10:00:00")}
	d := newTestDaemon(t, cfg, clk.Now)
	file := cfg.File
	write := func(body string) {
		t.Helper()
		src := "state_dir: \"" + filepath.Join(dir, "state") + "\"\n" + strings.ReplaceAll(body, "$DIR", dir)
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Backup("new", reasonOnDemand, queue.PriorityOnDemand); !errors.Is(err, errUnknownTarget) {
		t.Fatalf("backup of a target not in the file yet: %v", err)
	}

	ans, err := d.Reload()
	if err != nil || !ans.Unchanged {
		t.Fatalf("reload of an unchanged file: %+v %v", ans, err)
	}

	// A problem: nothing changes, every problem is said.
	write(base + `  - {name: new, agency: nobody, kind: streamcmd, streamcmd: {argv: [echo, new]}}
  - {name: bad, agency: dinkes, kind: nosuchkind}
`)
	_, err = d.Reload()
	if err == nil || !errors.Is(err, errBadRequest) || !strings.Contains(err.Error(), "nobody") || !strings.Contains(err.Error(), "nosuchkind") {
		t.Fatalf("reload of a file with two problems: %v", err)
	}
	if _, ok := d.conf().targets["new"]; ok || d.conf().cfg.Digest != cfg.Digest {
		t.Fatal("a file with problems was applied")
	}

	// A change only a restart can apply.
	write(strings.Replace(base, "path: $DIR/drc", "path: $DIR/elsewhere", 1))
	if _, err = d.Reload(); err == nil || !strings.Contains(err.Error(), "drcs changed, which needs a restart") {
		t.Fatalf("reload of a file that moves the DRC: %v", err)
	}

	// A new target with a schedule, the old one changed.
	write(strings.Replace(base, "echo, old", "echo, old2", 1) + `  - {name: new, agency: dinkes, kind: streamcmd, schedule: "0 12 * * *", streamcmd: {argv: [echo, new]}}
`)
	ans, err = d.Reload()
	if err != nil || ans.Unchanged || strings.Join(ans.Added, ",") != "new" || strings.Join(ans.Changed, ",") != "old" || len(ans.Removed) != 0 {
		t.Fatalf("reload adding a target: %+v %v", ans, err)
	}
	if d.conf().cfg.Digest == cfg.Digest || ans.Digest != d.conf().cfg.Digest {
		t.Errorf("the daemon does not say it runs the new file: %+v", ans)
	}
	run, err := d.Backup("new", reasonOnDemand, queue.PriorityOnDemand)
	if err != nil {
		t.Fatalf("backup of the added target: %v", err)
	}
	runQueued(d)
	if r, _ := d.cat.Run(run.ID); r.Status != catalog.Succeeded {
		t.Fatalf("backup of the added target: %+v", r)
	}
	found := false
	for _, p := range svc(d).schedule(clk.Now(), clk.Now().Add(24*60*60*1e9)) {
		found = found || (p.Target == "new" && p.Op == "backup")
	}
	if !found {
		t.Error("the added target's schedule is not planned")
	}

	// A target removed.
	write(base)
	ans, err = d.Reload()
	if err != nil || strings.Join(ans.Removed, ",") != "new" {
		t.Fatalf("reload removing a target: %+v %v", ans, err)
	}
	if _, err := d.Backup("new", reasonOnDemand, queue.PriorityOnDemand); !errors.Is(err, errUnknownTarget) {
		t.Errorf("backup of a removed target: %v", err)
	}
}

// A maintenance window added less than 24 hours before it starts is a warning of the
// reload, naming the agencies whose scheduled runs it holds (policy 4.2); one added in
// time, or holding nobody's runs, is not.
func TestReloadWarnsOfShortNotice(t *testing.T) {
	dir := t.TempDir()
	base := `drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}, {id: disdik}]
targets:
  - {name: malam, agency: dinkes, kind: stub, stub: {}, schedule: "0 22 * * *"}
  - {name: pagi, agency: disdik, kind: stub, stub: {}, schedule: "0 6 * * *"}
`
	cfg := testConfig(t, dir, base)
	clk := &clock{t: wib("2026-12-01 10:00:00")}
	d := newTestDaemon(t, cfg, clk.Now)
	write := func(body string) {
		t.Helper()
		src := "state_dir: \"" + filepath.Join(dir, "state") + "\"\n" + strings.ReplaceAll(body, "$DIR", dir)
		if err := os.WriteFile(cfg.File, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("scheduler: {blackout: [{name: ganti-disk, from: \"2026-12-01 21:00\", to: \"2026-12-01 23:00\"}, {name: nanti, from: \"2026-12-05 21:00\", to: \"2026-12-05 23:00\"}]}\n" + base)
	ans, err := d.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Warnings) != 1 || !strings.Contains(ans.Warnings[0], "ganti-disk") || !strings.Contains(ans.Warnings[0], "dinkes") || strings.Contains(ans.Warnings[0], "disdik") {
		t.Errorf("warnings: %q", ans.Warnings)
	}
}
