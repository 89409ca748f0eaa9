package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/cadang/cadang/drc"
)

// Cluster is the `cluster:` section: where runs of targets that name an agent (or a
// pool of agents) are dispatched, over NATS JetStream (docs/agents.md). Listen starts
// an embedded NATS server with JetStream (its store under <state_dir>/nats); URL uses
// an existing NATS cluster instead. Without either, every run executes in-process.
type Cluster struct {
	// Listen is host:port of the embedded NATS server.
	Listen string `yaml:"listen"`
	// TLS is the embedded server's certificate (optional).
	TLS TLS `yaml:"tls"`
	// URL is an external NATS server (nats://host:port), CredsFile the controller's
	// credentials there: an nkey seed file (SU...) or a .creds file.
	URL       string `yaml:"url"`
	CredsFile string `yaml:"creds_file"`
	// CAFile, with url:, is the CA that signed the external server's certificate
	// (tls://, or a nats:// server that asks for TLS); without it the system's CAs.
	CAFile string `yaml:"ca_file"`
	// Lease is how long a dispatched run may stay silent (no progress from its agent)
	// before it is recorded interrupted; it is also JetStream's AckWait (default 30s).
	Lease time.Duration `yaml:"lease"`
	// HeartbeatTimeout is how long an agent may be silent before `cadang agents` shows
	// it down (default 30s).
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// Agents are the enrolled agents (what `cadang agent enroll` prints).
	Agents []ClusterAgent `yaml:"agents"`
}

// ClusterAgent is one enrolled agent.
type ClusterAgent struct {
	Name string `yaml:"name"`
	Pool string `yaml:"pool"`
	// NKey is the agent's NATS public user key (U...): with it the embedded server
	// lets the agent in, on its own subjects only.
	NKey string `yaml:"nkey"`
	// Recipient is the agent's age public key (age1...): the secrets of its jobs are
	// encrypted to it.
	Recipient string `yaml:"recipient"`
}

// Defaults of cluster.
const (
	DefaultClusterLease     = 30 * time.Second
	DefaultHeartbeatTimeout = 30 * time.Second
)

// Enabled reports whether runs may be dispatched to agents.
func (c Cluster) Enabled() bool { return c.Listen != "" || c.URL != "" }

// Agent returns the enrolled agent named name.
func (c Cluster) Agent(name string) (ClusterAgent, bool) {
	for _, a := range c.Agents {
		if a.Name == name {
			return a, true
		}
	}
	return ClusterAgent{}, false
}

func (c *Cluster) applyDefaults() {
	if c.Lease == 0 {
		c.Lease = DefaultClusterLease
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
}

func (c *Cluster) validate(report func(path, msg string)) {
	switch {
	case c.Listen != "" && c.URL != "":
		report("cluster.url", "give either listen: (an embedded NATS server) or url: (an external one), not both")
	case c.Listen != "":
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			report("cluster.listen", fmt.Sprintf("%q is not host:port", c.Listen))
		}
		if c.CredsFile != "" {
			report("cluster.creds_file", "only with url: (the embedded server makes the controller's own credentials)")
		}
		if c.CAFile != "" {
			report("cluster.ca_file", "only with url: (the controller reaches its embedded server in-process, and `cadang agents` trusts cluster.tls.cert_file itself)")
		}
	case c.URL != "":
		if !strings.HasPrefix(c.URL, "nats://") && !strings.HasPrefix(c.URL, "tls://") {
			report("cluster.url", fmt.Sprintf("%q is not a nats:// or tls:// URL", c.URL))
		}
		if c.CredsFile == "" {
			report("cluster.creds_file", "required with url: the controller's credentials at the NATS server")
		}
	case len(c.Agents) > 0:
		report("cluster", "agents are listed but neither listen: nor url: is given")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		report("cluster.tls", "give both cert_file and key_file")
	}
	if c.Lease < time.Second {
		report("cluster.lease", fmt.Sprintf("%s is too short: at least 1s (default 30s)", c.Lease))
	}
	if c.HeartbeatTimeout < time.Second {
		report("cluster.heartbeat_timeout", fmt.Sprintf("%s is too short: at least 1s (default 30s)", c.HeartbeatTimeout))
	}
	seen := map[string]bool{}
	for i, a := range c.Agents {
		p := fmt.Sprintf("cluster.agents[%d]", i)
		switch {
		case a.Name == "":
			report(p+".name", "required")
		case !drc.ValidName(a.Name):
			report(p+".name", fmt.Sprintf("%q is not a valid name (lower-case letters, digits, '-' and '_')", a.Name))
		case seen[a.Name]:
			report(p+".name", fmt.Sprintf("agent %q is listed twice", a.Name))
		}
		seen[a.Name] = true
		if a.Pool != "" && !drc.ValidName(a.Pool) {
			report(p+".pool", fmt.Sprintf("%q is not a valid name (lower-case letters, digits, '-' and '_')", a.Pool))
		}
		if !strings.HasPrefix(a.NKey, "U") || len(a.NKey) != 56 {
			report(p+".nkey", "required: the agent's NATS user public key (U..., printed by `cadang agent enroll`)")
		}
		if _, err := age.ParseX25519Recipient(a.Recipient); err != nil {
			report(p+".recipient", "required: the agent's age public key (age1..., printed by `cadang agent enroll`)")
		}
	}
}

