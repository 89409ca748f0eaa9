package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cadang/cadang/targets/dbdump"
)

// Continuous protection (mode: continuous): the target's backup run is a dump of its
// database taken with --master-data=2 (the dump records the binlog file and position it
// is consistent with), and the daemon archives the server's binary log: every archive
// interval it closes the current file (FLUSH BINARY LOGS) and copies every closed file
// not yet archived into a spool (FetchBinlogs, `mariadb-binlog --read-from-remote-server
// --raw`), which becomes one snapshot of the target. A restore to a time loads the dump
// into a new database and replays the binary log from the dump's position up to the
// time (pitr.go).

// Tags of a continuous target's snapshots: a batch of binlog files (binlog=FIRST-LAST);
// on a dump, the binlog file that was current when it started (binlog_from=FILE): the
// dump's own position is at it or after it, so a restore needs no older file.
const (
	TagBinlog     = "binlog"
	TagBinlogFrom = "binlog_from"
)

// binlogName splits a binlog file name, BASE.NNNNNN, into its base and number.
func binlogName(name string) (base string, seq uint64, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || len(name)-i-1 < 6 || strings.ContainsAny(name, "/\x00") {
		return "", 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return name[:i], n, true
}

// ValidBinlogName reports whether name is a binlog file name (BASE.NNNNNN).
func ValidBinlogName(name string) bool {
	_, _, ok := binlogName(name)
	return ok
}

// binlogAfter is the name of the file n after name (same base, same width).
func binlogAfter(name string, n uint64) string {
	base, seq, _ := binlogName(name)
	width := len(name) - len(base) - 1
	return fmt.Sprintf("%s.%0*d", base, width, seq+n)
}

// BinlogLess orders binlog file names by base, then number.
func BinlogLess(a, b string) bool {
	ba, na, _ := binlogName(a)
	bb, nb, _ := binlogName(b)
	if ba != bb {
		return ba < bb
	}
	return na < nb
}

// sortBinlogs sorts names by BinlogLess.
func sortBinlogs(names []string) {
	sort.Slice(names, func(i, j int) bool { return BinlogLess(names[i], names[j]) })
}

// BinlogGap is a binlog file missing from the chain: purged from the server (or
// removed from the spool) before it was archived.
type BinlogGap struct {
	Missing string // the first missing file
	After   string // the last file before it that is archived
	Next    string // the first file after it that is there
}

func (g BinlogGap) String() string {
	return fmt.Sprintf("binlog file %s is missing (between %s and %s)", g.Missing, g.After, g.Next)
}

// binlogGaps are the holes in the chain from last (the last file archived, "" for none)
// through names (sorted).
func binlogGaps(last string, names []string) []BinlogGap {
	var gaps []BinlogGap
	prev := last
	for _, n := range names {
		if prev != "" {
			pb, ps, _ := binlogName(prev)
			nb, ns, _ := binlogName(n)
			if pb == nb && ns > ps+1 {
				gaps = append(gaps, BinlogGap{Missing: binlogAfter(prev, 1), After: prev, Next: n})
			}
		}
		prev = n
	}
	return gaps
}

// BinlogSpool is the folder of one target's binlog files fetched from the server and
// not yet stored in a snapshot. It remembers the last file a recorded snapshot holds.
type BinlogSpool struct {
	Dir string
}

const (
	spoolTmp     = ".tmp-"
	spoolLast    = ".last-archived" // the newest file a recorded snapshot holds
	spoolFlushed = ".flushed"       // the server's position right after the last FLUSH BINARY LOGS
)

// OpenBinlogSpool returns the spool in dir, created (0700) if missing.
func OpenBinlogSpool(dir string) (*BinlogSpool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("binlog spool: %w", err)
	}
	return &BinlogSpool{Dir: dir}, nil
}

// Names returns the binlog files spooled, in order.
func (s *BinlogSpool) Names() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("binlog spool: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && ValidBinlogName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sortBinlogs(names)
	return names, nil
}

