package mysql

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cadang/cadang/targets/dbdump"
)

// server holds what a backup learns of a server before it dumps.
type server struct {
	Version   string     `json:"version"`            // VERSION(), e.g. "10.11.19-MariaDB-0+deb12u1"
	Identity  string     `json:"identity,omitempty"` // identitySQL's answer (drill.go), "" when it gave none
	Databases []database `json:"databases"`
}

// database holds how a database was created, so a restore under another name creates
// it alike.
type database struct {
	Name      string `json:"name"`
	Charset   string `json:"charset"`
	Collation string `json:"collation"`
}

func (s server) mariadb() bool { return strings.Contains(s.Version, "MariaDB") }

// shortVersion is e.g. "mariadb-10.11.19" or "mysql-8.0.36".
func (s server) shortVersion() string {
	v, _, _ := strings.Cut(s.Version, "-")
	if s.mariadb() {
		return "mariadb-" + v
	}
	return "mysql-" + v
}

// probe connects and returns what a backup needs to know first. It is also the check
// that the server answers, lets the user in and has the database, so its errors are the
// client's own lines.
func (c conn) probe(ctx context.Context, cfg Config) (server, error) {
	var srv server
	db := cfg.Database
	s, err := c.session(ctx, db)
	if err != nil {
		return srv, err
	}
	defer s.Close()
	lines, err := s.Query(ctx, "SELECT VERSION();")
	if err != nil {
		return srv, err
	}
	if len(lines) == 0 {
		return srv, fmt.Errorf("%s: no answer to SELECT VERSION()", c.server())
	}
	srv.Version = lines[0]
	if lines, err := s.Query(ctx, identitySQL); err == nil && len(lines) == 1 {
		srv.Identity = strings.TrimSpace(lines[0]) // for the manifest; a drill compares it
	}
	where := "SCHEMA_NAME = DATABASE()"
	if cfg.All {
		where = "SCHEMA_NAME NOT IN ('information_schema', 'performance_schema', 'sys', 'mysql')"
	}
	err = s.JSON(ctx, `SELECT COALESCE(JSON_ARRAYAGG(JSON_OBJECT('name', SCHEMA_NAME, 'charset', DEFAULT_CHARACTER_SET_NAME,
  'collation', DEFAULT_COLLATION_NAME)), '[]') FROM information_schema.SCHEMATA WHERE `+where+";", &srv.Databases)
	if err != nil {
		return srv, err
	}
	sort.Slice(srv.Databases, func(i, j int) bool { return srv.Databases[i].Name < srv.Databases[j].Name })
	kept := srv.Databases[:0]
	for _, d := range srv.Databases {
		if !slices.Contains(cfg.Exclude, d.Name) {
			kept = append(kept, d)
		}
	}
	srv.Databases = kept
	switch {
	case cfg.All && len(kept) == 0:
		return srv, fmt.Errorf("no database to back up at %s", c.server())
	case !cfg.All && len(kept) != 1:
		return srv, fmt.Errorf("database %q not found at %s", db, c.server())
	}
	return srv, nil
}

const checksumMethod = "mysql: CHECKSUM TABLE (compare between servers of the same version only)"

// tables computes the facts of every base table of db in the session's snapshot.
func tables(ctx context.Context, s *dbdump.Session, db string, checksums bool, skip map[string]bool) ([]dbdump.Table, error) {
	var names []string
	err := s.JSON(ctx, "SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+
		sqlString(db)+" AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED');", &names)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]dbdump.Table, 0, len(names))
	for _, name := range names {
		if skip[db+"."+name] {
			continue
		}
		rel := sqlIdent(db) + "." + sqlIdent(name)
		q := "SELECT COUNT(*) FROM " + rel + ";"
		if checksums {
			q += "\nCHECKSUM TABLE " + rel + ";"
		}
		lines, err := s.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		if len(lines) != 1 && !(checksums && len(lines) == 2) {
			return nil, fmt.Errorf("facts of %s: unexpected answer %q", rel, lines)
		}
		t := dbdump.Table{Name: name}
		if t.Rows, err = strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64); err != nil {
			return nil, fmt.Errorf("row count of %s: %q", rel, lines[0])
		}
		if checksums {
			// "db.table<TAB>checksum"; the name may hold anything, the checksum is last.
			sum := lines[1][strings.LastIndexByte(lines[1], '\t')+1:]
			if sum != "NULL" {
				t.Checksum = sum
			}
		}
		out = append(out, t)
	}
	return out, nil
}
