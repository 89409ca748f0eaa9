package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/internal/testenv"
)

// A restore to a URL with passwords, in its user info and in its query, records and
// answers it redacted everywhere: the run's destination, its error (whatever the kind
// wrote into it) and the API's JSON.
func TestRestoreDestinationRedacted(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `restic: {binary: "`+testenv.Restic(t)+`"}
drcs: [{name: local, role: primary, path: $DIR/drc}]
agencies: [{id: dinkes}]
targets: [{name: fine, agency: dinkes, kind: streamcmd, streamcmd: {argv: [echo, hello]}}]
`)
	d := newTestDaemon(t, cfg, time.Now)
	run, err := d.Backup("fine", reasonOnDemand, queue.PriorityOnDemand)
	if err != nil {
		t.Fatal(err)
	}
	runQueued(d)
	if r, _ := d.cat.Run(run.ID); r.Status != catalog.Succeeded {
		t.Fatalf("backup: %+v", r)
	}
	run, err = d.Restore(RestoreRequest{Target: "fine", To: "postgres://backup:Rahasia-1@db.local:5432/simpus?password=Rahasia%2F2&sslmode=disable"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(run.Destination, "Rahasia") {
		t.Errorf("the queued run's destination holds a password: %s", run.Destination)
	}
	runQueued(d)
	r, _ := d.cat.Run(run.ID)
	if r.Status != catalog.Failed || !strings.Contains(r.Error, "cannot restore to postgres://backup:") {
		t.Fatalf("restore through a kind that fails: %s %q", r.Status, r.Error)
	}
	b, _ := json.Marshal(svc(d).runInfo(*r))
	for _, secret := range []string{"Rahasia-1", "Rahasia/2", "Rahasia%2F2"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the run shows %q: %s", secret, b)
		}
	}
	if want := "postgres://backup:xxxxx@db.local:5432/simpus?password=xxxxx&sslmode=disable"; r.Destination != want {
		t.Errorf("destination %q, want %q", r.Destination, want)
	}
}
