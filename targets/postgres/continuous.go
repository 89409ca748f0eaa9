package postgres

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// Continuous protection (mode: continuous). The server archives its write-ahead log
// through `cadang wal-push --target=NAME %p`; the target's backup run is a base backup,
// `pg_basebackup --format=tar --wal-method=fetch` streamed into restic as one file
// (baseFile): a tar of the data directory that holds the WAL its own consistency
// needs, so that a base backup restores alone, and the archived WAL brings it forward
// to a point in time.

// baseFile is the name of a base backup in its snapshot.
const baseFile = "base.tar"

// TagBase marks a base backup's snapshot; TagWAL (with the segment range, first-last)
// a snapshot of archived WAL.
const (
	TagBase = "pg_base=1"
	TagWAL  = "pg_wal"
)

// IsContinuous reports whether a target's configuration (the `postgres:` section) is
// in continuous mode, and its archive interval (the RPO) then.
func IsContinuous(spec any) (time.Duration, bool) {
	c, ok := spec.(*Config)
	if !ok || c.Mode != ModeContinuous {
		return 0, false
	}
	return c.withDefaults().ArchiveInterval, true
}

// Setting is one server setting continuous protection needs.
type Setting struct {
	Name string `json:"name"`
	Want string `json:"want"` // the value cadang needs
	Have string `json:"have"` // the value the server runs with
	// Restart is set when the server must be restarted for a new value to apply
	// (wal_level, archive_mode), or one set already waits for a restart.
	Restart bool `json:"restart,omitempty"`
	OK      bool `json:"ok"`
}

// ArchiveCommand is the archive_command of a target: cadang is the absolute path of
// the cadang binary, socket the daemon's socket ("" for the default).
func ArchiveCommand(cadang, socket, target string) string {
	cmd := shellQuote(cadang) + " wal-push"
	if socket != "" {
		cmd += " --socket=" + shellQuote(socket)
	}
	return cmd + " --target=" + shellQuote(target) + " %p"
}

// shellQuote quotes s for /bin/sh (archive_command runs through the shell) unless it
// needs nothing.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-=:", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// wantSettings are the settings a target needs; archiveCommand "" accepts any command
// that runs `wal-push --target=NAME` (the daemon checks at each run without knowing
// where the operator installed cadang).
func (t *Target) wantSettings(archiveCommand string) []Setting {
	return []Setting{
		{Name: "wal_level", Want: "replica"},
		{Name: "archive_mode", Want: "on"},
		{Name: "archive_command", Want: archiveCommand},
		{Name: "archive_timeout", Want: strconv.Itoa(int(t.cfg.ArchiveInterval / time.Second))},
	}
}

// settingOK reports whether the server's value (s.Have) satisfies s.
func (t *Target) settingOK(s Setting) bool {
	switch s.Name {
	case "wal_level":
		return s.Have == "replica" || s.Have == "logical"
	case "archive_mode":
		return s.Have == "on" || s.Have == "always"
	case "archive_command":
		if s.Want != "" {
			return s.Have == s.Want
		}
		return strings.Contains(s.Have, " wal-push ") && strings.Contains(s.Have, " --target="+shellQuote(t.name)+" ") &&
			strings.HasSuffix(s.Have, " %p")
	}
	return s.Have == s.Want
}

// Settings reads the server's settings and compares them with those the target needs
// (archiveCommand as in wantSettings).
func (t *Target) Settings(ctx context.Context, archiveCommand string) ([]Setting, error) {
	s, err := t.setupSession(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	want := t.wantSettings(archiveCommand)
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = sqlLiteral(w.Name)
	}
	var rows []struct {
		Name    string `json:"name"`
		Setting string `json:"setting"`
		Pending bool   `json:"pending_restart"`
	}
	if err := s.JSON(ctx, `SELECT coalesce(json_agg(json_build_object('name', name, 'setting', setting, 'pending_restart', pending_restart)), '[]') FROM pg_settings WHERE name IN (`+strings.Join(names, ", ")+`);`, &rows); err != nil {
		return nil, err
	}
	for i := range want {
		for _, r := range rows {
			if r.Name == want[i].Name {
				want[i].Have, want[i].Restart = r.Setting, r.Pending
			}
		}
		want[i].OK = t.settingOK(want[i]) && !want[i].Restart
	}
	return want, nil
}

// setupSession opens a session to the target's database for `cadang pg setup` (the
// password is read into memory only for as long as opening it takes).
func (t *Target) setupSession(ctx context.Context) (*dbdump.Session, error) {
	return t.appSession(ctx, "cadang pg setup")
}

func (t *Target) appSession(ctx context.Context, app string) (*dbdump.Session, error) {
	p := &dbdump.Private{}
	defer p.Close()
	c := t.conn()
	if err := c.openSecret(p); err != nil {
		return nil, err
	}
	return c.session(ctx, t.cfg.Database, app)
}

// WALPosition is where a server's WAL ends.
type WALPosition struct {
	// Segment holds the current WAL insert position; exactly at a segment's end (after
	// a switch, on a server that wrote nothing since) the segment that ends there, as
	// pg_walfile_name says.
	Segment     string
	LSN         string // the insert position itself
	SegmentSize int64  // wal_segment_size, in bytes
}

