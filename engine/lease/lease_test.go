package lease

import (
	"os"
	"os/exec"
	"testing"
)

func TestProcStat(t *testing.T) {
	start, alive := ProcStat(os.Getpid())
	if !alive || start == 0 {
		t.Fatalf("this process: start %d alive %v", start, alive)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, alive := ProcStat(cmd.Process.Pid); alive {
		t.Error("a process that ended is alive")
	}
	if bootID() == "" {
		t.Error("no boot id")
	}
}
