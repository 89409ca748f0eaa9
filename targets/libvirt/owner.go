package libvirt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ownerFile, in a run's scratch folder, says which cadang process made the folder and
// what the run created in libvirt, so that a daemon that starts after a crash can tell
// what was left behind by a process that no longer exists.
const ownerFile = "cadang-run.json"

// owner identifies the process (and run) that made a scratch folder.
type owner struct {
	Host   string `json:"host"`
	Boot   string `json:"boot_id"`
	PID    int    `json:"pid"`
	Start  uint64 `json:"start"` // the process's start time, clock ticks after boot
	Target string `json:"target"`
	Domain string `json:"domain"`
	// Checkpoint is the checkpoint the run's backup job creates (written before the
	// job starts).
	Checkpoint string `json:"checkpoint,omitempty"`
}

// self is the owner record of this process for a run of target on domain.
func self(target, domain string) owner {
	host, _ := os.Hostname()
	pid := os.Getpid()
	start, _ := procStart(pid)
	return owner{Host: host, Boot: bootID(), PID: pid, Start: start, Target: target, Domain: domain}
}

// gone reports whether the process that owns a folder no longer exists. A folder of
// another host (a scratch folder shared with a remote hypervisor and another cadang)
// is never taken for gone.
func (o owner) gone() bool {
	host, _ := os.Hostname()
	if o.Host != host {
		return false
	}
	if b := bootID(); b != "" && o.Boot != b {
		return true // rebooted since
	}
	start, err := procStart(o.PID)
	return err != nil || start != o.Start
}

func writeOwner(dir string, o owner) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ownerFile)); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	return nil
}

func readOwner(dir string) (owner, error) {
	var o owner
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("%s: %w", filepath.Join(dir, ownerFile), err)
	}
	return o, nil
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// procStart returns the start time of process pid (field 22 of /proc/PID/stat).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("unreadable /proc stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}
