package cluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/cadang/cadang/engine/config"
)

// Permissions are what an agent may do on the NATS server: take jobs from its own
// consumer and its pool's, acknowledge them, publish its own results, progress and
// heartbeat, and read replies on its own inbox. Nothing else: another agent's jobs,
// results and heartbeats are refused.
func Permissions(a config.ClusterAgent) *server.Permissions {
	cons := []string{agentConsumer(a.Name)}
	if a.Pool != "" {
		cons = append(cons, poolConsumer(a.Pool))
	}
	var pub []string
	for _, c := range cons {
		pub = append(pub,
			"$JS.API.CONSUMER.MSG.NEXT."+JobsStream+"."+c,
			"$JS.API.CONSUMER.INFO."+JobsStream+"."+c,
			"$JS.ACK."+JobsStream+"."+c+".>")
	}
	pub = append(pub, resultSubject(a.Name), progressSubject(a.Name), heartbeatSubject(a.Name))
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: []string{inboxPrefix(a.Name) + ".>"}},
	}
}

// Embedded is the controller's own NATS server.
type Embedded struct {
	srv  *server.Server
	seed []byte // the controller's nkey seed
	pub  string
}

// ControllerSeedFile is where the embedded server's controller key is kept, under
// state_dir/nats (0600): `cadang agents` on the controller's host reads it.
const ControllerSeedFile = "controller.nk"

// StartEmbedded starts a NATS server with JetStream on c.Listen, its store under
// stateDir/nats. Agents log in with their nkeys and get Permissions; the controller
// logs in with a key of its own, kept in stateDir/nats.
func StartEmbedded(c config.Cluster, stateDir string) (*Embedded, error) {
	host, portS, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster.listen %q: %w", c.Listen, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return nil, fmt.Errorf("cluster.listen %q: bad port", c.Listen)
	}
	dir := filepath.Join(stateDir, "nats")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	seed, pub, err := controllerKey(filepath.Join(dir, ControllerSeedFile))
	if err != nil {
		return nil, err
	}
	users := []*server.NkeyUser{{Nkey: pub}}
	for _, a := range c.Agents {
		users = append(users, &server.NkeyUser{Nkey: a.NKey, Permissions: Permissions(a)})
	}
	opts := &server.Options{
		ServerName: "cadang", Host: host, Port: port, JetStream: true, StoreDir: filepath.Join(dir, "jetstream"),
		NoSigs: true, NoLog: true, Nkeys: users, MaxPayload: 8 << 20,
	}
	if c.TLS.CertFile != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile})
		if err != nil {
			return nil, fmt.Errorf("cluster.tls: %w", err)
		}
		opts.TLSConfig, opts.TLS = tc, true
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: the embedded NATS server did not start on %s", c.Listen)
	}
	return &Embedded{srv: srv, seed: seed, pub: pub}, nil
}

// URL is the server's client URL.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// controllerKey reads the controller's nkey seed, creating it the first time.
func controllerKey(path string) ([]byte, string, error) {
	seed, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, "", err
		}
		seed, _ = kp.Seed()
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			return nil, "", err
		}
	} else if err != nil {
		return nil, "", err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	pub, err := kp.PublicKey()
	return seed, pub, err
}

// ServerAuthConfig is the authorization block of an external nats-server's
// configuration file for a controller key and the enrolled agents: the same users and
// Permissions the embedded server makes.
func ServerAuthConfig(controllerNKey string, agents []config.ClusterAgent) string {
	var b strings.Builder
	b.WriteString("authorization {\n  users = [\n")
	fmt.Fprintf(&b, "    {nkey: %q}\n", controllerNKey)
	for _, a := range agents {
		p := Permissions(a)
		fmt.Fprintf(&b, "    {nkey: %q, permissions: {publish: {allow: %s}, subscribe: {allow: %s}}}\n",
			a.NKey, quoteList(p.Publish.Allow), quoteList(p.Subscribe.Allow))
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
