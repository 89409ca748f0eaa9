package drc

import (
	"context"
	"fmt"
	"strings"
)

// QuarantinePrefix is where a damaged object that no DRC holds whole is moved: out of
// restic's sight (restic reads only config, keys/, locks/, data/, index/ and
// snapshots/), out of replication's, and still there for an expert to look at.
const QuarantinePrefix = "quarantine/"

// Quarantine moves obj aside to quarantine/obj. Its bytes are kept when they can be
// read; an object that cannot be read whole is removed all the same (the note says so),
// since what matters is that no restic process builds on it again.
func (r *Repo) Quarantine(ctx context.Context, obj string) (note string, err error) {
	info, err := r.Store.Stat(ctx, obj)
	if err != nil {
		return "", fmt.Errorf("drc %q: %s: %w", r.DRC, obj, err)
	}
	rc, err := r.Store.Get(ctx, obj)
	if err == nil {
		err = r.Store.Put(ctx, QuarantinePrefix+obj, rc, info.Size)
		rc.Close()
	}
	if err != nil {
		if IsUnreachable(err) || ctx.Err() != nil {
			return "", fmt.Errorf("drc %q: moving %s aside: %w", r.DRC, obj, err)
		}
		note = fmt.Sprintf("its bytes could not be read whole to keep them (%v); removed", err)
	}
	if err := r.Store.Delete(ctx, obj); err != nil {
		return "", fmt.Errorf("drc %q: removing %s: %w", r.DRC, obj, err)
	}
	return note, nil
}

// RepairIndex runs `restic repair index`: the index is rebuilt from the pack files
// that are there, so blobs of a removed pack are no longer found by deduplication and
// the next backup stores their data again. It needs restic's exclusive lock.
func (r *Repo) RepairIndex(ctx context.Context) (string, error) {
	var lines []string
	err := r.run(ctx, call{op: "repair index", args: []string{"repair", "index"}, onLine: func(b []byte) {
		if line := strings.TrimSpace(string(b)); line != "" && len(lines) < 8 {
			lines = append(lines, strings.Join(strings.Fields(line), " "))
		}
	}})
	return strings.Join(lines, "; "), err
}
