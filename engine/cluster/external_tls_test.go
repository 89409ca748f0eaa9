package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/internal/testenv"
)

// A controller reaches an external NATS server (bin/nats-server) that speaks TLS with
// a certificate of a private CA when cluster.ca_file names that CA, and so does
// `cadang agents` (ListAgents); without it, or with another CA, it is refused with one
// line that says which setting to give.
func TestControllerTrustsTheExternalServersCA(t *testing.T) {
	dir := t.TempDir()
	pki := testenv.NewTLSFiles(t, t.TempDir())
	other := testenv.NewTLSFiles(t, t.TempDir()) // another PKI: its CA did not sign the server's certificate
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	creds := filepath.Join(dir, "controller.nk")
	if err := os.WriteFile(creds, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	host, port, _ := net.SplitHostPort(listen)
	conf := filepath.Join(dir, "nats-server.conf")
	body := fmt.Sprintf("host: %q\nport: %s\njetstream {store_dir: %q}\ntls {cert_file: %q, key_file: %q}\nauthorization {users = [{nkey: %q}]}\n",
		host, port, filepath.Join(dir, "store"), pki.ServerCert, pki.ServerKey, pub)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "nats-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Tool(t, "nats-server"), "-c", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	testenv.Eventually(t, 20*time.Second, "nats-server listening", func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := config.Cluster{URL: "tls://" + listen, CredsFile: creds, Lease: 5 * time.Second, HeartbeatTimeout: 5 * time.Second}
	for _, tc := range []struct{ name, url, ca, want string }{
		{"tls:// without ca_file", "tls://" + listen, "", "(the NATS server speaks TLS: give cluster.ca_file:, the CA that signed its certificate)"},
		{"nats:// to a TLS server", "nats://" + listen, "", "give cluster.ca_file:"},
		{"another CA", "tls://" + listen, other.CA, "(cluster.ca_file " + other.CA + " is not the CA that signed the NATS server's certificate)"},
	} {
		c := base
		c.URL, c.CAFile = tc.url, tc.ca
		x, err := Open(ctx, c, filepath.Join(dir, "state"), Options{})
		if err == nil {
			x.Close()
			t.Errorf("%s: the controller connected", tc.name)
			continue
		}
		if msg := err.Error(); !testenv.OneLine(msg) || !strings.Contains(msg, "cluster: connecting to "+tc.url) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %q, want one line naming the URL and %q", tc.name, msg, tc.want)
		}
		if _, err := ListAgents(ctx, c, filepath.Join(dir, "state")); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: cadang agents: %v, want %q", tc.name, err, tc.want)
		}
	}
	c := base
	c.CAFile = pki.CA
	x, err := Open(ctx, c, filepath.Join(dir, "state"), Options{})
	if err != nil {
		t.Fatalf("the controller with cluster.ca_file: %v", err)
	}
	defer x.Close()
	if _, err := x.js.Stream(ctx, JobsStream); err != nil {
		t.Errorf("the jobs stream at the external server: %v", err)
	}
	if list, err := ListAgents(ctx, c, filepath.Join(dir, "state")); err != nil || len(list) != 0 {
		t.Errorf("cadang agents with cluster.ca_file: %v %v", list, err)
	}
}
