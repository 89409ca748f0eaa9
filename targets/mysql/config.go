package mysql

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cadang/cadang/targets/dbdump"
)

// Config is the `mysql:` section of a target.
type Config struct {
	// Host is a host name or address, or the path of the server's unix socket. Empty:
	// the local socket the client library knows.
	Host string `yaml:"host"`
	Port int    `yaml:"port"` // default 3306
	// Database is the one database backed up; All backs up every database of the server
	// (but the system ones: mysql, sys, information_schema, performance_schema) in one
	// consistent dump, with the user accounts and their grants (MariaDB).
	Database string   `yaml:"database"`
	All      bool     `yaml:"all"`
	Exclude  []string `yaml:"exclude"` // with all: databases left out, by name
	User     string   `yaml:"user"`
	// PasswordFile holds the password on its first line. Without it the client reads
	// ~/.my.cnf of the daemon's user, or needs no password (unix_socket).
	PasswordFile string `yaml:"password_file"`
	// DumpOptions are extra mariadb-dump options, each "--name" or "--name=value"
	// (e.g. --ignore-table=app.cache). Options cadang sets itself are refused.
	DumpOptions []string `yaml:"dump_options"`
	// BinDir is where mariadb-dump and mariadb (or mysqldump and mysql) are. Default: PATH.
	BinDir string `yaml:"bin_dir"`
	// Checksums adds CHECKSUM TABLE to the manifest (default true); without it the
	// manifest has row counts only.
	Checksums *bool `yaml:"checksums"`

	// Method is how a full backup is taken: dump (default: mariadb-dump, SQL) or
	// physical (mariadb-backup: a copy of the server's files, restored as a data
	// directory; MariaDB only, the whole server: all: true, run on the server's host).
	Method string `yaml:"method"`

	// Mode is dump (default: every backup run is a mariadb-dump) or continuous: the
	// backup run is still a full backup (a dump of one database, or with method:
	// physical a copy of the whole server, consistent with a binlog position, taken on
	// the target's schedule, weekly by default), and the daemon archives the server's
	// binary log every ArchiveInterval, so that a restore can replay it to a point in
	// time (docs/continuous.md). The server needs log_bin. With method: physical the
	// target gives all: true and database: (where drills write their probe rows).
	Mode string `yaml:"mode"`
	// ArchiveInterval is, in continuous mode, how often the daemon closes the binary log
	// (FLUSH BINARY LOGS) and stores the closed files as one snapshot: the RPO (default 1m).
	ArchiveInterval time.Duration `yaml:"archive_interval"`
}

// Defaults and modes.
const (
	DefaultPort            = 3306 // MySQL's port
	DefaultArchiveInterval = time.Minute
	ModeDump               = dbdump.ModeDump
	ModeContinuous         = dbdump.ModeContinuous
	// DefaultFullBackupSchedule is the schedule of a continuous target's dumps when the
	// target gives none: Sundays at 01:00 (the binary log carries everything between).
	DefaultFullBackupSchedule = "0 1 * * 0"
)

func newConfig() any { return &Config{Port: DefaultPort} }

// Options cadang sets itself, or that would make the dump something else than a
// consistent, restorable dump of the configured databases.
var ownOptions = []string{
	"--defaults-file", "--defaults-extra-file", "--no-defaults", "--host", "--port", "--socket", "--user", "--password",
	"--protocol", "--result-file", "--databases", "--all-databases", "--single-transaction", "--lock-all-tables",
	"--lock-tables", "--master-data", "--source-data", "--verbose", "--version", "--help", "--tab", "--xml", "--no-data", "--compress", "--system",
}

