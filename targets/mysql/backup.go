package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

func init() {
	targets.Register(targets.Kind{
		Name:      "mysql",
		NewConfig: newConfig,
		New: func(s targets.Spec) (targets.Target, error) {
			return &Target{name: s.Name, cfg: s.Config.(*Config).withDefaults(), log: s.Logger}, nil
		},
		Stream: stream,
	})
}

// Target backs up one MariaDB/MySQL database, or a whole server.
type Target struct {
	name string
	cfg  Config
	log  *slog.Logger
}

var _ targets.Target = (*Target)(nil) // interface guard

func (t *Target) conn() conn {
	return conn{BinDir: t.cfg.BinDir, Host: t.cfg.Host, Port: t.cfg.Port, User: t.cfg.User, PasswordFile: t.cfg.PasswordFile}
}

// What a snapshot holds: one SQL dump, or the archive of a server.
const allFile = "mysql-all.tar"

func dumpFile(db string) string { return url.PathEscape(db) + ".sql" }

// The entries of an archive.
const (
	indexFile     = "cadang.json"   // first: what the archive holds
	usersFile     = "users.sql"     // mariadb-dump --system=users (MariaDB only)
	databasesFile = "databases.sql" // one mariadb-dump --databases of every database, in one transaction
	manifestFile  = "manifest.json" // last
)

// index is the first entry of an archive, read by a restore before it touches anything.
type index struct {
	Kind          string     `json:"kind"`
	ServerVersion string     `json:"server_version"`
	Databases     []database `json:"databases"`
	Users         string     `json:"users,omitempty"`
	Dump          string     `json:"dump"`
}

// job is what the child process (`cadang internal-stream mysql JOB`) needs.
type job struct {
	dbdump.Job
	Conn        conn     `json:"conn"`
	All         bool     `json:"all"`
	Server      server   `json:"server"`
	DumpOptions []string `json:"dump_options,omitempty"`
	Checksums   bool     `json:"checksums"`
	// MasterData (mode: continuous) makes the dump record the binlog position it is
	// consistent with (--master-data=2: a comment a restore reads).
	MasterData bool `json:"master_data,omitempty"`
	// Physical (method: physical) makes the job a mariadb-backup of the whole server.
	Physical bool `json:"physical,omitempty"`
}

// Backup checks that the server answers, then streams the dump (or the archive of every
// database) into one snapshot, tagged with the server's version and, for one database,
// its character set and collation.
func (t *Target) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	scratch, err := w.Scratch()
	if err != nil {
		return nil, err
	}
	p, err := dbdump.NewPrivate(scratch)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	c := t.conn()
	if err := c.openSecret(p); err != nil {
		return nil, err
	}
	srv, err := c.probe(ctx, t.cfg)
	if err != nil {
		return nil, err
	}
	tags := []string{dbdump.TagValue("server_version", srv.shortVersion())}
	if t.cfg.Continuous() {
		from, err := t.binlogStart(ctx, c)
		if err != nil {
			return nil, err
		}
		tags = append(tags, dbdump.TagValue(TagBinlogFrom, from))
	}
	if t.cfg.Method == MethodPhysical {
		return t.physicalBackup(ctx, w, p, c, srv, tags) // physical.go
	}
	filename := allFile
	if !t.cfg.All {
		d := srv.Databases[0]
		filename = dumpFile(d.Name)
		tags = append(tags, dbdump.TagValue("database", d.Name), dbdump.TagValue("charset", d.Charset),
			dbdump.TagValue("collation", d.Collation))
	}
	j := job{Job: dbdump.Job{ResultFile: p.Dir + "/result.json"}, Conn: c, All: t.cfg.All, Server: srv,
		DumpOptions: t.cfg.DumpOptions, Checksums: t.cfg.checksums(), MasterData: t.cfg.Continuous()}
	w.Logger().Info("dumping", "server", c.server(), "version", srv.Version, "databases", len(srv.Databases))
	return dbdump.StreamBackup(ctx, w, p, "mysql", filename, tags, j, j.ResultFile)
}

// binlogStart checks, for a dump in continuous mode, that the server writes its binary
// log, and returns the binlog file current before the dump starts.
func (t *Target) binlogStart(ctx context.Context, c conn) (string, error) {
	s, err := c.session(ctx, "")
	if err != nil {
		return "", err
	}
	defer s.Close()
	if err := t.checkLogBin(ctx, s); err != nil {
		return "", err
	}
	pos, err := masterStatus(ctx, s)
	if err != nil {
		return "", err
	}
	file, _, _ := strings.Cut(pos, ":")
	return file, nil
}

