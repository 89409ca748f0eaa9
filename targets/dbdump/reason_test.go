package dbdump_test

import (
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/dbdump"
)

// A failed tool's reason keeps the lines after its first error line that say why, on
// one bounded line (issue 13, point 12).
func TestToolLogReason(t *testing.T) {
	l := &dbdump.ToolLog{}
	_, _ = l.Write([]byte("pg_dump: dumping contents of table \"public.bulk\"\n" +
		"pg_dump: error: Dumping the contents of table \"bulk\" failed: PQgetCopyData() failed.\n" +
		"pg_dump: detail: Error message from server: server closed the connection unexpectedly\n"))
	want := `pg_dump: error: Dumping the contents of table "bulk" failed: PQgetCopyData() failed.; pg_dump: detail: Error message from server: server closed the connection unexpectedly`
	if got := l.Reason(); got != want {
		t.Errorf("Reason:\n got %q\nwant %q", got, want)
	}
	long := &dbdump.ToolLog{}
	_, _ = long.Write([]byte("error: x\n" + strings.Repeat("why ", 100) + "\n" + strings.Repeat("more ", 100) + "\nmore\nand more\nand more still\n"))
	if got := long.Reason(); len(got) > 605 || !strings.HasPrefix(got, "error: x; why") || strings.Contains(got, "\n") {
		t.Errorf("a long reason: %d bytes %q", len(got), got)
	}
}
