package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cadang/cadang/drc"
)

// AgentConfig is an agent's own file (agent.yaml, written by `cadang agent enroll`).
type AgentConfig struct {
	Name string `yaml:"name"`
	// Controller is the NATS URL of the controller (nats://host:4222 or tls://...).
	Controller string `yaml:"controller"`
	// CAFile verifies the controller's certificate (tls://).
	CAFile string `yaml:"ca_file"`
	// NKeyFile is the agent's NATS nkey seed (SU...), IdentityFile its age identity
	// (AGE-SECRET-KEY-1...): both 0600, relative to this file.
	NKeyFile     string `yaml:"nkey_file"`
	IdentityFile string `yaml:"identity_file"`
	// ScratchDir holds the agent's outbox and each run's scratch (0700).
	ScratchDir string `yaml:"scratch_dir"`
	Restic     struct {
		Binary string `yaml:"binary"`
	} `yaml:"restic"`
	Pool        string `yaml:"pool"`
	Concurrency int    `yaml:"concurrency"` // runs at once (default 1)
	// Heartbeat is how often the agent says it is alive (default 5s).
	Heartbeat time.Duration `yaml:"heartbeat"`
	// WALSocket is where `cadang wal-push` reaches the agent (continuous postgres
	// targets pinned to it): a path PostgreSQL's user can reach, outside scratch_dir
	// (0700). Without it the agent takes no WAL.
	WALSocket string `yaml:"wal_socket"`

	File string `yaml:"-"`
}

// LoadAgentConfig reads an agent's file: unknown keys and missing values are errors
// that say file:line:col.
func LoadAgentConfig(file string) (*AgentConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:1:1: the file is not a mapping of keys", file)
	}
	m := root.Content[0]
	known := map[string]bool{"name": true, "controller": true, "ca_file": true, "nkey_file": true, "identity_file": true,
		"scratch_dir": true, "restic": true, "pool": true, "concurrency": true, "heartbeat": true, "wal_socket": true}
	var problems []string
	at := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		at[k.Value] = k
		if !known[k.Value] {
			problems = append(problems, fmt.Sprintf("%s:%d:%d: unknown key %q", file, k.Line, k.Column, k.Value))
		}
		if k.Value == "restic" {
			v := m.Content[i+1]
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value != "binary" {
					problems = append(problems, fmt.Sprintf("%s:%d:%d: unknown key restic.%s", file, v.Content[j].Line, v.Content[j].Column, v.Content[j].Value))
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	c := &AgentConfig{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	report := func(key, msg string) {
		line, col := 1, 1
		if k := at[key]; k != nil {
			line, col = k.Line, k.Column
		}
		problems = append(problems, fmt.Sprintf("%s:%d:%d: %s: %s", file, line, col, key, msg))
	}
	if !drc.ValidName(c.Name) {
		report("name", "required: a valid name (lower-case letters, digits, '-' and '_')")
	}
	if c.Pool != "" && !drc.ValidName(c.Pool) {
		report("pool", fmt.Sprintf("%q is not a valid name", c.Pool))
	}
	if !strings.HasPrefix(c.Controller, "nats://") && !strings.HasPrefix(c.Controller, "tls://") {
		report("controller", "required: the controller's NATS URL (nats://host:4222)")
	}
	for key, v := range map[string]string{"nkey_file": c.NKeyFile, "identity_file": c.IdentityFile, "scratch_dir": c.ScratchDir} {
		if v == "" {
			report(key, "required")
		}
	}
	if c.Concurrency < 0 {
		report("concurrency", "must be at least 1")
	}
	if c.Heartbeat < 0 {
		report("heartbeat", "must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	base := filepath.Dir(file)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.CAFile, c.NKeyFile, c.IdentityFile, c.ScratchDir = abs(c.CAFile), abs(c.NKeyFile), abs(c.IdentityFile), abs(c.ScratchDir)
	c.WALSocket = abs(c.WALSocket)
	if rel, err := filepath.Rel(c.ScratchDir, c.WALSocket); c.WALSocket != "" && err == nil && !strings.HasPrefix(rel, "..") {
		line, col := 1, 1
		if k := at["wal_socket"]; k != nil {
			line, col = k.Line, k.Column
		}
		return nil, fmt.Errorf("%s:%d:%d: wal_socket: %s is inside scratch_dir (0700): PostgreSQL's user could not reach it", file, line, col, c.WALSocket)
	}
	if strings.Contains(c.Restic.Binary, "/") {
		c.Restic.Binary = abs(c.Restic.Binary)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 5 * time.Second
	}
	return c, nil
}
