package engine

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/testenv"
)

// What `cadang restic` runs and what it refuses, before anything is queued.
func TestHandArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" allowed, else a part of the error
	}{
		{[]string{"snapshots"}, ""},
		{[]string{"check", "--read-data-subset", "5%"}, ""},
		{[]string{"list", "locks"}, ""},
		{[]string{"cat", "config"}, ""},
		{[]string{"key", "list"}, ""},
		{[]string{"repair", "index"}, ""},
		{nil, "no restic command given"},
		{[]string{"restore", "latest", "--target", "/tmp/x"}, "reads the agency's data"},
		{[]string{"dump", "latest", "/etc/passwd"}, "reads the agency's data"},
		{[]string{"cat", "masterkey"}, "give one of config, index, snapshot, lock"},
		{[]string{"cat", "blob", "abc"}, "give one of"},
		{[]string{"key", "add"}, "give one of list"},
		{[]string{"forget", "--keep-last", "1"}, "cadang forget"},
		{[]string{"prune"}, "never at a secondary"},
		{[]string{"self-update"}, "not a command cadang runs by hand"},
		{[]string{"snapshots", "--repo", "/elsewhere"}, "flag --repo is refused"},
		{[]string{"snapshots", "--password-file=/tmp/p"}, "flag --password-file is refused"},
		{[]string{"snapshots", "-o", "s3.region=x"}, "flag -o is refused"},
	} {
		err := checkHandArgs(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q refused: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errBadRequest)):
			t.Errorf("%q: got %v, want a bad request saying %q", tc.args, err, tc.want)
		}
	}
}

// A hand run runs restic on the agency's repository with its environment, records who
// asked, the arguments, the output and the exit code; a failing command fails the run
// with restic's exit code kept.
func TestResticHandRun(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `restic: {binary: "`+testenv.Restic(t)+`"}
drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets:
  - {name: fine, agency: dinkes, kind: streamcmd, streamcmd: {argv: [echo, hello]}}
`)
	d := newTestDaemon(t, cfg, time.Now)
	run, err := d.Backup("fine", reasonOnDemand, queue.PriorityOnDemand)
	if err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	b, _ := d.cat.Run(run.ID)
	if b.Status != catalog.Succeeded {
		t.Fatalf("backup: %+v", b)
	}

	if _, err := d.Restic(api.ResticRequest{Agency: "nobody", Args: []string{"snapshots"}}, ""); err == nil || !errors.Is(err, errBadRequest) {
		t.Errorf("unknown agency: %v", err)
	}
	if _, err := d.Restic(api.ResticRequest{Agency: "dinkes", DRC: "nowhere", Args: []string{"snapshots"}}, ""); err == nil || !errors.Is(err, errBadRequest) {
		t.Errorf("unknown drc: %v", err)
	}

	hand := func(args ...string) (*catalog.Run, api.ResticOutput) {
		t.Helper()
		r, err := d.Restic(api.ResticRequest{Agency: "dinkes", Args: args}, "uid 0 (root), pid 1")
		if err != nil {
			t.Fatal(err)
		}
		runQueued(d)
		got, err := d.cat.Run(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out api.ResticOutput
		if err := json.Unmarshal(got.Manifest, &out); err != nil {
			t.Fatalf("run %d has no restic output: %v (%s)", r.ID, err, got.Manifest)
		}
		return got, out
	}
	got, out := hand("snapshots")
	if got.Status != catalog.Succeeded || got.Op != "restic" || got.DRC != "local" || out.ExitCode != 0 {
		t.Fatalf("restic snapshots: %+v %+v", got, out)
	}
	if !strings.Contains(out.Output, b.SnapshotID[:8]) {
		t.Errorf("restic snapshots output does not list snapshot %s:\n%s", b.SnapshotID[:8], out.Output)
	}
	if !strings.Contains(strings.Join(got.Notes, "\n"), "restic snapshots") || !strings.Contains(strings.Join(got.Notes, "\n"), "requested by uid 0 (root)") {
		t.Errorf("the run does not record what was run and who asked: %q", got.Notes)
	}
	keys, _ := filepath.Glob(filepath.Join(cfg.StateDir, "keys", "*", "dinkes.key"))
	if len(keys) == 0 {
		t.Fatal("cannot find the agency's password file to check the output against")
	}
	for _, k := range keys {
		pw, _ := os.ReadFile(k)
		if p := strings.TrimSpace(string(pw)); p != "" && strings.Contains(out.Output+strings.Join(got.Notes, ""), p) {
			t.Errorf("the repository password reached the run's output")
		}
	}

	got, out = hand("cat", "snapshot", "0000000000000000000000000000000000000000000000000000000000000000")
	if got.Status != catalog.Failed || out.ExitCode == 0 || out.Output == "" {
		t.Errorf("restic cat of a snapshot that does not exist: status %s, exit code %d, output %q", got.Status, out.ExitCode, out.Output)
	}
	if ls, _ := d.cat.Leases("local", "dinkes"); len(ls) != 0 {
		t.Errorf("a hand run left its lease: %+v", ls)
	}
}
