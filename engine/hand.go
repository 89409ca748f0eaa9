package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
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

// handCommands are the restic commands a hand run may run; a value lists the only
// first arguments allowed (nil: any).
var handCommands = map[string][]string{
	"snapshots": nil, "ls": nil, "find": nil, "stats": nil, "check": nil, "diff": nil, "version": nil,
	"list":   {"blobs", "packs", "index", "snapshots", "keys", "locks"},
	"cat":    {"config", "index", "snapshot", "lock"},
	"key":    {"list"},
	"repair": {"index", "snapshots", "packs"},
	"unlock": nil,
}

// handRefused says why a command is refused.
var handRefused = map[string]string{
	"restore": "it reads the agency's data, which the operator must not: the agency restores through cadang restore",
	"dump":    "it reads the agency's data, which the operator must not",
	"mount":   "it reads the agency's data, which the operator must not",
	"init":    "cadang init creates repositories (and keeps their keys)",
	"forget":  "cadang forget applies the retention and keeps the catalog and the other DRC right",
	"prune":   "cadang prune runs it where it is safe (never at a secondary)",
	"tag":     "cadang's tags say which snapshots are good",
	"rewrite": "it changes snapshots cadang records",
	"backup":  "cadang backup takes snapshots",
	"copy":    "replication copies between DRCs",
	"recover": "it writes a snapshot cadang did not take",
}

// handFlagRefused are the flags that would point restic elsewhere or at another secret.
var handFlagRefused = []string{"-r", "--repo", "--repository-file", "-p", "--password-file", "--password-command",
	"--insecure-no-password", "--key-hint", "-o", "--option", "--cache-dir", "--tls-client-cert", "--from-repo",
	"--from-repository-file", "--from-password-file", "--from-password-command", "--from-key-hint"}

// checkHandArgs refuses what a hand run may not do.
func checkHandArgs(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no restic command given (cadang restic AGENCY -- COMMAND [ARGS])", errBadRequest)
	}
	cmd := args[0]
	if why, ok := handRefused[cmd]; ok {
		return fmt.Errorf("%w: restic %s is refused: %s", errBadRequest, cmd, why)
	}
	allowed, ok := handCommands[cmd]
	if !ok {
		return fmt.Errorf("%w: restic %q is not a command cadang runs by hand (allowed: %s)", errBadRequest, cmd, handList())
	}
	if allowed != nil {
		if len(args) < 2 || !slices.Contains(allowed, args[1]) {
			return fmt.Errorf("%w: restic %s: give one of %s", errBadRequest, cmd, strings.Join(allowed, ", "))
		}
	}
	for _, a := range args[1:] {
		name, _, _ := strings.Cut(a, "=")
		if slices.Contains(handFlagRefused, name) {
			return fmt.Errorf("%w: restic flag %s is refused: cadang chooses the repository and its password", errBadRequest, name)
		}
	}
	return nil
}

func handList() string {
	return "snapshots, ls, find, stats, check, diff, list, cat, key, repair, unlock, version"
}

// Restic queues a hand run of restic on an agency's repository at a DRC (the primary
// if none is named); requester says who asked.
func (d *Daemon) Restic(req api.ResticRequest, requester string) (catalog.Run, error) {
	if !d.cfg.HasAgency(req.Agency) {
		return catalog.Run{}, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	site, err := d.site(req.DRC)
	if err != nil {
		return catalog.Run{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if err := checkHandArgs(req.Args); err != nil {
		return catalog.Run{}, err
	}
	r := &catalog.Run{Op: "restic", Agency: req.Agency, DRC: site.Name, Reason: reasonOnDemand,
		Notes: []string{"restic " + strings.Join(req.Args, " ")}}
	if requester != "" {
		r.Notes = append(r.Notes, "requested by "+requester)
	}
	args := append([]string(nil), req.Args...)
	return d.submit(r, queue.PriorityOnDemand, func(ctx context.Context, j *queue.Job) error {
		return d.hand(ctx, j, site, args)
	})
}

// hand is a restic hand run.
func (d *Daemon) hand(ctx context.Context, j *queue.Job, site *drc.Site, args []string) error {
	repo, ok, err := d.openForMaintenance(ctx, j, site)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("agency %q has no repository at drc %q yet", j.Run.Agency, site.Name)
		}
		return err
	}
	j.SetProgress(func(p *Progress) { p.Phase = "restic " + args[0] })
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
	d.log.Warn("restic hand operation", "run", j.Run.ID, "drc", site.Name, "agency", j.Run.Agency, "args", strings.Join(args, " "),
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
