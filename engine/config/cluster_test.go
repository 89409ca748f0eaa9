package config

import (
	"strings"
	"testing"
)

const (
	testNKey      = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"
	testRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
)

// cluster: and a target's agent:/agent_pool: are checked with located errors; without
// cluster: nothing changes.
func TestClusterKeys(t *testing.T) {
	head := "state_dir: /s\ndrcs: [{name: local, role: primary, path: /l}]\nagencies: [{id: x}]\n"
	agents := "  agents:\n    - {name: hyp-07, pool: hv, nkey: " + testNKey + ", recipient: " + testRecipient + "}\n"
	c, err := Parse("cadang.yaml", []byte(head+"cluster:\n  listen: 127.0.0.1:4222\n"+agents+
		"targets:\n  - {name: a, agency: x, kind: files, agent: hyp-07, files: {paths: [/a]}}\n"+
		"  - {name: b, agency: x, kind: files, agent_pool: hv, files: {paths: [/a]}}\n"+
		"  - {name: c, agency: x, kind: postgres, agent: hyp-07, postgres: {database: d}}\n"+
		"  - {name: d, agency: x, kind: mysql, agent_pool: hv, mysql: {database: d}}\n"+
		"  - {name: e, agency: x, kind: libvirt, agent: hyp-07, libvirt: {domain: vm}}\n"+
		"  - {name: f, agency: x, kind: postgres, agent: hyp-07, postgres: {database: d, mode: continuous}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cluster.Enabled() || c.Cluster.Lease != DefaultClusterLease || c.Targets[1].AgentPool != "hv" {
		t.Errorf("cluster: %+v", c.Cluster)
	}
	if c, err := Parse("cadang.yaml", []byte(head)); err != nil || c.Cluster.Enabled() {
		t.Errorf("no cluster: enabled %v, %v", c != nil && c.Cluster.Enabled(), err)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"both listen and url", "cluster: {listen: 127.0.0.1:4222, url: nats://n:4222}\n", "cadang.yaml:4:40: cluster.url: give either listen:"},
		{"url without creds", "cluster: {url: nats://n:4222}\n", "cluster.creds_file: required with url"},
		{"ca_file with listen", "cluster: {listen: 127.0.0.1:4222, ca_file: /etc/cadang/ca.crt}\n", "cluster.ca_file: only with url:"},
		{"bad listen", "cluster: {listen: nohost}\n", `cluster.listen: "nohost" is not host:port`},
		{"unknown key", "cluster: {listen: 127.0.0.1:4222, lisen: x}\n", "cadang.yaml:4:35: cluster.lisen: unknown key"},
		{"bad nkey", "cluster:\n  listen: 127.0.0.1:4222\n  agents: [{name: a1, nkey: SUXX, recipient: " + testRecipient + "}]\n", "cadang.yaml:6:29: cluster.agents[0].nkey: required: the agent's NATS user public key"},
		{"unknown agent", "cluster:\n  listen: 127.0.0.1:4222\n" + agents + "targets: [{name: a, agency: x, kind: files, agent: hyp-08, files: {paths: [/a]}}]\n", `unknown agent "hyp-08"`},
		{"agent without cluster", "targets: [{name: a, agency: x, kind: files, agent: hyp-07, files: {paths: [/a]}}]\n", "a target runs on an agent only with cluster:"},
		{"empty pool", "cluster:\n  listen: 127.0.0.1:4222\n" + agents + "targets: [{name: a, agency: x, kind: files, agent_pool: db, files: {paths: [/a]}}]\n", `no agent in cluster.agents is in pool "db"`},
		{"continuous postgres in a pool", "cluster:\n  listen: 127.0.0.1:4222\n" + agents + "targets: [{name: a, agency: x, kind: postgres, agent_pool: hv, postgres: {database: d, mode: continuous}}]\n", `target "a": agent_pool: a continuous postgres target pushes its WAL to one agent: pin it with agent:`},
		{"continuous mysql", "cluster:\n  listen: 127.0.0.1:4222\n" + agents + "targets: [{name: a, agency: x, kind: mysql, agent: hyp-07, mysql: {database: d, mode: continuous}}]\n", "mysql.mode: continuous mode of mysql does not run on agents yet"},
		{"physical mysql in a pool", "cluster:\n  listen: 127.0.0.1:4222\n" + agents + "targets: [{name: a, agency: x, kind: mysql, agent_pool: hv, mysql: {all: true, method: physical}}]\n", `target "a": agent_pool: a physical backup (method: physical) reads the server's data directory: pin the target to the agent of the database host with agent:`},
		{"libvirt in a pool", "cluster:\n  listen: 127.0.0.1:4222\n" + agents + "targets: [{name: a, agency: x, kind: libvirt, agent_pool: hv, libvirt: {domain: vm}}]\n", `target "a": agent_pool: a libvirt target runs on the agent of its hypervisor: pin it with agent:, not agent_pool:`},
		{"hooks", "cluster:\n  listen: 127.0.0.1:4222\n" + agents + "targets: [{name: a, agency: x, kind: files, agent: hyp-07, hooks: {before: [[true]]}, files: {paths: [/a]}}]\n", "hooks do not run on agents yet"},
	} {
		_, err := Parse("cadang.yaml", []byte(head+tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
