package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

var _ targets.Driller = (*Target)(nil)

// DrillSteps restores the dump into a scratch database on drill.server, compares it
// with the manifest, runs drill.checks and drops it (dbdump.DrillSteps). A target in
// continuous mode is drilled to a point in time instead (pitrdrill.go).
func (t *Target) DrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	if t.cfg.Mode == ModeContinuous {
		return t.pitrDrillSteps(r, env)
	}
	// By the configuration, not the snapshot: the engine gives the steps a reader
	// before its snapshot step picked the snapshot (a physical drill's restore step
	// refuses a dump, and a dump drill's restore refuses a physical backup).
	if t.cfg.Method == MethodPhysical {
		return t.physicalDrillSteps(r, env) // physicaldrill.go: a scratch server of its own
	}
	return dbdump.DrillSteps(drillKind{t}, r, env)
}

type drillKind struct{ *Target }

func (drillKind) Scheme() string { return "mysql" }

func (drillKind) DropSQL(name string) string {
	return "DROP DATABASE IF EXISTS " + sqlIdent(name) + ";"
}

// Query runs sql in the database the URL names, or with no database selected.
func (k drillKind) Query(ctx context.Context, to, sql string) ([]string, error) {
	c, db, p, err := k.openURL(to)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	s, err := c.session(ctx, db)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Query(ctx, sql)
}

// Endpoint is where a client of the URL connects: the socket (the client library's
// default, /run/mysqld/mysqld.sock, for an empty host) or host and port.
func (k drillKind) Endpoint(to string) (dbdump.Endpoint, error) {
	c, _, _, err := k.parseURL(to)
	if err != nil {
		return dbdump.Endpoint{}, err
	}
	switch {
	case c.Host == "":
		return dbdump.Endpoint{Socket: defaultSocket}, nil
	case strings.HasPrefix(c.Host, "/"):
		return dbdump.Endpoint{Socket: c.Host}, nil
	}
	return dbdump.Endpoint{Host: c.Host, Port: c.Port}, nil
}

// defaultSocket is where Debian's MariaDB client looks for the server's socket.
const defaultSocket = "/run/mysqld/mysqld.sock"

// identitySQL says which server answers: its host name, port and data folder (no two
// running servers share all three), readable by any user.
const identitySQL = "SELECT CONCAT('host ', @@hostname, ', port ', @@port, ', datadir ', @@datadir);"

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
