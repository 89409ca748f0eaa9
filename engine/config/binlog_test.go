package config

import (
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/mysql"
)

// A continuous mysql target dumps weekly unless its schedule says otherwise; its
// mistakes are located errors.
func TestContinuousMySQLConfig(t *testing.T) {
	cfg, err := Parse("cadang.yaml", []byte(continuousHead+`  - {name: binlog, agency: dinkes, kind: mysql, mysql: {database: arsip, mode: continuous, archive_interval: 5m}}
  - {name: dump, agency: dinkes, kind: mysql, mysql: {database: arsip}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"binlog": mysql.DefaultFullBackupSchedule, "dump": ""} {
		if tg, _ := cfg.Target(name); tg.Schedule != want {
			t.Errorf("%s: schedule %q, want %q", name, tg.Schedule, want)
		}
	}
	_, err = Parse("cadang.yaml", []byte(continuousHead+`  - name: binlog
    agency: dinkes
    kind: mysql
    mysql: {all: true, mode: continuous}
`))
	if err == nil || !strings.Contains(err.Error(), `cadang.yaml:11:`) || !strings.Contains(err.Error(), "mode: continuous protects one database") {
		t.Fatalf("all: true in continuous mode: %v", err)
	}
}
