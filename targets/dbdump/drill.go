package dbdump

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
)

// DrillKind is what a database kind gives the drill the database kinds share.
type DrillKind interface {
	// Scheme is the URL scheme of the kind's restore destinations (postgres, mysql).
	Scheme() string
	Restore(ctx context.Context, r targets.Reader, req targets.RestoreRequest) error
	// Inspect computes a restored database's facts, as the backup's manifest has them.
	Inspect(ctx context.Context, to string) (*Manifest, error)
	// Query runs sql in the database at the URL to (the server's maintenance database
	// when to names none) and returns the lines it prints.
	Query(ctx context.Context, to, sql string) ([]string, error)
	// DropSQL is the statement that drops database name if it exists.
	DropSQL(name string) string
	// Endpoint is where a client of the URL to connects (an empty host: the target's own
	// server).
	Endpoint(to string) (Endpoint, error)
	// Identity asks the server at the URL to (an empty host: the target's own server)
	// what identifies it: the same answer through any name, address or socket of one
	// server, a different one from another server.
	Identity(ctx context.Context, to string) (string, error)
}

// CheckNotProduction refuses a drill server that is the target's own server, unless
// drill.allow_production: first by endpoint (the same socket, or the same port on an
// address both host names resolve to), then by asking both servers who they are (the
// same server reached by two names, or over a socket and over TCP). When the target's
// own server does not answer (it may be the very server that was lost, or be reachable
// only from the agent that backs it up), the drill server is compared with what the
// target's server said it was when the backup was taken (Manifest.ServerIdentity);
// without that record the endpoints alone decide.
func CheckNotProduction(ctx context.Context, k DrillKind, env *targets.DrillEnv) error {
	if env.AllowProduction || env.Server == "" {
		return nil
	}
	server, err := DrillURL(k.Scheme(), env, "")
	if err != nil {
		return err
	}
	own := k.Scheme() + ":///"
	shown := server
	if u, err := url.Parse(server); err == nil {
		shown = u.Redacted()
	}
	refuse := func(why msg.Message) error {
		return msg.Fail("db.drill.production", "server", shown, "why", why)
	}
	de, err := k.Endpoint(server)
	if err != nil {
		return err
	}
	oe, err := k.Endpoint(own)
	if err != nil {
		return err
	}
	if same, why := SameEndpoint(ctx, de, oe); same {
		return refuse(why)
	}
	// What the server said it was when the backup drilled was taken: the one answer
	// when the target's own server cannot be reached from here (a target backed up by
	// an agent on its own host, a socket that exists only there; or a server that is
	// down).
	recorded := recordedIdentity(env.Manifest)
	ownID, ownErr := k.Identity(ctx, own)
	if ownErr != nil && recorded == "" {
		if env.Log != nil {
			env.Log.Warn("the target's own server did not say who it is: drill.server compared by endpoint only", "err", oneLine(ownErr.Error()))
		}
		return nil
	}
	drillID, err := k.Identity(ctx, server)
	if err != nil {
		return fmt.Errorf("drill.server %s: %s", shown, oneLine(err.Error()))
	}
	if ownErr == nil && ownID == drillID {
		return refuse(msg.New("db.same.identity", "a", de.String(), "b", oe.String(), "server", ownID))
	}
	if recorded != "" && recorded == drillID {
		return refuse(msg.New("db.same.recorded", "server", drillID))
	}
	return nil
}

// recordedIdentity is Manifest.ServerIdentity of a backup's manifest, or "".
func recordedIdentity(manifest []byte) string {
	var m struct {
		ServerIdentity string `json:"server_identity"`
	}
	if len(manifest) == 0 || json.Unmarshal(manifest, &m) != nil {
		return ""
	}
	return m.ServerIdentity
}

