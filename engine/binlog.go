package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/internal/oneline"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/mysql"
)

// Continuous MariaDB protection (docs/continuous.md): every archive interval the daemon
// closes the server's current binlog file (FLUSH BINARY LOGS, skipped when nothing was
// written) and copies the closed files not yet archived into the target's spool under
// state_dir (targets/mysql FetchBinlogs); the spool becomes one snapshot of the target
// (a backup run with reason wal-archive, tag binlog=FIRST-LAST, replicated like any
// snapshot), and the files leave it only once that run recorded its snapshot. A file
// purged from the server before it was archived is a hole in the chain: the wal-gap
// alarm names it.

func binlogSpoolDir(stateDir, target string) string {
	return filepath.Join(stateDir, "binlog", "spool", target)
}

// binlogFetcher is a target that copies its server's closed binlog files into a spool
// (*mysql.Target).
type binlogFetcher interface {
	FetchBinlogs(ctx context.Context, spool *mysql.BinlogSpool) (mysql.Fetched, error)
}

// binlogTarget returns a mysql target in continuous mode, its archive interval and
// its fetcher.
func (d *Daemon) binlogTarget(name string) (*target, time.Duration, binlogFetcher, bool) {
	t, ok := d.conf().targets[name]
	if !ok {
		return nil, 0, nil, false
	}
	iv, ok := mysql.IsContinuous(t.Cfg.Spec)
	if !ok {
		return nil, 0, nil, false
	}
	f, ok := t.Impl.(binlogFetcher)
	return t, iv, f, ok
}

// startBinlog runs the binlog archiver until ctx ends; the channel is closed once it
// stopped. It looks at the targets every second, so that a reload that adds a
// continuous target is followed.
func (d *Daemon) startBinlog(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	st := newWALState()
	go func() {
		defer close(done)
		d.whilePrimary(ctx, func() { d.binlogDue(ctx, st) })
	}()
	return done
}

// binlogDue fetches, then queues, a batch of every continuous mysql target whose
// interval has passed.
func (d *Daemon) binlogDue(ctx context.Context, st *walState) {
	now := time.Now()
	for name := range d.conf().targets {
		t, iv, f, ok := d.binlogTarget(name)
		if !ok {
			continue
		}
		release, due := st.claim(name, iv, now)
		if !due {
			continue
		}
		go func() {
			if err := d.archiveBinlog(ctx, t, f, iv, release); err != nil {
				d.log.Warn("binlog batch not archived", "target", name, "err", err)
				release()
			}
		}()
	}
}

// archiveBinlog copies the closed binlog files into the spool, checks the chain, and
// queues one run that stores the spool as one snapshot if it holds anything; done is
// called when that run ended. Files already spooled by an earlier batch whose run
// failed go with the new ones.
func (d *Daemon) archiveBinlog(ctx context.Context, t *target, f binlogFetcher, iv time.Duration, done func()) error {
	cf := d.conf()
	spool, err := mysql.OpenBinlogSpool(binlogSpoolDir(cf.cfg.StateDir, t.Cfg.Name))
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, max(iv, time.Minute))
	_, ferr := f.FetchBinlogs(fctx, spool)
	cancel()
	if ferr != nil {
		// What was spooled before is stored all the same.
		d.log.Warn("binlog files not fetched", "target", t.Cfg.Name, "err", ferr)
	}
	names, err := spool.Names()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		done()
		return nil
	}
	d.binlogGaps(t, spool)
	tag := mysql.TagBinlog + "=" + names[0] + "-" + names[len(names)-1]
	cfg := *t.Cfg
	cfg.Hooks = targets.Hooks{} // the target's hooks are for its backups, not for every batch
	batch := &runs.Target{Cfg: &cfg, Impl: binlogBatch{dir: spool.Dir, names: names, tag: tag}}
	r := &catalog.Run{Op: "backup", Target: t.Cfg.Name, Agency: t.Cfg.Agency, Kind: t.Cfg.Kind, DRC: d.sites.primary().Name, Reason: reasonWALArchive}
	_, err = d.submitAll([]submission{{run: r, prio: queue.PriorityScheduled, key: "binlog/" + t.Cfg.Name, exec: func(ctx context.Context, j *queue.Job) error {
		defer done()
		err := cf.runs.Backup(ctx, j, batch)
		if err == nil && j.Run.Status == catalog.Succeeded {
			// Recorded (and on its way to the other DRCs): the spool may let go.
			if rerr := spool.Remove(names); rerr != nil {
				d.log.Error("binlog spool: archived files not removed", "target", t.Cfg.Name, "err", rerr)
			}
		}
		return err
	}}}, nil)
	return err
}

// binlogGaps raises the wal-gap alarm for each hole in the chain from the last archived
// binlog file through the spool.
func (d *Daemon) binlogGaps(t *target, spool *mysql.BinlogSpool) {
	gaps, err := spool.Gaps()
	if err != nil {
		d.log.Error("binlog spool: chain not checked", "target", t.Cfg.Name, "err", err)
		return
	}
	for _, g := range gaps {
		d.log.Error("binlog chain broken", "target", t.Cfg.Name, "missing", g.Missing, "to", g.Next)
		d.raiseLogGap(t, g.Missing, oneline.Of(g.String())+": a restore cannot go past "+g.After+
			" until a new full backup (cadang backup "+t.Cfg.Name+")")
	}
}

// binlogBatch is the "target" of a binlog batch run: the spooled files, stored under
// the root of the snapshot by name.
type binlogBatch struct {
	dir   string
	names []string
	tag   string
}

func (b binlogBatch) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	if err := w.Files(ctx, targets.FilesSpec{Dir: b.dir, Paths: b.names, Tags: []string{b.tag}}); err != nil {
		return nil, err
	}
	return &targets.BackupResult{Notes: []string{fmt.Sprintf("binlog archive: %d files, %s", len(b.names), b.names[0]+"-"+b.names[len(b.names)-1])}}, nil
}

func (binlogBatch) Restore(context.Context, targets.Reader, targets.RestoreRequest) error {
	return errors.New("a binlog batch is replayed after its dump (cadang restore TARGET --to-time T --to mysql://…/NEWDB, or --to DIR with method: physical)")
}

// chainRestarted resolves the wal-gap alarms of a continuous target (PostgreSQL or
// MariaDB) once a full backup of it (a base backup, a dump) succeeded: a restore to a
// time after it no longer needs what the hole lost. A pass of the replication does not
// resolve them (engine/replication).
func (d *Daemon) chainRestarted(j *queue.Job, t *target) {
	r := j.Run
	if r.Reason == reasonWALArchive || r.Status != catalog.Succeeded {
		return
	}
	if _, ok := continuousRPO(t); !ok {
		return
	}
	resolved, err := d.cat.ResolveAlarms(t.Cfg.Agency, []string{d.sites.primary().Name}, func(a catalog.Alarm) bool {
		return a.Kind != AlarmWALGap || !strings.HasPrefix(a.Object, t.Cfg.Name+"/")
	}, time.Now())
	if err != nil {
		d.log.Error("catalog: alarm", "err", err)
	}
	for _, a := range resolved {
		d.log.Info("chain alarm resolved by a full backup", "alarm", a.ID, "target", t.Cfg.Name, "object", a.Object, "run", r.ID)
	}
}
