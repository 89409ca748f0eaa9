package runs

import (
	"testing"

	"github.com/cadang/cadang/drc"
)

func TestBinlogRange(t *testing.T) {
	for tag, want := range map[string]string{
		"binlog=mysql-bin.000001-mysql-bin.000003": "mysql-bin.000001 mysql-bin.000003",
		"binlog=db1.000007-db1.000007":             "db1.000007 db1.000007",
		"binlog=mysql-bin.000001":                  "",
	} {
		first, last, ok := binlogRange(drc.Snapshot{Tags: []string{tag}})
		if got := first + " " + last; ok != (want != "") || (ok && got != want) {
			t.Errorf("%s: %q %v, want %q", tag, got, ok, want)
		}
	}
}
