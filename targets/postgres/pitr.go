package postgres

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cadang/cadang/targets"
)

// Restore options of a base backup (RestoreRequest.Options).
const (
	// OptWALDir is the folder the archived WAL after the base backup was restored to
	// (the engine restores the WAL snapshots there). Without it the server recovers to
	// the end of the WAL the base backup holds.
	OptWALDir = "wal_dir"
	OptToTime = "to_time" // RFC 3339 or "2006-01-02 15:04:05-07": recovery_target_time
	OptToLSN  = "to_lsn"  // recovery_target_lsn, e.g. 0/3000060
	// OptStart: "check" (default) starts the restored server on a free port until it
	// has recovered and promoted, then stops it cleanly; "no" only prepares the folder.
	OptStart = "start"
)

// isBase reports whether a snapshot is a base backup.
func isBase(r targets.Reader) bool {
	for _, tag := range r.Snapshot().Tags {
		if tag == TagBase {
			return true
		}
	}
	return false
}

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

// validLSN reports whether s is an LSN as PostgreSQL writes it (hex/hex).
func validLSN(s string) bool {
	a, b, ok := strings.Cut(s, "/")
	_, e1 := strconv.ParseUint(a, 16, 32)
	_, e2 := strconv.ParseUint(b, 16, 32)
	return ok && e1 == nil && e2 == nil
}

// checkPITR checks the options of a point-in-time restore.
func checkPITR(req targets.RestoreRequest) error {
	if !filepath.IsAbs(req.To) {
		return fmt.Errorf("a base backup restores to a new data directory: %q must be an absolute path", req.To)
	}
	for k, v := range req.Options {
		switch k {
		case OptWALDir:
			if !filepath.IsAbs(v) {
				return fmt.Errorf("%s %q must be an absolute path", k, v)
			}
		case OptToTime:
			if _, err := ParseTime(v); err != nil {
				return err
			}
		case OptToLSN:
			if !validLSN(v) {
				return fmt.Errorf("LSN %q: give it as PostgreSQL writes it, e.g. 0/3000060", v)
			}
		case OptStart:
			if v != "check" && v != "no" {
				return fmt.Errorf("start %q: use check or no", v)
			}
		default:
			return fmt.Errorf("unknown option %q for a base backup (use %s, %s, %s, %s)", k, OptWALDir, OptToTime, OptToLSN, OptStart)
		}
	}
	if req.Options[OptToTime] != "" && req.Options[OptToLSN] != "" {
		return errors.New("give a time or an LSN to restore to, not both")
	}
	return nil
}

// restoreBase restores a base backup into a new data directory, writes the recovery
// settings (the WAL of req.Options[wal_dir], the target time or LSN, promote), and
// by default starts the server there until it has recovered and promoted.
func (t *Target) restoreBase(ctx context.Context, r targets.Reader, req targets.RestoreRequest) error {
	cred, err := prepareBase(ctx, r, req)
	if err != nil {
		return err
	}
	log := r.Logger()
	bin := t.conn().bin("postgres")
	if req.Options[OptStart] == "no" {
		log.Info("data directory ready; start it with", "command", bin+" -D "+req.To+" -p PORT")
		return nil
	}
	res, err := RecoverOnce(ctx, bin, req.To, cred)
	if err != nil {
		return err
	}
	log.Info("recovered and promoted", "data_dir", req.To, "stopped_at", res.StoppedAt, "start_with", bin+" -D "+req.To+" -p PORT")
	return nil
}

// prepareBase restores a base backup into the new data directory req.To and writes
// its recovery settings; it returns who the server must run as (nil: cadang's user).
func prepareBase(ctx context.Context, r targets.Reader, req targets.RestoreRequest) (*syscall.Credential, error) {
	if err := checkPITR(req); err != nil {
		return nil, err
	}
	dir := req.To
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 && !req.Force {
		return nil, fmt.Errorf("data directory %s is not empty (force replaces what it holds)", dir)
	} else if err == nil && req.Force {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rc, err := r.Open(ctx, "/"+baseFile)
	if err != nil {
		return nil, err
	}
	err = untar(rc, dir)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("base backup %.8s: %w", r.Snapshot().ID, err)
	}
	if err := writeRecovery(dir, req.Options); err != nil {
		return nil, err
	}
	if err := ownConfigFiles(dir); err != nil {
		return nil, err
	}
	cred, err := serverCredential(dir)
	if err == nil && cred != nil && req.Options[OptWALDir] != "" {
		err = chownTree(req.Options[OptWALDir], cred) // restore_command runs as the server's user
	}
	return cred, err
}

// ownConfigFiles gives a restored data directory the configuration files a server
// needs to start when the protected server kept them elsewhere (Debian keeps them in
// /etc/postgresql, so a base backup holds none): an empty postgresql.conf (defaults,
// plus the recovery settings of postgresql.auto.conf) and a pg_hba.conf that lets
// local users in as themselves (peer).
func ownConfigFiles(dir string) error {
	for name, text := range map[string]string{
		"postgresql.conf": "# written by cadang restore: the protected server kept its configuration outside its data directory\n",
		"pg_hba.conf":     "# written by cadang restore: the protected server kept its configuration outside its data directory\nlocal all all peer\n",
	} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// untar writes a tar stream into dir. Entries must stay below dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<20))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if name == "." {
			continue
		}
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("tar entry %q leaves the data directory", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode)&0o700|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			// pg_wal or a tablespace link: pg_basebackup to stdout refuses tablespaces.
			return fmt.Errorf("tar entry %q is a symbolic link: a base backup with tablespaces cannot be restored by cadang", h.Name)
		default:
			return fmt.Errorf("tar entry %q: unexpected type %c", h.Name, h.Typeflag)
		}
	}
}

