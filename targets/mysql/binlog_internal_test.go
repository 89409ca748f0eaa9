package mysql

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBinlogNamesAndGaps(t *testing.T) {
	if got := binlogAfter("mysql-bin.000009", 1); got != "mysql-bin.000010" {
		t.Errorf("after mysql-bin.000009: %s", got)
	}
	for _, bad := range []string{"mysql-bin", "mysql-bin.12", ".000001", "a/b.000001", "x.00000a"} {
		if ValidBinlogName(bad) {
			t.Errorf("%q taken as a binlog file name", bad)
		}
	}
	if !BinlogLess("mysql-bin.999999", "mysql-bin.1000000") {
		t.Error("binlog numbers are compared as numbers")
	}
	gaps := binlogGaps("mysql-bin.000007", []string{"mysql-bin.000010", "mysql-bin.000011", "mysql-bin.000013"})
	if len(gaps) != 2 || gaps[0].String() != "binlog file mysql-bin.000008 is missing (between mysql-bin.000007 and mysql-bin.000010)" ||
		gaps[1].Missing != "mysql-bin.000012" {
		t.Errorf("gaps: %v", gaps)
	}
	if gaps := binlogGaps("", []string{"mysql-bin.000003", "mysql-bin.000004"}); len(gaps) != 0 {
		t.Errorf("gaps of a whole chain: %v", gaps)
	}
}

func TestDumpPositionAndChain(t *testing.T) {
	dump := "-- MariaDB dump\n--\n-- Position to start replication or point-in-time recovery from\n--\n\n" +
		"-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=344;\n\nCREATE TABLE x (i int);\n"
	file, pos, err := dumpPosition(strings.NewReader(dump))
	if err != nil || file != "mysql-bin.000002" || pos != 344 {
		t.Fatalf("position %s %d %v", file, pos, err)
	}
	if _, _, err := dumpPosition(strings.NewReader("-- MariaDB dump\nCREATE TABLE x (i int);\n")); err == nil || !strings.Contains(err.Error(), "no binlog position") {
		t.Errorf("a dump without position: %v", err)
	}
	dir := t.TempDir()
	for _, n := range []string{"mysql-bin.000001", "mysql-bin.000002", "mysql-bin.000003", "mysql-bin.000005"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	chain, gap, err := binlogChain(dir, "mysql-bin.000002")
	if err != nil || strings.Join(chain, " ") != "mysql-bin.000002 mysql-bin.000003" || gap == nil || gap.Missing != "mysql-bin.000004" {
		t.Errorf("chain %v gap %v err %v", chain, gap, err)
	}
	if _, _, err := binlogChain(dir, "mysql-bin.000004"); err == nil || !strings.Contains(err.Error(), "mysql-bin.000004") {
		t.Errorf("chain from a file not archived: %v", err)
	}
}
