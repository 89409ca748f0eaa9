package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// Physical full backups (method: physical, docs/databases.md). mariadb-backup copies
// the server's files while the server runs, with the part of InnoDB's redo log written
// meanwhile, and streams them (xbstream) into one snapshot; it locks only for the
// short BACKUP STAGE at the end. A restore extracts the stream into a folder and
// prepares it (mariadb-backup --prepare, which applies the redo log): a data directory
// that a mariadbd of the same version starts on. Restoring a 500 GB server is then a
// copy of files, not the replay of 500 GB of SQL.
//
// mariadb-backup reads the data directory itself, so it runs on the server's host: the
// daemon's, or the agent's the target is pinned to, as root or the server's own user.
// A physical copy holds the whole server (every database, the accounts, the system
// tables): the target gives all: true.

// Methods of a full backup.
const (
	MethodDump     = "dump"     // mariadb-dump (default)
	MethodPhysical = "physical" // mariadb-backup
)

// physicalFile is the stream's name in a snapshot.
const physicalFile = "mysql-physical.xbstream"

// IsPhysical reports whether a snapshot's file is a physical backup.
func IsPhysical(file string) bool { return filepath.Base(file) == physicalFile }

// physicalBackup streams a mariadb-backup of the whole server into one snapshot.
// tags are the dump's (server_version, binlog_from in continuous mode).
func (t *Target) physicalBackup(ctx context.Context, w targets.Writer, p *dbdump.Private, c conn, srv server, tags []string) (*targets.BackupResult, error) {
	if !srv.mariadb() {
		return nil, fmt.Errorf("target %s: method: physical needs MariaDB (mariadb-backup); the server is %s", t.name, srv.Version)
	}
	tags = append(tags, "method="+MethodPhysical)
	j := job{Job: dbdump.Job{ResultFile: p.Dir + "/result.json"}, Conn: c, All: true, Server: srv, Physical: true}
	w.Logger().Info("physical backup", "server", c.server(), "version", srv.Version, "databases", len(srv.Databases))
	return dbdump.StreamBackup(ctx, w, p, "mysql", physicalFile, tags, j, j.ResultFile)
}

// binlogPosition is mariadb-backup's line naming the binary log position of its copy.
var binlogPosition = regexp.MustCompile(`binlog position: filename '([^']*)', position '(\d+)'`)

// backupOutcome is what mariadb-backup says on its standard error that matters.
type backupOutcome struct {
	mu     sync.Mutex
	ok     bool   // "completed OK!"
	binlog string // FILE:POSITION, when the server writes a binary log
}

func (o *backupOutcome) see(line string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if strings.HasSuffix(strings.TrimSpace(line), "completed OK!") {
		o.ok = true
	}
	if m := binlogPosition.FindStringSubmatch(line); m != nil && m[1] != "" {
		o.binlog = m[1] + ":" + m[2]
	}
	return false
}

func (o *backupOutcome) result() (bool, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ok, o.binlog
}

// physical is the child process's part of a physical backup: mariadb-backup's stream
// to out, and the manifest (the databases the server held; no table figures: the copy
// is checked by the server that starts on it).
func (j *job) physical(ctx context.Context, m *dbdump.Manifest, out io.Writer) ([]string, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(j.ResultFile), "mariadb-backup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	argv := append([]string{j.Conn.bin("mariadb-backup", "mariabackup")}, j.Conn.args()...)
	argv = append(argv, "--backup", "--stream=xbstream", "--target-dir="+tmp)
	var o backupOutcome
	run, err := dbdump.Tool{Argv: argv, Env: j.Conn.env(), Files: j.Conn.files(), Clean: cleanBackupLog, Started: o.see}.Start(ctx, out)
	if err != nil {
		return nil, err
	}
	n, err := run.Wait()
	if err != nil {
		return nil, err
	}
	ok, binlog := o.result()
	if !ok {
		return nil, errors.New("mariadb-backup ended without saying \"completed OK!\": the copy may be incomplete")
	}
	m.DumpBytes = n
	note := msg.New("db.note.physical")
	for _, d := range j.Server.Databases {
		m.Databases = append(m.Databases, dbdump.Database{Name: d.Name, File: physicalFile, Note: note, Encoding: d.Charset, Collation: d.Collation})
	}
	notes := []string{"physical backup (mariadb-backup) of the whole server"}
	if binlog != "" {
		notes = append(notes, "binary log position of the copy: "+binlog)
	}
	return notes, nil
}