func (s *BinlogSpool) read(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("binlog spool: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (s *BinlogSpool) write(name, value string) error {
	tmp := filepath.Join(s.Dir, spoolTmp+name)
	if err := os.WriteFile(tmp, []byte(value+"\n"), 0o600); err != nil {
		return fmt.Errorf("binlog spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, name)); err != nil {
		return fmt.Errorf("binlog spool: %w", err)
	}
	return syncDir(s.Dir)
}

// LastArchived is the newest file a recorded snapshot holds, or "".
func (s *BinlogSpool) LastArchived() (string, error) { return s.read(spoolLast) }

// Gaps are the holes in the chain from the last archived file through the spool.
func (s *BinlogSpool) Gaps() ([]BinlogGap, error) {
	names, err := s.Names()
	if err != nil {
		return nil, err
	}
	last, err := s.LastArchived()
	if err != nil {
		return nil, err
	}
	return binlogGaps(last, names), nil
}

// Remove removes files once a recorded snapshot holds them, and remembers the newest of
// them as the last archived one.
func (s *BinlogSpool) Remove(names []string) error {
	if len(names) == 0 {
		return nil
	}
	sorted := append([]string(nil), names...)
	sortBinlogs(sorted)
	if err := s.write(spoolLast, sorted[len(sorted)-1]); err != nil {
		return err
	}
	for _, n := range names {
		if err := os.Remove(filepath.Join(s.Dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("binlog spool: %w", err)
		}
	}
	return syncDir(s.Dir)
}

// newest is the newest file the spool holds or has archived ("" for none).
func (s *BinlogSpool) newest() (string, error) {
	names, err := s.Names()
	if err != nil {
		return "", err
	}
	if len(names) > 0 {
		return names[len(names)-1], nil
	}
	return s.LastArchived()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("binlog spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("binlog spool: syncing %s: %w", dir, err)
	}
	return nil
}

// Fetched is what FetchBinlogs added to a spool.
type Fetched struct {
	Files []string // the closed files copied, in order
	// Idle is set when the server wrote nothing since the last flush: no file was
	// closed (an idle server does not get a new binlog file every interval).
	Idle bool
}

// binlogFile is a line of SHOW BINARY LOGS.
type binlogFile struct {
	Name string
	Size int64
}

// checkLogBin fails on a server that does not write a binary log.
func (t *Target) checkLogBin(ctx context.Context, s *dbdump.Session) error {
	lines, err := s.Query(ctx, "SELECT @@GLOBAL.log_bin;")
	if err != nil {
		return err
	}
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "1" {
		return fmt.Errorf("target %s: the server at %s runs without log_bin: mode: continuous needs its binary log (log_bin, binlog_format = ROW is advised)", t.name, t.conn().server())
	}
	return nil
}

// masterStatus is the current binlog file and position ("FILE:POS").
func masterStatus(ctx context.Context, s *dbdump.Session) (string, error) {
	lines, err := s.Query(ctx, "SHOW MASTER STATUS;")
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", errors.New("SHOW MASTER STATUS printed nothing: the server writes no binary log (log_bin)")
	}
	f := strings.Split(lines[0], "\t")
	if len(f) < 2 {
		return "", fmt.Errorf("SHOW MASTER STATUS printed %.100q", lines[0])
	}
	return f[0] + ":" + f[1], nil
}

// binlogWritten says what the server has written to its binary log: MariaDB's
// gtid_binlog_pos, which only transactions move (not the events a rotation writes by
// itself, such as the binlog checkpoint, written a moment after a flush). Continuous
// mode is MariaDB's (MySQL has no gtid_binlog_pos: the query fails naming it).
func binlogWritten(ctx context.Context, s *dbdump.Session) (string, error) {
	lines, err := s.Query(ctx, "SELECT CONCAT('gtid:', @@GLOBAL.gtid_binlog_pos);")
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", errors.New("no answer to SELECT @@GLOBAL.gtid_binlog_pos")
	}
	return lines[0], nil
}

// FetchBinlogs closes the server's current binlog file (FLUSH BINARY LOGS) unless
// nothing was written since the last flush, then copies every closed file newer than
// what the spool holds or has archived into the spool, each checked against the size
// the server lists. On the first fetch (nothing archived yet) every closed file the
// server still has is copied. Holes are for the spool's Gaps to find.
func (t *Target) FetchBinlogs(ctx context.Context, spool *BinlogSpool) (Fetched, error) {
	p, err := dbdump.NewPrivate("")
	if err != nil {
		return Fetched{}, err
	}
	defer p.Close()
	c := t.conn()
	if err := c.openSecret(p); err != nil {
		return Fetched{}, err
	}
	s, err := c.session(ctx, "")
	if err != nil {
		return Fetched{}, err
	}
	defer s.Close()
	if err := t.checkLogBin(ctx, s); err != nil {
		return Fetched{}, err
	}
	written, err := binlogWritten(ctx, s)
	if err != nil {
		return Fetched{}, err
	}
	flushed, err := spool.read(spoolFlushed)
	if err != nil {
		return Fetched{}, err
	}
	if written != flushed {
		if _, err := s.Query(ctx, "FLUSH BINARY LOGS;"); err != nil {
			return Fetched{}, fmt.Errorf("target %s: FLUSH BINARY LOGS: %w", t.name, err)
		}
		if err := spool.write(spoolFlushed, written); err != nil {
			return Fetched{}, err
		}
	}
	lines, err := s.Query(ctx, "SHOW BINARY LOGS;")
	if err != nil {
		return Fetched{}, fmt.Errorf("target %s: SHOW BINARY LOGS: %w", t.name, err)
	}
	var logs []binlogFile
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) < 2 || !ValidBinlogName(f[0]) {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Fetched{}, fmt.Errorf("SHOW BINARY LOGS printed %.100q", l)
		}
		logs = append(logs, binlogFile{Name: f[0], Size: size})
	}
	sort.Slice(logs, func(i, j int) bool { return BinlogLess(logs[i].Name, logs[j].Name) })
	if len(logs) > 0 {
		logs = logs[:len(logs)-1] // the current file is still being written
	}
	newest, err := spool.newest()
	if err != nil {
		return Fetched{}, err
	}
	var want []binlogFile
	for _, l := range logs {
		if newest == "" || BinlogLess(newest, l.Name) {
			want = append(want, l)
		}
	}
	if len(want) == 0 {
		return Fetched{Idle: true}, nil
	}
	if err := t.copyBinlogs(ctx, c, p.Dir, spool, want); err != nil {
		return Fetched{}, err
	}
	res := Fetched{}
	for _, l := range want {
		res.Files = append(res.Files, l.Name)
	}
	return res, nil
}