// writeRecovery writes recovery.signal and the recovery settings. The restored server
// never archives: its WAL is not the protected server's.
func writeRecovery(dir string, opts map[string]string) error {
	lines := []string{"", "# cadang restore: recovery settings",
		"archive_mode = 'off'", "recovery_target_action = 'promote'"}
	if wal := opts[OptWALDir]; wal != "" {
		lines = append(lines, "restore_command = "+sqlLiteral("cp "+shellQuote(wal)+"/%f %p"))
	}
	switch {
	case opts[OptToTime] != "":
		tt, _ := ParseTime(opts[OptToTime])
		lines = append(lines, "recovery_target_time = "+sqlLiteral(tt.UTC().Format("2006-01-02 15:04:05.999999-07")))
	case opts[OptToLSN] != "":
		lines = append(lines, "recovery_target_lsn = "+sqlLiteral(opts[OptToLSN]))
	}
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.auto.conf"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, strings.Join(lines, "\n")+"\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "recovery.signal"), nil, 0o600)
}

// serverCredential is who the restored server runs as: the postgres user when cadang
// runs as root (PostgreSQL refuses root), which then owns dir; nil otherwise.
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("cadang runs as root and there is no postgres user to run the restored server as")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return cred, chownTree(dir, cred)
}

// chownTree gives dir and everything below it to cred's user.
func chownTree(dir string, cred *syscall.Credential) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
}

// Recovered is what a recovery reached.
type Recovered struct {
	StoppedAt string // the server's "recovery stopping ..." line, or "end of WAL"
	Log       string // the server's log
}

// RecoverOnce starts postgres on dir (a free port, its socket in dir, no TCP) until it
// has recovered and promoted, then stops it cleanly. A recovery that ends before its
// target, or a server that exits, is an error with the server's own reason.
func RecoverOnce(ctx context.Context, bin, dir string, cred *syscall.Credential) (Recovered, error) {
	rs, err := startRecovered(ctx, bin, dir, cred)
	if err != nil {
		return rs.res, err
	}
	rs.stop()
	return rs.res, nil
}

// recoveredServer is a restored server started on its data directory: it listens on
// Port, on a socket in the data directory only.
type recoveredServer struct {
	Port    int
	dir     string
	logPath string
	cmd     *exec.Cmd
	done    chan error
	res     Recovered
}

// startRecovered starts postgres on dir and waits until it has recovered and
// promoted (then it runs until stop) or has stopped (an error with its reason).
func startRecovered(ctx context.Context, bin, dir string, cred *syscall.Credential) (*recoveredServer, error) {
	rs := &recoveredServer{dir: dir, logPath: filepath.Join(dir, "cadang-recovery.log"), done: make(chan error, 1)}
	var err error
	if rs.Port, err = freePort(); err != nil {
		return rs, err
	}
	logf, err := os.Create(rs.logPath)
	if err != nil {
		return rs, err
	}
	defer logf.Close()
	if cred != nil {
		_ = logf.Chown(int(cred.Uid), int(cred.Gid))
	}
	rs.cmd = exec.Command(bin, "-D", dir, "-p", strconv.Itoa(rs.Port), "-k", dir, "-c", "listen_addresses=")
	rs.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	rs.cmd.Stdout, rs.cmd.Stderr = logf, logf
	if err := rs.cmd.Start(); err != nil {
		return rs, fmt.Errorf("starting the restored server: %w", err)
	}
	go func() { rs.done <- rs.cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		rs.readLog()
		if strings.Contains(rs.res.Log, "database system is ready to accept connections") {
			return rs, nil
		}
		select {
		case <-rs.done:
			rs.done <- nil // stop() finds it ended
			rs.readLog()
			return rs, fmt.Errorf("the restored server stopped during recovery: %s", serverReason(rs.res.Log))
		case <-ctx.Done():
			rs.stop()
			return rs, ctx.Err()
		case <-tick.C:
		}
	}
}

// readLog reads the server's log and where its recovery stopped.
func (rs *recoveredServer) readLog() {
	b, _ := os.ReadFile(rs.logPath)
	rs.res = Recovered{Log: string(b), StoppedAt: "end of WAL"}
	for _, l := range strings.Split(rs.res.Log, "\n") {
		if i := strings.Index(l, "recovery stopping "); i >= 0 {
			rs.res.StoppedAt = strings.TrimSpace(l[i:])
		}
	}
}

// stop shuts the server down (fast shutdown: a clean checkpoint; killed after 60 s).
func (rs *recoveredServer) stop() {
	if rs.cmd == nil || rs.cmd.Process == nil {
		return
	}
	_ = rs.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-rs.done:
	case <-time.After(60 * time.Second):
		_ = rs.cmd.Process.Kill()
		<-rs.done
	}
	rs.cmd = nil
	rs.readLog()
}

// serverReason is the first FATAL or PANIC line of a server log.
func serverReason(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for n, l := range lines {
		for _, level := range []string{"FATAL:", "PANIC:"} {
			if i := strings.Index(l, level); i >= 0 {
				reason := strings.TrimSpace(l[i:])
				if n > 0 && strings.Contains(lines[n-1], "LOG:") { // the detail PostgreSQL logs first
					reason += " (" + strings.TrimSpace(lines[n-1][strings.Index(lines[n-1], "LOG:"):]) + ")"
				}
				return reason
			}
		}
	}
	return "its log ends with: " + strings.TrimSpace(lines[len(lines)-1])
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
