package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// Restore restores a snapshot to:
//
//   - postgres://[user@]host[:port]/name[?password_file=F&sslmode=M&host=/socket/dir]:
//     one database restored into the database name (created if missing, refused if it
//     holds anything unless Force, then objects of the dump replace their namesakes);
//     for `all: true`, postgres://host:port/ (no name): the globals, then every database
//     under its own name. An empty host means the target's own server; user,
//     password_file and sslmode default to the target's.
//   - a file path (the raw custom-format dump, for pg_restore by hand) or, for
//     `all: true`, a folder (the globals, one dump per database, the manifest).
func (t *Target) Restore(ctx context.Context, r targets.Reader, req targets.RestoreRequest) error {
	if isBase(r) {
		return t.restoreBase(ctx, r, req) // continuous mode: pitr.go
	}
	src, err := dbdump.SnapshotFile(r)
	if err != nil {
		return err
	}
	all := strings.HasSuffix(src, ".tar")
	opts, err := t.checkRequest(req, all, filepath.Base(src))
	if err != nil {
		return err
	}
	if !dbdump.IsURL(req.To) {
		if all {
			return dbdump.RestoreArchiveDir(ctx, r, src, req.To, req.Force)
		}
		return dbdump.RestoreFile(ctx, r, src, req.To, req.Force)
	}
	c, db, p, err := t.openURL(req.To)
	if err != nil {
		return err
	}
	defer p.Close()
	rs := &restorer{t: t, c: c, r: r, force: req.Force, jobs: t.cfg.RestoreJobs, opts: opts}
	if all {
		return rs.all(ctx, src)
	}
	return rs.one(ctx, src, db)
}

// CheckRestore implements targets.RestoreChecker: it refuses, without contacting a
// server, a request that Restore would refuse (an unknown or bad option, a destination
// of the wrong form, a database name PostgreSQL would not keep as given, a password
// file that cannot be read, a file that holds data without force). The snapshot is
// taken to be of the kind the configuration makes (one database, or all: true). That
// a destination database holds data is for Restore to find: it asks the server (a
// production database that was lost may be restored under its own name).
func (t *Target) CheckRestore(req targets.RestoreRequest) error {
	if t.cfg.Mode == ModeContinuous {
		return checkPITR(req)
	}
	if _, err := t.checkRequest(req, t.cfg.All, dumpFile(t.cfg.Database)); err != nil {
		return err
	}
	if dbdump.IsURL(req.To) {
		c, _, _ := t.parseURL(req.To)
		return dbdump.CheckPasswordFile(c.PasswordFile)
	}
	return nil
}

var _ targets.RestoreChecker = (*Target)(nil) // interface guard

// checkRequest checks what a restore request asks of a snapshot of every database
// (all) or of one, whose dump is named file, and returns pg_restore's options.
func (t *Target) checkRequest(req targets.RestoreRequest, all bool, file string) ([]string, error) {
	if err := dbdump.CheckWhole("postgres", req.Include); err != nil {
		return nil, err
	}
	opts, err := parseRestoreOptions(req.Options)
	if err != nil {
		return nil, err
	}
	if !dbdump.IsURL(req.To) {
		return opts, dbdump.CheckPath(req.To, file, all, req.Force)
	}
	_, db, err := t.parseURL(req.To)
	if err != nil {
		return nil, err
	}
	switch {
	case all && db != "":
		return nil, fmt.Errorf("restore destination %s: the snapshot holds every database of a server (all: true): restore it to postgres://host:port/ (no database name) or to a folder", redacted(req.To))
	case !all && db == "":
		return nil, fmt.Errorf("restore destination %s names no database: use postgres://host:port/NAME", redacted(req.To))
	case !all:
		if err := checkName("database", db); err != nil {
			return nil, fmt.Errorf("restore destination: %w", err)
		}
	}
	return opts, nil
}

// maxName is the longest name PostgreSQL keeps, in bytes (NAMEDATALEN - 1): it cuts a
// longer one short, and the restore would go to another database than the one asked.
const maxName = 63

// checkName refuses a name (of a database or role) that PostgreSQL would not keep as
// given, or that is a mistake in a URL (a slash: postgres://host/db/).
func checkName(what, name string) error {
	switch {
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%s name %q holds a NUL character", what, name)
	case len(name) > maxName:
		return fmt.Errorf("%s name %q is %d bytes long: PostgreSQL keeps at most %d (it would cut it short)", what, name, len(name), maxName)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%s name %q holds a slash: give postgres://host:port/NAME, without a trailing slash", what, name)
	}
	return nil
}

