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
	opts, err := dbdump.ParseOptions("mysql", req.Options, "definer")
	if err != nil {
		return err
	}
	// definer=drop: views, routines, triggers and events are defined by the restoring
	// user (who then needs neither SUPER nor SET USER), not by their definers at backup.
	dropDefiner := false
	if d, ok := req.Options["definer"]; ok {
		if d != "drop" {
			return fmt.Errorf("restore option definer: %q: the only value is drop", opts.String("definer"))
		}
		dropDefiner = true
	}
	src, err := dbdump.SnapshotFile(r)
	if err != nil {
		return err
	}
	all := strings.HasSuffix(src, ".tar")
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
	switch {
	case all && db != "":
		return fmt.Errorf("snapshot %.8s holds every database of a server: restore it to mysql://host:port/ (no database name) or to a folder", r.Snapshot().ID)
	case !all && db == "":
		return fmt.Errorf("restore destination %s names no database: use mysql://host:port/NAME", req.To)
	}
	rs := &restorer{c: c, r: r, force: req.Force, dropDefiner: dropDefiner}
	if all {
		return rs.all(ctx, src)
	}
	return rs.one(ctx, src, db)
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
			if c.Port, err = strconv.Atoi(p); err != nil {
				return conn{}, "", "", fmt.Errorf("restore destination %q: bad port", to)
			}
		}
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return conn{}, "", "", errors.New("restore destination: a password in the URL would show in the process list; use ?password_file=FILE")
		}
		c.User = u.User.Username()
	}
	for k, v := range u.Query() {
		switch k {
		case "user":
			c.User = v[0]
		case "password_file":
			if !filepath.IsAbs(v[0]) {
				return conn{}, "", "", fmt.Errorf("restore destination: password_file %q must be an absolute path", v[0])
			}
			passwordFile = v[0]
		case "socket":
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
