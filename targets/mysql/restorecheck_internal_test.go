package mysql

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/targets"
)

// Issue 13, point 14: a restore request that cannot succeed is refused before it is
// queued (CheckRestore), with one line that names what is wrong; a request that can
// succeed passes. Restore refuses the same (it checks the request the same way).
func TestCheckRestore(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	empty := filepath.Join(dir, "empty-pw")
	dump := filepath.Join(dir, "old.sql")
	occupied := filepath.Join(dir, "occupied")
	for f, content := range map[string]string{pw: "secret\n", empty: "", dump: "-- dump", filepath.Join(occupied, "x"): "x",
		filepath.Join(dir, "holds", dumpFile("arsip")): "-- dump"} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	one := &Target{name: "arsip", cfg: Config{Database: "arsip", Host: "db1", User: "cadang"}.withDefaults()}
	all := &Target{name: "server", cfg: Config{All: true, Host: "db1"}.withDefaults()}
	long := strings.Repeat("é", 65)
	for _, tc := range []struct {
		name string
		tg   *Target
		req  targets.RestoreRequest
		want string // "" passes; else a part of the one-line error
	}{
		{"new database", one, targets.RestoreRequest{To: "mysql://db2:3307/arsip_restored"}, ""},
		{"the target's own server", one, targets.RestoreRequest{To: "mysql:///arsip_restored"}, ""},
		{"the production database's own name (lost, restored again)", one, targets.RestoreRequest{To: "mysql:///arsip"}, ""},
		{"force", one, targets.RestoreRequest{To: "mariadb:///arsip", Force: true}, ""},
		{"every parameter", one, targets.RestoreRequest{To: "mysql://restorer@localhost/x?password_file=" + pw + "&socket=/run/mysqld/mysqld.sock&user=r"}, ""},
		{"definer=drop", one, targets.RestoreRequest{To: "mysql://db2/x", Options: map[string]string{"definer": "drop"}}, ""},
		{"64 characters, some not ASCII", one, targets.RestoreRequest{To: "mysql://db2/" + long[:128]}, ""},
		{"a dot and spaces inside", one, targets.RestoreRequest{To: "mysql://db2/arsip%20lama.v2"}, ""},
		{"new file", one, targets.RestoreRequest{To: filepath.Join(dir, "new.sql")}, ""},
		{"folder without the dump", one, targets.RestoreRequest{To: occupied}, ""},
		{"file with force", one, targets.RestoreRequest{To: dump, Force: true}, ""},
		{"server to a new folder", all, targets.RestoreRequest{To: filepath.Join(dir, "new")}, ""},
		{"server to a server", all, targets.RestoreRequest{To: "mysql://db2:3306/"}, ""},

		{"unknown option", one, targets.RestoreRequest{To: "mysql://db2/x", Options: map[string]string{"no_owner": "true"}}, "mysql restore has no option no_owner (it has: definer)"},
		{"bad definer", one, targets.RestoreRequest{To: "mysql://db2/x", Options: map[string]string{"definer": "keep"}}, `restore option definer: "keep": the only value is drop`},
		{"include", one, targets.RestoreRequest{To: "mysql://db2/x", Include: []string{"/arsip.sql"}}, "a mysql target restores whole snapshots: include (/arsip.sql) is for files targets"},
		{"another kind's URL", one, targets.RestoreRequest{To: "postgres://db2/x"}, "a mysql target restores to mysql://host:port/database or to a file"},
		{"no database name", one, targets.RestoreRequest{To: "mysql://db2:3306/"}, "names no database: use mysql://host:port/NAME"},
		{"a database name for a server", all, targets.RestoreRequest{To: "mysql://db2/x"}, "the snapshot holds every database of a server (all: true)"},
		{"name too long", one, targets.RestoreRequest{To: "mysql://db2/" + long}, "is 65 characters long: the server takes at most 64"},
		{"trailing space", one, targets.RestoreRequest{To: "mysql://db2/arsip%20"}, "ends with a space"},
		{"emoji", one, targets.RestoreRequest{To: "mysql://db2/arsip😀"}, "no character beyond U+FFFF"},
		{"NUL", one, targets.RestoreRequest{To: "mysql://db2/a%00b"}, "holds a NUL character"},
		{"not UTF-8", one, targets.RestoreRequest{To: "mysql://db2/a%ffb"}, "is not valid UTF-8"},
		{"trailing slash", one, targets.RestoreRequest{To: "mysql://db2/x/"}, `database name "x/" holds a slash`},
		{"port", one, targets.RestoreRequest{To: "mysql://db2:0/x"}, `"0" is not a port`},
		{"password in the URL", one, targets.RestoreRequest{To: "mysql://u:hunter2@db2/x"}, "a password in the URL would show in the process list"},
		{"unknown parameter", one, targets.RestoreRequest{To: "mysql://db2/x?ssl=1"}, `unknown parameter "ssl"`},
		{"parameter twice", one, targets.RestoreRequest{To: "mysql://db2/x?socket=/a&socket=/b"}, "parameter socket is given 2 times"},
		{"relative socket", one, targets.RestoreRequest{To: "mysql://localhost/x?socket=mysqld.sock"}, `socket "mysqld.sock" must be an absolute path`},
		{"relative password file", one, targets.RestoreRequest{To: "mysql://db2/x?password_file=pw"}, `password_file "pw" must be an absolute path`},
		{"missing password file", one, targets.RestoreRequest{To: "mysql://db2/x?password_file=" + filepath.Join(dir, "nope")}, "password_file " + filepath.Join(dir, "nope") + " does not exist"},
		{"empty password file", one, targets.RestoreRequest{To: "mysql://db2/x?password_file=" + empty}, "password_file " + empty + " is empty"},
		{"relative path", one, targets.RestoreRequest{To: "arsip.sql"}, `restore destination "arsip.sql" must be an absolute path or a URL`},
		{"file that holds data", one, targets.RestoreRequest{To: dump}, targets.ErrDestinationNotEmpty.Error()},
		{"folder that holds the dump", one, targets.RestoreRequest{To: filepath.Join(dir, "holds")}, targets.ErrDestinationNotEmpty.Error()},
		{"not a regular file", one, targets.RestoreRequest{To: "/dev/null"}, "restore destination /dev/null is not a regular file"},
		{"server to a folder that holds data", all, targets.RestoreRequest{To: occupied}, targets.ErrDestinationNotEmpty.Error()},
		{"server to a file", all, targets.RestoreRequest{To: dump}, "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tg.CheckRestore(tc.req)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
				return
			case err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n"):
				t.Fatalf("error %q, want one line with %q", err, tc.want)
			case strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("error %q shows the password", err)
			}
			if tc.want == targets.ErrDestinationNotEmpty.Error() && !errors.Is(err, targets.ErrDestinationNotEmpty) {
				t.Errorf("error %q is not ErrDestinationNotEmpty", err)
			}
		})
	}
}
