package mysql

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/cadang/cadang/targets/dbdump"
)

// conn says how to reach a server. It holds no secret: PasswordFile is the operator's
// file, read into an in-memory option file (dbdump.Secret) by the process that runs the
// tools (the daemon, or the child process of a dump).
type conn struct {
	BinDir       string `json:"bin_dir,omitempty"`
	Host         string `json:"host,omitempty"` // or a socket path
	Port         int    `json:"port"`
	User         string `json:"user,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	Home         string `json:"home,omitempty"` // HOME of the tools: the private folder when there is a password file

	secret *dbdump.Secret // the option file with the password, once open
}

func (c conn) server() string {
	switch {
	case c.Host == "":
		return "local socket"
	case strings.HasPrefix(c.Host, "/"):
		return "socket " + c.Host
	}
	return fmt.Sprintf("%s:%d", c.Host, c.Port)
}

// bin finds a tool: the MariaDB name, else the MySQL one.
func (c conn) bin(mariadb, mysql string) string {
	for _, name := range []string{mariadb, mysql} {
		p := name
		if c.BinDir != "" {
			p = filepath.Join(c.BinDir, name)
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if c.BinDir != "" {
		return filepath.Join(c.BinDir, mariadb)
	}
	return mariadb
}

// args are the connection options; the option file must come first.
func (c conn) args() []string {
	var a []string
	if c.secret != nil {
		a = append(a, "--defaults-extra-file="+dbdump.SecretPath)
	}
	switch {
	case strings.HasPrefix(c.Host, "/"):
		a = append(a, "--protocol=socket", "--socket="+c.Host)
	case c.Host != "":
		a = append(a, "--protocol=tcp", "--host="+c.Host, "--port="+strconv.Itoa(c.Port))
	}
	if c.User != "" {
		a = append(a, "--user="+c.User)
	}
	return a
}

// env is the whole environment of a tool. With a password file, HOME is the private
// folder: a ~/.my.cnf of the daemon's user read after the option file must not override
// its password.
func (c conn) env() []string {
	env := dbdump.BaseEnv()
	if c.Home == "" {
		return env
	}
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+c.Home)
}

// files are the extra files of a tool: the option file with the password.
func (c conn) files() []*os.File { return c.secret.Files() }

// openSecret reads the password of PasswordFile (if any) into an in-memory option file
// that p releases, and makes p's folder the tools' HOME.
func (c *conn) openSecret(p *dbdump.Private) error {
	if c.PasswordFile == "" {
		return nil
	}
	secret, err := dbdump.ReadSecret(c.PasswordFile)
	if err != nil {
		return err
	}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	c.secret, err = p.Secret("client.cnf", []byte("[client]\npassword=\""+esc.Replace(secret)+"\"\n"))
	if p.Dir != "" {
		c.Home = p.Dir
	}
	return err
}

// Errors of statements cadang sends say "at line N" of its own script: not useful.
var atLine = regexp.MustCompile(` at line \d+`)

func cleanSession(line string) string { return atLine.ReplaceAllString(line, "") }

// client returns a client session (on database db, if not "").
func (c conn) client(db string) dbdump.Client {
	argv := append([]string{c.bin("mariadb", "mysql")}, c.args()...)
	// mariadb-dump has no --connect-timeout; the probe, which runs first, has one.
	argv = append(argv, "--connect-timeout=15", "--batch", "--skip-column-names", "--raw", "--unbuffered", "--default-character-set=utf8mb4")
	if db != "" {
		argv = append(argv, "--database="+db)
	}
	return dbdump.Client{
		Argv:   argv,
		Env:    c.env(),
		Files:  c.files(),
		Marker: func(token string) string { return "SELECT '" + token + "';" },
		Clean:  cleanSession,
	}
}

func (c conn) session(ctx context.Context, db string) (*dbdump.Session, error) {
	s, err := c.client(db).Start(ctx)
	if err != nil {
		return nil, err
	}
	// The time zone makes TIMESTAMP values (and so checksums of tables holding them)
	// independent of the server's setting.
	if _, err := s.Query(ctx, "SET SESSION time_zone = '+00:00';"); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// sqlString quotes a string for MariaDB/MySQL (backslash escapes on).
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`).Replace(s) + "'"
}

// sqlIdent quotes an identifier.
func sqlIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