// stream is the child process: it writes the snapshot's content to out.
func stream(ctx context.Context, jobFile string, out io.Writer) error {
	var j job
	if err := dbdump.ReadJob(jobFile, &j); err != nil {
		return err
	}
	// The password is read from the operator's file into memory again here: no file of
	// cadang's holds it while the dump runs. HOME stays the daemon's private folder.
	p := &dbdump.Private{}
	defer p.Close()
	if err := j.Conn.openSecret(p); err != nil {
		return dbdump.Finish(j.ResultFile, nil, nil, err)
	}
	m := &dbdump.Manifest{Kind: "mysql", Server: j.Conn.server(), ServerVersion: j.Server.Version, ServerIdentity: j.Server.Identity}
	if j.Checksums {
		m.ChecksumMethod = checksumMethod
	}
	var notes []string
	var err error
	switch {
	case j.Physical:
		notes, err = j.physical(ctx, m, out) // physical.go
	case j.All:
		notes, err = j.dumpAll(ctx, m, out)
	default:
		notes, err = j.dump(ctx, m, dumpFile(j.Server.Databases[0].Name), out)
	}
	return dbdump.Finish(j.ResultFile, m, notes, err)
}

// How long commits may be held back (BACKUP STAGE BLOCK_COMMIT) while the dump takes its
// snapshot; past it the lock is released and the manifest is marked inexact.
const (
	lockWait     = 5 * time.Second
	snapshotWait = 15 * time.Second
)

// dump streams one mariadb-dump of the job's databases to out and adds them to m, with
// their tables' facts computed in a snapshot taken with the dump's.
func (j *job) dump(ctx context.Context, m *dbdump.Manifest, file string, out io.Writer) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var notes []string
	exact, note := true, msg.Message{}

	// Hold commits back while both snapshots start.
	lock, err := j.Conn.session(ctx, "")
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	locked := true
	if _, err := lock.Query(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d;\nBACKUP STAGE START;\nBACKUP STAGE BLOCK_COMMIT;", int(lockWait.Seconds()))); err != nil {
		locked, exact = false, false
		note = msg.New("db.note.own_snapshot", "err", targets.FirstLine(err.Error()))
	}
	facts, err := j.Conn.session(ctx, "")
	if err != nil {
		return nil, err
	}
	defer facts.Close()
	if _, err := facts.Query(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nSTART TRANSACTION WITH CONSISTENT SNAPSHOT;"); err != nil {
		return nil, err
	}

	argv := append([]string{j.Conn.bin("mariadb-dump", "mysqldump")}, j.Conn.args()...)
	argv = append(argv, "--verbose", "--single-transaction", "--routines", "--triggers", "--events", "--skip-dump-date")
	if j.MasterData {
		// With --single-transaction MariaDB gives the snapshot's own binlog position
		// (binlog_snapshot_file/_position): no FLUSH TABLES WITH READ LOCK.
		argv = append(argv, "--master-data=2")
	}
	argv = append(argv, j.DumpOptions...)
	if j.All {
		argv = append(argv, "--databases")
	}
	for _, d := range j.Server.Databases {
		argv = append(argv, d.Name)
	}
	// With --verbose the dump says "-- Starting transaction..." before START TRANSACTION
	// WITH CONSISTENT SNAPSHOT; any line after it comes once its snapshot is taken.
	var sawStart bool
	first := ""
	if !j.All {
		first = j.Server.Databases[0].Name
	}
	scanner := newDumpScanner(first)
	kinds := checkedKinds(j.DumpOptions)
	tool := dbdump.Tool{Observe: scanner, Argv: argv, Env: j.Conn.env(), Files: j.Conn.files(), Clean: cleanDump, Started: func(line string) bool {
		if sawStart {
			return true
		}
		sawStart = strings.HasPrefix(line, "-- Starting transaction")
		return false
	}}
	run, err := tool.Start(ctx, out)
	if err != nil {
		return nil, err
	}
	select {
	case <-run.Started:
	case <-time.After(snapshotWait):
		if locked {
			exact, note = false, msg.New("db.note.late", "wait", snapshotWait)
		}
	}
	if locked {
		if _, err := lock.Query(ctx, "BACKUP STAGE END;"); err != nil {
			lock.Kill() // the server releases the lock with the connection
		}
		lock.Close()
	}
	if !note.IsZero() {
		notes = append(notes, note.String())
	}

	type result struct {
		dbs     []dbdump.Database
		catalog map[string]dbdump.Objects
		err     error
	}
	done := make(chan result, 1)
	go func() {
		var dbs []dbdump.Database
		catalog := map[string]dbdump.Objects{}
		skip := ignored(j.DumpOptions)
		for _, d := range j.Server.Databases {
			tb, err := tables(ctx, facts, d.Name, j.Checksums, skip)
			if err == nil {
				catalog[d.Name], err = catalogObjects(ctx, facts, d.Name, skip)
			}
			if err != nil {
				done <- result{err: fmt.Errorf("manifest of database %s: %w", d.Name, err)}
				return
			}
			dbs = append(dbs, dbdump.Database{Name: d.Name, File: file, Exact: exact, Note: note, Tables: tb,
				Encoding: d.Charset, Collation: d.Collation})
		}
		done <- result{dbs: dbs, catalog: catalog}
	}()
	var res result
	select {
	case <-run.Done():
		if _, derr := run.Wait(); derr != nil {
			facts.Kill()
			<-done
			return nil, derr
		}
		res = <-done
	case res = <-done:
	}
	n, derr := run.Wait()
	if derr != nil {
		return nil, derr // the tool's own reason comes first
	}
	if res.err != nil {
		// The dump is whole and good; only the facts to check it against are missing.
		note := msg.New("db.note.no_facts", "err", targets.FirstLine(res.err.Error()))
		notes = append(notes, note.String())
		res.dbs = nil
		for _, d := range j.Server.Databases {
			res.dbs = append(res.dbs, dbdump.Database{Name: d.Name, File: file, Note: note, Encoding: d.Charset, Collation: d.Collation})
		}
	} else {
		_, _ = facts.Query(ctx, "COMMIT;") // a read-only transaction: nothing to lose
		// The dump must hold every object the catalog lists: mariadb-dump leaves out,
		// without an error, what its user may not read.
		for i, d := range j.Server.Databases {
			if err := checkDump(d.Name, kinds, res.catalog[d.Name], scanner.objects[d.Name]); err != nil {
				return nil, err
			}
			res.dbs[i].Objects = scanner.objects[d.Name].Counts(kinds) // what a restore gives back
		}
	}
	if !j.All {
		res.dbs[0].DumpBytes = n
	}
	m.DumpBytes += n
	m.Databases = append(m.Databases, res.dbs...)
	return notes, nil
}

