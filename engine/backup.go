package engine

import (
	"errors"
	"fmt"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/server"
)

// Backup queues a backup of a target.
func (d *Daemon) Backup(name, reason string, priority int) (catalog.Run, error) {
	t, ok := d.targets[name]
	if !ok {
		return catalog.Run{}, d.unknownTarget(name)
	}
	sub := d.backupSubmission(t, reason, priority)
	return d.submit(sub.run, sub.prio, sub.exec)
}

// unknownTarget is errUnknownTarget for name, with the closest configured name.
func (d *Daemon) unknownTarget(name string) error {
	names := make([]string, 0, len(d.targets))
	for n := range d.targets {
		names = append(names, n)
	}
	return fmt.Errorf("%w %q%s", errUnknownTarget, name, config.Suggest(name, names))
}

var (
	errUnknownTarget = errors.New("unknown target")
	errBadRequest    = server.ErrBadRequest
)
