package dbdump_test

import (
	"io"
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/dbdump"
)

// The reason reported for a failed tool is its first error line, not its progress.
func TestToolLogFirstError(t *testing.T) {
	for _, tc := range []struct {
		name, stderr, first, firstError string
		clean                           func(string) string
	}{
		{"pg_dump", "pg_dump: last built-in OID is 16383\npg_dump: reading extensions\npg_dump: dumping contents of table \"public.error_log\"\n" +
			"pg_dump: error: query failed: ERROR:  permission denied for table secret\npg_dump: detail: Query was: LOCK TABLE public.secret\n",
			"pg_dump: error: query failed: ERROR:  permission denied for table secret", "pg_dump: error: query failed: ERROR:  permission denied for table secret",
			func(l string) string {
				if strings.HasPrefix(l, "pg_dump: ") && !strings.HasPrefix(l, "pg_dump: error:") {
					return ""
				}
				return l
			}},
		{"mariadb-dump", "-- Connecting to 127.0.0.1...\n-- Starting transaction...\nmariadb-dump: Couldn't execute 'SELECT /*!40001 SQL_NO_CACHE */ * FROM `secret`': SELECT command denied to user 'u'@'localhost' for table `db`.`secret` (1142)\n",
			"mariadb-dump: Couldn't execute 'SELECT /*!40001 SQL_NO_CACHE */ * FROM `secret`': SELECT command denied to user 'u'@'localhost' for table `db`.`secret` (1142)",
			"mariadb-dump: Couldn't execute 'SELECT /*!40001 SQL_NO_CACHE */ * FROM `secret`': SELECT command denied to user 'u'@'localhost' for table `db`.`secret` (1142)",
			func(l string) string {
				if strings.HasPrefix(l, "-- ") {
					return ""
				}
				return l
			}},
		{"no error line", "something odd happened\nand more\n", "something odd happened", "", nil},
		{"unterminated", "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)", "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)", "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &dbdump.ToolLog{Clean: tc.clean}
			// Written in pieces that split lines.
			r := strings.NewReader(tc.stderr)
			buf := make([]byte, 7)
			for {
				n, err := r.Read(buf)
				_, _ = l.Write(buf[:n])
				if err == io.EOF {
					break
				}
			}
			if got := l.First(); got != tc.first {
				t.Errorf("First:\n got %q\nwant %q", got, tc.first)
			}
			if got := l.FirstError(); got != tc.firstError {
				t.Errorf("FirstError:\n got %q\nwant %q", got, tc.firstError)
			}
		})
	}
}
