package mysql

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// A whole server to a point in time (method: physical in mode: continuous,
// docs/continuous.md): the physical backup is extracted and prepared into the folder
// asked for, a scratch mariadbd of cadang's own starts on it (no network, a private
// socket, --skip-grant-tables, no binary log of its own), the archived binary log is
// replayed into it from the copy's position (mariadb-backup records it in the copy)
// up to the time asked, every database's events, and the server is stopped cleanly:
// the folder is then a data directory at that time, which the operator starts a
// server on. The replay's session first loads the grant tables (FLUSH PRIVILEGES: a
// session of a server started with --skip-grant-tables keeps its rights), so that the
// accounts created or changed in the log (CREATE USER, GRANT) are replayed too.

// binlogInfoFiles are the files mariadb-backup writes into its copy with the binary
// log position the copy is consistent with: "FILE\tPOSITION\tGTID" (the first name is
// MariaDB 11's, the second older releases').
var binlogInfoFiles = []string{"mariadb_backup_binlog_info", "xtrabackup_binlog_info"}

// copyPosition reads the binary log position of a prepared copy in dir.
func copyPosition(dir string) (string, int64, error) {
	for _, name := range binlogInfoFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", 0, err
		}
		f := strings.Fields(string(b))
		if len(f) < 2 || !ValidBinlogName(f[0]) {
			return "", 0, fmt.Errorf("%s of the copy holds %.100q, not a binary log position", name, b)
		}
		pos, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return "", 0, fmt.Errorf("%s of the copy: position %q: %w", name, f[1], err)
		}
		return f[0], pos, nil
	}
	return "", 0, errors.New("the physical backup records no binary log position (the server wrote no binary log when it was taken): restore it as it is, without --to-time")
}

// checkPhysicalPITR checks a point-in-time restore of a physical backup: the options,
// and a folder (a data directory is what comes back) for the destination. It returns
// the time to stop at (zero: the end of the archive).
func (t *Target) checkPhysicalPITR(req targets.RestoreRequest) (time.Time, error) {
	until, err := pitrOptions(req.Options)
	if err != nil {
		return until, err
	}
	if dbdump.IsURL(req.To) {
		return until, fmt.Errorf("restore destination %s: a physical backup (method: physical) is restored to a point in time as a data directory: give a folder (--to DIR)", redacted(req.To))
	}
	if err := dbdump.CheckWhole("mysql", req.Include); err != nil {
		return until, err
	}
	return until, targets.CheckDir(req.To, req.Force)
}

// restorePhysicalPITR restores the physical backup src into the folder req.To and
// replays the binary log restored in req.Options[OptBinlogDir] into it.
func (t *Target) restorePhysicalPITR(ctx context.Context, r targets.Reader, req targets.RestoreRequest, src string) (err error) {
	until, err := t.checkPhysicalPITR(req)
	if err != nil {
		return err
	}
	if err := t.checkPhysicalVersions(ctx, r, true); err != nil {
		return err
	}
	dest, dir := req.To, req.Options[OptBinlogDir]
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%s %q must be an absolute path", OptBinlogDir, dir)
	}
	// A folder that held nothing before is emptied again when the restore fails: a
	// copy replayed half-way is not the server at the time asked.
	fresh := targets.CheckDir(dest, false) == nil
	defer func() {
		if err != nil && fresh {
			if rerr := emptyDir(dest); rerr != nil {
				r.Logger().Error("cannot empty the folder of a failed restore", "dir", dest, "err", rerr)
			}
		}
	}()
	if err := t.preparePhysical(ctx, r, dest, req.Force, src); err != nil {
		return err
	}
	file, pos, err := copyPosition(dest)
	if err != nil {
		return err
	}
	chain, err := replayChain(dir, file, until)
	if err != nil {
		return err
	}
	log := r.Logger()
	if len(chain) == 0 {
		log.Warn(nothingArchived, "binlog_file", file)
		return ownedByMySQL(r, dest)
	}
	log.Info("replaying the binary log into the restored data directory", "dir", dest, "files", len(chain), "first", chain[0],
		"position", pos, "last", chain[len(chain)-1], "until", req.Options[OptToTime])
	if err := t.replayServer(ctx, dest, replayArgs(dir, chain, pos, until)); err != nil {
		return err
	}
	return ownedByMySQL(r, dest)
}

// replayServer starts a scratch server on the data directory data, replays
// mariadb-binlog ARGS into it and stops it cleanly.
func (t *Target) replayServer(ctx context.Context, data string, args []string) (err error) {
	private, err := os.MkdirTemp("", "cadang-mariadbd-") // the socket's path must stay short
	if err != nil {
		return err
	}
	defer os.RemoveAll(private)
	srv := &scratchServer{binDir: t.cfg.BinDir, data: data, dir: private}
	if _, err := srv.start(ctx); err != nil {
		_ = srv.stop()
		return fmt.Errorf("starting a server on the restored data directory: %w", err)
	}
	rs := &restorer{c: srv.conn()}
	if err := rs.replay(ctx, "", args, "FLUSH PRIVILEGES;\n"); err != nil {
		_ = srv.stop()
		return fmt.Errorf("replaying the binary log into the restored data directory: %w", err)
	}
	if err := srv.stop(); err != nil {
		return fmt.Errorf("stopping the server on the restored data directory: %w", err)
	}
	return nil
}

// emptyDir removes what dir holds.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
