package postgres

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
	dump := filepath.Join(dir, "old.pgc")
	occupied := filepath.Join(dir, "occupied")
	for f, content := range map[string]string{pw: "secret\n", empty: "", dump: "PGDMP", filepath.Join(occupied, "x"): "x",
		filepath.Join(dir, "holds", dumpFile("simpus")): "PGDMP"} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	one := &Target{name: "simpus", cfg: Config{Database: "simpus", Host: "db1", User: "cadang"}.withDefaults()}
	all := &Target{name: "server", cfg: Config{All: true, Host: "db1"}.withDefaults()}
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name string
		tg   *Target
		req  targets.RestoreRequest
		want string // "" passes; else a part of the one-line error
	}{
		{"new database", one, targets.RestoreRequest{To: "postgres://db2:5433/simpus_restored"}, ""},
		{"the target's own server", one, targets.RestoreRequest{To: "postgres:///simpus_restored"}, ""},
		{"the production database's own name (lost, restored again)", one, targets.RestoreRequest{To: "postgres:///simpus"}, ""},
		{"force", one, targets.RestoreRequest{To: "postgres:///simpus", Force: true}, ""},
		{"every parameter", one, targets.RestoreRequest{To: "postgresql://restorer@db2/x?password_file=" + pw + "&sslmode=verify-full&host=/run/pg"}, ""},
		{"options", one, targets.RestoreRequest{To: "postgres://db2/x", Options: map[string]string{"no_owner": "", "no_privileges": "yes", "role": "app_owner"}}, ""},
		{"63 bytes", one, targets.RestoreRequest{To: "postgres://db2/" + long[:63]}, ""},
		{"new file", one, targets.RestoreRequest{To: filepath.Join(dir, "new.pgc")}, ""},
		{"folder without the dump", one, targets.RestoreRequest{To: occupied}, ""},
		{"file with force", one, targets.RestoreRequest{To: dump, Force: true}, ""},
		{"server to a new folder", all, targets.RestoreRequest{To: filepath.Join(dir, "new")}, ""},
		{"server to a server", all, targets.RestoreRequest{To: "postgres://db2:5432/"}, ""},

		{"unknown option", one, targets.RestoreRequest{To: "postgres://db2/x", Options: map[string]string{"definer": "drop"}}, "postgres restore has no option definer (it has: no_owner, no_privileges, role)"},
		{"bad yes/no", one, targets.RestoreRequest{To: "postgres://db2/x", Options: map[string]string{"no_owner": "maybe"}}, `restore option no_owner: "maybe" is not true or false`},
		{"empty role", one, targets.RestoreRequest{To: "postgres://db2/x", Options: map[string]string{"role": ""}}, `restore option role: "" is not a role name`},
		{"role like an option", one, targets.RestoreRequest{To: "postgres://db2/x", Options: map[string]string{"role": "--superuser"}}, `restore option role: "--superuser" is not a role name`},
		{"role too long", one, targets.RestoreRequest{To: "postgres://db2/x", Options: map[string]string{"role": long}}, "restore option role: role name"},
		{"include", one, targets.RestoreRequest{To: "postgres://db2/x", Include: []string{"/simpus.pgc"}}, "a postgres target restores whole snapshots: include (/simpus.pgc) is for files targets"},
		{"another kind's URL", one, targets.RestoreRequest{To: "mysql://db2/x"}, "a postgres target restores to postgres://host:port/database or to a file"},
		{"no database name", one, targets.RestoreRequest{To: "postgres://db2:5432/"}, "names no database: use postgres://host:port/NAME"},
		{"a database name for a server", all, targets.RestoreRequest{To: "postgres://db2/x"}, "the snapshot holds every database of a server (all: true)"},
		{"name too long", one, targets.RestoreRequest{To: "postgres://db2/" + long}, "is 64 bytes long: PostgreSQL keeps at most 63"},
		{"trailing slash", one, targets.RestoreRequest{To: "postgres://db2/x/"}, `database name "x/" holds a slash`},
		{"NUL", one, targets.RestoreRequest{To: "postgres://db2/a%00b"}, "holds a NUL character"},
		{"port", one, targets.RestoreRequest{To: "postgres://db2:70000/x"}, `"70000" is not a port`},
		{"password in the URL", one, targets.RestoreRequest{To: "postgres://u:hunter2@db2/x"}, "a password in the URL would show in the process list"},
		{"unknown parameter", one, targets.RestoreRequest{To: "postgres://db2/x?sslrootcert=/x"}, `unknown parameter "sslrootcert"`},
		{"parameter twice", one, targets.RestoreRequest{To: "postgres://db2/x?user=a&user=b"}, "parameter user is given 2 times"},
		{"bad sslmode", one, targets.RestoreRequest{To: "postgres://db2/x?sslmode=on"}, `sslmode "on" is not one of disable, allow`},
		{"relative password file", one, targets.RestoreRequest{To: "postgres://db2/x?password_file=pw"}, `password_file "pw" must be an absolute path`},
		{"missing password file", one, targets.RestoreRequest{To: "postgres://db2/x?password_file=" + filepath.Join(dir, "nope")}, "password_file " + filepath.Join(dir, "nope") + " does not exist"},
		{"empty password file", one, targets.RestoreRequest{To: "postgres://db2/x?password_file=" + empty}, "password_file " + empty + " is empty"},
		{"relative path", one, targets.RestoreRequest{To: "backup.pgc"}, `restore destination "backup.pgc" must be an absolute path or a URL`},
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
