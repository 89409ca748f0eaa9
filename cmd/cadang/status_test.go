package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// The AGENTS table of `cadang status`: shown only when the answer has agents (a
// configuration with cluster:), one row per agent with its state and running runs.
func TestStatusAgentsTable(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	seen := now.Add(-3 * time.Second)
	st := &api.Status{Version: "v1", Started: now.Add(-time.Hour), Now: now, TimeZone: "UTC"}
	var out bytes.Buffer
	printStatus(&globals{stdout: &out}, st)
	if strings.Contains(out.String(), "AGENTS") {
		t.Errorf("a status without agents shows an AGENTS table:\n%s", out.String())
	}
	st.Agents = []api.AgentInfo{
		{Name: "hyp-07", Pool: "hv", Host: "hyp07.dc", Version: "v1", LastHeartbeat: &seen, Up: true, Running: []uint64{42, 43}, Capacity: 2},
		{Name: "db-01", Running: []uint64{}},
	}
	out.Reset()
	printStatus(&globals{stdout: &out}, st)
	s := out.String()
	table := s[strings.Index(s, "AGENTS"):]
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "LAST HEARTBEAT") {
		t.Fatalf("AGENTS table:\n%s", table)
	}
	for _, want := range []string{"hyp-07", "hv", "hyp07.dc", "3s", "up", "2/2 (run 42, 43)"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("the row of an agent up lacks %q: %q", want, lines[2])
		}
	}
	if f := strings.Fields(lines[3]); len(f) != 7 || f[0] != "db-01" || f[4] != "never" || f[5] != "down" || f[6] != "0" {
		t.Errorf("the row of an agent never heard from: %q", lines[3])
	}
}