// redacted is a destination URL without its password, for messages.
func redacted(to string) string {
	if u, err := url.Parse(to); err == nil {
		return u.Redacted()
	}
	return "the destination"
}

// openURL reads a destination URL (parseURL) and writes its password, if any, as a
// PGPASSFILE in a private directory, which the caller closes.
func (t *Target) openURL(to string) (conn, string, *dbdump.Private, error) {
	c, db, err := t.parseURL(to)
	if err != nil {
		return conn{}, "", nil, err
	}
	p, err := dbdump.NewPrivate("")
	if err != nil {
		return conn{}, "", nil, err
	}
	if err := c.openSecret(p); err != nil {
		p.Close()
		return conn{}, "", nil, err
	}
	return c, db, p, nil
}

// parseURL reads a restore destination.
func (t *Target) parseURL(to string) (conn, string, error) {
	u, err := url.Parse(to)
	if err != nil {
		return conn{}, "", fmt.Errorf("restore destination: %v", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return conn{}, "", fmt.Errorf("restore destination %q: a postgres target restores to postgres://host:port/database or to a file", to)
	}
	c := t.conn()
	if u.Host != "" {
		c.Host, c.Port = u.Hostname(), DefaultPort
		if p := u.Port(); p != "" {
			if c.Port, err = strconv.Atoi(p); err != nil || c.Port < 1 || c.Port > 65535 {
				return conn{}, "", fmt.Errorf("restore destination %s: %q is not a port", u.Redacted(), p)
			}
		}
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return conn{}, "", errors.New("restore destination: a password in the URL would show in the process list; use ?password_file=FILE")
		}
		c.User = u.User.Username()
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return conn{}, "", fmt.Errorf("restore destination: %v", err)
	}
	for k, v := range query {
		if len(v) > 1 {
			return conn{}, "", fmt.Errorf("restore destination: parameter %s is given %d times", k, len(v))
		}
		switch k {
		case "user":
			c.User = v[0]
		case "password_file":
			if !filepath.IsAbs(v[0]) {
				return conn{}, "", fmt.Errorf("restore destination: password_file %q must be an absolute path", v[0])
			}
			c.PasswordFile = v[0]
		case "sslmode":
			if !slices.Contains(sslModes, v[0]) {
				return conn{}, "", fmt.Errorf("restore destination: sslmode %q is not one of %s", v[0], strings.Join(sslModes, ", "))
			}
			c.SSLMode = v[0]
		case "host":
			c.Host = v[0]
		default:
			return conn{}, "", fmt.Errorf("restore destination: unknown parameter %q (use user, password_file, sslmode, host)", k)
		}
	}
	return c, strings.TrimPrefix(u.Path, "/"), nil
}

type restorer struct {
	t     *Target
	c     conn
	r     targets.Reader
	force bool
	jobs  int
	opts  []string // pg_restore options from the restore options
}

// parseRestoreOptions reads the options of a restore into a database, for a restore
// user that is not a superuser and a server without the dumped roles:
//
//   - no_owner: objects are owned by the restoring user (pg_restore --no-owner), not by
//     their owners at backup;
//   - no_privileges: the dumped GRANTs are left out (--no-privileges);
//   - role=NAME: the restore runs as role NAME (--role), e.g. a role the restore user
//     is a member of that may create the objects.
func parseRestoreOptions(m map[string]string) ([]string, error) {
	o, err := dbdump.ParseOptions("postgres", m, "no_owner", "no_privileges", "role")
	if err != nil {
		return nil, err
	}
	var args []string
	for _, f := range []struct{ key, arg string }{{"no_owner", "--no-owner"}, {"no_privileges", "--no-privileges"}} {
		on, err := o.Bool(f.key)
		if err != nil {
			return nil, err
		}
		if on {
			args = append(args, f.arg)
		}
	}
	if _, ok := m["role"]; ok {
		role := o.String("role")
		if role == "" || strings.HasPrefix(role, "-") {
			return nil, fmt.Errorf("restore option role: %q is not a role name", role)
		}
		if err := checkName("role", role); err != nil {
			return nil, fmt.Errorf("restore option role: %w", err)
		}
		args = append(args, "--role="+role)
	}
	return args, nil
}

// state says whether a database exists and whether it holds anything.
type state struct{ exists, occupied bool }

