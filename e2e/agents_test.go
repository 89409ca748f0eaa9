package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"gopkg.in/yaml.v3"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// agentProc is a `cadang agent run` process of a test.
type agentProc struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

// enrollAgent enrolls an agent in its own folder and returns the cluster.agents entry.
func enrollAgent(t *testing.T, w *world, name, pool, url string) (dir, entry string) {
	t.Helper()
	dir = filepath.Join(w.dir, name)
	args := []string{"agent", "enroll", name, "-o", dir, "--controller", url, "--json"}
	if pool != "" {
		args = append(args, "--pool", pool)
	}
	var e struct {
		Entry struct{ Name, Pool, NKey, Recipient string }
	}
	mustJSON(t, w.must(args...).stdout, &e)
	f, err := os.OpenFile(filepath.Join(dir, "agent.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "restic: {binary: %q}\nheartbeat: 1s\n", w.restic)
	f.Close()
	return dir, fmt.Sprintf("    - {name: %s, pool: %q, nkey: %s, recipient: %s}\n", e.Entry.Name, e.Entry.Pool, e.Entry.NKey, e.Entry.Recipient)
}

func startAgent(t *testing.T, dir string) *agentProc {
	t.Helper()
	p := &agentProc{log: filepath.Join(dir, "agent.log"), done: make(chan error, 1)}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(cadangBin, "agent", "run", "--config", filepath.Join(dir, "agent.yaml"))
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if b, _ := os.ReadFile(p.log); bytes.Contains(b, []byte("panic:")) || bytes.Contains(b, []byte("DATA RACE")) {
			t.Errorf("agent log shows a crash:\n%s", b)
		}
	})
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A controller with an embedded NATS server and two `cadang agent` processes, each with
// its own folder: a files target pinned to agent A runs on A, a PostgreSQL target
// pinned to agent B is dumped by B (pg_dump over the local socket; the dump restored
// from the offsite DRC is whole), a MariaDB target pinned to agent A likewise, a
// pooled target runs on one of them; each run records its agent, the snapshots reach
// both DRCs, the JetStream store holds no password or S3 secret, agent B's key cannot
// take A's jobs; then kill -9 of agent B mid-run, and of the controller mid-run.
func TestAgentsRunBackupsOverJetStream(t *testing.T) {
	t.Parallel()
	agentsSuite(t, false)
}

// The same against an external nats-server (built in the tools module: make
// nats-server), the controller with cluster: {url, creds_file}, kill tests included.
func TestAgentsRunBackupsOverExternalNATS(t *testing.T) {
	t.Parallel()
	agentsSuite(t, true)
}

// externalNATS starts bin/nats-server with JetStream on listen, its store under dir,
// with the users and permissions of the controller and the agents.
func externalNATS(t *testing.T, dir, listen, auth string) string {
	t.Helper()
	bin := testenv.Tool(t, "nats-server")
	store := filepath.Join(dir, "nats-store")
	host, port, _ := net.SplitHostPort(listen)
	conf := filepath.Join(dir, "nats-server.conf")
	body := fmt.Sprintf("host: %q\nport: %s\njetstream {store_dir: %q}\n%s", host, port, store, auth)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	logf, err := os.Create(filepath.Join(dir, "nats-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	waitFor(t, "nats-server to listen", 20*time.Second, func() (bool, string) {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return true, ""
		}
		return false, err.Error()
	})
	return store
}

