package libvirt

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/targettest"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

func TestContract(t *testing.T) {
	d := testenv.NewDomain(t, testenv.DomainOptions{Seed: 2})
	scratch := scratchFolder(t)
	changes := 0
	targettest.Run(t, targettest.Case{
		Kind:   "libvirt",
		Config: func(t *testing.T) any { return testConfig(d, scratch) },
		// The disk's content is followed in d.Model as the test writes into the guest.
		State: func(t *testing.T) any { return fileDigest(t, d.Model) },
		Change: func(t *testing.T) {
			changes++
			d.Write(byte(0x40+changes), int64(changes)*(5<<20), 3<<20)
		},
		Destination: func(t *testing.T) targets.RestoreRequest {
			return targets.RestoreRequest{To: filepath.Join(t.TempDir(), "restored")}
		},
		Restored: func(t *testing.T, req targets.RestoreRequest) any {
			raw := filepath.Join(t.TempDir(), "vda.raw")
			testenv.Run(t, "qemu-img", "convert", "-O", "raw", filepath.Join(req.To, "vda.qcow2"), raw)
			return fileDigest(t, raw)
		},
		Occupy: func(t *testing.T, req targets.RestoreRequest) {
			if err := os.MkdirAll(req.To, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(req.To, "occupied"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		Broken: func(t *testing.T) any {
			c := testConfig(d, scratch)
			c.Domain = "cadang-no-such-domain"
			return c
		},
		Leftovers: func(t *testing.T) []string {
			var out []string
			for _, n := range testenv.DomainNames(t, d.L) {
				// Its own drill's domain (cadang_drill_contract): the e2e package's
				// drills (cadang-drill-RUN) may run on the same libvirt meanwhile.
				if strings.HasPrefix(n, "cadang-drill-contract") {
					out = append(out, n)
				}
			}
			entries, _ := os.ReadDir(scratch)
			for _, e := range entries {
				out = append(out, filepath.Join(scratch, e.Name()))
			}
			return out
		},
	})
	assertScratchEmpty(t, scratch)
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
