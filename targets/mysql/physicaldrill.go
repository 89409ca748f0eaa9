package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

const startWait = 2 * time.Minute // for InnoDB's recovery of a large copy

type physicalDrill struct {
	t      *Target
	r      targets.Reader
	env    *targets.DrillEnv
	data   string
	socket string
	srv    *exec.Cmd
	exited chan struct{}
}

func (t *Target) physicalDrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	d := &physicalDrill{t: t, r: r, env: env, data: filepath.Join(env.Scratch, "data"), socket: filepath.Join(env.Scratch, "mysqld.sock")}
	return []targets.DrillStep{
		{Key: "restore", Activity: msg.New("db.physical.restore.title"), Do: d.restore},
		{Key: "start", Activity: msg.New("db.physical.start.title"), Timeout: startWait + 30*time.Second, Do: d.start},
		{Key: "verify-tables", Activity: msg.New("db.physical.title"), Verify: true, Do: d.verify},
		dbdump.ChecksStep(env, d.query),
		{Key: "cleanup", Activity: msg.New("db.physical.cleanup.title"), Always: true, Do: d.cleanup},
	}
}

func (d *physicalDrill) restore(ctx context.Context) (msg.Message, error) {
	src, err := dbdump.SnapshotFile(d.r)
	if err != nil {
		return msg.Message{}, err
	}
	r, n := dbdump.Counting(d.r)
	if err := d.t.restorePhysical(ctx, r, targets.RestoreRequest{To: d.data}, src); err != nil {
		return msg.Message{}, err
	}
	d.env.Restored(n())
	return msg.New("db.physical.restore.done", "bytes", n()), nil
}

// mariadbd finds the server binary: bin_dir, PATH, /usr/sbin.
func (d *physicalDrill) mariadbd() string {
	candidates := []string{"mariadbd", "/usr/sbin/mariadbd"}
	if d.t.cfg.BinDir != "" {
		candidates = append([]string{filepath.Join(d.t.cfg.BinDir, "mariadbd")}, candidates...)
	}
	for _, p := range candidates {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return "/usr/sbin/mariadbd"
}

func (d *physicalDrill) start(ctx context.Context) (msg.Message, error) {
	user := "mysql"
	if os.Geteuid() == 0 {
		user = "root" // the scratch folder is root's (0700)
	}
	logFile := filepath.Join(d.env.Scratch, "mysqld.err")
	d.srv = exec.Command(d.mariadbd(), "--no-defaults", "--datadir="+d.data, "--socket="+d.socket, "--skip-networking",
		"--skip-grant-tables", "--user="+user, "--pid-file="+filepath.Join(d.env.Scratch, "mysqld.pid"), "--log-error="+logFile,
		"--innodb-buffer-pool-size=128M", "--skip-log-bin")
	d.srv.Env = dbdump.BaseEnv()
	if err := d.srv.Start(); err != nil {
		return msg.Message{}, msg.Fail("db.physical.start_failed", "err", err.Error())
	}
	d.exited = make(chan struct{})
	go func() { _ = d.srv.Wait(); close(d.exited) }()
	deadline := time.Now().Add(startWait)
	for {
		lines, err := d.query(ctx, "SELECT VERSION();")
		if err == nil && len(lines) == 1 {
			return msg.New("db.physical.started", "version", lines[0]), nil
		}
		select {
		case <-d.exited:
			return msg.Message{}, msg.Fail("db.physical.start_failed", "err", lastError(logFile))
		case <-ctx.Done():
			return msg.Message{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return msg.Message{}, msg.Fail("db.physical.start_failed", "err", fmt.Sprintf("no answer on its socket within %s", startWait))
		}
	}
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

// query runs sql on the scratch server.
func (d *physicalDrill) query(ctx context.Context, sql string) ([]string, error) {
	c := conn{BinDir: d.t.cfg.BinDir, Host: d.socket, User: "root"}
	s, err := c.session(ctx, "")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Query(ctx, sql)
}

func (d *physicalDrill) verify(ctx context.Context) (msg.Message, error) {
	check := msg.New("db.physical.check")
	fail := func(found msg.Message) (msg.Message, error) {
		d.env.Check(targets.DrillCheck{What: check, Passed: false, Found: found})
		return msg.Message{}, &msg.Error{Msg: found}
	}
	var m dbdump.Manifest
	if err := jsonManifest(d.env.Manifest, &m); err != nil {
		return fail(msg.New("db.manifest.none"))
	}
	present, err := d.query(ctx, "SHOW DATABASES;")
	if err != nil {
		return msg.Message{}, err
	}
	have := map[string]bool{}
	for _, db := range present {
		have[db] = true
	}
	tables := 0
	for _, db := range m.Databases {
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
	found := msg.New("db.physical.ok", "dbs", len(m.Databases), "tables", tables)
	d.env.Check(targets.DrillCheck{What: check, Passed: true, Found: found})
	return found, nil
}

func (d *physicalDrill) cleanup(context.Context) (msg.Message, error) {
	if d.srv != nil && d.srv.Process != nil {
		_ = d.srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(time.Minute):
			_ = d.srv.Process.Kill()
			<-d.exited
		}
	}
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
