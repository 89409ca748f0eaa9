package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cadang/cadang/engine/config"
)

// Controller is the daemon's side: it publishes jobs, waits for their results and
// reads the agents' heartbeats.
type Controller struct {
	cfg    config.Cluster
	log    *slog.Logger
	emb    *Embedded
	nc     *nats.Conn
	js     jetstream.JetStream
	jobs   jetstream.Stream
	kv     jetstream.KeyValue
	orphan func(*Result) error
	stop   func()
	state  string // state_dir
	ready  atomic.Bool

	mu      sync.Mutex
	waiters map[uint64]*waiter
}

type waiter struct {
	results  chan delivered
	progress chan Progress
}

type delivered struct {
	res *Result
	ack func() error
}

// Options configure a Controller.
type Options struct {
	Logger *slog.Logger
	// Orphan records a result no running dispatch waits for (its controller restarted
	// since it dispatched the run). The result stays in CADANG_RESULTS until it
	// returns nil. It is not called before Ready.
	Orphan func(*Result) error
}

// Open starts the embedded NATS server (cluster.listen) or connects to the external
// one (cluster.url), and makes sure the streams, consumers and bucket exist.
func Open(ctx context.Context, c config.Cluster, stateDir string, o Options) (*Controller, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &Controller{cfg: c, log: log, orphan: o.Orphan, state: stateDir, waiters: map[uint64]*waiter{}}
	var opts []nats.Option
	url := c.URL
	if c.Listen != "" {
		emb, err := StartEmbedded(c, stateDir)
		if err != nil {
			return nil, err
		}
		// The controller's connection is in-process (a pipe, not the network): it
		// needs no TLS, and asking for it (tls://) would verify the server's own
		// certificate against the system's CAs.
		x.emb, url = emb, "nats://"+strings.TrimPrefix(strings.TrimPrefix(emb.URL(), "tls://"), "nats://")
		kp, err := nkeys.FromSeed(emb.seed)
		if err != nil {
			emb.Shutdown()
			return nil, err
		}
		opts = append(opts, nats.Nkey(emb.pub, kp.Sign), nats.InProcessServer(emb.srv))
	} else {
		ext, err := externalOptions(c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, ext...)
	}
	opts = append(opts, nats.Name("cadang-controller"), nats.MaxReconnects(-1))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		x.Close()
		return nil, fmt.Errorf("cluster: connecting to %s: %w%s", url, err, caHint(err, c.CAFile, "cluster.ca_file", "the NATS server", "its certificate"))
	}
	x.nc = nc
	if err := x.setup(ctx); err != nil {
		x.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return x, nil
}

// externalOptions are the controller's options at an external server (cluster.url):
// its credentials, and the CA its certificate is checked against when it speaks TLS.
func externalOptions(c config.Cluster) ([]nats.Option, error) {
	opt, err := credsOption(c.CredsFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.creds_file: %w", err)
	}
	opts := []nats.Option{opt}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			return nil, fmt.Errorf("cluster.ca_file: %w", err)
		}
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	return opts, nil
}

// credsOption reads a controller's credentials: a .creds file (JWT and seed) or an
// nkey seed file.
func credsOption(file string) (nats.Option, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte("BEGIN NATS USER JWT")) {
		return nats.UserCredentials(file), nil
	}
	return nats.NkeyOptionFromSeed(file)
}

func (x *Controller) setup(ctx context.Context) error {
	js, err := jetstream.New(x.nc)
	if err != nil {
		return err
	}
	x.js = js
	x.jobs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: JobsStream, Subjects: []string{"cadang.jobs.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	res, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: ResultsStream, Subjects: []string{"cadang.results.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	pools := map[string]bool{}
	for _, a := range x.cfg.Agents {
		if err := x.consumer(ctx, agentConsumer(a.Name), jobSubject(a.Name)); err != nil {
			return err
		}
		if a.Pool != "" && !pools[a.Pool] {
			pools[a.Pool] = true
			if err := x.consumer(ctx, poolConsumer(a.Pool), poolSubject(a.Pool)); err != nil {
				return err
			}
		}
	}
	x.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: AgentsBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	rc, err := res.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: resultsDurable, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute})
	if err != nil {
		return err
	}
	cc, err := rc.Consume(x.onResult)
	if err != nil {
		return err
	}
	sub, err := x.nc.Subscribe("cadang.progress.*", x.onProgress)
	if err != nil {
		cc.Stop()
		return err
	}
	x.stop = func() { cc.Stop(); _ = sub.Unsubscribe() }
	return nil
}

func (x *Controller) consumer(ctx context.Context, name, subject string) error {
	_, err := x.jobs.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, FilterSubject: subject,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: x.cfg.Lease, MaxDeliver: -1})
	return err
}

