package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cadang/cadang/engine/wal"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/postgres"
)

// WALBatch is the "target" of a WAL batch run (docs/continuous.md): the files of a
// spool, stored under the root of one snapshot by name and tagged with the range of
// segments they hold. The daemon's archiver and an agent's store their spools with it.
type WALBatch struct {
	Dir   string
	Names []string
	Tag   string // pg_wal=FIRST-LAST, or pg_wal=none (only history or backup-label files)
}

// NewWALBatch is the batch of everything spool holds now; an empty spool is an error.
func NewWALBatch(spool *wal.Spool) (*WALBatch, error) {
	names, err := spool.Names()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("the WAL spool holds nothing to store")
	}
	first, last := wal.Range(names, spool.SegmentSize())
	tag := postgres.TagWAL + "=" + first + "-" + last
	if first == "" {
		tag = postgres.TagWAL + "=none"
	}
	return &WALBatch{Dir: spool.Dir, Names: names, Tag: tag}, nil
}

// Backup stores the batch.
func (b *WALBatch) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	if err := w.Files(ctx, targets.FilesSpec{Dir: b.Dir, Paths: b.Names, Tags: []string{b.Tag}}); err != nil {
		return nil, err
	}
	return &targets.BackupResult{Notes: []string{fmt.Sprintf("WAL archive: %d files, %s", len(b.Names), strings.TrimPrefix(b.Tag, postgres.TagWAL+"="))}}, nil
}

// Restore refuses: a batch is restored with its base backup.
func (*WALBatch) Restore(context.Context, targets.Reader, targets.RestoreRequest) error {
	return errors.New("a WAL batch is restored with its base backup (cadang restore TARGET --to-time)")
}
