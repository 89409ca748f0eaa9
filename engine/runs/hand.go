package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/queue"
)

// Hand operations (`cadang restic AGENCY [--drc NAME] -- ARGS`): the rare restic
// command an operator needs that cadang has no verb for (restic check --read-data-subset,
// repair index, cat config, list locks), run by the daemon on the agency's repository
// with its environment (the password through a file, never argv), as a recorded run:
// who asked, the arguments, restic's output and exit code are in the run (audited). It
// goes through the queue like a prune: nothing else of this daemon uses the repository
// meanwhile. Only the daemon's unix socket reaches it (operator only); the agency API
// must never route it.
//
// Refused: commands that read the agency's data (the operator must not: restore, dump,
// mount, cat of packs, blobs and trees), that read or change a key (key other than
// list, cat masterkey and key), that change snapshots cadang records (forget, prune,
// tag, rewrite, backup, copy, recover: cadang's own verbs keep the catalog and the
// other DRC right), and flags that choose another repository or password.

// handMaxOutput bounds what a hand run keeps of restic's output (the beginning).
const handMaxOutput = 1 << 20

// Hand is a restic hand run.
func (x *Runner) Hand(ctx context.Context, j *queue.Job, site *drc.Site, args []string) error {
	repo, ok, err := x.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("agency %q has no repository at drc %q yet", j.Run.Agency, site.Name)
		}
		return err
	}
	j.SetProgress(func(p *api.Progress) { p.Phase = "restic " + args[0] })
	out := &headBuffer{max: handMaxOutput}
	err = repo.Hand(ctx, args, out)
	res := api.ResticOutput{Args: args, Output: out.String(), Truncated: out.truncated}
	var rerr *drc.Error
	switch {
	case errors.As(err, &rerr):
		res.ExitCode = rerr.Code
	case err != nil:
		res.ExitCode = -1
	}
	x.log.Warn("restic hand operation", "run", j.Run.ID, "drc", site.Name, "agency", j.Run.Agency, "args", strings.Join(args, " "),
		"exit_code", res.ExitCode)
	b, _ := json.Marshal(res)
	j.Run.Manifest = b
	return err
}

// headBuffer keeps the first max bytes written to it; restic writes its output and its
// errors from two goroutines.
type headBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if len(p) > room {
		b.truncated = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
	} else {
		b.buf = append(b.buf, p...)
	}
	return len(p), nil
}

func (b *headBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
