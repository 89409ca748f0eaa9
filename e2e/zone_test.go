package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One time zone: `runs`, `snapshots` and `ls` print times in the daemon's
// scheduler.timezone with its label, whatever the zone the CLI runs in; JSON keeps RFC
// 3339 with an offset.
func TestOneTimeZone(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	w.config(pathDRC(w)+fmt.Sprintf(oneTarget, src), "scheduler: {timezone: Asia/Makassar}")
	w.startDaemon()
	w.must("backup", "portal-files", "--wait")
	runs := w.runs("portal-files")
	wita := runs[0].Time.In(time.FixedZone("WITA", 8*3600)).Format("2006-01-02 15:04:05") + " WITA"
	env := []string{"CADANG_CONFIG=" + w.cfgFile, "TZ=America/New_York"}
	if r := w.cadangIn("", env, "runs", "portal-files"); r.code != 0 || !strings.Contains(r.stdout, wita) {
		t.Errorf("runs in another zone: want %q in\n%s", wita, r)
	}
	snaps := w.cadangIn("", env, "snapshots", "portal-files")
	if snaps.code != 0 || strings.Count(snaps.stdout, " WITA") != 2 || strings.Contains(snaps.stdout, " EST") {
		t.Errorf("snapshots in another zone: want its times in WITA:\n%s", snaps)
	}
	r := w.cadangIn("", env, "runs", "--json")
	if !strings.Contains(r.stdout, `"time": "`) && !strings.Contains(r.stdout, `"time":"`) {
		t.Fatalf("runs --json: %s", r)
	}
	i := strings.Index(r.stdout, `"time":`)
	stamp := strings.Trim(strings.TrimSpace(strings.SplitN(r.stdout[i+len(`"time":`):], ",", 2)[0]), `"`)
	if _, err := time.Parse(time.RFC3339, stamp); err != nil {
		t.Errorf("runs --json time %q is not RFC 3339: %v", stamp, err)
	}
}
