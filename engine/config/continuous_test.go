package config

import (
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/postgres"
)

const continuousHead = `state_dir: /var/lib/cadang
restic: {binary: restic}
drcs:
  - {name: local, role: primary, path: /srv/cadang}
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
`

// A continuous postgres target backs up (its base backups) weekly unless its schedule
// says otherwise; a dump target keeps none; a wrong mode is a located error.
func TestContinuousPostgresConfig(t *testing.T) {
	cfg, err := Parse("cadang.yaml", []byte(continuousHead+`  - {name: pitr, agency: dinkes, kind: postgres, postgres: {database: simpus, mode: continuous}}
  - {name: pitr-daily, agency: dinkes, kind: postgres, schedule: "0 3 * * *", postgres: {database: simpus, mode: continuous, archive_interval: 30s}}
  - {name: dump, agency: dinkes, kind: postgres, postgres: {database: simpus}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"pitr": postgres.DefaultBaseBackupSchedule, "pitr-daily": "0 3 * * *", "dump": ""} {
		if tg, _ := cfg.Target(name); tg.Schedule != want {
			t.Errorf("%s: schedule %q, want %q", name, tg.Schedule, want)
		}
	}
	_, err = Parse("cadang.yaml", []byte(continuousHead+`  - name: pitr
    agency: dinkes
    kind: postgres
    postgres: {database: simpus, mode: wal, archive_interval: 5s}
`))
	if err == nil || !strings.Contains(err.Error(), `cadang.yaml:11:`) || !strings.Contains(err.Error(), `"wal" is not a mode: use dump or continuous`) {
		t.Fatalf("a wrong mode: %v", err)
	}
}
