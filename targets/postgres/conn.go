package postgres

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/cadang/cadang/targets/dbdump"
)

// conn says how to reach a server. It holds no secret: PasswordFile is the operator's
// file, read into an in-memory PGPASSFILE (dbdump.Secret) by the process that runs the
// tools (the daemon, or the child process of a dump).
type conn struct {
	BinDir       string `json:"bin_dir,omitempty"`
	Host         string `json:"host,omitempty"`
	Port         int    `json:"port"`
	User         string `json:"user,omitempty"`
	SSLMode      string `json:"sslmode,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`

	secret *dbdump.Secret // the PGPASSFILE, once open
}

// server names the server in messages.
func (c conn) server() string {
	switch {
	case c.Host == "":
		return fmt.Sprintf("local socket, port %d", c.Port)
	case strings.HasPrefix(c.Host, "/"):
		return fmt.Sprintf("socket %s, port %d", c.Host, c.Port)
	}
	return fmt.Sprintf("%s:%d", c.Host, c.Port)
}

// info is a libpq connection string for database db.
func (c conn) info(db, app string) string {
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	var kv []string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, k+"='"+quote.Replace(v)+"'")
		}
	}
	add("host", c.Host)
	add("port", strconv.Itoa(c.Port))
	add("user", c.User)
	add("dbname", db)
	add("sslmode", c.SSLMode)
	add("connect_timeout", "15")
	add("application_name", app)
	return strings.Join(kv, " ")
}

func (c conn) bin(name string) string {
	if c.BinDir != "" {
		return filepath.Join(c.BinDir, name)
	}
	return name
}

// env is the whole environment of a PostgreSQL tool.
func (c conn) env() []string {
	if c.secret == nil {
		return dbdump.BaseEnv()
	}
	return dbdump.BaseEnv("PGPASSFILE=" + dbdump.SecretPath)
}

// files are the extra files of a tool: the PGPASSFILE.
func (c conn) files() []*os.File { return c.secret.Files() }

// openSecret reads the password of PasswordFile (if any) into an in-memory PGPASSFILE
// that p releases.
func (c *conn) openSecret(p *dbdump.Private) error {
	if c.PasswordFile == "" {
		return nil
	}
	secret, err := dbdump.ReadSecret(c.PasswordFile)
	if err != nil {
		return err
	}
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`)
	c.secret, err = p.Secret("pgpass", []byte("*:*:*:*:"+esc.Replace(secret)+"\n"))
	return err
}

// Every PostgreSQL tool starts its own lines with "name: "; only "error:" and "fatal:"
// ones are problems (with --verbose the others are progress).
var toolLine = regexp.MustCompile(`^(pg_dump|pg_dumpall|pg_restore|psql)(:[^:\s]*:\d+)?: (\w+):?`)

// cleanLine keeps the lines of a PostgreSQL tool that report a problem or its cause
// ("pg_dump: detail: Error message from server: server closed the connection
// unexpectedly"), without the "psql:<stdin>:12: " place in cadang's own script, libpq's
// boilerplate after a lost connection, and the statement that failed (it says what,
// not why).
func cleanLine(line string) string {
	m := toolLine.FindStringSubmatch(line)
	if m == nil {
		if boilerplate(line) {
			return ""
		}
		return line
	}
	if m[2] != "" { // psql:<stdin>:12: ERROR:  ...
		return strings.TrimSpace(strings.TrimPrefix(line, m[1]+m[2]+":"))
	}
	switch m[3] {
	case "error", "fatal":
		return line
	case "detail", "hint":
		rest := strings.TrimSpace(line[len(m[0]):])
		if strings.HasPrefix(rest, "Command was:") || strings.HasPrefix(rest, "Query was:") {
			return ""
		}
		return line
	}
	return ""
}

// boilerplate is what libpq adds to "server closed the connection unexpectedly".
func boilerplate(line string) bool {
	line = strings.TrimSpace(line)
	return strings.HasPrefix(line, "This probably means the server terminated abnormally") ||
		line == "before or while processing the request."
}

// psql returns a client session on database db.
func (c conn) psql(db, app string) dbdump.Client {
	return dbdump.Client{
		Argv: []string{c.bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--no-password",
			"-d", c.info(db, app)},
		Env:    c.env(),
		Files:  c.files(),
		Marker: func(token string) string { return `\echo ` + token },
		Clean:  cleanLine,
	}
}

// sessionSetup makes a session's text forms and timeouts independent of the server's
// and role's settings.
const sessionSetup = `SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0;
SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
SET extra_float_digits = 3; SET bytea_output = 'hex'; SET client_encoding = 'UTF8';`

// session starts a psql session on db and sets it up.
func (c conn) session(ctx context.Context, db, app string) (*dbdump.Session, error) {
	s, err := c.psql(db, app).Start(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.Query(ctx, sessionSetup); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// maintenanceSession connects to the server's maintenance database: postgres, or
// template1 where there is no postgres database (as pg_dumpall does).
func (c conn) maintenanceSession(ctx context.Context, app string) (*dbdump.Session, string, error) {
	s, err := c.session(ctx, "postgres", app)
	if err == nil {
		return s, "postgres", nil
	}
	if !strings.Contains(err.Error(), `database "postgres" does not exist`) {
		return nil, "", err
	}
	s, err = c.session(ctx, "template1", app)
	return s, "template1", err
}

// sqlLiteral quotes a string for SQL (standard_conforming_strings on).
func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sqlIdent quotes an identifier.
func sqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
