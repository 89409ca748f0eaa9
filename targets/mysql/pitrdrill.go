package mysql

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// A drill of a target in continuous mode proves a restore to a point in time, which
// is what such a target is for. Its steps are those of a continuous PostgreSQL
// target's drill (targets/postgres pitrdrill.go) with the binary log for the WAL:
// probe closes the binlog file holding the probe rows (FLUSH BINARY LOGS); binlog
// waits until the DRC drilled holds batches up to that file, and restores every batch
// from the dump's file on into the scratch folder; restore is the target's own restore
// to a point in time (pitr.go), into a new scratch database on drill.server (where a
// dump drill's goes: production only with drill.allow_production); cleanup drops it.
// Binlog events carry whole seconds and a replay stops before the first event of T's
// second, so more than a second lies between each probe row and T.
//
// The probe rows are in the table cadang_drill_probe of the target's database, which
// the first drill creates: the target's user then needs CREATE, INSERT and DELETE on
// that database, besides RELOAD (FLUSH BINARY LOGS) and BINLOG MONITOR (SHOW MASTER
// STATUS) that mode: continuous already needs.

// probeGap is the time between each probe row and T: more than the second binlog
// events are stamped with.
const probeGap = "1.2"

// pitrDrill is the state of one drill of a continuous target.
type pitrDrill struct {
	dbdump.PITRDrill
	t       *Target
	r       targets.Reader
	file    string // the binlog file that holds the row after T
	to      string // the scratch database's URL
	created bool   // the scratch database (the scratch data directory) may exist
	// phys is, for a physical backup (method: physical), the scratch server the copy
	// replayed up to T starts as (physicaldrill.go): no drill.server is used.
	phys *physicalDrill
}

func (t *Target) pitrDrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	d := &pitrDrill{t: t, r: r}
	d.PITRDrill = dbdump.PITRDrill{Env: env, LogKey: "binlog", LogTitle: msg.New("pitr.binlog.title"),
		RestoreTitle: msg.New("pitr.binlog.restore.title"), CleanupTitle: msg.New("pitr.binlog.cleanup.title"),
		Probe: d.probe, Log: d.binlog, Restore: d.restore, Query: d.query, Cleanup: d.cleanup}
	// The steps are chosen before the engine picks the snapshot (r is not readable
	// yet): by the configuration; the restore step refuses a snapshot of the other kind.
	if t.cfg.Method != MethodPhysical {
		return d.Steps()
	}
	// The whole server to T: the copy prepared and replayed up to T, then started for
	// the probe's verification, CHECK TABLE of every table and drill.checks.
	d.phys = t.newPhysicalDrill(r, env)
	d.phys.pitr = true
	d.RestoreTitle, d.CleanupTitle = msg.New("pitr.binlog.physical.restore.title"), msg.New("pitr.binlog.physical.cleanup.title")
	var steps []targets.DrillStep
	for _, st := range d.Steps() {
		steps = append(steps, st)
		switch st.Key {
		case "restore":
			steps = append(steps, d.phys.startStep())
		case "verify-probe":
			steps = append(steps, d.phys.verifyStep())
		}
	}
	return steps
}

// production runs sqls one after the other in a session on the target's database at
// production, and returns what the last one printed.
func (d *pitrDrill) production(ctx context.Context, sqls ...string) (string, error) {
	p, err := dbdump.NewPrivate("")
	if err != nil {
		return "", err
	}
	defer p.Close()
	c := d.t.conn()
	if err := c.openSecret(p); err != nil {
		return "", err
	}
	s, err := c.session(ctx, d.t.cfg.Database)
	if err != nil {
		return "", err
	}
	defer s.Close()
	var lines []string
	for _, sql := range sqls {
		if lines, err = s.Query(ctx, sql); err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(strings.Join(lines, "")), nil
}

func (d *pitrDrill) probe(ctx context.Context) (msg.Message, error) {
	if d.Env.WAL == nil {
		return msg.Message{}, errors.New("no archived binary log was given to the drill")
	}
	// Where the drill restores is checked before anything is written at production
	// (a physical copy goes to the drill's own scratch server, whose tools must fit
	// the backup's MariaDB).
	if d.phys != nil {
		if err := d.t.checkPhysicalVersions(ctx, d.r, true); err != nil {
			return msg.Message{}, err
		}
	} else {
		k := drillKind{d.t}
		var err error
		if d.to, err = dbdump.DrillURL(k.Scheme(), d.Env, d.Env.Name); err != nil {
			return msg.Message{}, err
		}
		if err := dbdump.CheckNotProduction(ctx, k, d.Env); err != nil {
			return msg.Message{}, err
		}
	}
	d.NewToken()
	d.Probed = true
	db := d.t.cfg.Database
	if _, err := d.production(ctx, `CREATE TABLE IF NOT EXISTS `+dbdump.ProbeTable+
		` (token varchar(100) NOT NULL PRIMARY KEY, written timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;`,
		`INSERT INTO `+dbdump.ProbeTable+` (token) VALUES (`+sqlString(d.Token+"-before")+`);`); err != nil {
		return msg.Message{}, msg.Fail("pitr.binlog.probe.table", "table", dbdump.ProbeTable, "db", db, "err", err.Error())
	}
	// Each statement commits on its own (autocommit): the first row's event is stamped
	// a second before T's, the second row's a second after it.
	at, err := d.production(ctx, `DO SLEEP(`+probeGap+`);`, `SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ');`)
	if err != nil {
		return msg.Message{}, err
	}
	if d.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return msg.Message{}, fmt.Errorf("the server's time %q: %w", at, err)
	}
	status, err := d.production(ctx, `DO SLEEP(`+probeGap+`);`,
		`INSERT INTO `+dbdump.ProbeTable+` (token) VALUES (`+sqlString(d.Token+"-after")+`);`, `SHOW MASTER STATUS;`)
	if err != nil {
		return msg.Message{}, err
	}
	// The file current after the second row holds it (or a later one does, if the
	// archiver flushed meanwhile: the wait then asks for a little more).
	d.file, _, _ = strings.Cut(status, "\t")
	if !ValidBinlogName(d.file) {
		return msg.Message{}, fmt.Errorf("SHOW MASTER STATUS printed %.100q: the server writes no binary log (log_bin)", status)
	}
	// Close it now rather than at the archiver's next flush.
	if _, err := d.production(ctx, `FLUSH BINARY LOGS;`); err != nil {
		return msg.Message{}, fmt.Errorf("target %s: FLUSH BINARY LOGS: %w", d.t.name, err)
	}
	return msg.New("pitr.binlog.probe.done", "table", dbdump.ProbeTable, "time", d.At.Format("2006-01-02 15:04:05.000000Z07:00"), "file", d.file), nil
}

