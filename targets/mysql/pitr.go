package mysql

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// Restore options of a point-in-time restore (RestoreRequest.Options).
const (
	// OptBinlogDir is the folder the archived binlog files were restored to (the engine
	// restores the binlog snapshots there): the dump is loaded, then the binary log
	// replayed from the dump's position.
	OptBinlogDir = "binlog_dir"
	// OptToTime stops the replay before the first event of that second: RFC 3339 or
	// "2006-01-02 15:04:05-07". Without it the whole archive is replayed.
	OptToTime = "to_time"
)

// ParseTime reads a --to-time value: RFC 3339, or "2006-01-02 15:04:05" with a zone
// offset ("+07", "+07:00", "Z").
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05Z07", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: give it with its zone, as 2026-12-01 10:42:00+07 or RFC 3339", s)
}

// IsPITR reports whether a restore request is a point-in-time restore (the binlog folder
// is given).
func IsPITR(req targets.RestoreRequest) bool { return req.Options[OptBinlogDir] != "" }

// checkPITR checks the options and the destination of a point-in-time restore, and
// returns the time to stop at (zero: the end of the archive).
func (t *Target) checkPITR(req targets.RestoreRequest) (time.Time, error) {
	until, err := pitrOptions(req.Options)
	if err != nil {
		return until, err
	}
	if !dbdump.IsURL(req.To) {
		return until, fmt.Errorf("a point-in-time restore replays the binary log into a new database: give mysql://host:port/NEWDB, not %q", req.To)
	}
	if req.Force {
		return until, errors.New("a point-in-time restore goes into a new database: force is refused")
	}
	_, _, db, err := t.parseURL(req.To)
	if err != nil {
		return until, err
	}
	if db == "" {
		return until, fmt.Errorf("restore destination %s names no database: use mysql://host:port/NEWDB", redacted(req.To))
	}
	return until, checkName(db)
}

// pitrOptions checks the options of a point-in-time restore and returns the time to
// stop at (zero: the end of the archive).
func pitrOptions(opts map[string]string) (time.Time, error) {
	var until time.Time
	for k, v := range opts {
		switch k {
		case OptBinlogDir:
			if !filepath.IsAbs(v) {
				return until, fmt.Errorf("%s %q must be an absolute path", k, v)
			}
		case OptToTime:
			var err error
			if until, err = ParseTime(v); err != nil {
				return until, err
			}
		default:
			return until, fmt.Errorf("unknown option %q for a point-in-time restore (use %s, %s)", k, OptBinlogDir, OptToTime)
		}
	}
	return until, nil
}

// changeMaster is the line --master-data=2 writes near the top of a dump.
var changeMaster = regexp.MustCompile(`^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+);`)

// dumpPosition reads the binlog file and position a dump is consistent with from its
// first lines.
func dumpPosition(r io.Reader) (string, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 0; n < 200; n++ {
		line, err := br.ReadString('\n')
		if m := changeMaster.FindStringSubmatch(line); m != nil {
			pos, perr := strconv.ParseInt(m[2], 10, 64)
			return m[1], pos, perr
		}
		if err != nil || strings.HasPrefix(line, "CREATE TABLE") || strings.HasPrefix(line, "INSERT INTO") {
			break
		}
	}
	return "", 0, errors.New("the dump records no binlog position (it was taken before mode: continuous): restore it as it is, without --to-time")
}

// binlogChain is the list of archived files a replay from start reads: start and the
// files after it without a hole. A hole after them is returned too. An empty list
// without an error: nothing at all is archived from start on.
func binlogChain(dir, start string) ([]string, *BinlogGap, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && ValidBinlogName(e.Name()) && !BinlogLess(e.Name(), start) {
			names = append(names, e.Name())
		}
	}
	sortBinlogs(names)
	if len(names) == 0 {
		return nil, nil, nil // nothing archived from start on
	}
	if names[0] != start {
		return nil, nil, fmt.Errorf("binlog file %s, where the dump's position is, is not archived", start)
	}
	gaps := binlogGaps("", names)
	if len(gaps) == 0 {
		return names, nil, nil
	}
	var chain []string
	for _, n := range names {
		if n == gaps[0].Next {
			break
		}
		chain = append(chain, n)
	}
	return chain, &gaps[0], nil
}