// Ready lets results no dispatch waits for be recorded (Options.Orphan): the daemon
// calls it once it has recovered the runs its predecessor left.
func (x *Controller) Ready() { x.ready.Store(true) }

// Close stops taking results and shuts the embedded server down.
func (x *Controller) Close() {
	if x.stop != nil {
		x.stop()
	}
	if x.nc != nil {
		x.nc.Close()
	}
	if x.emb != nil {
		x.emb.Shutdown()
	}
}

func (x *Controller) onResult(m jetstream.Msg) {
	var r Result
	if err := json.Unmarshal(m.Data(), &r); err != nil {
		x.log.Error("cluster: an unreadable result dropped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	// Only the agent itself may publish on its subject (Permissions): a result naming
	// another agent is refused.
	if from := strings.TrimPrefix(m.Subject(), "cadang.results."); from != r.Agent {
		x.log.Error("cluster: a result names another agent", "subject", m.Subject(), "agent", r.Agent)
		_ = m.Term()
		return
	}
	x.mu.Lock()
	w := x.waiters[r.Run]
	x.mu.Unlock()
	if w != nil {
		select {
		case w.results <- delivered{res: &r, ack: func() error { return m.Ack() }}:
			return
		default:
		}
	}
	if x.orphan == nil {
		_ = m.NakWithDelay(10 * time.Second)
		return
	}
	if !x.ready.Load() {
		// The daemon is still recovering the runs its predecessor left: the run this
		// result belongs to is not recorded interrupted yet, and recording both at
		// once would let one overwrite the other.
		_ = m.NakWithDelay(time.Second)
		return
	}
	if err := x.orphan(&r); err != nil {
		x.log.Error("cluster: cannot record a result yet", "run", r.Run, "agent", r.Agent, "err", err)
		_ = m.NakWithDelay(10 * time.Second)
		return
	}
	_ = m.Ack()
}

func (x *Controller) onProgress(m *nats.Msg) {
	var p Progress
	if json.Unmarshal(m.Data, &p) != nil || "cadang.progress."+p.Agent != m.Subject {
		return
	}
	x.mu.Lock()
	w := x.waiters[p.Run]
	x.mu.Unlock()
	if w != nil {
		select {
		case w.progress <- p:
		default:
		}
	}
}

// Request is one run to dispatch: to the agent named Agent, or to any agent of Pool.
type Request struct {
	Run    uint64
	Agent  string
	Pool   string
	Secret Secret
}

// LeaseError ends a dispatched run whose agent went silent, or that no agent could take.
type LeaseError struct{ Why string }

func (e *LeaseError) Error() string { return e.Why }

// Interrupted tells engine/runs that the run is interrupted, not failed.
func (e *LeaseError) Interrupted() bool { return true }

// Dispatch publishes a job and waits for its result. progress is called with what the
// agent reports. The caller records the result, then calls ack (the result stays in
// CADANG_RESULTS until then). A run whose agent is silent for longer than the lease
// ends with a *LeaseError and its job is withdrawn.
func (x *Controller) Dispatch(ctx context.Context, q Request, progress func(Progress)) (*Result, func() error, error) {
	recips, err := x.recipients(q)
	if err != nil {
		return nil, nil, err
	}
	q.Secret.Lease = x.cfg.Lease
	plain, err := json.Marshal(q.Secret)
	if err != nil {
		return nil, nil, err
	}
	var sealed bytes.Buffer
	aw, err := age.Encrypt(&sealed, recips...)
	if err != nil {
		return nil, nil, err
	}
	if _, err := aw.Write(plain); err != nil {
		return nil, nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, nil, err
	}
	data, _ := json.Marshal(Job{Run: q.Run, Sealed: sealed.Bytes()})
	w := &waiter{results: make(chan delivered, 1), progress: make(chan Progress, 16)}
	x.mu.Lock()
	x.waiters[q.Run] = w
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.waiters, q.Run)
		x.mu.Unlock()
	}()
	subject := jobSubject(q.Agent)
	if q.Agent == "" {
		subject = poolSubject(q.Pool)
	}
	ack, err := x.js.Publish(ctx, subject, data, jetstream.WithMsgID(fmt.Sprintf("run-%d", q.Run)))
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: publishing the job: %w", err)
	}
	withdraw := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = x.jobs.DeleteMsg(dctx, ack.Sequence) // gone already once an agent acknowledged it
	}
	started := false
	lease := time.NewTimer(x.cfg.Lease)
	defer lease.Stop()
	for {
		select {
		case d := <-w.results:
			return d.res, d.ack, nil
		case p := <-w.progress:
			started = true
			if progress != nil {
				progress(p)
			}
			lease.Reset(x.cfg.Lease)
		case <-lease.C:
			if started {
				withdraw()
				return nil, nil, &LeaseError{Why: fmt.Sprintf("the agent went silent for %s (its lease expired)", x.cfg.Lease)}
			}
			if up := x.upAgents(ctx, q); up == 0 {
				withdraw()
				return nil, nil, &LeaseError{Why: "no agent that may take the run is up (" + describe(q) + ")"}
			}
			lease.Reset(x.cfg.Lease) // waiting for a busy agent
		case <-ctx.Done():
			withdraw()
			return nil, nil, context.Cause(ctx)
		}
	}
}

