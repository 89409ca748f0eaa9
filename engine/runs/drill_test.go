package runs

import (
	"context"
	"os"
	"testing"

	"github.com/cadang/cadang/runbooks/msg"
)

// Issue 13, point 24: a drill has one clean-up step: the kind's own removes the
// scratch folder too (there were two: the kind's and the engine's "scratch"); a kind
// without one gets the engine's.
func TestDrillOneCleanupStep(t *testing.T) {
	scratch := t.TempDir() + "/drill-1"
	ran := []string{}
	step := func(key string, always bool) drillStep {
		return drillStep{key: key, always: always, run: func(context.Context) (msg.Message, error) {
			ran = append(ran, key)
			return msg.Message{}, nil
		}}
	}
	steps := withScratchRemoval([]drillStep{step("snapshot", false), step("restore", false), step("cleanup", true)}, scratch)
	if len(steps) != 3 {
		t.Fatalf("%d steps, want 3 (one clean-up)", len(steps))
	}
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := steps[2].run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) || len(ran) != 1 || ran[0] != "cleanup" {
		t.Errorf("the clean-up step ran %v and left the scratch folder (%v)", ran, err)
	}
	steps = withScratchRemoval([]drillStep{step("restore", false)}, scratch)
	if len(steps) != 2 || steps[1].key != "cleanup" || !steps[1].always {
		t.Errorf("a kind without clean-up: %+v", steps)
	}
}