// copyBinlogs copies files from the server with `mariadb-binlog --raw` into a folder of
// the spool, checks their sizes, fsyncs them and moves them into the spool. The
// password comes through the option file (conn.args), never argv.
func (t *Target) copyBinlogs(ctx context.Context, c conn, private string, spool *BinlogSpool, files []binlogFile) error {
	tmp, err := os.MkdirTemp(spool.Dir, spoolTmp+"fetch-")
	if err != nil {
		return fmt.Errorf("binlog spool: %w", err)
	}
	defer os.RemoveAll(tmp)
	argv := append([]string{c.bin("mariadb-binlog", "mysqlbinlog")}, c.args()...)
	argv = append(argv, "--read-from-remote-server", "--raw", "--result-file="+tmp+"/")
	for _, f := range files {
		argv = append(argv, f.Name)
	}
	run, err := dbdump.Tool{Argv: argv, Env: c.env(), Files: c.files()}.Start(ctx, io.Discard)
	if err != nil {
		return err
	}
	if _, err := run.Wait(); err != nil {
		return fmt.Errorf("target %s: copying binlog files %s-%s: %w", t.name, files[0].Name, files[len(files)-1].Name, err)
	}
	for _, f := range files {
		path := filepath.Join(tmp, f.Name)
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("target %s: mariadb-binlog did not copy %s", t.name, f.Name)
		}
		if st.Size() != f.Size {
			return fmt.Errorf("target %s: binlog file %s copied with %d bytes, the server lists %d", t.name, f.Name, st.Size(), f.Size)
		}
		if err := syncFile(path); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(tmp, f.Name), filepath.Join(spool.Dir, f.Name)); err != nil {
			return fmt.Errorf("binlog spool: %w", err)
		}
	}
	return syncDir(spool.Dir)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
