package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// A drill of a target in continuous mode proves a restore to a point in time, which
// is what such a target is for:
//
//  1. probe: at the production database it writes one row, notes the server's time T,
//     writes a second row, and asks the server to close its WAL segment;
//  2. wal: it waits until the DRC drilled holds the archived WAL of both rows (the
//     daemon's archive batches, replicated like any snapshot to a secondary), and
//     restores every WAL snapshot since the newest base backup into the scratch folder;
//  3. restore: it restores that base backup into a scratch data directory and starts a
//     server there that recovers to T and promotes;
//  4. verify-probe: the row written before T is there, the one written after it is not;
//  5. verify-checks: the target's drill.checks, on the recovered server;
//  6. cleanup: it stops the server and deletes its two rows at production.
//
// The rows are in the table cadang_drill_probe of the target's database, which the
// first drill creates (the target's user then needs CREATE on the schema in its
// search_path: `cadang pg setup` says so). Nothing else is written at production. The
// recovered server listens on a socket inside the private scratch folder only, so it
// trusts local connections: the production pg_hba.conf does not apply to it.

// pitrDrill is the state of one drill of a continuous target.
type pitrDrill struct {
	dbdump.PITRDrill
	t       *Target
	r       targets.Reader
	segment string // the WAL segment that holds the row after T
	work    string // where the WAL and the data directory are restored (workDir)
	server  *recoveredServer
}

func (t *Target) pitrDrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	d := &pitrDrill{t: t, r: r}
	d.PITRDrill = dbdump.PITRDrill{Env: env, LogKey: "wal", LogTitle: msg.New("pitr.wal.title"),
		RestoreTitle: msg.New("pitr.restore.title"), CleanupTitle: msg.New("pitr.cleanup.title"),
		Probe: d.probe, Log: d.wal, Restore: d.restore, Query: d.query, Cleanup: d.cleanup}
	return d.Steps()
}

// production opens a session on the target's database.
func (d *pitrDrill) production(ctx context.Context) (*dbdump.Session, error) {
	p := &dbdump.Private{}
	defer p.Close()
	c := d.t.conn()
	if err := c.openSecret(p); err != nil {
		return nil, err
	}
	return c.session(ctx, d.t.cfg.Database, "cadang drill")
}

func (d *pitrDrill) probe(ctx context.Context) (msg.Message, error) {
	if d.Env.WAL == nil {
		return msg.Message{}, errors.New("no archived WAL was given to the drill")
	}
	d.NewToken()
	s, err := d.production(ctx)
	if err != nil {
		return msg.Message{}, err
	}
	defer s.Close()
	d.Probed = true
	q := func(sql string) (string, error) {
		lines, err := s.Query(ctx, sql)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(strings.Join(lines, "")), nil
	}
	if _, err := q(`CREATE TABLE IF NOT EXISTS ` + dbdump.ProbeTable + ` (token text PRIMARY KEY, written timestamptz NOT NULL DEFAULT clock_timestamp());`); err != nil {
		return msg.Message{}, msg.Fail("pitr.probe.table", "table", dbdump.ProbeTable, "db", d.t.cfg.Database, "err", err.Error())
	}
	// Each statement commits on its own (psql autocommits): the first row's commit
	// precedes T, the second row's follows it.
	if _, err := q(`INSERT INTO ` + dbdump.ProbeTable + ` (token) VALUES (` + sqlLiteral(d.Token+"-before") + `); SELECT pg_sleep(0.02);`); err != nil {
		return msg.Message{}, err
	}
	at, err := q(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');`)
	if err != nil {
		return msg.Message{}, err
	}
	if d.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return msg.Message{}, fmt.Errorf("the server's time %q: %w", at, err)
	}
	if _, err := q(`SELECT pg_sleep(0.02); INSERT INTO ` + dbdump.ProbeTable + ` (token) VALUES (` + sqlLiteral(d.Token+"-after") + `);`); err != nil {
		return msg.Message{}, err
	}
	if d.segment, err = q(`SELECT pg_walfile_name(pg_current_wal_lsn());`); err != nil {
		return msg.Message{}, err
	}
	// Close the segment now rather than at archive_timeout, where the role may.
	if can, err := q(`SELECT has_function_privilege('pg_switch_wal()', 'EXECUTE');`); err == nil && can == "t" {
		if _, err := q(`SELECT pg_switch_wal();`); err != nil {
			return msg.Message{}, err
		}
	}
	return msg.New("pitr.probe.done", "table", dbdump.ProbeTable, "time", d.At.Format("2006-01-02 15:04:05.000000Z07:00"), "segment", d.segment), nil
}

