package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

func init() {
	targets.Register(targets.Kind{
		Name:      "postgres",
		NewConfig: newConfig,
		New: func(s targets.Spec) (targets.Target, error) {
			return &Target{name: s.Name, cfg: s.Config.(*Config).withDefaults(), log: s.Logger}, nil
		},
		Stream: stream,
	})
}

// Target backs up one PostgreSQL database, or a whole server.
type Target struct {
	name string
	cfg  Config
	log  *slog.Logger
}

var _ targets.Target = (*Target)(nil) // interface guard

func (t *Target) conn() conn {
	return conn{BinDir: t.cfg.BinDir, Host: t.cfg.Host, Port: t.cfg.Port, User: t.cfg.User, SSLMode: t.cfg.SSLMode,
		PasswordFile: t.cfg.PasswordFile}
}

// The names of what a snapshot holds: one custom-format dump, or the archive of a server.
const allFile = "postgresql-all.tar"

func dumpFile(db string) string { return url.PathEscape(db) + ".pgc" }

// job is what the child process (`cadang internal-stream postgres JOB`) needs.
type job struct {
	dbdump.Job
	Conn            conn     `json:"conn"`
	All             bool     `json:"all"`
	Server          server   `json:"server"`
	DumpOptions     []string `json:"dump_options,omitempty"`
	NoRolePasswords bool     `json:"no_role_passwords,omitempty"`
	Checksums       bool     `json:"checksums"`
	Base            bool     `json:"base,omitempty"` // a base backup (mode: continuous)
}

// Backup checks that the server answers, then streams the dump (or the archive of every
// database) into one snapshot, tagged with the server's version and, for one database,
// how it was created.
func (t *Target) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	if t.cfg.Mode == ModeContinuous {
		return t.baseBackup(ctx, w)
	}
	p, c, srv, err := t.open(ctx, w)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	tags := []string{dbdump.TagValue("server_version", srv.shortVersion())}
	filename := allFile
	if !t.cfg.All {
		d := srv.Databases[0]
		filename = dumpFile(d.Name)
		tags = append(tags, dbdump.TagValue("database", d.Name), dbdump.TagValue("encoding", d.Encoding),
			dbdump.TagValue("collate", d.Collate), dbdump.TagValue("ctype", d.CType))
		if d.Provider == "i" {
			tags = append(tags, dbdump.TagValue("icu_locale", d.ICULocale))
		}
	}
	j := job{
		Job:  dbdump.Job{ResultFile: p.Dir + "/result.json"},
		Conn: c, All: t.cfg.All, Server: srv, DumpOptions: t.cfg.DumpOptions,
		NoRolePasswords: t.cfg.NoRolePasswords, Checksums: t.cfg.checksums(),
	}
	w.Logger().Info("dumping", "server", c.server(), "version", srv.Version, "databases", len(srv.Databases))
	return dbdump.StreamBackup(ctx, w, p, "postgres", filename, tags, j, j.ResultFile)
}

// open makes the run's private folder (which holds the password while the run needs
// it) and checks that the server answers; the caller closes the folder.
func (t *Target) open(ctx context.Context, w targets.Writer) (*dbdump.Private, conn, server, error) {
	scratch, err := w.Scratch()
	if err != nil {
		return nil, conn{}, server{}, err
	}
	p, err := dbdump.NewPrivate(scratch)
	if err != nil {
		return nil, conn{}, server{}, err
	}
	c := t.conn()
	if err := c.openSecret(p); err != nil {
		p.Close()
		return nil, conn{}, server{}, err
	}
	srv, err := c.probe(ctx, t.cfg)
	if err != nil {
		p.Close()
		return nil, conn{}, server{}, err
	}
	return p, c, srv, nil
}