// cleanBackupLog keeps, of mariadb-backup's chatty standard error, the lines that say
// something went wrong.
func cleanBackupLog(line string) string {
	l := strings.ToLower(line)
	if strings.Contains(l, "error") || strings.Contains(l, "fail") || strings.Contains(l, "fatal") || strings.Contains(l, "denied") {
		return line
	}
	return ""
}

// restorePhysical extracts a physical backup into the folder req.To and prepares it:
// a data directory, owned by the mysql user when there is one and cadang runs as
// root, that a mariadbd of the backup's version starts on. With the archived binary
// log (a target in continuous mode), the log is replayed into it up to the time asked
// (physicalpitr.go).
func (t *Target) restorePhysical(ctx context.Context, r targets.Reader, req targets.RestoreRequest, src string) error {
	if IsPITR(req) {
		return t.restorePhysicalPITR(ctx, r, req, src)
	}
	if err := t.checkPhysicalRequest(req); err != nil {
		return err
	}
	if err := t.checkPhysicalVersions(ctx, r, false); err != nil {
		return err
	}
	if err := t.preparePhysical(ctx, r, req.To, req.Force, src); err != nil {
		return err
	}
	return ownedByMySQL(r, req.To)
}

// preparePhysical extracts the stream src of r into dest (refused if it holds
// anything, unless force) and prepares it (mariadb-backup --prepare).
func (t *Target) preparePhysical(ctx context.Context, r targets.Reader, dest string, force bool, src string) error {
	if err := targets.PrepareDir(dest, force); err != nil {
		return err
	}
	rc, err := r.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	c := t.conn()
	run, err := dbdump.Tool{Argv: []string{c.bin("mbstream", "mbstream"), "-x", "-C", dest}, Env: dbdump.BaseEnv(), Stdin: rc}.Start(ctx, io.Discard)
	if err != nil {
		return err
	}
	if _, err := run.Wait(); err != nil {
		return fmt.Errorf("extracting the physical backup: %w", err)
	}
	var o backupOutcome
	run, err = dbdump.Tool{Argv: []string{c.bin("mariadb-backup", "mariabackup"), "--prepare", "--target-dir=" + dest}, Env: dbdump.BaseEnv(),
		Clean: cleanBackupLog, Started: o.see}.Start(ctx, io.Discard)
	if err != nil {
		return err
	}
	if _, err := run.Wait(); err != nil {
		return fmt.Errorf("preparing the physical backup (mariadb-backup --prepare): %w", err)
	}
	if ok, _ := o.result(); !ok {
		return errors.New("mariadb-backup --prepare ended without saying \"completed OK!\"")
	}
	return nil
}

// ownedByMySQL gives the restored data directory dest to the mysql user (when there
// is one and cadang runs as root) and logs how to start a server on it.
func ownedByMySQL(r targets.Reader, dest string) error {
	owner := ""
	if u, err := user.Lookup("mysql"); err == nil && os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := chownTree(dest, uid, gid); err != nil {
			return err
		}
		owner = " --user=mysql"
	}
	r.Logger().Info("restored a data directory: start a server of the same version on it", "dir", dest,
		"start", "mariadbd --datadir="+dest+owner, "version", dbdump.Tag(r, "server_version"))
	return nil
}

// checkPhysicalRequest refuses what a physical backup cannot give: a server URL (it is
// a data directory), part of it, options.
func (t *Target) checkPhysicalRequest(req targets.RestoreRequest) error {
	switch {
	case dbdump.IsURL(req.To):
		return fmt.Errorf("restore destination %s: a physical backup (method: physical) is restored to a folder, a data directory a server starts on (--to DIR)", redacted(req.To))
	case len(req.Options) > 0:
		return errors.New("a physical backup (method: physical) takes no restore option")
	}
	if err := dbdump.CheckWhole("mysql", req.Include); err != nil {
		return err
	}
	if !filepath.IsAbs(req.To) {
		return fmt.Errorf("restore destination %q must be an absolute path", req.To)
	}
	return nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
