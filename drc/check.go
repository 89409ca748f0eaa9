package drc

import "context"

// ResticCheck runs `restic check` on the repository (with readData, every pack file is
// read and verified too: `--read-data-subset=1/1`). It takes restic's exclusive lock
// for its duration. A repository with errors returns the summary with an error that
// says so in one line.
func (r *Repo) ResticCheck(ctx context.Context, readData bool) (*CheckSummary, error) {
	if readData {
		return r.Check(ctx, 1, 1)
	}
	return r.Check(ctx, 0, 0)
}