// stream is the child process: it writes the snapshot's content to out.
func stream(ctx context.Context, jobFile string, out io.Writer) error {
	var j job
	if err := dbdump.ReadJob(jobFile, &j); err != nil {
		return err
	}
	// The password is read from the operator's file into memory again here: no file of
	// cadang's holds it while the dump runs.
	p := &dbdump.Private{}
	defer p.Close()
	if err := j.Conn.openSecret(p); err != nil {
		return dbdump.Finish(j.ResultFile, nil, nil, err)
	}
	if j.Base {
		return j.streamBase(ctx, out)
	}
	m := &dbdump.Manifest{Kind: "postgres", Server: j.Conn.server(), ServerVersion: j.Server.Version, ServerIdentity: j.Server.Identity}
	var err error
	if j.All {
		err = j.dumpAll(ctx, m, out)
	} else {
		var d dbdump.Database
		d, m.ChecksumMethod, err = j.dumpDatabase(ctx, j.Server.Databases[0], dumpFile(j.Server.Databases[0].Name), out)
		m.Databases, m.DumpBytes = []dbdump.Database{d}, d.DumpBytes
	}
	var notes []string
	for _, d := range m.Databases {
		if !d.Note.IsZero() {
			notes = append(notes, "database "+d.Name+": "+d.Note.String())
		}
	}
	return dbdump.Finish(j.ResultFile, m, notes, err)
}