// check looks at a database of the destination server.
func (rs *restorer) check(ctx context.Context, maint *dbdump.Session, db string) (state, error) {
	var exists bool
	if err := maint.JSON(ctx, "SELECT to_json(EXISTS (SELECT 1 FROM pg_database WHERE datname = "+sqlLiteral(db)+"));", &exists); err != nil {
		return state{}, err
	}
	if !exists {
		return state{}, nil
	}
	s, err := rs.c.session(ctx, db, "cadang restore")
	if err != nil {
		return state{}, err
	}
	defer s.Close()
	var occupied bool
	if err := s.JSON(ctx, occupiedSQL, &occupied); err != nil {
		return state{}, err
	}
	return state{exists: true, occupied: occupied}, nil
}

// occupiedSQL says whether a database holds anything a new database from template0
// does not: objects are user objects when their oid is past the bootstrap ones
// (FirstNormalObjectId, 16384): relations (other than other sessions' temporary ones),
// functions, types, schemas, extensions, large objects, ...
const occupiedSQL = `SELECT to_json(EXISTS (SELECT 1 FROM pg_class WHERE oid >= 16384 AND relpersistence <> 't')
  OR EXISTS (SELECT 1 FROM pg_proc WHERE oid >= 16384)
  OR EXISTS (SELECT 1 FROM pg_type t WHERE oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relpersistence = 't'))
  OR EXISTS (SELECT 1 FROM pg_namespace WHERE oid >= 16384 AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%')
  OR EXISTS (SELECT 1 FROM pg_extension WHERE oid >= 16384)
  OR EXISTS (SELECT 1 FROM pg_largeobject_metadata)
  OR EXISTS (SELECT 1 FROM pg_event_trigger)
  OR EXISTS (SELECT 1 FROM pg_publication));`

func (rs *restorer) refuse(db string) error {
	return fmt.Errorf("database %q at %s: %w (restore to a new name or use --force)", db, rs.c.server(), targets.ErrDestinationNotEmpty)
}

// one restores a single-database snapshot into db.
func (rs *restorer) one(ctx context.Context, src, db string) (err error) {
	maint, _, err := rs.c.maintenanceSession(ctx, "cadang restore")
	if err != nil {
		return err
	}
	defer maint.Close()
	st, err := rs.check(ctx, maint, db)
	if err != nil {
		return err
	}
	if st.occupied && !rs.force {
		return rs.refuse(db)
	}
	if !st.exists {
		if _, err := maint.Query(ctx, rs.createSQL(db)); err != nil {
			return fmt.Errorf("creating database %q: %w", db, err)
		}
		defer func() {
			// A database this restore created and could not fill is dropped again.
			if err != nil {
				if _, derr := maint.Query(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+sqlIdent(db)+";"); derr != nil {
					rs.r.Logger().Error("cannot drop the database of a failed restore", "database", db, "err", derr)
				}
			}
		}()
	}
	var extra []string
	if st.occupied {
		extra = []string{"--clean", "--if-exists"}
	}
	return rs.pgRestore(ctx, src, nil, db, extra)
}

// createSQL creates a database like the one dumped (its encoding and locale are tags of
// the snapshot), from template0 as pg_dump's documentation asks.
func (rs *restorer) createSQL(db string) string {
	q := "CREATE DATABASE " + sqlIdent(db) + " TEMPLATE template0"
	for _, o := range []struct{ key, tag string }{{"ENCODING", "encoding"}, {"LC_COLLATE", "collate"}, {"LC_CTYPE", "ctype"}} {
		if v := dbdump.Tag(rs.r, o.tag); v != "" {
			q += " " + o.key + " " + sqlLiteral(v)
		}
	}
	if v := dbdump.Tag(rs.r, "icu_locale"); v != "" {
		q += " LOCALE_PROVIDER icu ICU_LOCALE " + sqlLiteral(v)
	}
	return q + ";"
}

