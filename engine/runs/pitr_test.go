package runs

import (
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
)

// TestLogBatches: the batches a restore from a base needs, and whether they reach a
// file, for both logs a continuous target archives.
func TestLogBatches(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	snap := func(id string, at time.Duration, tags ...string) drc.Snapshot {
		return drc.Snapshot{ID: id, ShortID: id, Time: t0.Add(at), Tags: tags}
	}
	damaged := map[string]bool{}
	good := func(s drc.Snapshot) bool { return !damaged[s.ID] }
	ids := func(ss []drc.Snapshot) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return strings.Join(out, " ")
	}

	const seg4, seg5, seg6 = "000000010000000000000004", "000000010000000000000005", "000000010000000000000006"
	walBase := snap("base", 0, "pg_base=1")
	wal := []drc.Snapshot{
		snap("w-old", -time.Minute, "pg_wal=000000010000000000000001-000000010000000000000003"), // before the base
		walBase,
		snap("w1", time.Minute, "pg_wal=000000010000000000000003-"+seg4),
		snap("w-none", 2*time.Minute, "pg_wal=none"),
		snap("w2", 3*time.Minute, "pg_wal="+seg5+"-"+seg5),
		snap("w-bad", 4*time.Minute, "pg_wal="+seg6+"-"+seg6),
	}
	binBase := snap("dump", 0, "binlog_from=mysql-bin.999998")
	binlog := []drc.Snapshot{
		snap("b-old", -2*time.Minute, "binlog=mysql-bin.999990-mysql-bin.999997"), // before the dump's file
		// Stored while the dump ran: it holds the dump's file.
		snap("b-during", -time.Minute, "binlog=mysql-bin.999997-mysql-bin.999998"),
		binBase,
		snap("b1", time.Minute, "binlog=mysql-bin.999999-mysql-bin.1000000"),
		snap("b-bad", 2*time.Minute, "binlog=mysql-bin.1000001-mysql-bin.1000001"),
	}
	damaged["w-bad"], damaged["b-bad"] = true, true

	for _, tc := range []struct {
		name    string
		snaps   []drc.Snapshot
		k       logKind
		base    drc.Snapshot
		want    string
		batches string
		reached bool
	}{
		{"wal reached", wal, walLog, walBase, seg5, "w1 w-none w2", true},
		{"wal reached by an earlier batch", wal, walLog, walBase, seg4, "w1 w-none w2", true},
		{"wal only in a damaged batch", wal, walLog, walBase, seg6, "w1 w-none w2", false},
		{"wal of another timeline width", wal, walLog, walBase, "0000000100000000000000050", "w1 w-none w2", false},
		{"binlog reached (numbers, not strings)", binlog, binlogLog, binBase, "mysql-bin.999999", "b-during b1", true},
		{"binlog reached at a wider number", binlog, binlogLog, binBase, "mysql-bin.1000000", "b-during b1", true},
		{"binlog only in a damaged batch", binlog, binlogLog, binBase, "mysql-bin.1000001", "b-during b1", false},
		{"binlog of another base name", binlog, binlogLog, binBase, "other.999999", "b-during b1", false},
		{"no file asked", binlog, binlogLog, binBase, "", "b-during b1", false},
	} {
		got, reached := logBatches(tc.snaps, tc.k, tc.base, tc.want, good)
		if ids(got) != tc.batches || reached != tc.reached {
			t.Errorf("%s: batches %q reached %v, want %q %v", tc.name, ids(got), reached, tc.batches, tc.reached)
		}
	}
}