// dumpDatabase streams one database to out and computes its manifest in the dump's own
// snapshot: a session exports its snapshot, pg_dump imports it, and the session counts
// and hashes the tables while pg_dump dumps them.
func (j *job) dumpDatabase(ctx context.Context, d database, file string, out io.Writer) (dbdump.Database, string, error) {
	res := dbdump.Database{Name: d.Name, File: file, Exact: true, Encoding: d.Encoding, Collation: d.Collate, CType: d.CType}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := j.Conn.session(ctx, d.Name, "cadang manifest")
	if err != nil {
		return res, "", err
	}
	defer s.Close()
	lines, err := s.Query(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();")
	if err != nil {
		return res, "", err
	}
	if len(lines) == 0 {
		return res, "", errors.New("pg_export_snapshot returned nothing")
	}
	snapshot := strings.TrimSpace(lines[len(lines)-1])

	argv := []string{j.Conn.bin("pg_dump"), "--verbose", "--format=custom", "--compress=0", "--no-password",
		"--snapshot=" + snapshot}
	argv = append(argv, j.DumpOptions...)
	argv = append(argv, "--dbname="+j.Conn.info(d.Name, "cadang pg_dump"))
	// pg_dump has imported the snapshot once it prints its first progress line; the
	// session's queries start then, so that nothing they do can end the exporting
	// transaction before the import.
	// pg_restore --list reads the dump's table of contents as it passes: the objects the
	// dump holds, compared with the catalog below.
	toc, err := j.Conn.startTOCReader(ctx)
	if err != nil {
		return res, "", err
	}
	defer func() { _, _ = toc.objects() }()
	tool := dbdump.Tool{Argv: argv, Env: j.Conn.env(), Files: j.Conn.files(), Started: func(string) bool { return true }, Clean: cleanLine,
		Observe: toc}
	run, err := tool.Start(ctx, out)
	if err != nil {
		return res, "", err
	}
	type facts struct {
		tables  []dbdump.Table
		method  string
		catalog dbdump.Objects
		err     error
	}
	factsDone := make(chan facts, 1)
	go func() {
		<-run.Started
		select {
		case <-run.Done():
			factsDone <- facts{err: errors.New("pg_dump ended")}
			return
		default:
		}
		tb, method, err := tables(ctx, s, j.Server.VersionNum, j.Checksums)
		var catalog dbdump.Objects
		if err == nil {
			catalog, err = catalogObjects(ctx, s, j.Server.VersionNum)
		}
		factsDone <- facts{tb, method, catalog, err}
	}()

	var f facts
	select {
	case <-run.Done():
		if _, derr := run.Wait(); derr != nil {
			s.Kill() // the session may wait on a lock pg_dump also waited on
			<-factsDone
			return res, "", derr
		}
		f = <-factsDone
	case f = <-factsDone:
	}
	n, derr := run.Wait()
	res.DumpBytes = n
	if derr != nil {
		return res, "", derr // the tool's own reason comes first
	}
	if f.err != nil {
		// The dump is whole and good; only the facts to check it against are missing.
		res.Exact, res.Note = false, msg.New("db.note.no_facts", "err", targets.FirstLine(f.err.Error()))
		return res, "", nil
	}
	_, _ = s.Query(ctx, "COMMIT;") // a read-only transaction: nothing to lose
	res.Tables = f.tables
	dumped, err := toc.objects()
	if err != nil {
		return res, "", err
	}
	res.Objects = dumped.Counts(objectKinds)
	if selective(j.DumpOptions) {
		res.Note = msg.New("db.note.dump_options")
		return res, f.method, nil
	}
	// The dump must hold every object the catalog lists in the dump's own snapshot.
	if err := checkDump(d.Name, f.catalog, dumped); err != nil {
		return res, "", err
	}
	return res, f.method, nil
}

// selective reports whether pg_dump options leave tables or their rows out.
func selective(options []string) bool {
	for _, o := range options {
		name, _, _ := strings.Cut(o, "=")
		switch name {
		case "--table", "--exclude-table", "--exclude-table-data", "--exclude-table-and-children",
			"--exclude-table-data-and-children", "--table-and-children", "--schema", "--exclude-schema",
			"--no-unlogged-table-data", "--section":
			return true
		}
	}
	return false
}

// dumpAll writes the archive of every database: an index, the globals, one dump per
// database, the manifest.
func (j *job) dumpAll(ctx context.Context, m *dbdump.Manifest, out io.Writer) error {
	aw := dbdump.NewArchiveWriter(out)
	idx, err := json.MarshalIndent(index{Kind: "postgres", ServerVersion: j.Server.Version, Databases: j.Server.Databases, Globals: globalsFile}, "", "  ")
	if err != nil {
		return err
	}
	if err := aw.WriteFile(indexFile, idx); err != nil {
		return err
	}
	argv := []string{j.Conn.bin("pg_dumpall"), "--globals-only", "--no-password"}
	if j.NoRolePasswords {
		argv = append(argv, "--no-role-passwords")
	}
	argv = append(argv, "--dbname="+j.Conn.info("", "cadang pg_dumpall"))
	gw := aw.Stream(globalsFile)
	run, err := dbdump.Tool{Argv: argv, Env: j.Conn.env(), Files: j.Conn.files(), Clean: cleanLine}.Start(ctx, gw)
	if err != nil {
		return err
	}
	n, err := run.Wait()
	if err != nil {
		return err
	}
	m.DumpBytes += n
	if err := gw.Close(); err != nil {
		return err
	}
	m.Globals = globalsFile
	for _, d := range j.Server.Databases {
		dw := aw.Stream(dumpFile(d.Name))
		db, method, err := j.dumpDatabase(ctx, d, dumpFile(d.Name), dw)
		if err != nil {
			return err
		}
		if err := dw.Close(); err != nil {
			return err
		}
		m.Databases = append(m.Databases, db)
		if method != "" {
			m.ChecksumMethod = method
		}
		m.DumpBytes += db.DumpBytes
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := aw.WriteFile(manifestFile, b); err != nil {
		return err
	}
	return aw.Close()
}

// The entries of an archive besides the dumps.
const (
	indexFile    = "cadang.json"   // first: what the archive holds
	globalsFile  = "globals.sql"   // pg_dumpall --globals-only
	manifestFile = "manifest.json" // last: the manifest, also stored with the run
)

// index is the first entry of an archive: what it holds, read by a restore before it
// touches anything.
type index struct {
	Kind          string     `json:"kind"`
	ServerVersion string     `json:"server_version"`
	Databases     []database `json:"databases"`
	Globals       string     `json:"globals"`
}
