package cluster

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/targets/postgres"
)

func TestAgentConfigWALSocket(t *testing.T) {
	dir := t.TempDir()
	base := "name: db-01\ncontroller: nats://127.0.0.1:4222\nnkey_file: agent.nk\nidentity_file: agent.age\nscratch_dir: scratch\n"
	write := func(extra string) string {
		p := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(p, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err := LoadAgentConfig(write("wal_socket: scratch/wal.sock\n"))
	if err == nil || !strings.Contains(err.Error(), "agent.yaml:6:1: wal_socket: ") || !strings.Contains(err.Error(), "inside scratch_dir") {
		t.Errorf("a socket inside scratch_dir: %v", err)
	}
	c, err := LoadAgentConfig(write("wal_socket: run/wal.sock\n"))
	if err != nil || c.WALSocket != filepath.Join(dir, "run", "wal.sock") {
		t.Errorf("wal_socket relative to the file: %q, %v", c.WALSocket, err)
	}
}

// The agent takes a target's WAL only once it ran a base backup of it; a WAL job
// stores what the spool holds, tagged with its range, and the files go only when the
// job's after step runs (the result kept); the heartbeat's state follows.
func TestAgentWALSpool(t *testing.T) {
	dir := t.TempDir()
	a := &Agent{cfg: &AgentConfig{Name: "db-01", ScratchDir: filepath.Join(dir, "scratch"), WALSocket: filepath.Join(dir, "wal.sock"), File: "agent.yaml"},
		log: slog.New(slog.DiscardHandler), walPos: map[string]walPosition{}}
	if _, err := a.walSpool("pg"); err == nil || !strings.Contains(err.Error(), "is not a continuous target of agent db-01 yet") {
		t.Fatalf("spool before a base backup: %v", err)
	}
	spec := &postgres.Config{Database: "app", Mode: postgres.ModeContinuous, ArchiveInterval: time.Minute}
	raw, _ := json.Marshal(spec)
	sec := &Secret{Target: "pg", Agency: "dinkes", Kind: "postgres", Spec: raw}
	if _, after, err := a.continuousJob(sec, nil, spec); err != nil || after != nil {
		t.Fatalf("base backup job: %v", err)
	}
	spool, err := a.walSpool("pg")
	if err != nil {
		t.Fatal(err)
	}
	const seg1, seg2 = "000000010000000000000003", "000000010000000000000004"
	for _, n := range []string{seg1, seg2} {
		if err := spool.Put(n, bytes.NewReader(make([]byte, 1<<20))); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.walStates()["pg"]; st.Files != 2 || st.Bytes != 2<<20 || len(st.Gaps) != 0 {
		t.Errorf("heartbeat state with two segments: %+v", st)
	}
	wsec := *sec
	wsec.WAL = true
	impl, after, err := a.continuousJob(&wsec, nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := impl.(*WALBatch)
	if !ok || len(b.Names) != 2 || b.Tag != postgres.TagWAL+"="+seg1+"-"+seg2 {
		t.Fatalf("WAL job: %#v", impl)
	}
	if names, _ := spool.Names(); len(names) != 2 {
		t.Errorf("files gone before the result was kept: %v", names)
	}
	after()
	st := a.walStates()["pg"]
	if st.Files != 0 || st.LastArchived != seg2 {
		t.Errorf("after the batch: %+v", st)
	}
	// Without wal_socket a continuous target's job fails naming it.
	a.cfg.WALSocket = ""
	if _, _, err := a.continuousJob(sec, nil, spec); err == nil || !strings.Contains(err.Error(), "agent db-01 has no wal_socket") {
		t.Errorf("no wal_socket: %v", err)
	}
}
