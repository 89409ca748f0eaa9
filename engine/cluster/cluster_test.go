package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets/files"
)

// testCluster starts a controller with an embedded NATS server and enrolls agents
// (name -> pool); it returns the controller and each agent's folder. mod changes the
// cluster's configuration before the controller opens.
func testCluster(t testing.TB, lease time.Duration, orphan func(*Result) error, agents map[string]string, mod ...func(*config.Cluster)) (*Controller, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	c := config.Cluster{Listen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), Lease: lease, HeartbeatTimeout: 5 * time.Second}
	for _, m := range mod {
		m(&c)
	}
	dirs := map[string]string{}
	for name, pool := range agents {
		e, err := Enroll(name, pool, "nats://"+c.Listen, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		c.Agents = append(c.Agents, e.Entry)
		dirs[name] = filepath.Join(dir, name)
	}
	x, err := Open(context.Background(), c, filepath.Join(dir, "state"), Options{Orphan: orphan})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	x.Ready()
	return x, dirs
}

// rawAgent connects with an enrolled agent's key, as `cadang agent` would.
func rawAgent(t testing.TB, x *Controller, dir, name string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nk, err := nats.NkeyOptionFromSeed(filepath.Join(dir, "agent.nk"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+x.cfg.Listen, nk, nats.CustomInboxPrefix(inboxPrefix(name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return nc, js
}

// An agent that takes a job, says it started, then dies (kill -9: no ack, no result):
// once the lease expires the dispatch ends with a LeaseError (the run is recorded
// interrupted) and the job is withdrawn, not left for the next agent.
func TestLeaseExpiresWhenTheAgentDies(t *testing.T) {
	x, dirs := testCluster(t, time.Second, nil, map[string]string{"a1": ""})
	nc, js := rawAgent(t, x, dirs["a1"], "a1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		cons, err := js.Consumer(ctx, JobsStream, agentConsumer("a1"))
		if err != nil {
			t.Error(err)
			return
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Error(err)
			return
		}
		for m := range batch.Messages() {
			var j Job
			_ = json.Unmarshal(m.Data(), &j)
			p, _ := json.Marshal(Progress{Run: j.Run, Agent: "a1", Phase: "started"})
			_ = nc.Publish(progressSubject("a1"), p)
			nc.Close() // dies
		}
	}()
	start := time.Now()
	_, _, err := x.Dispatch(ctx, Request{Run: 7, Agent: "a1", Secret: Secret{Target: "t"}}, nil)
	var le *LeaseError
	if !errors.As(err, &le) || !le.Interrupted() {
		t.Fatalf("dispatch: %v, want a LeaseError", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the lease of 1s ended the run only after %s", took)
	}
	info, err := x.jobs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("%d jobs left in %s after the lease expired", info.State.Msgs, JobsStream)
	}
}

// A job for an agent that is not up ends after the lease: no run waits forever.
func TestNoAgentUp(t *testing.T) {
	x, _ := testCluster(t, time.Second, nil, map[string]string{"a1": "p"})
	_, _, err := x.Dispatch(context.Background(), Request{Run: 8, Pool: "p"}, nil)
	var le *LeaseError
	if !errors.As(err, &le) {
		t.Fatalf("dispatch: %v, want a LeaseError", err)
	}
}

// A result left in an agent's outbox (the controller was down when the run ended) is
// delivered when the agent starts again, and the controller records it (Orphan) once.
func TestOutboxDeliveredAfterRestart(t *testing.T) {
	got := make(chan *Result, 4)
	x, dirs := testCluster(t, 5*time.Second, func(r *Result) error { got <- r; return nil }, map[string]string{"a1": ""})
	cfg, err := LoadAgentConfig(filepath.Join(dirs["a1"], "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Controller, cfg.Heartbeat = "nats://"+x.cfg.Listen, 200*time.Millisecond
	box := filepath.Join(cfg.ScratchDir, "outbox")
	if err := os.MkdirAll(box, 0o700); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(Result{Run: 42, Agent: "a1"})
	if err := os.WriteFile(filepath.Join(box, "run-42.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	select {
	case r := <-got:
		if r.Run != 42 || r.Agent != "a1" {
			t.Errorf("result %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the outbox's result was not delivered")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := x.Agents(context.Background())
		if err == nil && len(list) == 1 && list[0].Up && list[0].Version == "test" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not up in cadang agents: %+v %v", list, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	if ents, _ := os.ReadDir(box); len(ents) != 0 {
		t.Errorf("outbox not emptied: %v", ents)
	}
	select {
	case r := <-got:
		t.Errorf("result recorded twice: %+v", r)
	default:
	}
}

// ServerAuthConfig is a valid nats-server configuration that gives each agent the
// embedded server's permissions.
func TestServerAuthConfig(t *testing.T) {
	key := func() string {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		return pub
	}
	a := config.ClusterAgent{Name: "hyp-07", Pool: "hv", NKey: key()}
	f := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(f, []byte(ServerAuthConfig(key(), []config.ClusterAgent{a})), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Nkeys) != 2 || o.Nkeys[1].Permissions == nil {
		t.Fatalf("users: %+v", o.Nkeys)
	}
	want := Permissions(a)
	if got := o.Nkeys[1].Permissions; fmt.Sprint(got.Publish.Allow) != fmt.Sprint(want.Publish.Allow) ||
		fmt.Sprint(got.Subscribe.Allow) != fmt.Sprint(want.Subscribe.Allow) {
		t.Errorf("permissions %+v %+v, want %+v %+v", got.Publish, got.Subscribe, want.Publish, want.Subscribe)
	}
}

// With cluster.tls the embedded server speaks TLS only: an agent that trusts the CA of
// its certificate (ca_file) connects and runs a real backup (restic to a folder DRC);
// an agent without the CA, over tls:// or plain nats://, is refused with one line that
// says what is missing.
func TestAgentOverTLS(t *testing.T) {
	pki := testenv.NewTLSFiles(t, t.TempDir())
	x, dirs := testCluster(t, 5*time.Second, nil, map[string]string{"a1": ""}, func(c *config.Cluster) {
		c.TLS = config.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey}
	})
	cfg, err := LoadAgentConfig(filepath.Join(dirs["a1"], "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Heartbeat = 200 * time.Millisecond
	log := slog.New(slog.DiscardHandler)
	other := testenv.NewTLSFiles(t, t.TempDir()) // another PKI: its CA did not sign the server's certificate
	for _, tc := range []struct{ name, url, ca, want string }{
		{"tls:// without ca_file", "tls://" + x.cfg.Listen, "", "give ca_file:"},
		{"plain nats://", "nats://" + x.cfg.Listen, "", "give ca_file:"},
		{"another CA", "tls://" + x.cfg.Listen, other.CA, "ca_file " + other.CA + " is not the CA that signed"},
	} {
		c := *cfg
		c.Controller, c.CAFile = tc.url, tc.ca
		a, err := NewAgent(&c, "test", log)
		if err == nil {
			a.Close()
			t.Errorf("%s: the agent connected without the controller's CA", tc.name)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
		if msg := err.Error(); !testenv.OneLine(msg) || !strings.Contains(msg, "agent a1: connecting to "+tc.url) ||
			!strings.Contains(msg, "certificate signed by unknown authority") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %q, want one line naming the URL, the unknown authority and %q", tc.name, msg, tc.want)
		}
	}

	restic := testenv.Restic(t)
	cfg.Controller, cfg.CAFile, cfg.Restic.Binary = "tls://"+x.cfg.Listen, pki.CA, restic
	a, err := NewAgent(cfg, "test", log)
	if err != nil {
		t.Fatalf("an agent with the CA: %v", err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// `cadang agents` on the controller's host reaches the server over TLS too.
	testenv.Eventually(t, 10*time.Second, "the agent up in cadang agents over TLS", func() bool {
		list, err := ListAgents(ctx, x.cfg, x.state)
		if err != nil {
			t.Fatalf("cadang agents over TLS: %v", err)
		}
		return len(list) == 1 && list[0].Up
	})

	// The agency's repository in a folder DRC, made as the controller makes it.
	drcDir, state, src := t.TempDir(), t.TempDir(), t.TempDir()
	const password = "tls-test-password"
	keys := filepath.Join(state, "keys", "local")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, "x.key"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	site, err := drc.Open(drc.Config{Name: "local", Role: drc.RolePrimary, Path: drcDir}, &drc.Restic{Binary: restic, Logger: log}, state)
	if err != nil {
		t.Fatal(err)
	}
	repo := site.Repo("x")
	if err := repo.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "laporan.txt"), []byte("laporan\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(files.Config{Paths: []string{src}})
	res, ack, err := x.Dispatch(ctx, Request{Run: 1, Agent: "a1", Secret: Secret{Target: "t", Agency: "x", Kind: "files", Spec: spec,
		DRC: Site{Name: "local", Path: drcDir}, Password: password}}, nil)
	if err != nil {
		t.Fatalf("dispatch over TLS: %v", err)
	}
	if err := ack(); err != nil {
		t.Error(err)
	}
	if res.Error != "" || res.Agent != "a1" || res.Summary == nil || res.Summary.SnapshotID == "" {
		t.Fatalf("result over TLS: %+v", res)
	}
	snaps, err := repo.Snapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].ID != res.Summary.SnapshotID {
		t.Errorf("snapshots at the DRC: %+v %v, want the agent's %s", snaps, err, res.Summary.SnapshotID)
	}
}
