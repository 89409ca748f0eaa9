package mysql

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cadang/cadang/targets/dbdump"
)

// The kinds of schema objects a manifest counts, and how a message names one.
var (
	objectKinds = []string{"tables", "views", "routines", "triggers", "events"}
	singular    = map[string]string{"tables": "table", "views": "view", "routines": "", "triggers": "trigger", "events": "event"}
)

// privilegeHint says what mariadb-dump needs to dump objects of a kind: it leaves out,
// without an error, those its user may see in the catalog but not read.
func privilegeHint(kind string) string {
	switch kind {
	case "routines":
		return "mariadb-dump leaves out routines it may not read: grant the backup user SELECT ON mysql.proc (MariaDB 11.3 and later: SHOW CREATE ROUTINE on the database)"
	case "triggers":
		return "grant the backup user TRIGGER on the database"
	case "events":
		return "grant the backup user EVENT on the database"
	case "views":
		return "grant the backup user SHOW VIEW on the database"
	case "tables":
		return "grant the backup user SELECT on the database"
	}
	return ""
}

// skippedKinds are the kinds dump options leave out of the dump on purpose: not checked.
func skippedKinds(options []string) map[string]bool {
	skip := map[string]bool{}
	for _, o := range options {
		name, _, _ := strings.Cut(o, "=")
		switch name {
		case "--skip-triggers":
			skip["triggers"] = true
		case "--skip-routines":
			skip["routines"] = true
		case "--skip-events":
			skip["events"] = true
		case "--no-create-info", "-t":
			skip["tables"], skip["views"], skip["triggers"] = true, true, true
		}
	}
	return skip
}

// checkedKinds are objectKinds without those skipped.
func checkedKinds(options []string) []string {
	skip := skippedKinds(options)
	var out []string
	for _, k := range objectKinds {
		if !skip[k] {
			out = append(out, k)
		}
	}
	return out
}

// blindRoutines marks, in the objects of a catalog, that the user sees only the routines
// it may read: information_schema.ROUTINES and SHOW PROCEDURE STATUS hide the others
// from it entirely (and so mariadb-dump leaves them out without an error), so whether
// the dump holds every routine cannot be told.
const blindRoutines = "routines-unseen"

// routinesSQL lists every routine of a database from mysql.proc, which a user with
// SELECT on it reads whoever defined the routines.
const routinesSQL = "SELECT COALESCE(JSON_ARRAYAGG(CONCAT(LOWER(type), ' ', name)), '[]') FROM mysql.proc WHERE db = %s AND type IN ('PROCEDURE', 'FUNCTION');"

// seesSQL says what of a database's routines and triggers the user may see, as
// [mysql.proc readable, routine privilege, trigger privilege, tables without it]:
// information_schema lists mysql.proc to a user with a privilege on it; a routine
// privilege on the database (EXECUTE, ALTER ROUTINE, CREATE ROUTINE, SHOW CREATE ROUTINE)
// or a global one (those, SELECT, SHOW_ROUTINE) makes information_schema.ROUTINES list
// every routine (mariadb-dump then fails, loudly, on a routine whose definition it may
// not read); triggers show only on tables the user holds TRIGGER on (globally, on the
// database, or on the table), and mariadb-dump leaves the others out without an error.
const seesSQL = `SELECT JSON_ARRAY(
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'proc'),
  (SELECT COUNT(*) FROM (
     SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = @cadang_grantee AND %[1]s LIKE TABLE_SCHEMA
     UNION ALL SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = @cadang_grantee) p
   WHERE PRIVILEGE_TYPE IN ('EXECUTE', 'ALTER ROUTINE', 'CREATE ROUTINE', 'SHOW CREATE ROUTINE')),
  (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = @cadang_grantee AND PRIVILEGE_TYPE IN ('SELECT', 'SHOW_ROUTINE')),
  (SELECT COUNT(*) FROM (
     SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = @cadang_grantee AND %[1]s LIKE TABLE_SCHEMA
     UNION ALL SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = @cadang_grantee) p
   WHERE PRIVILEGE_TYPE = 'TRIGGER'),
  (SELECT COUNT(*) FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = %[1]s AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')
     AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_PRIVILEGES p WHERE p.GRANTEE = @cadang_grantee
       AND p.TABLE_SCHEMA = t.TABLE_SCHEMA AND p.TABLE_NAME = t.TABLE_NAME AND p.PRIVILEGE_TYPE = 'TRIGGER')));`

// blindTriggers marks, like blindRoutines, that the user may not see every trigger.
const blindTriggers = "triggers-unseen"

