package postgres

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cadang/cadang/targets/dbdump"
)

// Config is the `postgres:` section of a target.
type Config struct {
	// Host is a host name or address, or the folder of the server's unix socket (an
	// absolute path). Empty: libpq's default, the local socket.
	Host string `yaml:"host"`
	Port int    `yaml:"port"` // default 5432
	// Database is the one database backed up; All backs up every database of the server
	// that accepts connections (not the templates), and the globals (roles, tablespaces).
	Database string   `yaml:"database"`
	All      bool     `yaml:"all"`
	Exclude  []string `yaml:"exclude"` // with all: databases left out, by name
	User     string   `yaml:"user"`
	// PasswordFile holds the password on its first line. Without it libpq looks for
	// ~/.pgpass of the daemon's user, or needs no password (peer, trust, certificates).
	PasswordFile string `yaml:"password_file"`
	SSLMode      string `yaml:"sslmode"` // disable, allow, prefer (libpq's default), require, verify-ca, verify-full
	// DumpOptions are extra pg_dump options, each "--name" or "--name=value"
	// (e.g. --exclude-table-data=audit.*). Options cadang sets itself are refused.
	DumpOptions []string `yaml:"dump_options"`
	// NoRolePasswords dumps the globals without role passwords (pg_dumpall
	// --no-role-passwords), for a backup role that may not read pg_authid.
	NoRolePasswords bool `yaml:"no_role_passwords"`
	// BinDir is where pg_dump, pg_dumpall, pg_restore and psql are (e.g.
	// /usr/lib/postgresql/16/bin: pg_dump must be at least as new as the server).
	// Default: PATH.
	BinDir string `yaml:"bin_dir"`
	// RestoreJobs is pg_restore's -j (default 4). With more than one job the dump is first
	// restored to a temporary file (pg_restore needs to seek); 1 streams it into pg_restore
	// and restores in a single transaction, so a failed restore leaves nothing behind.
	RestoreJobs int `yaml:"restore_jobs"`
	// Checksums adds a per-table checksum to the manifest (default true); without it the
	// manifest has row counts only.
	Checksums *bool `yaml:"checksums"`

	// Mode is dump (default: every backup run is a pg_dump) or continuous: the backup
	// run is a base backup (pg_basebackup) and the server archives its write-ahead log
	// through `cadang wal-push` (docs/continuous.md). Continuous needs one database
	// server, not one database: database names the database restores are checked on.
	Mode string `yaml:"mode"`
	// ArchiveInterval is, in continuous mode, both the server's archive_timeout and how
	// often the spooled WAL is stored as one snapshot: the target's RPO (default 1m).
	ArchiveInterval time.Duration `yaml:"archive_interval"`
}

// Defaults.
const (
	DefaultPort            = 5432
	DefaultRestoreJobs     = 4
	DefaultArchiveInterval = time.Minute
	ModeDump               = dbdump.ModeDump
	ModeContinuous         = dbdump.ModeContinuous
)

func newConfig() any { return &Config{Port: DefaultPort, RestoreJobs: DefaultRestoreJobs} }

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// Options cadang sets itself (or that would make the stream something else than one
// custom-format dump of the database).
var ownOptions = []string{
	"--file", "--format", "--compress", "--dbname", "--host", "--port", "--username",
	"--no-password", "--password", "--snapshot", "--jobs", "--verbose", "--version", "--help",
	"--schema-only", "--create", "--clean", "--if-exists",
}

// Validate reports problems through report(field, message). Messages never repeat a
// dump option's value: it might be a password given by mistake.
func (c *Config) Validate(report func(field, msg string)) {
	switch {
	case c.All && c.Database != "":
		report("database", "give either database or all: true, not both")
	case !c.All && c.Database == "":
		report("database", "required: the database to back up (or all: true for every database)")
	}
	if len(c.Exclude) > 0 && !c.All {
		report("exclude", "only with all: true")
	}
	if c.Host != "" && strings.HasPrefix(c.Host, ".") {
		report("host", fmt.Sprintf("%q: a socket folder must be an absolute path", c.Host))
	}
	if c.Port < 0 || c.Port > 65535 {
		report("port", fmt.Sprintf("%d is not a port", c.Port))
	}
	if c.PasswordFile != "" && !filepath.IsAbs(c.PasswordFile) {
		report("password_file", fmt.Sprintf("%q must be an absolute path", c.PasswordFile))
	}
	if c.SSLMode != "" && !slices.Contains(sslModes, c.SSLMode) {
		report("sslmode", fmt.Sprintf("%q is not an sslmode: use %s", c.SSLMode, strings.Join(sslModes, ", ")))
	}
	if c.BinDir != "" && !filepath.IsAbs(c.BinDir) {
		report("bin_dir", fmt.Sprintf("%q must be an absolute path", c.BinDir))
	}
	if c.RestoreJobs < 0 {
		report("restore_jobs", "must be 1 or more")
	}
	dbdump.CheckMode(c.Mode, c.All, c.ArchiveInterval, "mode: continuous protects the whole server already: give the database restores are checked on",
		" (it is the server's archive_timeout)", report)
	for i, o := range c.DumpOptions {
		if msg := checkOption(o); msg != "" {
			report(fmt.Sprintf("dump_options[%d]", i), msg)
		}
	}
}

func checkOption(o string) string {
	name, _, _ := strings.Cut(o, "=")
	switch {
	case !strings.HasPrefix(o, "--") || len(name) < 3:
		return "give long options, as --name or --name=value"
	case slices.Contains(ownOptions, name):
		return fmt.Sprintf("cadang sets %s itself", name)
	}
	return ""
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.RestoreJobs == 0 {
		c.RestoreJobs = DefaultRestoreJobs
	}
	if c.Mode == "" {
		c.Mode = ModeDump
	}
	if c.Mode == ModeContinuous && c.ArchiveInterval == 0 {
		c.ArchiveInterval = DefaultArchiveInterval
	}
	return c
}

// DefaultBaseBackupSchedule is the schedule of a continuous target's base backups
// when its target gives none: Sundays at 01:00.
const DefaultBaseBackupSchedule = "0 1 * * 0"

// Continuous reports whether the target is in continuous mode (WAL archiving).
func (c *Config) Continuous() bool { return c.Mode == ModeContinuous }

// DefaultSchedule is the target's schedule when it gives none: weekly base backups in
// continuous mode; none (on demand) for dumps.
func (c *Config) DefaultSchedule() string {
	if c.Mode == ModeContinuous {
		return DefaultBaseBackupSchedule
	}
	return ""
}

func (c Config) checksums() bool { return c.Checksums == nil || *c.Checksums }
