package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// A drill of a physical backup proves more than a restore: the backup is prepared into
// a scratch data directory, a scratch mariadbd starts on it (no network, a socket in the
// drill's private folder, --skip-grant-tables: no account of production is needed),
// every database the backup held must be there with every table sound by CHECK TABLE,
// then the target's drill.checks run on it; the server is stopped and the copy removed
// at the end. No drill.server is used: the scratch server is the drill's own. It needs
// mariadbd of the backup's version on the host that runs the drill.

type physicalDrill struct {
	t    *Target
	r    targets.Reader
	env  *targets.DrillEnv
	data string
	srv  *scratchServer
	pitr bool // a drill to a point in time: the databases are those of T, not of the backup
}

func (t *Target) newPhysicalDrill(r targets.Reader, env *targets.DrillEnv) *physicalDrill {
	data := filepath.Join(env.Scratch, "data")
	return &physicalDrill{t: t, r: r, env: env, data: data, srv: &scratchServer{binDir: t.cfg.BinDir, data: data, dir: env.Scratch}}
}

func (t *Target) physicalDrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	d := t.newPhysicalDrill(r, env)
	return []targets.DrillStep{
		{Key: "restore", Activity: msg.New("db.physical.restore.title"), Do: d.restore},
		d.startStep(),
		d.verifyStep(),
		dbdump.ChecksStep(env, d.query),
		d.cleanupStep(),
	}
}

func (d *physicalDrill) startStep() targets.DrillStep {
	return targets.DrillStep{Key: "start", Activity: msg.New("db.physical.start.title"), Timeout: startWait + 30*time.Second, Do: d.start}
}

func (d *physicalDrill) verifyStep() targets.DrillStep {
	return targets.DrillStep{Key: "verify-tables", Activity: msg.New("db.physical.title"), Verify: true, Do: d.verify}
}

func (d *physicalDrill) cleanupStep() targets.DrillStep {
	return targets.DrillStep{Key: "cleanup", Activity: msg.New("db.physical.cleanup.title"), Always: true, Do: d.cleanup}
}

// physicalSource is the physical backup's file in r's snapshot: a drill chooses its
// steps by the target's method, and a snapshot taken before the method changed is
// refused.
func physicalSource(r targets.Reader) (string, error) {
	src, err := dbdump.SnapshotFile(r)
	if err != nil {
		return "", err
	}
	if !IsPhysical(src) {
		return "", fmt.Errorf("snapshot %.8s holds %s, not a physical backup: it was taken before the target's method became physical", r.Snapshot().ID, path.Base(src))
	}
	return src, nil
}

func (d *physicalDrill) restore(ctx context.Context) (msg.Message, error) {
	src, err := physicalSource(d.r)
	if err != nil {
		return msg.Message{}, err
	}
	// The drill starts a server on the copy: its mariadbd must fit too, and that is
	// known before the download.
	if err := d.t.checkPhysicalVersions(ctx, d.r, true); err != nil {
		return msg.Message{}, err
	}
	r, n := dbdump.Counting(d.r)
	if err := d.t.restorePhysical(ctx, r, targets.RestoreRequest{To: d.data}, src); err != nil {
		return msg.Message{}, err
	}
	d.env.Restored(n())
	return msg.New("db.physical.restore.done", "bytes", n()), nil
}

func (d *physicalDrill) start(ctx context.Context) (msg.Message, error) {
	version, err := d.srv.start(ctx)
	if err != nil {
		return msg.Message{}, msg.Fail("db.physical.start_failed", "err", err.Error())
	}
	return msg.New("db.physical.started", "version", version), nil
}

// query runs sql on the scratch server.
func (d *physicalDrill) query(ctx context.Context, sql string) ([]string, error) {
	return d.srv.query(ctx, "", sql)
}

// scratchServer is a mariadbd of cadang's own on a prepared data directory: no network,
// its socket, pid file and log in the private folder dir, --skip-grant-tables (no
// account of production is needed), no binary log. It needs mariadbd of the data
// directory's version on the host.
type scratchServer struct {
	binDir    string // the target's bin_dir
	data, dir string
	cmd       *exec.Cmd
	exited    chan struct{}
	err       error // how it exited, once exited is closed
}

const startWait = 2 * time.Minute // for InnoDB's recovery of a large copy

func (s *scratchServer) socket() string  { return filepath.Join(s.dir, "mysqld.sock") }
func (s *scratchServer) logFile() string { return filepath.Join(s.dir, "mysqld.err") }