// workDir makes the folder the WAL and the data directory are restored into: the
// drill's scratch folder when cadang runs as the server's user, else (cadang as root, the
// server as postgres, which cannot enter cadang's state_dir) a private folder in the
// postgres user's home (/var/lib/postgresql on Debian: beside the clusters, where the
// space for a copy of one usually is), owned by it and removed by the clean-up.
func (d *pitrDrill) workDir() (string, error) {
	if d.work != "" {
		return d.work, nil
	}
	if os.Geteuid() != 0 {
		d.work = d.Env.Scratch
		return d.work, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", errors.New("cadang runs as root and there is no postgres user to run the restored server as")
	}
	dir, err := os.MkdirTemp(u.HomeDir, d.Env.Name+"-")
	if err != nil {
		return "", err
	}
	d.work = dir
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return dir, os.Chown(dir, uid, gid)
}

func (d *pitrDrill) wal(ctx context.Context) (msg.Message, error) {
	work, err := d.workDir()
	if err != nil {
		return msg.Message{}, err
	}
	n, err := d.Env.WAL.RestoreWAL(ctx, d.segment, filepath.Join(work, "wal"))
	if err != nil {
		return msg.Message{}, err
	}
	return msg.New("pitr.wal.done", "n", n, "segment", d.segment), nil
}

func (d *pitrDrill) restore(ctx context.Context) (msg.Message, error) {
	work, err := d.workDir()
	if err != nil {
		return msg.Message{}, err
	}
	dir := filepath.Join(work, "data")
	n := &countingReader{Reader: d.r}
	cred, err := prepareBase(ctx, n, targets.RestoreRequest{To: dir, Options: map[string]string{
		OptWALDir: filepath.Join(work, "wal"), OptToTime: d.At.Format(time.RFC3339Nano)}})
	if err != nil {
		return msg.Message{}, err
	}
	d.Env.Restored(n.n)
	// Only local connections reach it (its socket is in the 0700 data directory).
	hba := "# written by cadang drill: the socket is in this private folder\nlocal all all trust\n"
	if err := os.WriteFile(filepath.Join(dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return msg.Message{}, err
	}
	if cred != nil {
		if err := os.Chown(filepath.Join(dir, "pg_hba.conf"), int(cred.Uid), int(cred.Gid)); err != nil {
			return msg.Message{}, err
		}
	}
	d.server, err = startRecovered(ctx, d.t.conn().bin("postgres"), dir, cred)
	if err != nil {
		return msg.Message{}, err
	}
	return msg.New("pitr.restore.done", "bytes", n.n, "stopped", d.server.res.StoppedAt), nil
}

// query runs sql on the recovered server, in the target's database.
func (d *pitrDrill) query(ctx context.Context, sql string) ([]string, error) {
	if d.server == nil || d.server.cmd == nil {
		return nil, errors.New("the recovered server is not running")
	}
	c := conn{BinDir: d.t.cfg.BinDir, Host: d.server.dir, Port: d.server.Port, User: d.t.cfg.User}
	s, err := c.session(ctx, d.t.cfg.Database, "cadang drill")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Query(ctx, sql)
}

func (d *pitrDrill) cleanup(ctx context.Context) (msg.Message, error) {
	if d.server != nil {
		d.server.stop()
	}
	if d.work != "" && d.work != d.Env.Scratch {
		if err := os.RemoveAll(d.work); err != nil {
			return msg.Message{}, err
		}
	}
	if !d.Probed {
		return msg.New("pitr.cleanup.nothing"), nil
	}
	s, err := d.production(ctx)
	if err == nil {
		_, err = s.Query(ctx, `DELETE FROM `+dbdump.ProbeTable+` WHERE token LIKE `+sqlLiteral(d.Token+"-%")+`;`)
		s.Close()
	}
	if err != nil && !strings.Contains(err.Error(), "does not exist") {
		return msg.Message{}, err
	}
	return msg.New("pitr.cleanup.done", "table", dbdump.ProbeTable), nil
}

// countingReader counts the bytes of the base backup read.
type countingReader struct {
	targets.Reader
	n int64
}

func (c *countingReader) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	rc, err := c.Reader.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	return &countedFile{ReadCloser: rc, n: &c.n}, nil
}

type countedFile struct {
	io.ReadCloser
	n *int64
}

func (f *countedFile) Read(p []byte) (int, error) {
	k, err := f.ReadCloser.Read(p)
	*f.n += int64(k)
	return k, err
}