// ignored lists the tables ("db.table") that --ignore-table and --ignore-table-data
// leave out of the dump (or leave empty): the manifest leaves them out too.
func ignored(options []string) map[string]bool {
	skip := map[string]bool{}
	for _, o := range options {
		name, value, _ := strings.Cut(o, "=")
		if name == "--ignore-table" || name == "--ignore-table-data" {
			skip[value] = true
		}
	}
	return skip
}

// cleanDump drops mariadb-dump's progress lines (--verbose).
func cleanDump(line string) string {
	if strings.HasPrefix(line, "-- ") {
		return ""
	}
	return line
}

// dumpAll writes the archive of every database: an index, the accounts (MariaDB), one
// dump of all databases in one transaction, the manifest.
func (j *job) dumpAll(ctx context.Context, m *dbdump.Manifest, out io.Writer) ([]string, error) {
	aw := dbdump.NewArchiveWriter(out)
	idx := index{Kind: "mysql", ServerVersion: j.Server.Version, Databases: j.Server.Databases, Dump: databasesFile}
	var notes []string
	if j.Server.mariadb() {
		idx.Users = usersFile
	} else {
		notes = append(notes, "user accounts are not in the backup: mysqldump --system=users is MariaDB's")
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := aw.WriteFile(indexFile, b); err != nil {
		return nil, err
	}
	if idx.Users != "" {
		argv := append([]string{j.Conn.bin("mariadb-dump", "mysqldump")}, j.Conn.args()...)
		argv = append(argv, "--system=users", "--insert-ignore", "--skip-dump-date")
		uw := aw.Stream(usersFile)
		run, err := dbdump.Tool{Argv: argv, Env: j.Conn.env(), Files: j.Conn.files(), Clean: cleanDump}.Start(ctx, uw)
		if err != nil {
			return nil, err
		}
		if _, err := run.Wait(); err != nil {
			return nil, err
		}
		if err := uw.Close(); err != nil {
			return nil, err
		}
		m.Globals = usersFile
	}
	dw := aw.Stream(databasesFile)
	more, err := j.dump(ctx, m, databasesFile, dw)
	if err != nil {
		return nil, err
	}
	if err := dw.Close(); err != nil {
		return nil, err
	}
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		return nil, err
	}
	if err := aw.WriteFile(manifestFile, b); err != nil {
		return nil, err
	}
	return append(notes, more...), aw.Close()
}