// mariadbd finds the server binary: bin_dir, PATH, /usr/sbin.
func (s *scratchServer) mariadbd() string {
	candidates := []string{"mariadbd", "/usr/sbin/mariadbd"}
	if s.binDir != "" {
		candidates = append([]string{filepath.Join(s.binDir, "mariadbd")}, candidates...)
	}
	for _, p := range candidates {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return "/usr/sbin/mariadbd"
}

// start starts the server and waits until it answers; it returns its version.
func (s *scratchServer) start(ctx context.Context) (string, error) {
	user := "mysql"
	if os.Geteuid() == 0 {
		user = "root" // the private folder is root's (0700)
	}
	s.cmd = exec.Command(s.mariadbd(), "--no-defaults", "--datadir="+s.data, "--socket="+s.socket(), "--skip-networking",
		"--skip-grant-tables", "--user="+user, "--pid-file="+filepath.Join(s.dir, "mysqld.pid"), "--log-error="+s.logFile(),
		// Its own tmpdir: at start mariadbd removes the #sql* files of its tmpdir, which
		// in the host's /tmp are the temporary tables of the production server's queries.
		"--tmpdir="+s.dir,
		"--innodb-buffer-pool-size=128M", "--skip-log-bin")
	s.cmd.Env = dbdump.BaseEnv()
	if err := s.cmd.Start(); err != nil {
		return "", err
	}
	s.exited = make(chan struct{})
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(startWait)
	for {
		lines, err := s.query(ctx, "", "SELECT VERSION();")
		if err == nil && len(lines) == 1 {
			return lines[0], nil
		}
		select {
		case <-s.exited:
			return "", errors.New(lastError(s.logFile()))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no answer on its socket within %s", startWait)
		}
	}
}

// conn is a connection to the server, as root over its socket.
func (s *scratchServer) conn() conn { return conn{BinDir: s.binDir, Host: s.socket(), User: "root"} }

// query runs sql on the server, in database db (none if "").
func (s *scratchServer) query(ctx context.Context, db, sql string) ([]string, error) {
	sess, err := s.conn().session(ctx, db)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	return sess.Query(ctx, sql)
}

// stop stops the server (SIGTERM: a clean shutdown, InnoDB's pages written) and waits
// for it; after a minute it is killed, and that is an error.
func (s *scratchServer) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("the scratch server did not stop within a minute and was killed")
	}
	if s.err != nil {
		return fmt.Errorf("the scratch server: %v (%s)", s.err, lastError(s.logFile()))
	}
	return nil
}

// lastError is the last [ERROR] line of the server's log.
func lastError(file string) string {
	b, _ := os.ReadFile(file)
	last := "it exited"
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "[ERROR]") {
			last = strings.TrimSpace(l)
		}
	}
	return last
}

func (d *physicalDrill) verify(ctx context.Context) (msg.Message, error) {
	check := msg.New("db.physical.check")
	if d.pitr {
		check = msg.New("db.physical.check_pitr")
	}
	fail := func(found msg.Message) (msg.Message, error) {
		d.env.Check(targets.DrillCheck{What: check, Passed: false, Found: found})
		return msg.Message{}, &msg.Error{Msg: found}
	}
	var m dbdump.Manifest
	if err := jsonManifest(d.env.Manifest, &m); err != nil {
		return fail(msg.New("db.manifest.none"))
	}
	present, err := d.query(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('information_schema', 'performance_schema', 'sys', 'mysql') ORDER BY 1;")
	if err != nil {
		return msg.Message{}, err
	}
	have := map[string]bool{}
	for _, db := range present {
		have[db] = true
	}
	dbs := m.Databases
	if d.pitr {
		// At T the server holds what the binary log made of the backup's databases: a
		// database dropped since the backup is gone, one created since is there.
		dbs = nil
		for _, name := range present {
			dbs = append(dbs, dbdump.Database{Name: name})
		}
	}
	tables := 0
	for _, db := range dbs {
		if !have[db.Name] {
			return fail(msg.New("db.physical.missing", "db", db.Name))
		}
		names, err := d.query(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+sqlString(db.Name)+" AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1;")
		if err != nil {
			return msg.Message{}, err
		}
		for _, name := range names {
			table := sqlIdent(db.Name) + "." + sqlIdent(name)
			lines, err := d.query(ctx, "CHECK TABLE "+table+";")
			if err != nil {
				return msg.Message{}, err
			}
			// Table, Op, Msg_type, Msg_text: the last row says the outcome.
			if len(lines) == 0 || !strings.HasSuffix(lines[len(lines)-1], "\tOK") {
				status := "no answer"
				if len(lines) > 0 {
					status = lines[len(lines)-1]
				}
				return fail(msg.New("db.physical.bad_table", "table", db.Name+"."+name, "status", status))
			}
			tables++
		}
	}
	found := msg.New("db.physical.ok", "dbs", len(dbs), "tables", tables)
	d.env.Check(targets.DrillCheck{What: check, Passed: true, Found: found})
	return found, nil
}

func (d *physicalDrill) cleanup(context.Context) (msg.Message, error) {
	_ = d.srv.stop() // the copy is removed whatever its state
	if err := os.RemoveAll(d.data); err != nil {
		return msg.Message{}, err
	}
	return msg.New("db.physical.cleanup.done"), nil
}

func jsonManifest(raw []byte, m *dbdump.Manifest) error {
	if len(raw) == 0 {
		return errors.New("no manifest")
	}
	return json.Unmarshal(raw, m)
}