// CurrentWAL reads where the server's WAL ends.
func (t *Target) CurrentWAL(ctx context.Context) (WALPosition, error) {
	s, err := t.appSession(ctx, "cadang wal check")
	if err != nil {
		return WALPosition{}, err
	}
	defer s.Close()
	out, err := s.Query(ctx, "SELECT pg_walfile_name(l) || ' ' || l || ' ' || pg_size_bytes(current_setting('wal_segment_size')) FROM pg_current_wal_insert_lsn() l;")
	if err != nil {
		return WALPosition{}, fmt.Errorf("target %s: current WAL position: %w", t.name, err)
	}
	var p WALPosition
	if len(out) != 1 {
		return p, fmt.Errorf("target %s: current WAL position: %d lines in the answer", t.name, len(out))
	}
	if _, err := fmt.Sscan(out[0], &p.Segment, &p.LSN, &p.SegmentSize); err != nil {
		return p, fmt.Errorf("target %s: current WAL position: %q: %v", t.name, out[0], err)
	}
	return p, nil
}

// Apply sets the settings that differ with ALTER SYSTEM and reloads the server's
// configuration (pg_reload_conf). wal_level and archive_mode need a restart, which
// cadang never does: the settings returned say which wait for it.
func (t *Target) Apply(ctx context.Context, archiveCommand string) ([]Setting, error) {
	if archiveCommand == "" {
		return nil, fmt.Errorf("target %s: no archive_command to apply", t.name)
	}
	have, err := t.Settings(ctx, archiveCommand)
	if err != nil {
		return nil, err
	}
	var sql []string
	for _, s := range have {
		if !t.settingOK(s) {
			sql = append(sql, fmt.Sprintf("ALTER SYSTEM SET %s = %s;", s.Name, sqlLiteral(s.Want)))
		}
	}
	if len(sql) == 0 {
		return have, nil
	}
	s, err := t.setupSession(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := s.Query(ctx, strings.Join(sql, "\n")+"\nSELECT pg_reload_conf();"); err != nil {
		return nil, fmt.Errorf("target %s: applying the settings: %w", t.name, err)
	}
	// pg_reload_conf only signals the postmaster: the new values show once it reread
	// its files (at once, on a server that is not overloaded).
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, err := t.Settings(ctx, archiveCommand)
		if err != nil || reloaded(after) || time.Now().After(deadline) {
			return after, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// reloaded reports whether every setting is as needed or waits for a restart.
func reloaded(settings []Setting) bool {
	for _, s := range settings {
		if !s.OK && !s.Restart {
			return false
		}
	}
	return true
}

// checkSettings fails a run on a server not set up for continuous protection, naming
// the first setting that is wrong.
func (t *Target) checkSettings(ctx context.Context) error {
	have, err := t.Settings(ctx, "")
	if err != nil {
		return err
	}
	for _, s := range have {
		switch {
		case s.Restart:
			return fmt.Errorf("target %s: server setting %s waits for a restart of PostgreSQL", t.name, s.Name)
		case !s.OK && s.Name == "archive_command":
			return fmt.Errorf("target %s: server setting archive_command is %q, not `cadang wal-push --target=%s %%p` (run `cadang pg setup %s`)", t.name, s.Have, t.name, t.name)
		case !s.OK:
			return fmt.Errorf("target %s: server setting %s is %q, continuous protection needs %q (run `cadang pg setup %s`)", t.name, s.Name, s.Have, s.Want, t.name)
		}
	}
	return nil
}

// baseBackup is the backup run of a continuous target: the settings are checked, then
// pg_basebackup's tar goes into one snapshot.
func (t *Target) baseBackup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	if err := t.checkSettings(ctx); err != nil {
		return nil, err
	}
	p, c, srv, err := t.open(ctx, w)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	j := job{Job: dbdump.Job{ResultFile: p.Dir + "/result.json"}, Conn: c, Server: srv, Base: true}
	tags := []string{TagBase, dbdump.TagValue("server_version", srv.shortVersion()), dbdump.TagValue("database", t.cfg.Database)}
	w.Logger().Info("base backup", "server", c.server(), "version", srv.Version)
	res, err := dbdump.StreamBackup(ctx, w, p, "postgres", baseFile, tags, j, j.ResultFile)
	if res != nil {
		res.Notes = append(res.Notes, "base backup (pg_basebackup) of a continuously protected server")
	}
	return res, err
}

// streamBase is the child process of a base backup: pg_basebackup's tar to out.
func (j *job) streamBase(ctx context.Context, out io.Writer) error {
	argv := []string{j.Conn.bin("pg_basebackup"), "--format=tar", "--wal-method=fetch", "--checkpoint=fast",
		"--no-password", "--label=cadang", "--pgdata=-", "--dbname=" + j.Conn.info("", "cadang pg_basebackup")}
	run, err := dbdump.Tool{Argv: argv, Env: j.Conn.env(), Files: j.Conn.files(), Clean: cleanLine}.Start(ctx, out)
	if err != nil {
		return dbdump.Finish(j.ResultFile, nil, nil, err)
	}
	n, err := run.Wait()
	m := &dbdump.Manifest{Kind: "postgres", Server: j.Conn.server(), ServerVersion: j.Server.Version, ServerIdentity: j.Server.Identity, DumpBytes: n}
	return dbdump.Finish(j.ResultFile, m, nil, err)
}
