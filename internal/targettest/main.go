package targettest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cadang/cadang/targets"
)

// Main is the TestMain of a kind whose backups run `cadang internal-stream` (through
// targets.SelfCommand): it builds the cadang binary once, points
// targets.SelfExecutable at it, runs the tests and removes the binary.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "cadang-kindtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, "cadang")
	build := exec.Command("go", "build", "-o", bin, "github.com/cadang/cadang/cmd/cadang")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cadang:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	targets.SelfExecutable = bin
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
