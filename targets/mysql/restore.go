package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// Restore restores a snapshot to:
//
//   - mysql://[user@]host[:port]/name[?password_file=F&socket=/run/mysqld/mysqld.sock]:
//     one database restored into the database name (created with the dumped character
//     set and collation if missing; refused if it holds anything unless Force, then the
//     dump's tables, views, routines and events replace their namesakes); for
//     `all: true`, mysql://host:port/ (no name): the user accounts, then every database
//     under its own name. An empty host means the target's own server; user and
//     password_file default to the target's.
//   - a file path (the raw SQL dump) or, for `all: true`, a folder.
func (t *Target) Restore(ctx context.Context, r targets.Reader, req targets.RestoreRequest) error {
	src, err := dbdump.SnapshotFile(r)
	if err != nil {
		return err
	}
	if IsPhysical(src) { // physical.go: a data directory
		return t.restorePhysical(ctx, r, req, src)
	}
	if IsPITR(req) { // pitr.go: a dump and the binary log after it
		return t.restorePITR(ctx, r, req, src)
	}
	all := strings.HasSuffix(src, ".tar")
	dropDefiner, err := t.checkRequest(req, all, filepath.Base(src))
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
	rs := &restorer{c: c, r: r, force: req.Force, dropDefiner: dropDefiner}
	if all {
		return rs.all(ctx, src)
	}
	return rs.one(ctx, src, db)
}

// CheckRestore implements targets.RestoreChecker: it refuses, without contacting a
// server, a request that Restore would refuse (an unknown or bad option, a destination
// of the wrong form, a database name MariaDB refuses, a password file that cannot be
// read, a file that holds data without force). The snapshot is taken to be of the kind
// the configuration makes (one database, or all: true). That a destination database
// holds data is for Restore to find: it asks the server (a production database that was
// lost may be restored under its own name).
func (t *Target) CheckRestore(req targets.RestoreRequest) error {
	pitr := t.cfg.Continuous() && (req.Options[OptToTime] != "" || IsPITR(req))
	switch {
	case t.cfg.Method == MethodPhysical && pitr:
		_, err := t.checkPhysicalPITR(req)
		return err
	case t.cfg.Method == MethodPhysical:
		return t.checkPhysicalRequest(req)
	case pitr:
		_, err := t.checkPITR(req)
		return err
	}
	if _, err := t.checkRequest(req, t.cfg.All, dumpFile(t.cfg.Database)); err != nil {
		return err
	}
	if dbdump.IsURL(req.To) {
		_, passwordFile, _, _ := t.parseURL(req.To)
		return dbdump.CheckPasswordFile(passwordFile)
	}
	return nil
}

var _ targets.RestoreChecker = (*Target)(nil) // interface guard

// checkRequest checks what a restore request asks of a snapshot of every database
// (all) or of one, whose dump is named file, and says whether the DEFINER clauses are
// dropped.
func (t *Target) checkRequest(req targets.RestoreRequest, all bool, file string) (dropDefiner bool, err error) {
	if err := dbdump.CheckWhole("mysql", req.Include); err != nil {
		return false, err
	}
	if dropDefiner, err = parseRestoreOptions(req.Options); err != nil {
		return false, err
	}
	if !dbdump.IsURL(req.To) {
		return dropDefiner, dbdump.CheckPath(req.To, file, all, req.Force)
	}
	_, _, db, err := t.parseURL(req.To)
	if err != nil {
		return false, err
	}
	switch {
	case all && db != "":
		return false, fmt.Errorf("restore destination %s: the snapshot holds every database of a server (all: true): restore it to mysql://host:port/ (no database name) or to a folder", redacted(req.To))
	case !all && db == "":
		return false, fmt.Errorf("restore destination %s names no database: use mysql://host:port/NAME", redacted(req.To))
	case !all:
		if err := checkName(db); err != nil {
			return false, fmt.Errorf("restore destination: %w", err)
		}
	}
	return dropDefiner, nil
}

