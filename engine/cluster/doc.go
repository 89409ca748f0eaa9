// Package cluster dispatches runs to cadang agents over NATS JetStream and is the
// agent's side of that protocol (docs/agents.md).
//
// The controller (the daemon) starts an embedded nats-server with JetStream, or
// connects to an external one, and keeps three things there: the work-queue stream
// CADANG_JOBS (one durable consumer per agent and one per pool: each job goes to
// exactly one agent, and AckWait is its lease), the stream CADANG_RESULTS (the agents'
// final results, kept until the controller has recorded them) and the key-value bucket
// cadang_agents (heartbeats). A job's secrets (the repository password, the DRC's S3
// credentials, the target's section) are age-encrypted to the agents that may take it,
// so the stream's files hold only ciphertext. Each agent may publish and subscribe on
// its own subjects only (NATS permissions, Permissions).
//
// It imports drc and targets (an agent runs a target kind and restic itself) and
// engine/config; never engine or engine/runs, which use it through their own
// interfaces.
package cluster
