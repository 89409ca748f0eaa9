package mysql

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

// A physical backup is InnoDB's own files: mariadb-backup --prepare applies their redo
// log, and a mariadbd starts on the result, only within the release series of the
// server that wrote them (10.11 for a 10.11.x server; MariaDB's redo log and system
// tables change between series). A restore or a drill on a host with the wrong tools
// used to find out at the end, after downloading the whole copy; the versions are
// compared first now, before anything is downloaded. A patch release older than the
// backup's is allowed with a warning (MariaDB keeps the formats within a series, and
// an operator restoring in a hurry may have no other build at hand).

// versionRE finds "10.11.19" in a tag "mariadb-10.11.19" or a tool's --version line.
var versionRE = regexp.MustCompile(`(\d+)\.(\d+)\.(\d+)`)

type mariaVersion struct{ major, minor, patch int }

func parseMariaVersion(s string) (mariaVersion, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return mariaVersion{}, false
	}
	var v mariaVersion
	v.major, _ = strconv.Atoi(m[1])
	v.minor, _ = strconv.Atoi(m[2])
	v.patch, _ = strconv.Atoi(m[3])
	return v, true
}

func (v mariaVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }
func (v mariaVersion) series() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// toolVersion runs `bin --version` and parses the MariaDB version it prints.
func toolVersion(ctx context.Context, bin string) (mariaVersion, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	cmd.Env = dbdump.BaseEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, lerr := exec.LookPath(bin); lerr != nil {
			return mariaVersion{}, fmt.Errorf("%s is not installed on this host (install the MariaDB server's package of the backup's version, or set the target's bin_dir)", bin)
		}
		return mariaVersion{}, fmt.Errorf("%s --version: %v: %s", bin, err, targets.FirstLine(string(out)))
	}
	v, ok := parseMariaVersion(string(out))
	if !ok {
		return mariaVersion{}, fmt.Errorf("%s --version printed no version: %s", bin, targets.FirstLine(string(out)))
	}
	return v, nil
}

// checkPhysicalVersions refuses a physical backup that this host's mariadb-backup (and,
// with server, its mariadbd) cannot prepare or start, naming both versions. A
// snapshot without a MariaDB server_version tag is not checked.
func (t *Target) checkPhysicalVersions(ctx context.Context, r targets.Reader, server bool) error {
	tag := dbdump.Tag(r, "server_version")
	if !strings.HasPrefix(tag, "mariadb-") {
		return nil
	}
	want, ok := parseMariaVersion(tag)
	if !ok {
		return nil
	}
	tools := []string{t.conn().bin("mariadb-backup", "mariabackup")}
	if server {
		tools = append(tools, (&scratchServer{binDir: t.cfg.BinDir}).mariadbd())
	}
	for _, bin := range tools {
		have, err := toolVersion(ctx, bin)
		if err != nil {
			return fmt.Errorf("snapshot %.8s (MariaDB %s, physical): %w", r.Snapshot().ID, want, err)
		}
		if have.series() != want.series() {
			return fmt.Errorf("snapshot %.8s was taken from MariaDB %s, but %s here is %s: a physical backup is prepared and started by MariaDB %s only (install it, or set the target's bin_dir to it)",
				r.Snapshot().ID, want, bin, have, want.series())
		}
		if have.patch < want.patch {
			r.Logger().Warn("this host's MariaDB is older than the backup's, within the same series", "tool", bin, "version", have.String(), "backup", want.String())
		}
	}
	return nil
}
