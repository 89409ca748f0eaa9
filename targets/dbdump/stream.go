package dbdump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadang/cadang/targets"
)

// A backup of a database runs in two processes. The target (in the daemon) checks that
// the server answers, writes a job file (0600, in a private folder) and asks the writer
// to store the output of `cadang internal-stream KIND JOBFILE`. That child process, run
// by restic, starts the dump tool, passes its output through, computes the manifest and
// writes a result file beside the job file: the manifest, or the first line of the
// tool's own error. A child that fails exits non-zero, so restic stores nothing.

// Result is what the child process reports.
type Result struct {
	Manifest *Manifest `json:"manifest,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Job is the part of a kind's job file that this package reads.
type Job struct {
	ResultFile string `json:"result_file"`
}

// WriteJob writes a kind's job (a struct embedding Job) to a 0600 file in p.
func (p *Private) WriteJob(job any) (string, error) {
	b, err := json.Marshal(job)
	if err != nil {
		return "", err
	}
	return p.WriteFile("job.json", b)
}

// ReadJob reads a job file written by WriteJob.
func ReadJob(file string, job any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, job)
}

// Finish writes the child's result and returns the error the child exits with.
func Finish(resultFile string, m *Manifest, notes []string, err error) error {
	r := Result{Manifest: m, Notes: notes}
	if err != nil {
		r = Result{Error: joinLines(err.Error(), resultErrorLength)}
	}
	b, _ := json.Marshal(r)
	if werr := os.WriteFile(resultFile, b, 0o600); werr != nil && err == nil {
		return werr
	}
	return err
}

// resultErrorLength bounds the error a child reports: a tool's reason (ToolLog.Reason)
// with a little context.
const resultErrorLength = 800

// joinLines puts s on one line (its non-empty lines joined with "; ") of at most max
// bytes.
func joinLines(s string, max int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s = strings.Join(lines, "; ")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// StreamBackup stores the output of the kind's child process through w and returns the
// manifest the child reported. A failed dump fails with the tool's own first line.
func StreamBackup(ctx context.Context, w targets.Writer, p *Private, kind, filename string, tags []string, job any, resultFile string) (*targets.BackupResult, error) {
	jobFile, err := p.WriteJob(job)
	if err != nil {
		return nil, err
	}
	serr := w.Stream(ctx, targets.StreamSpec{
		Filename: filename,
		Argv:     targets.SelfCommand(kind, jobFile),
		Tags:     tags,
	})
	var res Result
	b, rerr := os.ReadFile(resultFile)
	if rerr == nil {
		rerr = json.Unmarshal(b, &res)
	}
	switch {
	case ctx.Err() != nil && serr != nil:
		return nil, serr
	case res.Error != "":
		// The dump failed: its own reason, not restic's "command failed: exit status 1".
		return nil, errors.New(res.Error)
	case serr != nil:
		return nil, serr
	case rerr != nil || res.Manifest == nil:
		// restic stored a snapshot, but the child said nothing: do not call it good.
		return nil, fmt.Errorf("the dump process left no result (%s)", filepath.Base(resultFile))
	}
	manifest, err := json.Marshal(res.Manifest)
	if err != nil {
		return nil, err
	}
	return &targets.BackupResult{Manifest: manifest, Notes: res.Notes}, nil
}