// binlogDir is where the archived binary log is restored.
func (d *pitrDrill) binlogDir() string { return filepath.Join(d.Env.Scratch, "binlog") }

func (d *pitrDrill) binlog(ctx context.Context) (msg.Message, error) {
	n, err := d.Env.WAL.RestoreWAL(ctx, d.file, d.binlogDir())
	if err != nil {
		return msg.Message{}, err
	}
	return msg.New("pitr.binlog.done", "n", n, "file", d.file), nil
}

func (d *pitrDrill) restore(ctx context.Context) (msg.Message, error) {
	if d.phys != nil {
		if _, err := physicalSource(d.r); err != nil {
			return msg.Message{}, err
		}
		d.created = true
		if err := d.t.Restore(ctx, d.r, targets.RestoreRequest{To: d.phys.data, Options: map[string]string{
			OptBinlogDir: d.binlogDir(), OptToTime: d.At.Format(time.RFC3339Nano)}}); err != nil {
			return msg.Message{}, err
		}
		n := d.restoredBytes(ctx)
		d.Env.Restored(n)
		return msg.New("pitr.binlog.physical.restore.done", "bytes", n, "time", d.At.Format("2006-01-02 15:04:05Z07:00")), nil
	}
	if d.to == "" {
		return msg.Message{}, errors.New("the probe did not choose where the drill restores")
	}
	d.created = true
	if err := d.t.Restore(ctx, d.r, targets.RestoreRequest{To: d.to, Options: map[string]string{
		OptBinlogDir: d.binlogDir(), OptToTime: d.At.Format(time.RFC3339Nano)}}); err != nil {
		return msg.Message{}, err
	}
	n := d.restoredBytes(ctx)
	d.Env.Restored(n)
	return msg.New("pitr.binlog.restore.done", "db", d.Env.Name, "bytes", n, "time", d.At.Format("2006-01-02 15:04:05Z07:00")), nil
}

// restoredBytes is the size of the dump (when the reader lists the snapshot's files)
// and of the binlog files restored: what the restore read from the DRC.
func (d *pitrDrill) restoredBytes(ctx context.Context) int64 {
	var n int64
	if ls, ok := d.r.(targets.Lister); ok {
		src, _ := dbdump.SnapshotFile(d.r)
		if entries, err := ls.List(ctx); err == nil {
			for _, e := range entries {
				if e.Path == src {
					n += int64(e.Size)
				}
			}
		}
	}
	_ = filepath.WalkDir(d.binlogDir(), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, ierr := e.Info(); ierr == nil {
				n += info.Size()
			}
		}
		return err
	})
	return n
}

// query runs sql in the scratch database.
func (d *pitrDrill) query(ctx context.Context, sql string) ([]string, error) {
	if !d.created {
		return nil, errors.New("the scratch database was not restored")
	}
	if d.phys != nil {
		return d.phys.srv.query(ctx, d.t.cfg.Database, sql)
	}
	return drillKind{d.t}.Query(ctx, d.to, sql)
}

func (d *pitrDrill) cleanup(ctx context.Context) (msg.Message, error) {
	if !d.created && !d.Probed {
		return msg.New("pitr.cleanup.nothing"), nil
	}
	done := msg.New("pitr.binlog.cleanup.done", "db", d.Env.Name, "table", dbdump.ProbeTable)
	if d.phys != nil {
		// The probe rows go whatever became of the scratch copy.
		_, err := d.phys.cleanup(ctx)
		if d.Probed {
			err = errors.Join(err, d.deleteProbe(ctx))
		}
		if err != nil {
			return msg.Message{}, err
		}
		return msg.New("pitr.binlog.physical.cleanup.done", "table", dbdump.ProbeTable), nil
	}
	if d.created {
		k := drillKind{d.t}
		server, _ := dbdump.DrillURL(k.Scheme(), d.Env, "")
		if _, err := k.Query(ctx, server, k.DropSQL(d.Env.Name)); err != nil {
			return msg.Message{}, err
		}
	}
	if d.Probed {
		if err := d.deleteProbe(ctx); err != nil {
			return msg.Message{}, err
		}
	}
	return done, nil
}

// deleteProbe deletes this drill's rows at production.
func (d *pitrDrill) deleteProbe(ctx context.Context) error {
	_, err := d.production(ctx, `DELETE FROM `+dbdump.ProbeTable+` WHERE token LIKE `+sqlString(d.Token+"-%")+`;`)
	if err != nil && !strings.Contains(err.Error(), "doesn't exist") {
		return err
	}
	return nil
}
