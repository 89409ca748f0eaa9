package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// At start the daemon removes what runs of a daemon that died left in the scratch
// folder: a backup's folder with its password file, a drill's restored copy. What is
// not cadang's stays.
func TestStartupRemovesStaleScratch(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets: [{name: app, agency: dinkes, kind: stub, stub: {}}]
`)
	scratch := filepath.Join(cfg.StateDir, "scratch")
	for name, data := range map[string]string{
		"run-41/pgpass":                   "*:*:*:backup:Rahasia",
		"drill-42/restore/srv/portal/big": "restored copy",
		"notes.txt":                       "someone else's",
		"run-x/keep":                      "not a run id",
	} {
		p := filepath.Join(scratch, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := newTestDaemon(t, cfg, time.Now)
	if err := d.startup(nil); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"run-41", "drill-42"} {
		if _, err := os.Stat(filepath.Join(scratch, gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the start: %v", gone, err)
		}
	}
	for _, kept := range []string{"notes.txt", "run-x/keep"} {
		if _, err := os.Stat(filepath.Join(scratch, kept)); err != nil {
			t.Errorf("%s was removed: %v", kept, err)
		}
	}
}
