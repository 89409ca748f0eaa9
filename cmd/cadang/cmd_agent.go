package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/engine/cluster"
)

// AgentEnrollOptions are the flags of `cadang agent enroll`.
type AgentEnrollOptions struct {
	Out        string
	Pool       string
	Controller string
}

// AddFlags adds the flags of `cadang agent enroll`.
func (o *AgentEnrollOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.Out, "output", "o", "", "`DIR` for agent.yaml and the agent's keys (required)")
	cmd.Flags().StringVar(&o.Pool, "pool", "", "the agent's `POOL` (targets with agent_pool: POOL may run on it)")
	cmd.Flags().StringVar(&o.Controller, "controller", "nats://127.0.0.1:4222", "the controller's NATS `URL`")
}

// AgentRunOptions are the flags of `cadang agent run`.
type AgentRunOptions struct {
	LogFormat string
}

// AddFlags adds the flags of `cadang agent run`.
func (o *AgentRunOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.LogFormat, "log-format", "text", "log format: text or json")
}

func newAgentCommand(g *globals) *cobra.Command {
	var run AgentRunOptions
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "enroll or run a cadang agent (backups on the host where the data is)",
		Long: `A cadang agent runs the backups of the targets that name it (agent: NAME) or its pool
(agent_pool: POOL) on its own host, restic writing straight to the DRCs. It takes its jobs
from the controller's NATS JetStream (cluster: in cadang.yaml) and reports back.

"cadang agent enroll" makes an agent's files; "cadang agent run --config agent.yaml" (or
"cadang agent --config agent.yaml") runs it. See docs/agents.md.`,
		Example: `  cadang agent enroll hyp-07 --pool hypervisors --controller nats://10.0.0.5:4222 -o /etc/cadang-agent
  cadang agent run --config /etc/cadang-agent/agent.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.configFile == "" {
				return cmd.Help()
			}
			return runAgent(cmd.Context(), g, run)
		},
	}
	run.AddFlags(cmd)
	cmd.AddCommand(newAgentEnrollCommand(g), newAgentRunCommand(g))
	return cmd
}

func newAgentEnrollCommand(g *globals) *cobra.Command {
	var opts AgentEnrollOptions
	cmd := &cobra.Command{
		Use:   "enroll NAME -o DIR",
		Short: "make an agent's config, NATS key and age key",
		Long: `Write DIR/agent.yaml, DIR/agent.nk (the agent's NATS nkey seed) and DIR/agent.age (its age
identity, to which the secrets of its jobs are encrypted), all 0600; existing files are never
replaced. It prints the entry to add under cluster.agents in the controller's cadang.yaml:
public keys only, nothing secret. Copy DIR to the agent's host.`,
		Example: `  cadang agent enroll db-01 -o ./db-01
  cadang agent enroll hyp-07 --pool hypervisors --controller nats://10.0.0.5:4222 -o /etc/cadang-agent --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAgentEnroll(g, opts, args[0])
		},
	}
	opts.AddFlags(cmd)
	return cmd
}

func newAgentRunCommand(g *globals) *cobra.Command {
	var opts AgentRunOptions
	cmd := &cobra.Command{
		Use:   "run --config agent.yaml",
		Short: "run an agent until SIGTERM",
		Long: `Connect to the controller's NATS server with the agent's key, take the jobs of the agent
and of its pool, run them here and report the results. A result is kept in the scratch
dir's outbox until the controller's stream has it.`,
		Example: `  cadang agent run --config /etc/cadang-agent/agent.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd)
	return cmd
}

func runAgentEnroll(g *globals, o AgentEnrollOptions, name string) error {
	if o.Out == "" {
		return usageErrorf("cadang agent enroll: -o DIR is required")
	}
	e, err := cluster.Enroll(name, o.Pool, o.Controller, o.Out)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, e)
	}
	entry, _ := yaml.Marshal([]any{e.Entry})
	fmt.Fprintf(g.stdout, "wrote %s and the agent's keys\nadd to cluster.agents in the controller's cadang.yaml:\n\n%s", e.Config,
		indent(string(entry), "    "))
	return nil
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return by + strings.Join(lines, "\n"+by) + "\n"
}

func runAgent(ctx context.Context, g *globals, o AgentRunOptions) error {
	if g.configFile == "" {
		return usageErrorf("cadang agent run: --config agent.yaml is required")
	}
	cfg, err := cluster.LoadAgentConfig(g.configFile)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	var h slog.Handler
	switch o.LogFormat {
	case "text":
		h = slog.NewTextHandler(g.stderr, nil)
	case "json":
		h = slog.NewJSONHandler(g.stderr, nil)
	default:
		return usageErrorf("--log-format %q: use text or json", o.LogFormat)
	}
	a, err := cluster.NewAgent(cfg, engine.Version, slog.New(h))
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

// AgentsOptions are the flags of `cadang agents` (none but the global ones).
type AgentsOptions struct{}

func newAgentsCommand(g *globals) *cobra.Command {
	var opts AgentsOptions
	return &cobra.Command{
		Use:   "agents",
		Short: "list the cadang agents: version, last heartbeat, running runs, up or down",
		Long: `List the agents of cluster.agents with what their last heartbeat said. An agent silent for
longer than cluster.heartbeat_timeout is down. It reads the cluster's key-value bucket
directly, as the controller (the embedded server's key in state_dir/nats, or
cluster.creds_file), so it runs on the controller's host as the daemon's user.`,
		Example: `  cadang agents
  cadang agents --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgents(cmd.Context(), g, opts)
		},
	}
}

func runAgents(ctx context.Context, g *globals, _ AgentsOptions) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	if !cfg.Cluster.Enabled() {
		return usageErrorf("cadang agents: the configuration has no cluster: (every run executes in the daemon)")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	list, err := cluster.ListAgents(ctx, cfg.Cluster, cfg.StateDir)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, list)
	}
	var rows [][]string
	for _, a := range list {
		state, seen := "down", "never"
		if a.Up {
			state = "up"
		}
		if !a.LastSeen.IsZero() {
			seen = time.Since(a.LastSeen).Round(time.Second).String() + " ago"
		}
		run := make([]string, len(a.Running))
		for i, id := range a.Running {
			run[i] = fmt.Sprint(id)
		}
		rows = append(rows, []string{a.Name, a.Pool, a.Host, a.Version, seen, strings.Join(run, ","), state})
	}
	table(g.stdout, []string{"NAME", "POOL", "HOST", "VERSION", "LAST HEARTBEAT", "RUNNING", "STATE"}, rows)
	return nil
}
