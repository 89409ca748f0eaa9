package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// AddUser makes a MinIO user with its own key, holding only the canned policy given
// (a JSON policy document), with MinIO's own admin client mc: what an operator does
// with the documented commands. The admin keys reach mc through its environment,
// never its arguments.
//
// A MinIO server that has just started may still be loading its IAM store: a policy
// created in that window can be gone a moment later ("The canned policy does not
// exist" on attach, seen once in CI). So the three steps, each idempotent, are run
// again until the user is seen holding the policy, for up to 30 s.
func (m *MinIO) AddUser(t testing.TB, user, secret, policyName, policyJSON string) {
	t.Helper()
	policy := filepath.Join(t.TempDir(), policyName+".json")
	if err := os.WriteFile(policy, []byte(policyJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) ([]byte, error) { return m.Mc(t, args...) }
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		last = ""
		for _, args := range [][]string{
			{"admin", "policy", "create", "m", policyName, policy},
			{"admin", "user", "add", "m", user, secret},
			{"admin", "policy", "attach", "m", policyName, "--user", user},
		} {
			out, err := run(args...)
			// Attaching a policy the user already holds is refused; that is the state wanted.
			if err != nil && !strings.Contains(string(out), "already") {
				last = fmt.Sprintf("mc %v: %v\n%s", args[:3], err, out)
				break
			}
		}
		if last == "" {
			out, err := run("admin", "user", "info", "m", user, "--json")
			var info struct {
				PolicyName string `json:"policyName"`
			}
			if err == nil && json.Unmarshal(out, &info) == nil && strings.Contains(","+info.PolicyName+",", ","+policyName+",") {
				return
			}
			last = fmt.Sprintf("mc admin user info: %v: user %s does not hold policy %s yet\n%s", err, user, policyName, out)
		}
		if time.Now().After(deadline) {
			t.Fatal(last)
		}
		time.Sleep(time.Second)
	}
}

// Mc runs MinIO's admin client mc with the server under the alias "m" (as in
// "m/bucket"), its admin keys given in mc's environment, and returns what it printed.
func (m *MinIO) Mc(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(Tool(t, "mc"), append([]string{"--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), "MC_CONFIG_DIR="+t.TempDir(),
		fmt.Sprintf("MC_HOST_m=http://%s:%s@%s", m.AccessKey, m.SecretKey, m.Endpoint))
	return cmd.CombinedOutput()
}
