package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

var _ targets.Driller = (*Target)(nil)

// DrillSteps restores the dump into a scratch database on drill.server, compares it
// with the manifest, runs drill.checks and drops it (dbdump.DrillSteps).
func (t *Target) DrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	if t.cfg.Mode == ModeContinuous {
		return t.pitrDrillSteps(r, env) // a restore to a point in time: pitrdrill.go
	}
	return dbdump.DrillSteps(drillKind{t}, r, env)
}

type drillKind struct{ *Target }

func (drillKind) Scheme() string { return "postgres" }

func (drillKind) DropSQL(name string) string {
	return "DROP DATABASE IF EXISTS " + sqlIdent(name) + ";"
}

// Query runs sql in the database the URL names, or in the maintenance database.
func (k drillKind) Query(ctx context.Context, to, sql string) ([]string, error) {
	c, db, p, err := k.openURL(to)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var s *dbdump.Session
	if db == "" {
		s, _, err = c.maintenanceSession(ctx, "cadang drill")
	} else {
		s, err = c.session(ctx, db, "cadang drill")
	}
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Query(ctx, sql)
}

// Endpoint is where a client of the URL connects: the socket file in the socket folder
// (libpq's default folder, /var/run/postgresql, for an empty host), or host and port.
func (k drillKind) Endpoint(to string) (dbdump.Endpoint, error) {
	c, _, err := k.parseURL(to)
	if err != nil {
		return dbdump.Endpoint{}, err
	}
	return c.endpoint(), nil
}

func (c conn) endpoint() dbdump.Endpoint {
	dir := c.Host
	switch {
	case dir == "":
		dir = defaultSocketDir
	case !strings.HasPrefix(dir, "/"):
		return dbdump.Endpoint{Host: c.Host, Port: c.Port}
	}
	return dbdump.Endpoint{Socket: filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(c.Port))}
}

// defaultSocketDir is where Debian's libpq looks for the server's socket.
const defaultSocketDir = "/var/run/postgresql"

// identitySQL says which server answers: the time its postmaster started (to the
// microsecond) and its port, which any role may read. (The cluster's system_identifier
// is not used: a role may not be allowed to read it, and the two sides of the comparison
// may connect as different roles.)
const identitySQL = `SELECT 'postmaster started ' || pg_postmaster_start_time() || ', port ' || current_setting('port');`

// Identity asks the server at the URL which server it is.
func (k drillKind) Identity(ctx context.Context, to string) (string, error) {
	lines, err := k.Query(ctx, to, identitySQL)
	if err != nil {
		return "", err
	}
	if len(lines) != 1 || lines[0] == "" {
		return "", fmt.Errorf("unexpected answer to the identity query: %q", lines)
	}
	return lines[0], nil
}