func describe(q Request) string {
	if q.Agent != "" {
		return "agent " + q.Agent
	}
	return "pool " + q.Pool
}

// recipients are the age keys of the agents that may take q.
func (x *Controller) recipients(q Request) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, a := range x.cfg.Agents {
		if (q.Agent != "" && a.Name == q.Agent) || (q.Agent == "" && a.Pool == q.Pool) {
			r, err := age.ParseX25519Recipient(a.Recipient)
			if err != nil {
				return nil, fmt.Errorf("agent %q: %w", a.Name, err)
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no enrolled agent for %s", describe(q))
	}
	return out, nil
}

// upAgents counts the agents that may take q and whose heartbeat is fresh.
func (x *Controller) upAgents(ctx context.Context, q Request) int {
	list, err := x.Agents(ctx)
	if err != nil {
		return 1 // cannot tell: keep waiting
	}
	n := 0
	for _, a := range list {
		if a.Up && ((q.Agent != "" && a.Name == q.Agent) || (q.Agent == "" && a.Pool == q.Pool)) {
			n++
		}
	}
	return n
}

// AgentStatus is an enrolled agent as `cadang agents` shows it.
type AgentStatus struct {
	Name     string    `json:"name"`
	Pool     string    `json:"pool,omitempty"`
	Host     string    `json:"host,omitempty"`
	Version  string    `json:"version,omitempty"`
	LastSeen time.Time `json:"last_heartbeat,omitzero"`
	Running  []uint64  `json:"running"`
	Capacity int       `json:"capacity,omitempty"`
	Up       bool      `json:"up"`
}

// Agents lists the enrolled agents with their last heartbeat; an agent silent for
// longer than cluster.heartbeat_timeout is down.
func (x *Controller) Agents(ctx context.Context) ([]AgentStatus, error) {
	var out []AgentStatus
	for _, a := range x.cfg.Agents {
		s := AgentStatus{Name: a.Name, Pool: a.Pool, Running: []uint64{}}
		e, err := x.kv.Get(ctx, a.Name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return nil, err
		default:
			var h Heartbeat
			if json.Unmarshal(e.Value(), &h) == nil {
				s.Host, s.Version, s.Capacity = h.Host, h.Version, h.Capacity
				s.LastSeen = e.Created()
				if h.Running != nil {
					s.Running = h.Running
				}
				s.Up = time.Since(s.LastSeen) <= x.cfg.HeartbeatTimeout
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListAgents connects to the cluster as the controller (with the embedded server's key
// in stateDir/nats, or cluster.creds_file) without starting anything, and lists the
// agents: `cadang agents` on the controller's host.
func ListAgents(ctx context.Context, c config.Cluster, stateDir string) ([]AgentStatus, error) {
	var opt nats.Option
	var opts []nats.Option
	url := c.URL
	if c.Listen != "" {
		seed, err := os.ReadFile(filepath.Join(stateDir, "nats", ControllerSeedFile))
		if err != nil {
			return nil, fmt.Errorf("cluster: the controller's key: %w (has the daemon started with cluster.listen?)", err)
		}
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return nil, err
		}
		pub, _ := kp.PublicKey()
		opt, url = nats.Nkey(pub, kp.Sign), "nats://"+c.Listen
		if c.TLS.CertFile != "" {
			pin, err := pinned(c.TLS.CertFile)
			if err != nil {
				return nil, fmt.Errorf("cluster.tls: %w", err)
			}
			opts = append(opts, nats.Secure(pin))
			url = "tls://" + c.Listen
		}
		opts = append(opts, opt)
	} else {
		ext, err := externalOptions(c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, ext...)
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("cadang-agents"))...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w%s", url, err, caHint(err, c.CAFile, "cluster.ca_file", "the NATS server", "its certificate"))
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, AgentsBucket)
	if err != nil {
		return nil, fmt.Errorf("cluster: bucket %s: %w", AgentsBucket, err)
	}
	x := &Controller{cfg: c, kv: kv}
	return x.Agents(ctx)
}

// pinned is the TLS configuration of a client on the controller's own host: it trusts
// exactly the embedded server's certificate (cluster.tls.cert_file), whoever signed it
// and whatever address cluster.listen names (0.0.0.0 is no name a certificate holds).
func pinned(certFile string) (*tls.Config, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	want := block.Bytes
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The name is not checked; the certificate itself is, byte for byte.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return fmt.Errorf("the server's certificate is not %s", certFile)
			}
			return nil
		},
	}, nil
}