// parseRestoreOptions reads the options of a restore into a server. definer=drop:
// views, routines, triggers and events are defined by the restoring user (who then
// needs neither SUPER nor SET USER), not by their definers at backup.
func parseRestoreOptions(m map[string]string) (dropDefiner bool, err error) {
	opts, err := dbdump.ParseOptions("mysql", m, "definer")
	if err != nil {
		return false, err
	}
	if d, ok := m["definer"]; ok {
		if d != "drop" {
			return false, fmt.Errorf("restore option definer: %q: the only value is drop", opts.String("definer"))
		}
		return true, nil
	}
	return false, nil
}

// maxName is the longest database name MariaDB and MySQL accept, in characters.
const maxName = 64

// checkName refuses a database name the server refuses (too long, ending with a space,
// a NUL or a character beyond the Basic Multilingual Plane, such as an emoji), or that
// is a mistake in a URL (a slash: mysql://host/db/).
func checkName(db string) error {
	switch n := utf8.RuneCountInString(db); {
	case !utf8.ValidString(db):
		return fmt.Errorf("database name %q is not valid UTF-8", db)
	case n > maxName:
		return fmt.Errorf("database name %q is %d characters long: the server takes at most %d", db, n, maxName)
	case strings.HasSuffix(db, " "):
		return fmt.Errorf("database name %q ends with a space, which the server refuses", db)
	case strings.Contains(db, "/"):
		return fmt.Errorf("database name %q holds a slash: give mysql://host:port/NAME, without a trailing slash", db)
	}
	for _, r := range db {
		switch {
		case r == 0:
			return fmt.Errorf("database name %q holds a NUL character", db)
		case r > 0xFFFF:
			return fmt.Errorf("database name %q holds %q: the server's names take no character beyond U+FFFF", db, r)
		}
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

// openURL reads a destination URL (parseURL) and writes the client's option file (user,
// password) in a private directory, which the caller closes.
func (t *Target) openURL(to string) (conn, string, *dbdump.Private, error) {
	c, passwordFile, db, err := t.parseURL(to)
	if err != nil {
		return conn{}, "", nil, err
	}
	p, err := dbdump.NewPrivate("")
	if err != nil {
		return conn{}, "", nil, err
	}
	c.PasswordFile = passwordFile
	if err := c.openSecret(p); err != nil {
		p.Close()
		return conn{}, "", nil, err
	}
	return c, db, p, nil
}

// parseURL reads a restore destination; it returns the password file to use.
func (t *Target) parseURL(to string) (conn, string, string, error) {
	u, err := url.Parse(to)
	if err != nil {
		return conn{}, "", "", fmt.Errorf("restore destination: %v", err)
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return conn{}, "", "", fmt.Errorf("restore destination %q: a mysql target restores to mysql://host:port/database or to a file", to)
	}
	c := t.conn()
	passwordFile := t.cfg.PasswordFile
	if u.Host != "" {
		c.Host, c.Port = u.Hostname(), DefaultPort
		if p := u.Port(); p != "" {
			if c.Port, err = strconv.Atoi(p); err != nil || c.Port < 1 || c.Port > 65535 {
				return conn{}, "", "", fmt.Errorf("restore destination %s: %q is not a port", u.Redacted(), p)
			}
		}
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return conn{}, "", "", errors.New("restore destination: a password in the URL would show in the process list; use ?password_file=FILE")
		}
		c.User = u.User.Username()
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return conn{}, "", "", fmt.Errorf("restore destination: %v", err)
	}
	for k, v := range query {
		if len(v) > 1 {
			return conn{}, "", "", fmt.Errorf("restore destination: parameter %s is given %d times", k, len(v))
		}
		switch k {
		case "user":
			c.User = v[0]
		case "password_file":
			if !filepath.IsAbs(v[0]) {
				return conn{}, "", "", fmt.Errorf("restore destination: password_file %q must be an absolute path", v[0])
			}
			passwordFile = v[0]
		case "socket":
			if !filepath.IsAbs(v[0]) {
				return conn{}, "", "", fmt.Errorf("restore destination: socket %q must be an absolute path", v[0])
			}
			c.Host = v[0]
		default:
			return conn{}, "", "", fmt.Errorf("restore destination: unknown parameter %q (use user, password_file, socket)", k)
		}
	}
	return c, passwordFile, strings.TrimPrefix(u.Path, "/"), nil
}

type restorer struct {
	c           conn
	r           targets.Reader
	force       bool
	dropDefiner bool
}

type state struct{ exists, occupied bool }

// check looks at a database of the destination server: it is occupied when it holds a
// table, view, routine or event.
func (rs *restorer) check(ctx context.Context, s *dbdump.Session, db string) (state, error) {
	q := `SELECT JSON_ARRAY((SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %[1]s),
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %[1]s)
  + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %[1]s)
  + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %[1]s));`
	var n [2]int
	if err := s.JSON(ctx, fmt.Sprintf(q, sqlString(db)), &n); err != nil {
		return state{}, err
	}
	return state{exists: n[0] > 0, occupied: n[1] > 0}, nil
}

// one restores a single-database snapshot into db.
func (rs *restorer) one(ctx context.Context, src, db string) (err error) {
	s, err := rs.c.session(ctx, "")
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := rs.check(ctx, s, db)
	if err != nil {
		return err
	}
	if st.occupied && !rs.force {
		return fmt.Errorf("database %q at %s: %w (restore to a new name or use --force)", db, rs.c.server(), targets.ErrDestinationNotEmpty)
	}
	if !st.exists {
		q := "CREATE DATABASE " + sqlIdent(db)
		if cs := dbdump.Tag(rs.r, "charset"); cs != "" {
			q += " CHARACTER SET " + sqlString(cs)
		}
		if co := dbdump.Tag(rs.r, "collation"); co != "" {
			q += " COLLATE " + sqlString(co)
		}
		if _, err := s.Query(ctx, q+";"); err != nil {
			return fmt.Errorf("creating database %q: %w", db, err)
		}
		defer func() {
			// A database this restore created and could not fill is dropped again.
			if err != nil {
				if _, derr := s.Query(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+sqlIdent(db)+";"); derr != nil {
					rs.r.Logger().Error("cannot drop the database of a failed restore", "database", db, "err", derr)
				}
			}
		}()
	}
	rc, err := rs.r.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	return rs.load(ctx, db, rc)
}

// load runs SQL from in with the client (into db, if not ""). --binary-mode: the dump
// may hold any byte in its strings.
func (rs *restorer) load(ctx context.Context, db string, in io.Reader) error {
	argv := append([]string{rs.c.bin("mariadb", "mysql")}, rs.c.args()...)
	argv = append(argv, "--binary-mode", "--batch")
	if db != "" {
		argv = append(argv, "--database="+db)
	}
	if rs.dropDefiner {
		rewritten := dropDefiners(in)
		defer rewritten.Close()
		in = rewritten
	}
	run, err := dbdump.Tool{Argv: argv, Env: rs.c.env(), Files: rs.c.files(), Stdin: in}.Start(ctx, io.Discard)
	if err != nil {
		return err
	}
	_, err = run.Wait()
	return err
}

// all restores a server's archive: it reads the index first and checks every database
// before it touches anything, then restores the accounts and the databases.
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
	if name != indexFile {
		return fmt.Errorf("the archive starts with %q, not %s", name, indexFile)
	}
	var idx index
	if err := json.NewDecoder(content).Decode(&idx); err != nil {
		return fmt.Errorf("reading %s: %w", indexFile, err)
	}
	s, err := rs.c.session(ctx, "")
	if err != nil {
		return err
	}
	defer s.Close()
	var occupied []string
	for _, d := range idx.Databases {
		st, err := rs.check(ctx, s, d.Name)
		if err != nil {
			return err
		}
		if st.occupied {
			occupied = append(occupied, d.Name)
		}
	}
	if len(occupied) > 0 && !rs.force {
		return fmt.Errorf("databases %s at %s: %w (restore to an empty server or use --force)",
			strings.Join(occupied, ", "), rs.c.server(), targets.ErrDestinationNotEmpty)
	}
	for {
		name, content, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		switch name {
		case idx.Users:
			if err := rs.load(ctx, "", content); err != nil {
				return fmt.Errorf("user accounts: %w", err)
			}
		case idx.Dump:
			if err := rs.load(ctx, "", content); err != nil {
				return err
			}
		}
	}
}
