package runs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
	"github.com/cadang/cadang/targets/mysql"
)

// A restore of a continuously protected MariaDB target into a database (a mysql://
// destination; a folder for physical backups) without a snapshot id is a point-in-time
// restore: the newest good dump (or physical backup)
// taken before the time asked (or the newest of all), the binlog snapshots that hold
// files from the one current when that dump started restored into a scratch folder,
// and the target's own restore (targets/mysql) loads the dump into the new database and
// replays the binary log from the dump's position up to the time.

// isBinlogPITR reports whether a restore request is a point-in-time restore of t: into
// a database (a mysql:// destination), or with physical backups (method: physical)
// into a folder, the whole server's data directory.
func isBinlogPITR(t *Target, req api.RestoreRequest) bool {
	_, ok := mysql.IsContinuous(t.Cfg.Spec)
	return ok && (req.Snapshot == "" || req.Snapshot == "latest") && (dbdump.IsURL(req.To) || mysql.IsPhysicalSpec(t.Cfg.Spec))
}

// binlogRange reads a batch's tag, binlog=FIRST-LAST (file names may hold dashes
// themselves: mysql-bin.000001-mysql-bin.000003).
func binlogRange(s drc.Snapshot) (first, last string, ok bool) {
	v := s.Tag(mysql.TagBinlog)
	for i := strings.IndexByte(v, '-'); i >= 0; {
		if mysql.ValidBinlogName(v[:i]) && mysql.ValidBinlogName(v[i+1:]) {
			return v[:i], v[i+1:], true
		}
		j := strings.IndexByte(v[i+1:], '-')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return "", "", false
}

// restoreBinlogPITR picks the dump and the binlog batches, restores the batches, and
// hands the dump to the target.
func (x *Runner) restoreBinlogPITR(ctx context.Context, j *queue.Job, t *Target, repo *drc.Repo, req api.RestoreRequest, rd *reader) error {
	r := j.Run
	var until time.Time
	if s := req.Options[mysql.OptToTime]; s != "" {
		var err error
		if until, err = mysql.ParseTime(s); err != nil {
			return err
		}
	}
	dump, batches, err := x.baseAndLog(ctx, repo, r.Target, until, binlogLog)
	if err != nil {
		return err
	}
	r.SnapshotID = dump.ID
	r.Notes = append(r.Notes, fmt.Sprintf("point-in-time restore: dump %s of %s and %d binlog snapshot(s)", dump.ShortID,
		dump.Time.Format(time.RFC3339), len(batches)))
	dir := filepath.Join(x.cfg.StateDir, "scratch", fmt.Sprintf("run-%d-binlog", r.ID))
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			rd.log.Error("cannot remove scratch", "dir", dir, "err", err)
		}
	}()
	if err := x.restoreLog(ctx, j, repo, binlogLog, batches, dir, rd); err != nil {
		return err
	}
	opts := map[string]string{mysql.OptBinlogDir: dir}
	for k, v := range req.Options {
		opts[k] = v
	}
	rd.snap = dump
	j.SetProgress(func(p *api.Progress) { p.Phase = "restore" })
	return t.Impl.Restore(ctx, rd, targets.RestoreRequest{To: req.To, Force: req.Force, Options: opts})
}
