package engine

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/cadang/cadang/engine/api"
)

// Looking into a snapshot (`cadang ls TARGET [SNAPSHOT] [PATH]`): one folder of a
// target's snapshot at a DRC, as restic ls lists it, without a lock. It is how an
// operator (and later an agency) finds what to give `restore --include`.

// list lists the folder dir ("" for the top) of a target's snapshot (an id, a prefix,
// or ""/"latest" for the newest good one) at a DRC ("" for the primary).
func (v service) list(ctx context.Context, target, snapshot, drcName, dir string) (*api.Listing, error) {
	cf := v.d.conf()
	t, ok := cf.targets[target]
	if !ok {
		return nil, v.d.unknownTarget(target)
	}
	site, err := v.d.sites.site(drcName)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if dir != "" && !strings.HasPrefix(dir, "/") {
		return nil, fmt.Errorf("%w: path %q must be absolute, as the snapshot holds it", errBadRequest, dir)
	}
	if err := site.Check(ctx); err != nil {
		return nil, err
	}
	repo := site.Repo(t.Cfg.Agency)
	snap, _, err := cf.runs.ResolveSnapshot(ctx, repo, target, snapshot)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if dir == "" {
		dir = "/"
	}
	dir = path.Clean(dir)
	nodes, err := repo.List(ctx, snap.ID, dir) // that folder and what it holds directly
	if err != nil {
		return nil, err
	}
	out := &api.Listing{Target: target, DRC: site.Name, Snapshot: snap.ID, Time: snap.Time, Path: dir, Entries: []api.Entry{}}
	for _, n := range nodes {
		if n.Path == dir {
			continue // the folder itself
		}
		out.Entries = append(out.Entries, api.Entry{Path: n.Path, Type: n.Type, Size: n.Size, Time: n.MTime})
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: snapshot %s of target %q holds no %s", errBadRequest, snap.ShortID, target, dir)
	}
	return out, nil
}