// Binlog event header (after the 4-byte magic): timestamp (4), type (1), server id (4),
// event size (4), next position (4), flags (2).
const (
	binlogMagic  = "\xfebin"
	binlogHeader = 19
)

// lastEventTime is the time of the last event of a binlog file (its rotate event, for
// a closed file): every event of the files after it is at that second or later.
func lastEventTime(path string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	magic := make([]byte, 4)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != binlogMagic {
		return time.Time{}, fmt.Errorf("%s is not a binlog file", filepath.Base(path))
	}
	var last uint32
	h := make([]byte, binlogHeader)
	for {
		if _, err := io.ReadFull(br, h); err == io.EOF {
			return time.Unix(int64(last), 0), nil
		} else if err != nil {
			return time.Time{}, fmt.Errorf("binlog file %s: %w", filepath.Base(path), err)
		}
		last = binary.LittleEndian.Uint32(h[0:4])
		size := binary.LittleEndian.Uint32(h[9:13])
		if size < binlogHeader {
			return time.Time{}, fmt.Errorf("binlog file %s: an event of %d bytes", filepath.Base(path), size)
		}
		if _, err := br.Discard(int(size) - binlogHeader); err != nil {
			return time.Time{}, fmt.Errorf("binlog file %s: %w", filepath.Base(path), err)
		}
	}
}

// restorePITR loads the dump into a new database, then replays the archived binary log
// from the dump's position up to the time asked (or to its end), limited to the dump's
// database (renamed to the new one).
func (t *Target) restorePITR(ctx context.Context, r targets.Reader, req targets.RestoreRequest, src string) error {
	until, err := t.checkPITR(req)
	if err != nil {
		return err
	}
	if strings.HasSuffix(src, ".tar") {
		return errors.New("a point-in-time restore replays one database: this snapshot holds a whole server")
	}
	orig := dbdump.Tag(r, "database")
	if orig == "" {
		return errors.New("the snapshot does not say which database it holds (tag database)")
	}
	rc, err := r.Open(ctx, src)
	if err != nil {
		return err
	}
	file, pos, err := dumpPosition(rc)
	rc.Close()
	if err != nil {
		return err
	}
	dir := req.Options[OptBinlogDir]
	chain, err := replayChain(dir, file, until)
	if err != nil {
		return err
	}
	c, db, p, err := t.openURL(req.To)
	if err != nil {
		return err
	}
	defer p.Close()
	rs := &restorer{c: c, r: r}
	s, err := c.session(ctx, "")
	if err != nil {
		return err
	}
	st, err := rs.check(ctx, s, db)
	s.Close()
	if err != nil {
		return err
	}
	if st.exists {
		return fmt.Errorf("database %q at %s exists: %w (a point-in-time restore creates a new database)", db, c.server(), targets.ErrDestinationNotEmpty)
	}
	log := r.Logger()
	log.Info("loading the dump", "database", db, "binlog_file", file, "binlog_position", pos)
	if err := rs.one(ctx, src, db); err != nil {
		return err
	}
	if len(chain) == 0 {
		log.Warn(nothingArchived, "binlog_file", file)
		return nil
	}
	// mariadb-binlog filters on the database's name in the log, then renames it.
	filter := []string{"--database=" + orig}
	if orig != db {
		filter = append(filter, "--rewrite-db="+orig+"->"+db)
	}
	log.Info("replaying the binary log", "database", db, "files", len(chain), "first", chain[0], "last", chain[len(chain)-1], "until", req.Options[OptToTime])
	if err := rs.replay(ctx, db, replayArgs(dir, chain, pos, until, filter...), ""); err != nil {
		// The half-replayed database is not what was asked for.
		if s, serr := c.session(context.WithoutCancel(ctx), ""); serr == nil {
			_, _ = s.Query(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+sqlIdent(db)+";")
			s.Close()
		}
		return fmt.Errorf("replaying the binary log into %s: %w", db, err)
	}
	return nil
}