// DrillURL is where a drill restores: database name on the drill server, or on the
// target's own server (an empty host) when the drill may use production.
func DrillURL(scheme string, env *targets.DrillEnv, name string) (string, error) {
	if env.Server == "" {
		if !env.AllowProduction {
			return "", msg.Fail("db.drill.no_server")
		}
		return scheme + ":///" + name, nil
	}
	u, err := url.Parse(env.Server)
	if err != nil {
		return "", fmt.Errorf("drill.server: %v", err)
	}
	if u.Scheme != scheme && !(scheme == "postgres" && u.Scheme == "postgresql") && !(scheme == "mysql" && u.Scheme == "mariadb") {
		return "", msg.Fail("db.drill.not_scheme", "server", u.Redacted(), "scheme", scheme)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DrillSteps returns the drill of a database snapshot: restore it into a scratch
// database on the drill server, compare its tables with the manifest recorded at
// backup (row counts and checksums), run the target's own checks (SQL that must
// return true), and drop the scratch database.
func DrillSteps(k DrillKind, r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	name := env.Name
	var to string
	var created bool
	return []targets.DrillStep{
		{Key: "restore", Activity: msg.New("db.restore.title"),
			Do: func(ctx context.Context) (msg.Message, error) {
				var err error
				if to, err = DrillURL(k.Scheme(), env, name); err != nil {
					return msg.Message{}, err
				}
				if err := CheckNotProduction(ctx, k, env); err != nil {
					return msg.Message{}, err
				}
				if snapshotIsArchive(r) {
					return msg.Message{}, msg.Fail("db.restore.whole_server")
				}
				created = true
				n := countingReader{Reader: r}
				if err := k.Restore(ctx, &n, targets.RestoreRequest{To: to}); err != nil {
					return msg.Message{}, err
				}
				env.Restored(n.bytes.Load())
				return msg.New("db.restore.done", "db", name, "bytes", n.bytes.Load()), nil
			}},
		{Key: "verify-manifest", Activity: msg.New("db.manifest.title"), Verify: true,
			Do: func(ctx context.Context) (msg.Message, error) {
				check := msg.New("db.manifest.check")
				var m Manifest
				if len(env.Manifest) == 0 || json.Unmarshal(env.Manifest, &m) != nil || len(m.Databases) != 1 {
					found := msg.New("db.manifest.none")
					env.Check(targets.DrillCheck{What: check, Passed: false, Found: found})
					return msg.Message{}, &msg.Error{Msg: found}
				}
				got, err := k.Inspect(ctx, to)
				if err != nil {
					return msg.Message{}, err
				}
				if len(got.Databases) != 1 {
					return msg.Message{}, msg.Fail("db.manifest.not_found", "db", name)
				}
				want := m.Databases[0]
				diffs := Compare(want.Tables, got.Databases[0].Tables)
				diffs = append(diffs, CompareObjects(want.Objects, got.Databases[0].Objects)...)
				rows := int64(0)
				for _, t := range want.Tables {
					rows += t.Rows
				}
				found := msg.New("db.manifest.ok", "tables", len(want.Tables), "rows", rows)
				if len(want.Objects) > 0 {
					found = msg.New("db.manifest.objects", "base", found, "objects", CountsText(want.Objects))
				}
				if !want.Exact {
					found = msg.New("db.manifest.inexact", "base", found, "note", want.Note)
				}
				if len(diffs) > 0 {
					found = msg.New("db.manifest.differ", "n", len(diffs), "first", diffs[0])
				}
				env.Check(targets.DrillCheck{What: check, Passed: len(diffs) == 0, Found: found})
				if len(diffs) > 0 {
					return msg.Message{}, &msg.Error{Msg: found}
				}
				return found, nil
			}},
		ChecksStep(env, func(ctx context.Context, sql string) ([]string, error) { return k.Query(ctx, to, sql) }),
		{Key: "cleanup", Activity: msg.New("db.cleanup.title"), Always: true,
			Do: func(ctx context.Context) (msg.Message, error) {
				if !created {
					return msg.New("db.cleanup.nothing"), nil
				}
				server, _ := DrillURL(k.Scheme(), env, "")
				if _, err := k.Query(ctx, server, k.DropSQL(name)); err != nil {
					return msg.Message{}, err
				}
				return msg.New("db.cleanup.done", "db", name), nil
			}},
	}
}

// ChecksStep is the step that runs the target's own drill checks (SQL that must
// return true) through query, on the database a drill restored.
func ChecksStep(env *targets.DrillEnv, query func(ctx context.Context, sql string) ([]string, error)) targets.DrillStep {
	return targets.DrillStep{Key: "verify-checks", Activity: msg.New("db.checks.title"), Verify: true,
		Do: func(ctx context.Context) (msg.Message, error) {
			if len(env.Checks) == 0 {
				return msg.New("db.checks.none"), nil
			}
			failed := 0
			var first msg.Message
			for _, q := range env.Checks {
				lines, err := query(ctx, strings.TrimRight(q, "; \t\n")+";")
				ok := err == nil && len(lines) > 0 && isTrue(lines[len(lines)-1])
				found := msg.New("db.checks.true")
				switch {
				case err != nil:
					found = msg.Of(err)
				case !ok:
					found = msg.New("db.checks.not_true", "got", fmt.Sprintf("%q", strings.Join(lines, " ")))
				}
				env.Check(targets.DrillCheck{What: msg.New("db.checks.check", "sql", q), Passed: ok, Found: found})
				if !ok {
					failed++
					if first.IsZero() {
						first = msg.New("db.checks.first", "sql", q, "found", found)
					}
				}
			}
			if failed > 0 {
				return msg.Message{}, msg.Fail("db.checks.failed", "failed", failed, "n", len(env.Checks), "first", first)
			}
			return msg.New("db.checks.ok", "n", len(env.Checks)), nil
		}}
}

func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "true", "1":
		return true
	}
	return false
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// snapshotIsArchive says whether the snapshot is of a whole server: its file is a tar.
func snapshotIsArchive(r targets.Reader) bool {
	f, err := SnapshotFile(r)
	return err == nil && strings.HasSuffix(f, ".tar")
}

// Counting wraps r to count the bytes a restore reads from the snapshot; n says how
// many so far.
func Counting(r targets.Reader) (cr targets.Reader, n func() int64) {
	c := &countingReader{Reader: r}
	return c, c.bytes.Load
}

// countingReader counts the bytes a restore reads from the snapshot.
type countingReader struct {
	targets.Reader
	bytes atomic.Int64
}

func (c *countingReader) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	rc, err := c.Reader.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	return &countingRC{ReadCloser: rc, n: &c.bytes}, nil
}

// RestoreTo counts the bytes of the files it wrote.
func (c *countingReader) RestoreTo(ctx context.Context, dir string, include []string) error {
	if err := c.Reader.RestoreTo(ctx, dir, include); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, ierr := d.Info(); ierr == nil {
				c.bytes.Add(info.Size())
			}
		}
		return err
	})
}

type countingRC struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingRC) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