// pgRestore runs pg_restore into db. The dump comes from the snapshot file src, or
// from in (a dump inside an archive). With more than one job it is first written to a
// temporary file, since pg_restore -j needs to seek; with one job it streams, in a
// single transaction.
func (rs *restorer) pgRestore(ctx context.Context, src string, in io.Reader, db string, extra []string) error {
	argv := []string{rs.c.bin("pg_restore"), "--exit-on-error", "--no-password"}
	argv = append(argv, rs.opts...)
	argv = append(argv, extra...)
	var stdin io.Reader
	if rs.jobs > 1 {
		tmp, err := os.MkdirTemp("", "cadang-restore-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		file := filepath.Join(tmp, "dump.pgc")
		if in == nil {
			if err := rs.r.RestoreTo(ctx, tmp, nil); err != nil {
				return err
			}
			file = filepath.Join(tmp, src)
		} else if err := copyToFile(file, in); err != nil {
			return err
		}
		argv = append(argv, "--jobs="+strconv.Itoa(rs.jobs), "--dbname="+rs.c.info(db, "cadang pg_restore"), file)
	} else {
		if in == nil {
			rc, err := rs.r.Open(ctx, src)
			if err != nil {
				return err
			}
			defer rc.Close()
			in = rc
		}
		stdin = in
		argv = append(argv, "--single-transaction", "--dbname="+rs.c.info(db, "cadang pg_restore"))
	}
	return runTool(ctx, argv, rs.c, stdin)
}

func copyToFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runTool runs a tool that reads stdin (if any) and reports its own first error line.
func runTool(ctx context.Context, argv []string, c conn, stdin io.Reader) error {
	run, err := dbdump.Tool{Argv: argv, Env: c.env(), Files: c.files(), Clean: cleanLine, Stdin: stdin}.Start(ctx, io.Discard)
	if err != nil {
		return err
	}
	_, err = run.Wait()
	return err
}

// all restores a server's archive: it reads the index first and checks every database
// before it touches anything, then restores the globals and each database under its
// own name (created by pg_restore --create, with its encoding, locale, settings and
// privileges, when missing).
func (rs *restorer) all(ctx context.Context, src string) error {
	rc, err := rs.r.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	ar := dbdump.NewArchiveReader(rc)
	name, content, err := ar.Next()
	if err != nil {
		return fmt.Errorf("reading the archive: %w", err)
	}
	var idx index
	if name != indexFile {
		return fmt.Errorf("the archive starts with %q, not %s", name, indexFile)
	}
	if err := json.NewDecoder(content).Decode(&idx); err != nil {
		return fmt.Errorf("reading %s: %w", indexFile, err)
	}
	maint, maintDB, err := rs.c.maintenanceSession(ctx, "cadang restore")
	if err != nil {
		return err
	}
	defer maint.Close()
	states := map[string]state{}
	var occupied []string
	for _, d := range idx.Databases {
		st, err := rs.check(ctx, maint, d.Name)
		if err != nil {
			return err
		}
		states[d.Name] = st
		if st.occupied {
			occupied = append(occupied, d.Name)
		}
	}
	if len(occupied) > 0 && !rs.force {
		return fmt.Errorf("databases %s at %s: %w (restore to an empty server or use --force)",
			strings.Join(occupied, ", "), rs.c.server(), targets.ErrDestinationNotEmpty)
	}
	files := map[string]database{}
	for _, d := range idx.Databases {
		files[dumpFile(d.Name)] = d
	}
	for {
		name, content, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		switch d, isDump := files[name]; {
		case name == idx.Globals:
			if err := rs.globals(ctx, maintDB, content); err != nil {
				return err
			}
		case isDump:
			st := states[d.Name]
			var extra []string
			target := d.Name
			switch {
			case !st.exists:
				extra, target = []string{"--create"}, maintDB
			case st.occupied:
				extra = []string{"--clean", "--if-exists"}
			}
			rs.r.Logger().Info("restoring database", "database", d.Name, "server", rs.c.server())
			if err := rs.pgRestore(ctx, "", content, target, extra); err != nil {
				return fmt.Errorf("database %s: %w", d.Name, err)
			}
		}
	}
}

// globals runs pg_dumpall's globals (roles, tablespaces). A role or tablespace that
// exists already is kept as it is ("already exists" errors are expected); any other
// error fails the restore.
func (rs *restorer) globals(ctx context.Context, db string, sql io.Reader) error {
	argv := []string{rs.c.bin("psql"), "-X", "-q", "--no-password", "-d", rs.c.info(db, "cadang restore")}
	clean := func(line string) string {
		if l := cleanLine(line); !strings.Contains(l, "already exists") {
			return l
		}
		return ""
	}
	run, err := dbdump.Tool{Argv: argv, Env: rs.c.env(), Files: rs.c.files(), Clean: clean, Stdin: sql}.Start(ctx, io.Discard)
	if err != nil {
		return err
	}
	if _, err := run.Wait(); err != nil {
		return fmt.Errorf("globals: %w", err)
	}
	// psql goes on after an error in a script; any error but "already exists" counts.
	if first := run.Log().FirstError(); first != "" {
		return fmt.Errorf("globals: %s", first)
	}
	return nil
}