// validateTargetAgent checks a target's agent: or agent_pool: against cluster:.
func (c *Config) validateTargetAgent(t *Target, path string, report func(path, msg string)) {
	if t.Agent == "" && t.AgentPool == "" {
		return
	}
	switch {
	case t.Agent != "" && t.AgentPool != "":
		report(path+".agent_pool", "give either agent: or agent_pool:, not both")
		return
	case !c.Cluster.Enabled():
		report(path+".agent", "a target runs on an agent only with cluster: (listen: or url:)")
		return
	}
	switch t.Kind {
	case "files", "postgres", "mysql":
	case "libvirt":
		// A VM lives on one hypervisor, and its checkpoints (the base of its
		// incremental backups) with it: any agent of a pool would find no domain, or
		// none of its checkpoints.
		if t.AgentPool != "" {
			report(path+".agent_pool", "a libvirt target runs on the agent of its hypervisor: pin it with agent:, not agent_pool:")
		}
	default:
		report(path+".kind", fmt.Sprintf("kind %q does not run on agents yet (files, postgres, mysql and libvirt do)", t.Kind))
	}
	if len(t.Hooks.Before) > 0 || len(t.Hooks.After) > 0 {
		report(path+".hooks", "hooks do not run on agents yet: a target with agent: or agent_pool: takes none")
	}
	// mariadb-backup reads the server's data directory: only the agent of the database
	// host can run it, any other agent of a pool would fail.
	if s, ok := t.Spec.(interface{ Physical() bool }); ok && s.Physical() && t.AgentPool != "" {
		report(path+".agent_pool", "a physical backup (method: physical) reads the server's data directory: pin the target to the agent of the database host with agent:, not agent_pool:")
	}
	// A continuous postgres target's WAL is pushed to its agent's wal_socket, into a
	// spool on that host: one agent, never a pool. MariaDB's binlogs are read by the
	// controller (engine/binlog.go), so its continuous mode stays there.
	if s, ok := t.Spec.(interface{ Continuous() bool }); ok && s.Continuous() {
		switch {
		case t.Kind != "postgres":
			report(path+"."+t.Kind+".mode", "continuous mode of "+t.Kind+" does not run on agents yet: its binlogs are read by the controller")
		case t.AgentPool != "":
			report(path+".agent_pool", "a continuous postgres target pushes its WAL to one agent: pin it with agent:, not agent_pool:")
		}
	}
	if t.Agent != "" {
		if _, ok := c.Cluster.Agent(t.Agent); !ok {
			report(path+".agent", fmt.Sprintf("unknown agent %q (not in cluster.agents)", t.Agent))
		}
		return
	}
	for _, a := range c.Cluster.Agents {
		if a.Pool == t.AgentPool {
			return
		}
	}
	report(path+".agent_pool", fmt.Sprintf("no agent in cluster.agents is in pool %q", t.AgentPool))
}