// Validate reports problems through report(field, message). Messages never repeat a
// dump option's value: it might be a password given by mistake.
func (c *Config) Validate(report func(field, msg string)) {
	physicalPITR := c.Method == MethodPhysical && c.Mode == ModeContinuous
	switch {
	case physicalPITR:
		// The whole server is protected; database: is where drills write their probe rows.
		if !c.All {
			report("all", "method: physical in mode: continuous protects the whole server: give all: true")
		}
		if c.Database == "" {
			report("database", "required with method: physical in mode: continuous: the database a drill writes its probe rows in (the whole server is protected)")
		}
	case c.All && c.Database != "":
		report("database", "give either database or all: true, not both")
	case !c.All && c.Database == "":
		report("database", "required: the database to back up (or all: true for every database)")
	}
	if len(c.Exclude) > 0 && !c.All {
		report("exclude", "only with all: true")
	}
	if c.Port < 0 || c.Port > 65535 {
		report("port", fmt.Sprintf("%d is not a port", c.Port))
	}
	if c.PasswordFile != "" && !filepath.IsAbs(c.PasswordFile) {
		report("password_file", fmt.Sprintf("%q must be an absolute path", c.PasswordFile))
	}
	if c.BinDir != "" && !filepath.IsAbs(c.BinDir) {
		report("bin_dir", fmt.Sprintf("%q must be an absolute path", c.BinDir))
	}
	switch c.Method {
	case "", MethodDump:
	case MethodPhysical:
		switch {
		case !c.All && !physicalPITR:
			report("method", "a physical backup (mariadb-backup) copies the whole server: give all: true instead of database:")
		case len(c.Exclude) > 0:
			report("exclude", "a physical backup copies the whole server: exclude is for dumps")
		case len(c.DumpOptions) > 0:
			report("dump_options", "a physical backup runs mariadb-backup: dump_options are mariadb-dump's")
		}
	default:
		report("method", fmt.Sprintf("%q is not a method: dump or physical", c.Method))
	}
	dbdump.CheckMode(c.Mode, c.All && !physicalPITR, c.ArchiveInterval, "mode: continuous protects one database: give database: (its binary log is replayed into a new database)",
		"", report)
	for i, o := range c.DumpOptions {
		name, _, _ := strings.Cut(o, "=")
		switch {
		case !strings.HasPrefix(o, "--") || len(name) < 3:
			report(fmt.Sprintf("dump_options[%d]", i), "give long options, as --name or --name=value")
		case slices.Contains(ownOptions, name):
			report(fmt.Sprintf("dump_options[%d]", i), fmt.Sprintf("cadang sets %s itself", name))
		}
	}
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Mode == "" {
		c.Mode = ModeDump
	}
	if c.Mode == ModeContinuous && c.ArchiveInterval == 0 {
		c.ArchiveInterval = DefaultArchiveInterval
	}
	return c
}

// Physical reports whether the target's full backups are physical (mariadb-backup),
// which run on the database host only.
func (c *Config) Physical() bool { return c.Method == MethodPhysical }

// Continuous reports whether the target is in continuous mode (binlog archiving).
func (c *Config) Continuous() bool { return c.Mode == ModeContinuous }

// DefaultSchedule is the target's schedule when it gives none: weekly dumps in
// continuous mode; none (on demand) otherwise.
func (c *Config) DefaultSchedule() string {
	if c.Mode == ModeContinuous {
		return DefaultFullBackupSchedule
	}
	return ""
}

// IsContinuous reports whether a target's configuration (the `mysql:` section) is in
// continuous mode, and its archive interval then.
func IsContinuous(spec any) (time.Duration, bool) {
	c, ok := spec.(*Config)
	if !ok || c.Mode != ModeContinuous {
		return 0, false
	}
	return c.withDefaults().ArchiveInterval, true
}

// IsPhysicalSpec reports whether a target's configuration (the `mysql:` section) takes
// physical backups: its restores go to a folder, a data directory.
func IsPhysicalSpec(spec any) bool {
	c, ok := spec.(*Config)
	return ok && c.Physical()
}

func (c Config) checksums() bool { return c.Checksums == nil || *c.Checksums }