// grantee sets @cadang_grantee to the current account as information_schema's GRANTEE
// column writes it: 'user'@'host'.
const granteeSQL = `SET @cadang_grantee = CONCAT("'", LEFT(CURRENT_USER(), LENGTH(CURRENT_USER()) - LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1),
  "'@'", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), "'");`

// catalogRoutines lists the routines of db: from mysql.proc when the user may read it,
// else as information_schema.ROUTINES shows them, marked blindRoutines when that view may
// leave routines out. It marks blindTriggers when triggers may be hidden too.
func catalogRoutines(ctx context.Context, s *dbdump.Session, db string, o dbdump.Objects) error {
	d := sqlString(db)
	if _, err := s.Query(ctx, granteeSQL); err != nil {
		return err
	}
	var sees [5]int
	if err := s.JSON(ctx, fmt.Sprintf(seesSQL, d), &sees); err != nil {
		return err
	}
	q := "SELECT COALESCE(JSON_ARRAYAGG(CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME)), '[]') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = " + d + " AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION');"
	if sees[0] > 0 {
		q = fmt.Sprintf(routinesSQL, d)
	}
	var names []string
	if err := s.JSON(ctx, q, &names); err != nil {
		return err
	}
	for _, n := range names {
		o.Add("routines", n)
	}
	if sees[0] == 0 && sees[1] == 0 && sees[2] == 0 {
		o.Add(blindRoutines, db)
	}
	if sees[3] == 0 && sees[4] > 0 {
		o.Add(blindTriggers, db)
	}
	return nil
}

