package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/targets/postgres"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  postgres.Config
		want []string
	}{
		{"one database", postgres.Config{Database: "simpus", PasswordFile: "/etc/cadang/pg.pw", SSLMode: "require"}, nil},
		{"all", postgres.Config{All: true, Exclude: []string{"scratch"}, DumpOptions: []string{"--exclude-table-data=audit.*", "--no-comments"}}, nil},
		{"nothing", postgres.Config{}, []string{"database: required: the database to back up (or all: true for every database)"}},
		{"both", postgres.Config{Database: "a", All: true}, []string{"database: give either database or all: true, not both"}},
		{"mistakes", postgres.Config{Database: "a", Exclude: []string{"b"}, Port: 70000, PasswordFile: "pw", SSLMode: "on",
			BinDir: "bin", RestoreJobs: -1, DumpOptions: []string{"-Fp", "--format=plain", "--snapshot=1", "--jobs"}}, []string{
			"exclude: only with all: true",
			"port: 70000 is not a port",
			`password_file: "pw" must be an absolute path`,
			`sslmode: "on" is not an sslmode: use disable, allow, prefer, require, verify-ca, verify-full`,
			`bin_dir: "bin" must be an absolute path`,
			"restore_jobs: must be 1 or more",
			`dump_options[0]: give long options, as --name or --name=value`,
			`dump_options[1]: cadang sets --format itself`,
			`dump_options[2]: cadang sets --snapshot itself`,
			`dump_options[3]: cadang sets --jobs itself`,
		}},
		{"continuous", postgres.Config{Database: "simpus", Mode: "continuous", ArchiveInterval: 30 * time.Second}, nil},
		{"continuous mistakes", postgres.Config{All: true, Mode: "continuous", ArchiveInterval: time.Millisecond}, []string{
			"all: mode: continuous protects the whole server already: give the database restores are checked on",
			"archive_interval: 1ms: give 1s or more (it is the server's archive_timeout)",
		}},
		{"interval of a dump", postgres.Config{Database: "a", ArchiveInterval: time.Minute}, []string{"archive_interval: only with mode: continuous"}},
		{"unknown mode", postgres.Config{Database: "a", Mode: "wal"}, []string{`mode: "wal" is not a mode: use dump or continuous`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			tc.cfg.Validate(func(field, msg string) { got = append(got, field+": "+msg) })
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
