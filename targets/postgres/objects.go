package postgres

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/cadang/cadang/targets/dbdump"
)

// The kinds of schema objects a manifest counts, and how a message names one.
var (
	objectKinds = []string{"tables", "views", "sequences", "functions", "extensions", "triggers"}
	singular    = map[string]string{"tables": "table", "views": "view", "sequences": "sequence", "functions": "function",
		"extensions": "extension", "triggers": "trigger"}
)

// catalogSQL lists the schema objects of the current database that pg_dump dumps, as
// [kind, name] pairs named as `pg_restore --list` names them (schema.name; a trigger
// schema.table name; an extension its name): not in the system schemas, not members of
// an extension, not temporary; extensions but the built-in ones (plpgsql).
const catalogSQL = `WITH user_ns AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_toast%%' AND nspname NOT LIKE 'pg\_temp\_%%'),
member AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
objects(kind, name) AS (
  SELECT CASE WHEN c.relkind IN ('r', 'p') THEN 'tables' WHEN c.relkind = 'S' THEN 'sequences' ELSE 'views' END,
         n.nspname || '.' || c.relname
  FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND c.relpersistence <> 't'
    AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid)
  UNION ALL
  SELECT 'functions', n.nspname || '.' || p.proname
  FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
  UNION ALL
  SELECT 'extensions', e.extname FROM pg_extension e WHERE e.oid >= 16384
  UNION ALL
  SELECT 'triggers', n.nspname || '.' || c.relname || ' ' || t.tgname
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN user_ns n ON n.oid = c.relnamespace
  WHERE NOT t.tgisinternal AND c.relpersistence <> 't' %s
    AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid))
SELECT coalesce(json_agg(json_build_array(kind, name) ORDER BY kind, name), '[]') FROM objects;`

// catalogObjects lists the schema objects of the session's database. From PostgreSQL 13
// on, the triggers a partition inherits from its partitioned table are not its own
// (pg_dump dumps the parent's).
func catalogObjects(ctx context.Context, s *dbdump.Session, versionNum int) (dbdump.Objects, error) {
	inherited := ""
	if versionNum >= 130000 {
		inherited = "AND t.tgparentid = 0"
	}
	var pairs [][2]string
	if err := s.JSON(ctx, fmt.Sprintf(catalogSQL, inherited), &pairs); err != nil {
		return nil, err
	}
	o := dbdump.Objects{}
	for _, p := range pairs {
		o.Add(p[0], p[1])
	}
	return o, nil
}

// tocKinds maps the descriptions of `pg_restore --list` to the kinds counted.
var tocKinds = map[string]string{
	"TABLE": "tables", "VIEW": "views", "MATERIALIZED VIEW": "views", "SEQUENCE": "sequences",
	"FUNCTION": "functions", "PROCEDURE": "functions", "AGGREGATE": "functions",
	"EXTENSION": "extensions", "TRIGGER": "triggers",
}

// tocLine is a line of `pg_restore --list`: "12; 1259 16385 TABLE public pasien owner".
// Descriptions may hold spaces ("TABLE DATA", "MATERIALIZED VIEW"): the known ones are
// tried longest first.
var tocLine = regexp.MustCompile(`^\d+; \d+ \d+ (.*)$`)

var tocDescs = []string{"MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "TABLE DATA", "TABLE ATTACH", "SEQUENCE SET", "SEQUENCE OWNED BY", "TABLE", "VIEW", "SEQUENCE",
	"FUNCTION", "PROCEDURE", "AGGREGATE", "EXTENSION", "TRIGGER"}

// parseTOC reads `pg_restore --list` and returns the objects it lists.
func parseTOC(r io.Reader) (dbdump.Objects, error) {
	o := dbdump.Objects{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		m := tocLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		rest := m[1]
		for _, d := range tocDescs {
			if !strings.HasPrefix(rest, d+" ") {
				continue
			}
			kind, ok := tocKinds[d]
			if !ok {
				break
			}
			// schema tag owner: the tag may hold spaces (a trigger's "table name", a
			// function's "f(integer, text)"), the schema and owner do not.
			fields := strings.TrimPrefix(rest, d+" ")
			schema, tag, _ := strings.Cut(fields, " ")
			if i := strings.LastIndexByte(tag, ' '); i >= 0 {
				tag = tag[:i]
			}
			if kind == "functions" {
				tag, _, _ = strings.Cut(tag, "(")
			}
			name := tag
			if schema != "-" {
				name = schema + "." + tag
			}
			o.Add(kind, name)
			break
		}
	}
	return o, sc.Err()
}

// tocReader runs `pg_restore --list` on the start of a custom-format dump as it passes
// (dbdump.Tool.Observe): the table of contents comes first in a dump written to a pipe.
type tocReader struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    strings.Builder
	stderr strings.Builder
	once   sync.Once
	err    error
}

func (c conn) startTOCReader(ctx context.Context) (*tocReader, error) {
	t := &tocReader{}
	t.cmd = exec.CommandContext(ctx, c.bin("pg_restore"), "--list")
	t.cmd.Env = dbdump.BaseEnv()
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.cmd.Stdout, t.cmd.Stderr = &t.out, &t.stderr
	in, err := t.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	t.in = in
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start pg_restore --list: %w", err)
	}
	return t, nil
}

func (t *tocReader) Write(p []byte) (int, error) { return t.in.Write(p) }

// objects waits for pg_restore and returns the objects of the dump's table of contents.
func (t *tocReader) objects() (dbdump.Objects, error) {
	t.once.Do(func() {
		t.in.Close()
		if err := t.cmd.Wait(); err != nil {
			t.err = fmt.Errorf("pg_restore --list of the dump: %v: %s", err, strings.TrimSpace(t.stderr.String()))
		}
	})
	if t.err != nil {
		return nil, t.err
	}
	return parseTOC(strings.NewReader(t.out.String()))
}

// checkDump fails a dump that lacks objects the catalog lists.
func checkDump(db string, catalog, dump dbdump.Objects) error {
	return dbdump.CheckDump(db, objectKinds, catalog, dump, singular, func(string) string {
		return "pg_dump left it out"
	})
}