// catalogObjects lists the schema objects of db as the server's catalog shows them to
// the session's user, without the tables --ignore-table leaves out (and their
// triggers).
func catalogObjects(ctx context.Context, s *dbdump.Session, db string, skip map[string]bool) (dbdump.Objects, error) {
	o := dbdump.Objects{}
	if err := catalogRoutines(ctx, s, db, o); err != nil {
		return nil, err
	}
	d := sqlString(db)
	queries := []struct{ kind, sql string }{
		{"tables", "SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + d + " AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED');"},
		{"views", "SELECT COALESCE(JSON_ARRAYAGG(TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + d + " AND TABLE_TYPE = 'VIEW';"},
		{"triggers", "SELECT COALESCE(JSON_ARRAYAGG(JSON_ARRAY(TRIGGER_NAME, EVENT_OBJECT_TABLE)), '[]') FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = " + d + ";"},
		{"events", "SELECT COALESCE(JSON_ARRAYAGG(EVENT_NAME), '[]') FROM information_schema.EVENTS WHERE EVENT_SCHEMA = " + d + ";"},
	}
	for _, q := range queries {
		if q.kind == "triggers" {
			var pairs [][2]string
			if err := s.JSON(ctx, q.sql, &pairs); err != nil {
				return nil, err
			}
			for _, p := range pairs {
				if !skip[db+"."+p[1]] {
					o.Add(q.kind, p[0])
				}
			}
			continue
		}
		var names []string
		if err := s.JSON(ctx, q.sql, &names); err != nil {
			return nil, err
		}
		for _, n := range names {
			if (q.kind == "tables" || q.kind == "views") && skip[db+"."+n] {
				continue
			}
			o.Add(q.kind, n)
		}
	}
	return o, nil
}

// dumpScanner counts the schema objects a mariadb-dump SQL stream holds, per database,
// as the stream passes (dbdump.Tool.Observe). It reads only the start of each line:
// rows are INSERT lines (mariadb-dump writes a newline in a value as \n), and every
// definition starts a line: CREATE TABLE, the final /*!50001 VIEW of a view (its
// placeholder is a CREATE VIEW or CREATE TABLE in a comment), and, between DELIMITER ;;
// and DELIMITER ;, the first line of each statement for routines, triggers and events (a
// routine's body may hold any text on its other lines).
type dumpScanner struct {
	db      string // the database of the objects read now (USE `db`; with --databases)
	objects map[string]dbdump.Objects

	line    []byte // the start of the current line
	last    [2]byte
	inBlock bool // between DELIMITER ;; and DELIMITER ;
	start   bool // in a block, the current line starts a statement
}

const scanLineStart = 1024

func newDumpScanner(db string) *dumpScanner {
	return &dumpScanner{db: db, objects: map[string]dbdump.Objects{}}
}

func (s *dumpScanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := scanLineStart - len(s.line); room > 0 {
			s.line = append(s.line, chunk[:min(room, len(chunk))]...)
		}
		if len(chunk) >= 2 {
			s.last = [2]byte{chunk[len(chunk)-2], chunk[len(chunk)-1]}
		} else if len(chunk) == 1 {
			s.last = [2]byte{s.last[1], chunk[0]}
		}
		if i < 0 {
			break
		}
		s.endLine()
		p = p[i+1:]
	}
	return n, nil
}

var (
	reUse     = regexp.MustCompile("^USE (`(?:[^`]|``)+`);")
	reTable   = regexp.MustCompile("^CREATE TABLE (?:IF NOT EXISTS )?(`(?:[^`]|``)+`)")
	reView    = regexp.MustCompile("^/\\*!50001 VIEW (`(?:[^`]|``)+`) AS ")
	reRoutine = regexp.MustCompile("^CREATE (?:DEFINER=.*? )?(?:AGGREGATE )?(PROCEDURE|FUNCTION) (`(?:[^`]|``)+`)")
	reTrigger = regexp.MustCompile("^/\\*!50003 CREATE\\*/ .*?\\bTRIGGER (?:IF NOT EXISTS )?((?:`(?:[^`]|``)+`\\.)?(?:`(?:[^`]|``)+`|[^\\s`]+)) +(?:BEFORE|AFTER) ")
	reEvent   = regexp.MustCompile("^/\\*!50106 CREATE\\*/ .*?\\bEVENT (?:IF NOT EXISTS )?((?:`(?:[^`]|``)+`\\.)?(?:`(?:[^`]|``)+`|[^\\s`]+)) +ON SCHEDULE ")
)

func (s *dumpScanner) endLine() {
	line := s.line
	endsStatement := s.last == [2]byte{';', ';'}
	s.line, s.last = s.line[:0], [2]byte{}
	switch {
	case bytes.HasPrefix(line, []byte("INSERT ")), bytes.HasPrefix(line, []byte("REPLACE ")):
		return
	case bytes.Equal(line, []byte("DELIMITER ;;")):
		s.inBlock, s.start = true, true
		return
	case bytes.Equal(line, []byte("DELIMITER ;")):
		s.inBlock = false
		return
	}
	if s.inBlock {
		if s.start {
			if m := reRoutine.FindSubmatch(line); m != nil {
				s.add("routines", strings.ToLower(string(m[1]))+" "+unquote(string(m[2])))
			} else if m := reTrigger.FindSubmatch(line); m != nil {
				s.add("triggers", lastName(string(m[1])))
			} else if m := reEvent.FindSubmatch(line); m != nil {
				s.add("events", lastName(string(m[1])))
			}
		}
		s.start = endsStatement
		return
	}
	if m := reUse.FindSubmatch(line); m != nil {
		s.db = unquote(string(m[1]))
	} else if m := reTable.FindSubmatch(line); m != nil {
		s.add("tables", unquote(string(m[1])))
	} else if m := reView.FindSubmatch(line); m != nil {
		s.add("views", unquote(string(m[1])))
	}
}

func (s *dumpScanner) add(kind, name string) {
	o := s.objects[s.db]
	if o == nil {
		o = dbdump.Objects{}
		s.objects[s.db] = o
	}
	o.Add(kind, name)
}

// unquote turns `a“b` into a`b; a name without quotes is returned as it is.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}

// lastName is the name of `db`.`name` (or of name).
func lastName(s string) string {
	if strings.HasPrefix(s, "`") {
		if i := strings.Index(s, "`.`"); i >= 0 && !strings.Contains(s[:i+1], "``") {
			return unquote(s[i+2:])
		}
	}
	return unquote(s)
}

// checkDump fails a dump that lacks objects the catalog lists, or whose routines cannot
// be checked.
func checkDump(db string, kinds []string, catalog, dump dbdump.Objects) error {
	if err := dbdump.CheckDump(db, kinds, catalog, dump, singular, privilegeHint); err != nil {
		return err
	}
	if len(catalog[blindRoutines]) > 0 && slices.Contains(kinds, "routines") {
		return fmt.Errorf("cannot tell whether the dump of database %s holds every routine: the backup user sees only the routines it may read "+
			"(information_schema.ROUTINES and SHOW PROCEDURE STATUS hide the others, and mariadb-dump leaves them out without an error): "+
			"grant the backup user SELECT ON mysql.proc (MariaDB 11.3 and later: SHOW CREATE ROUTINE on the database)", db)
	}
	if len(catalog[blindTriggers]) > 0 && slices.Contains(kinds, "triggers") {
		return fmt.Errorf("cannot tell whether the dump of database %s holds every trigger: the backup user sees only the triggers of tables it holds TRIGGER on "+
			"(mariadb-dump leaves the others out without an error): grant the backup user TRIGGER on the database", db)
	}
	return nil
}
