package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cadang/cadang/targets/dbdump"
)

// server holds what a backup learns of a server before it dumps.
type server struct {
	Version    string     `json:"version"`            // server_version, e.g. "15.18 (Debian 15.18-0+deb12u1)"
	VersionNum int        `json:"version_num"`        // server_version_num, e.g. 150018
	Identity   string     `json:"identity,omitempty"` // identitySQL's answer (drill.go), "" when it gave none
	Databases  []database `json:"databases"`
}

// database holds how a database was created, so a restore under another name creates
// it alike.
type database struct {
	Name      string `json:"name"`
	Encoding  string `json:"encoding"`
	Collate   string `json:"collate"`
	CType     string `json:"ctype"`
	Provider  string `json:"provider,omitempty"`   // c (libc), i (ICU), b (builtin)
	ICULocale string `json:"icu_locale,omitempty"` // with provider i
}

// shortVersion is the version without the packager's note: "15.18".
func (s server) shortVersion() string {
	v, _, _ := strings.Cut(s.Version, " ")
	return v
}

func versionNum(ctx context.Context, s *dbdump.Session) (string, int, error) {
	var v struct {
		Version string `json:"version"`
		Num     string `json:"num"`
	}
	err := s.JSON(ctx, `SELECT json_build_object('version', current_setting('server_version'), 'num', current_setting('server_version_num'));`, &v)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(v.Num)
	if err != nil {
		return "", 0, fmt.Errorf("server_version_num %q: %v", v.Num, err)
	}
	return v.Version, n, nil
}

// databasesSQL lists databases (the current one, or all that accept connections and are
// not templates) with how they were created; where selects.
func databasesSQL(num int, where string) string {
	locale := "NULL, NULL"
	switch {
	case num >= 170000:
		locale = "d.datlocprovider, d.datlocale"
	case num >= 150000:
		locale = "d.datlocprovider, d.daticulocale"
	}
	return fmt.Sprintf(`SELECT coalesce(json_agg(json_build_object('name', d.datname, 'encoding', pg_encoding_to_char(d.encoding),
  'collate', d.datcollate, 'ctype', d.datctype, 'provider', p.provider, 'icu_locale', p.locale) ORDER BY d.datname), '[]')
FROM pg_database d, LATERAL (SELECT %s) AS p(provider, locale) WHERE %s;`, locale, where)
}

// probe connects to the database (or the maintenance database with all) and returns
// what a backup needs to know first. It is also the check that the server answers and
// lets the user in, so its errors are psql's own lines.
func (c conn) probe(ctx context.Context, cfg Config) (server, error) {
	var srv server
	var s *dbdump.Session
	var err error
	if cfg.All {
		s, _, err = c.maintenanceSession(ctx, "cadang")
	} else {
		s, err = c.session(ctx, cfg.Database, "cadang")
	}
	if err != nil {
		return srv, err
	}
	defer s.Close()
	if srv.Version, srv.VersionNum, err = versionNum(ctx, s); err != nil {
		return srv, err
	}
	if lines, err := s.Query(ctx, identitySQL); err == nil && len(lines) == 1 {
		srv.Identity = strings.TrimSpace(lines[0]) // for the manifest; a drill compares it
	}
	where := "d.datname = current_database()"
	if cfg.All {
		where = "d.datallowconn AND NOT d.datistemplate"
	}
	if err := s.JSON(ctx, databasesSQL(srv.VersionNum, where), &srv.Databases); err != nil {
		return srv, err
	}
	if cfg.All {
		kept := srv.Databases[:0]
		for _, d := range srv.Databases {
			if !slices.Contains(cfg.Exclude, d.Name) {
				kept = append(kept, d)
			}
		}
		srv.Databases = kept
		if len(kept) == 0 {
			return srv, fmt.Errorf("no database to back up at %s (all are excluded)", c.server())
		}
	}
	return srv, nil
}

// Hashable types: their values are hashed as they are (hash_record_extended uses each
// type's own extended hash function, the one hash partitioning relies on, stable across
// platforms and versions). Columns of other types are hashed through their text form.
var hashableTypes = "{16,17,18,19,20,21,23,25,26,650,700,701,829,869,1042,1043,1082,1083,1114,1184,1186,1266,1700,2950,3802}"

// ChecksumMethod says how a table's checksum is computed: an order-independent sum of a
// 64-bit hash of each row, in one sequential scan (no sort, no key needed), that a restore
// reproduces whatever the physical order of its rows.
const (
	checksumMethod     = "postgres: sum(hash_record_extended(ROW(columns), 0)), columns of types without an extended hash as text (TimeZone UTC, DateStyle ISO)"
	checksumMethodText = "postgres: sum(hashtextextended(row::text, 0)) (TimeZone UTC, DateStyle ISO)"
)

// tablesSQL lists the tables whose rows a dump holds: ordinary tables (partitions
// included, their partitioned parents hold no rows), not temporary, not system, not
// members of an extension, and readable (pg_dump fails on the others and says so).
const tablesSQL = `SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname,
  (SELECT coalesce(string_agg(CASE WHEN a.atttypid = ANY('` + "%s" + `'::oid[]) THEN quote_ident(a.attname)
                                   ELSE quote_ident(a.attname) || '::text' END, ', ' ORDER BY a.attnum), '')
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
  ) ORDER BY n.nspname, c.relname), '[]')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
  AND has_table_privilege(c.oid, 'SELECT')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e');`

// tables computes the facts of every table in the session's snapshot. It returns the
// checksum method used ("" without checksums).
func tables(ctx context.Context, s *dbdump.Session, versionNum int, checksums bool) ([]dbdump.Table, string, error) {
	var list [][3]string
	if err := s.JSON(ctx, fmt.Sprintf(tablesSQL, hashableTypes), &list); err != nil {
		return nil, "", err
	}
	method := ""
	if checksums {
		method = checksumMethod
		if versionNum < 140000 {
			method = checksumMethodText
		}
	}
	out := make([]dbdump.Table, 0, len(list))
	for _, t := range list {
		schema, name, cols := t[0], t[1], t[2]
		rel := sqlIdent(schema) + "." + sqlIdent(name)
		var hash string
		switch {
		case !checksums:
			hash = "''"
		case versionNum < 140000:
			hash = "coalesce(sum(hashtextextended(t::text, 0)), 0)::text"
		case cols == "":
			hash = "'0'" // a table without columns: its row count says it all
		default:
			hash = "coalesce(sum(hash_record_extended(ROW(" + cols + "), 0)), 0)::text"
		}
		var facts [2]json.RawMessage
		q := fmt.Sprintf("SELECT json_build_array(count(*), %s) FROM ONLY %s AS t;", hash, rel)
		if err := s.JSON(ctx, q, &facts); err != nil {
			return nil, "", err
		}
		tb := dbdump.Table{Schema: schema, Name: name}
		if err := json.Unmarshal(facts[0], &tb.Rows); err != nil {
			return nil, "", fmt.Errorf("row count of %s: %v", rel, err)
		}
		if checksums {
			if err := json.Unmarshal(facts[1], &tb.Checksum); err != nil {
				return nil, "", fmt.Errorf("checksum of %s: %v", rel, err)
			}
		}
		out = append(out, tb)
	}
	return out, method, nil
}