func agentsSuite(t *testing.T, external bool) {
	start := time.Now()
	pg := testenv.Postgres(t)
	my := testenv.MariaDB(t)
	w := newWorld(t)
	primary := testenv.StartMinIO(t, "cadang")
	offsite := testenv.StartMinIO(t, "cadang-offsite")
	src := filepath.Join(w.dir, "srv", "portal")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(src, "data.bin"), 2<<20, 7)
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("laporan\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	slowSrc := filepath.Join(w.dir, "srv", "slow")
	if err := os.MkdirAll(slowSrc, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.RandomFile(t, filepath.Join(slowSrc, "big.bin"), 32<<20, 9)
	// A database of this machine's PostgreSQL server, dumped by agent B over the local
	// socket (peer authentication, as a database host's agent would).
	db := pg.CreateDB(t, "cadang_agents")
	pg.Exec(t, db, `CREATE TABLE pasien (id serial PRIMARY KEY, nama text, data jsonb);
INSERT INTO pasien (nama, data) SELECT 'pasien ' || g, jsonb_build_object('g', g) FROM generate_series(1, 2000) g;`)
	// And one of MariaDB's, dumped by agent A over its socket (unix_socket as root).
	mdb := my.CreateDB(t, "cadang_agents")
	my.Exec(t, mdb, `CREATE TABLE pasien (id INT AUTO_INCREMENT PRIMARY KEY, nama VARCHAR(100)) ENGINE=InnoDB;
INSERT INTO pasien (nama) SELECT CONCAT('pasien ', seq) FROM seq_1_to_1000;`)

	listen := freePort(t)
	url := "nats://" + listen
	dirA, entryA := enrollAgent(t, w, "agent-a", "site1", url)
	dirB, entryB := enrollAgent(t, w, "agent-b", "site1", url)
	cluster := "cluster:\n  listen: " + listen + "\n"
	store := filepath.Join(w.stateDir, "nats", "jetstream")
	if external {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		creds := filepath.Join(w.dir, "controller.nk")
		if err := os.WriteFile(creds, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		type agent struct{ Name, Pool, NKey string }
		var list []agent
		for _, e := range []string{entryA, entryB} {
			var a []agent
			if err := yaml.Unmarshal([]byte(strings.TrimSpace(e)), &a); err != nil {
				t.Fatal(err)
			}
			list = append(list, a...)
		}
		// The permissions docs/agents.md gives for an external server, per agent.
		auth := fmt.Sprintf("authorization {\n  users = [\n    {nkey: %q}\n", pub)
		for _, a := range list {
			var pubs []string
			for _, c := range []string{"agent-" + a.Name, "pool-" + a.Pool} {
				pubs = append(pubs, `"$JS.API.CONSUMER.MSG.NEXT.CADANG_JOBS.`+c+`"`, `"$JS.API.CONSUMER.INFO.CADANG_JOBS.`+c+`"`,
					`"$JS.ACK.CADANG_JOBS.`+c+`.>"`)
			}
			pubs = append(pubs, `"cadang.results.`+a.Name+`"`, `"cadang.progress.`+a.Name+`"`, `"$KV.cadang_agents.`+a.Name+`"`)
			auth += fmt.Sprintf("    {nkey: %q, permissions: {publish: {allow: [%s]}, subscribe: {allow: [\"_INBOX_%s.>\"]}}}\n",
				a.NKey, strings.Join(pubs, ", "), a.Name)
		}
		auth += "  ]\n}\n"
		store = externalNATS(t, w.dir, listen, auth)
		cluster = "cluster:\n  url: " + url + "\n  creds_file: " + creds + "\n"
	}
	w.config("drcs:\n"+s3DRC("local", "primary", primary, "", "cadang")+s3DRC("offsite", "secondary", offsite, "", "cadang-offsite")+`
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - {name: pinned, agency: dinkes, kind: files, agent: agent-a, files: {paths: [`+src+`]}}
  - {name: pooled, agency: dinkes, kind: files, agent_pool: site1, files: {paths: [`+src+`]}}
  - {name: slow, agency: dinkes, kind: files, agent: agent-b, files: {paths: [`+slowSrc+`]}}
  - {name: simpus-db, agency: dinkes, kind: postgres, agent: agent-b, postgres: {host: /var/run/postgresql, port: `+fmt.Sprint(pg.Port)+`, database: `+db+`}}
  - {name: simpus-my, agency: dinkes, kind: mysql, agent: agent-a, mysql: {host: `+my.Socket+`, user: root, database: `+mdb+`}}
`, cluster+"  lease: 5s\n  heartbeat_timeout: 5s\n  agents:\n"+entryA+entryB)
	t.Logf("world ready after %s", time.Since(start).Round(time.Millisecond))
	w.must("init")
	w.startDaemon()
	t.Logf("daemon up after %s", time.Since(start).Round(time.Millisecond))
	startAgent(t, dirA)
	procB := startAgent(t, dirB)

	var agents []struct {
		Name string
		Up   bool
	}
	waitFor(t, "both agents up", 30*time.Second, func() (bool, string) {
		r := w.cadang("agents", "--json")
		if r.code != 0 {
			return false, r.String()
		}
		mustJSON(t, r.stdout, &agents)
		return len(agents) == 2 && agents[0].Up && agents[1].Up, r.stdout
	})

	t.Logf("agents up after %s", time.Since(start).Round(time.Millisecond))
	// The four backups at once: the daemon runs two at a time (daemon.concurrency),
	// one on each agent.
	started := map[string]<-chan result{}
	for _, tg := range []string{"pinned", "pooled", "simpus-db", "simpus-my"} {
		started[tg] = backupAsync(w, tg)
	}
	backed := func(target string) (api.RunInfo, result) {
		r := <-started[target]
		var ri api.RunInfo
		if r.code != 2 {
			mustJSON(t, r.stdout, &ri)
		}
		return ri, r
	}
	pinned, r := backed("pinned")
	if r.code != 0 || pinned.Status != api.Succeeded || pinned.Agent != "agent-a" {
		t.Fatalf("pinned backup: agent %q status %s: %s\n%s", pinned.Agent, pinned.Status, r, w.log())
	}
	pooled, r := backed("pooled")
	if r.code != 0 || pooled.Status != api.Succeeded || (pooled.Agent != "agent-a" && pooled.Agent != "agent-b") {
		t.Fatalf("pooled backup: agent %q status %s: %s", pooled.Agent, pooled.Status, r)
	}
	dump, r := backed("simpus-db")
	if r.code != 0 || dump.Status != api.Succeeded || dump.Agent != "agent-b" {
		t.Fatalf("postgres backup: agent %q status %s: %s\n%s", dump.Agent, dump.Status, r, w.log())
	}
	mdump, r := backed("simpus-my")
	if r.code != 0 || mdump.Status != api.Succeeded || mdump.Agent != "agent-a" {
		t.Fatalf("mysql backup: agent %q status %s: %s\n%s", mdump.Agent, mdump.Status, r, w.log())
	}
	if runs := w.runs("pinned"); len(runs) == 0 || runs[0].Agent != "agent-a" {
		t.Errorf("cadang runs pinned --json does not name agent-a: %+v", runs)
	}
	t.Logf("backups done after %s", time.Since(start).Round(time.Millisecond))
	if s := w.must("drc", "sync", "--wait"); !strings.Contains(s.stdout, "succeeded") {
		t.Fatalf("drc sync: %s", s)
	}
	for _, tg := range []struct{ name, snap string }{{"pinned", pinned.SnapshotID}, {"pooled", pooled.SnapshotID},
		{"simpus-db", dump.SnapshotID}, {"simpus-my", mdump.SnapshotID}} {
		found := false
		for _, s := range w.snapshotsJSON(tg.name, "--drc", "offsite") {
			found = found || s.ID == tg.snap
		}
		if !found {
			t.Errorf("snapshot %s of %s is not at the offsite DRC", tg.snap, tg.name)
		}
	}
	// The dump agent B wrote is whole: restored from the offsite copy into a new
	// database, its table is the same.
	restored := testenv.Name("cadang_agents_restored")
	pg.DropDBAtCleanup(t, restored)
	var ri api.RunInfo
	mustJSON(t, w.must("restore", "simpus-db", "--snapshot", dump.SnapshotID, "--drc", "offsite", "--to", pg.AdminURL(restored), "--json").stdout, &ri)
	q := "SELECT count(*) || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pasien t"
	if got, want := pg.Query(t, restored, q), pg.Query(t, db, q); ri.Status != api.Succeeded || got != want {
		t.Errorf("restore of agent B's dump from offsite: %s, table %s, want %s", ri.Status, got, want)
	}
	// And agent A's MariaDB dump, into a new database.
	mrestored := testenv.Name("cadang_agents_restored")
	my.DropDBAtCleanup(t, mrestored)
	mustJSON(t, w.must("restore", "simpus-my", "--snapshot", mdump.SnapshotID, "--to", "mysql://localhost/"+mrestored+"?user=root&socket="+my.Socket, "--json").stdout, &ri)
	mq := "SELECT COUNT(*), SUM(id), SUM(CRC32(nama)) FROM pasien"
	if got, want := my.Query(t, mrestored, mq), my.Query(t, mdb, mq); ri.Status != api.Succeeded || got != want {
		t.Errorf("restore of agent A's MariaDB dump: %s, table %s, want %s", ri.Status, got, want)
	}

	// The JetStream store holds only ciphertext: neither the repository's password
	// nor the S3 secret key is in any of its files.
	pw, err := os.ReadFile(filepath.Join(w.stateDir, "keys", "local", "dinkes.key"))
	if err != nil {
		t.Fatal(err)
	}
	markers := map[string]string{"repository password": strings.TrimSpace(string(pw)), "S3 secret key": primary.SecretKey}
	files := 0
	_ = filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, _ := os.ReadFile(p)
		for what, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s is in the JetStream store: %s", what, p)
			}
		}
		return nil
	})
	if files == 0 {
		t.Fatalf("no JetStream store under %s", store)
	}

	// Agent B's key may not take agent A's jobs, nor publish A's results.
	nk, err := nats.NkeyOptionFromSeed(filepath.Join(dirB, "agent.nk"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nk, nats.CustomInboxPrefix("_INBOX_agent-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	if _, err := js.Consumer(short(), "CADANG_JOBS", "agent-agent-a"); err == nil {
		t.Error("agent-b's key reached agent-a's consumer")
	}
	if _, err := js.Consumer(short(), "CADANG_JOBS", "agent-agent-b"); err != nil {
		t.Errorf("agent-b's key cannot reach its own consumer: %v", err)
	}
	forged, _ := json.Marshal(map[string]any{"run": pinned.ID, "agent": "agent-a"})
	if _, err := js.Publish(short(), "cadang.results.agent-a", forged); err == nil {
		t.Error("agent-b's key published a result as agent-a")
	}
	agentFailures(t, w, procB, dirB, slowSrc, primary)
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// agentFailures kills agent B (kill -9) mid-backup of its slow target (src), then the
// controller mid-run, with either NATS server.
func agentFailures(t *testing.T, w *world, procB *agentProc, dirB, src string, primary *testenv.MinIO) {
	t.Helper()
	start := time.Now()
	killAgentMidRun(t, w, procB, dirB, primary)
	t.Logf("kill -9 of the agent checked in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	// New data, or restic finds nothing to upload and the run ends before the test
	// sees it start.
	testenv.RandomFile(t, filepath.Join(src, "big-2.bin"), 32<<20, 10)
	killControllerMidRun(t, w, dirB)
	t.Logf("kill -9 of the controller checked in %s", time.Since(start).Round(time.Millisecond))
}

// waitRunOnAgent waits for the agent to start a run (its private folder appears) and
// returns the run's id.
func waitRunOnAgent(t *testing.T, dir string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(dir, "scratch", "run-*")); len(m) > 0 {
			return strings.TrimPrefix(filepath.Base(m[0]), "run-")
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
	t.Fatalf("the agent did not start the run; its log:\n%s", b)
	return ""
}

func runStatus(t *testing.T, w *world, target, id string) api.RunInfo {
	t.Helper()
	for _, r := range w.runs(target) {
		if fmt.Sprint(r.ID) == id {
			return r
		}
	}
	return api.RunInfo{}
}

// kill -9 of an agent mid-backup (its restic holds a lock in the repository): once the
// lease (5s) expires the run is interrupted; the agent started again removes the lock
// its killed restic left, backs the target up, and the repository checks clean.
func killAgentMidRun(t *testing.T, w *world, p *agentProc, dir string, primary *testenv.MinIO) {
	t.Helper()
	w.must("backup", "slow")
	id := waitRunOnAgent(t, dir)
	mc := primary.Client()
	waitFor(t, "the agent's restic to lock the repository", 30*time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for o := range mc.ListObjects(ctx, "cadang", minio.ListObjectsOptions{Prefix: "dinkes/locks/"}) {
			if o.Err == nil {
				return true, ""
			}
		}
		return false, "no lock"
	})
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil // for the cleanup
	waitFor(t, "the run to be interrupted", 40*time.Second, func() (bool, string) {
		r := runStatus(t, w, "slow", id)
		return r.Status == api.Interrupted, fmt.Sprintf("%s %s", r.Status, r.Error)
	})
	startAgent(t, dir) // removes the run's folder the killed agent left (and the password in it)
	if r, res := w.backupJSON("slow"); res.code != 0 || r.Agent != "agent-b" {
		t.Fatalf("backup after the agent restarted: %s", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "scratch", "run-"+id)); err == nil {
		t.Errorf("the killed run's folder is still in the agent's scratch dir")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "agent.log")); !bytes.Contains(b, []byte("removed a stale restic lock left by a killed run of this agent")) {
		t.Errorf("the restarted agent did not remove its killed restic's lock; its log:\n%s", b)
	}
	// The repository the killed restic wrote to checks clean (restic check takes an
	// exclusive lock: the dead restic's lock would stand in its way).
	if r := w.cadang("check", "dinkes", "--wait"); r.code != 0 {
		t.Errorf("check after the agent was killed: %s", r)
	}
}

// kill -9 of the controller mid-run: the agent finishes, keeps the result in its
// outbox, and delivers it when the controller is back; the run is recorded once.
func killControllerMidRun(t *testing.T, w *world, dir string) {
	t.Helper()
	before := len(w.runs("slow"))
	w.must("backup", "slow")
	id := waitRunOnAgent(t, dir)
	_ = w.daemon.Process.Kill()
	<-w.daemonDone
	w.daemon = nil
	waitFor(t, "the agent to finish the run", 60*time.Second, func() (bool, string) {
		m, _ := filepath.Glob(filepath.Join(dir, "scratch", "run-*"))
		return len(m) == 0, fmt.Sprint(m)
	})
	w.startDaemon()
	t.Cleanup(func() { // what the daemon said of the agents' results, when it fails
		if t.Failed() {
			for _, l := range strings.Split(w.log(), "\n") {
				if strings.Contains(l, "cluster") || strings.Contains(l, "agent") {
					t.Log("daemon:", l)
				}
			}
		}
	})
	waitFor(t, "the result to be recorded", 40*time.Second, func() (bool, string) {
		r := runStatus(t, w, "slow", id)
		return r.Status == api.Succeeded && r.Agent == "agent-b", fmt.Sprintf("%s %s", r.Status, r.Error)
	})
	// The restarted daemon may queue a catch-up backup of its own (the run was
	// interrupted when it stopped); the run itself is recorded once.
	runs, mine := w.runs("slow"), 0
	var l []string
	for _, r := range runs {
		l = append(l, fmt.Sprintf("%d %s %s %s agent=%s %s", r.ID, r.Op, r.Reason, r.Status, r.Agent, r.Error))
		if r.Reason != "catch-up" {
			mine++
		}
	}
	if mine != before+1 {
		t.Errorf("%d runs of slow after the restart, want %d:\n%s", len(runs), before+1, strings.Join(l, "\n"))
	}
	// A catch-up run may be finishing: its result passes through the outbox too.
	waitFor(t, "the agent's outbox to be empty", 30*time.Second, func() (bool, string) {
		box, _ := os.ReadDir(filepath.Join(dir, "scratch", "outbox"))
		return len(box) == 0, fmt.Sprint(len(box), " results")
	})
}
