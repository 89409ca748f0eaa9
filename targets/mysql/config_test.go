package mysql_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/targets/mysql"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mysql.Config
		want []string
	}{
		{"one database", mysql.Config{Database: "simpus", PasswordFile: "/etc/cadang/my.pw"}, nil},
		{"all", mysql.Config{All: true, Exclude: []string{"scratch"}, DumpOptions: []string{"--ignore-table=app.cache", "--hex-blob"}}, nil},
		{"nothing", mysql.Config{}, []string{"database: required: the database to back up (or all: true for every database)"}},
		{"mistakes", mysql.Config{Database: "a", All: true, Exclude: []string{"b"}, Port: -1, PasswordFile: "pw", BinDir: "bin",
			DumpOptions: []string{"-x", "--password=secret", "--single-transaction", "--defaults-file=/etc/my.cnf"}}, []string{
			"database: give either database or all: true, not both",
			"port: -1 is not a port",
			`password_file: "pw" must be an absolute path`,
			`bin_dir: "bin" must be an absolute path`,
			`dump_options[0]: give long options, as --name or --name=value`,
			`dump_options[1]: cadang sets --password itself`,
			`dump_options[2]: cadang sets --single-transaction itself`,
			`dump_options[3]: cadang sets --defaults-file itself`,
		}},
		{"continuous", mysql.Config{Database: "a", Mode: mysql.ModeContinuous, ArchiveInterval: time.Minute}, nil},
		{"continuous mistakes", mysql.Config{All: true, Mode: mysql.ModeContinuous, ArchiveInterval: time.Millisecond}, []string{
			"all: mode: continuous protects one database: give database: (its binary log is replayed into a new database)",
			"archive_interval: 1ms: give 1s or more",
		}},
		{"mode", mysql.Config{Database: "a", Mode: "binlog", DumpOptions: []string{"--master-data=1"}}, []string{
			`mode: "binlog" is not a mode: use dump or continuous`,
			"dump_options[0]: cadang sets --master-data itself",
		}},
		{"physical", mysql.Config{All: true, Method: mysql.MethodPhysical}, nil},
		{"physical of one database", mysql.Config{Database: "a", Method: mysql.MethodPhysical}, []string{
			"method: a physical backup (mariadb-backup) copies the whole server: give all: true instead of database:"}},
		{"physical with dump options", mysql.Config{All: true, Method: mysql.MethodPhysical, DumpOptions: []string{"--hex-blob"}}, []string{
			"dump_options: a physical backup runs mariadb-backup: dump_options are mariadb-dump's"}},
		{"physical continuous", mysql.Config{All: true, Database: "simpus", Method: mysql.MethodPhysical, Mode: mysql.ModeContinuous}, nil},
		{"physical continuous without a probe database", mysql.Config{All: true, Method: mysql.MethodPhysical, Mode: mysql.ModeContinuous}, []string{
			"database: required with method: physical in mode: continuous: the database a drill writes its probe rows in (the whole server is protected)"}},
		{"physical continuous of one database", mysql.Config{Database: "a", Method: mysql.MethodPhysical, Mode: mysql.ModeContinuous, Exclude: []string{"b"}}, []string{
			"all: method: physical in mode: continuous protects the whole server: give all: true",
			"exclude: only with all: true",
			"exclude: a physical backup copies the whole server: exclude is for dumps"}},
		{"unknown method", mysql.Config{Database: "a", Method: "xtrabackup"}, []string{`method: "xtrabackup" is not a method: dump or physical`}},
		{"interval without continuous", mysql.Config{Database: "a", ArchiveInterval: time.Minute}, []string{"archive_interval: only with mode: continuous"}},
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
