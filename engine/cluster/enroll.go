package cluster

import (
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
	"github.com/nats-io/nkeys"
	"gopkg.in/yaml.v3"

	"github.com/cadang/cadang/engine/config"
)

// Enrollment is what `cadang agent enroll` made: the agent's files, and the entry the
// controller's cluster.agents needs (no secret in it).
type Enrollment struct {
	Config string              `json:"config"`
	Entry  config.ClusterAgent `json:"entry"`
}

// Enroll writes dir/agent.yaml, dir/agent.nk (the NATS nkey seed) and dir/agent.age
// (the age identity), all 0600, for an agent named name. Existing files are never
// replaced.
func Enroll(name, pool, controller, dir string) (*Enrollment, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{"name": name, "controller": controller, "nkey_file": "agent.nk", "identity_file": "agent.age",
		"scratch_dir": "scratch", "concurrency": 1}
	if pool != "" {
		cfg["pool"] = pool
	}
	y, _ := yaml.Marshal(cfg)
	files := []struct {
		name string
		data []byte
	}{{"agent.nk", seed}, {"agent.age", []byte(id.String() + "\n")}, {"agent.yaml", y}}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("enroll: %w", err)
		}
		_, err = fh.Write(f.data)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("enroll: %w", err)
		}
	}
	return &Enrollment{Config: filepath.Join(dir, "agent.yaml"),
		Entry: config.ClusterAgent{Name: name, Pool: pool, NKey: pub, Recipient: id.Recipient().String()}}, nil
}
