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
	cf := d.conf()
	t, ok := cf.targets[name]
	if !ok {
		return catalog.Run{}, d.unknownTarget(name)
	}
	sub := d.backupSubmission(t, reason, priority)
	return d.submit(sub.run, sub.prio, sub.exec)
}

// unknownTarget is errUnknownTarget for name, with the closest configured name.
func (d *Daemon) unknownTarget(name string) error {
	cf := d.conf()
	names := make([]string, 0, len(cf.targets))
	for n := range cf.targets {
		names = append(names, n)
	}
	return fmt.Errorf("%w %q%s", errUnknownTarget, name, config.Suggest(name, names))
}

var (
	errUnknownTarget = errors.New("unknown target")
	errBadRequest    = server.ErrBadRequest
)