// replayChain is the chain of archived files in dir a replay from file up to until
// (zero: the end of the archive) reads. A hole in the chain before until fails it,
// naming the missing file; so does an until after the archive's end (the last event of
// its last file, the rotation that closed it): the replay would stop at that end
// without saying so, and the restore would not be the state at until.
//
// When nothing at all is archived from file on (the archive has not stored the file of
// the base's position yet), the end of the archive is the base itself: for until zero
// the chain is empty and the base is restored alone (as pgBackRest recovers a backup
// with no WAL after it); a time is refused, since the archive does not reach it.
func replayChain(dir, file string, until time.Time) ([]string, error) {
	chain, gap, err := binlogChain(dir, file)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		if until.IsZero() {
			return nil, nil
		}
		return nil, fmt.Errorf("no binary log is archived from file %s on, where the backup's position is: the archive does not reach %s yet (it is stored every archive_interval); restore without a time for the backup itself",
			file, until.UTC().Format(time.RFC3339))
	}
	last := chain[len(chain)-1]
	end, err := lastEventTime(filepath.Join(dir, last))
	if err != nil {
		return nil, err
	}
	switch {
	case gap != nil && (until.IsZero() || until.After(end)):
		return nil, fmt.Errorf("%s: the binary log cannot be replayed past %s (%s)", gap, last, end.UTC().Format(time.RFC3339))
	case !until.IsZero() && until.Truncate(time.Second).After(end): // events carry whole seconds
		return nil, fmt.Errorf("the archived binary log ends at %s (file %s), before %s: a later time is not archived yet (the archive is stored every archive_interval): ask again later, for an earlier time, or without a time for the end of the archive",
			end.UTC().Format(time.RFC3339), last, until.UTC().Format(time.RFC3339))
	}
	return chain, nil
}

// nothingArchived is the warning of a restore of the end of the archive when the
// archive holds nothing after the base.
const nothingArchived = "no binary log archived since the backup: restored as of the backup itself (the end of the archive)"

// replayArgs are mariadb-binlog's arguments to replay chain (files in dir) from pos in
// its first file up to until (zero: to its end), with the filter options given.
func replayArgs(dir string, chain []string, pos int64, until time.Time, filter ...string) []string {
	args := append([]string{"--start-position=" + strconv.FormatInt(pos, 10)}, filter...)
	if !until.IsZero() {
		// The tool reads the time in its own zone (TZ=UTC in replay); events carry whole
		// seconds, so the replay stops before the first event of until's second.
		args = append(args, "--stop-datetime="+until.UTC().Format("2006-01-02 15:04:05"))
	}
	for _, n := range chain {
		args = append(args, filepath.Join(dir, n))
	}
	return args
}

// replay pipes `mariadb-binlog ARGS` into the client, on database db, after the SQL
// prelude (if any).
func (rs *restorer) replay(ctx context.Context, db string, args []string, prelude string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	argv := append([]string{rs.c.bin("mariadb-binlog", "mysqlbinlog"), "--no-defaults"}, args...)
	env := append(dbdump.BaseEnv(), "TZ=UTC")
	run, err := dbdump.Tool{Argv: argv, Env: env}.Start(ctx, pw)
	if err != nil {
		return err
	}
	go func() {
		_, err := run.Wait()
		pw.CloseWithError(err)
	}()
	var in io.Reader = pr
	if prelude != "" {
		in = io.MultiReader(strings.NewReader(prelude), pr)
	}
	err = rs.load(ctx, db, in)
	pr.Close()
	if _, werr := run.Wait(); werr != nil && (err == nil || errors.Is(err, io.ErrClosedPipe)) {
		return werr
	}
	return err
}
