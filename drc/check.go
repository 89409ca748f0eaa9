package drc

import (
	"context"
	"encoding/json"
	"strings"
)

// CheckSummary is what `restic check` found.
type CheckSummary struct {
	NumErrors       int      `json:"num_errors"`
	BrokenPacks     []string `json:"broken_packs,omitempty"`
	HintRepairIndex bool     `json:"suggest_repair_index,omitempty"`
	HintPrune       bool     `json:"suggest_prune,omitempty"`
}

// ResticCheck runs `restic check` on the repository (with --read-data, every pack file
// is read and verified too). It takes restic's exclusive lock for its duration. A
// repository with errors returns the summary with an error that says so in one line.
func (r *Repo) ResticCheck(ctx context.Context, readData bool) (*CheckSummary, error) {
	args := []string{"check"}
	if readData {
		args = append(args, "--read-data")
	}
	var sum CheckSummary
	found := false
	err := r.run(ctx, call{op: "check", args: args, onLine: func(line []byte) {
		var m struct {
			MessageType string `json:"message_type"`
		}
		if json.Unmarshal(line, &m) == nil && m.MessageType == "summary" {
			found = json.Unmarshal(line, &sum) == nil
		}
	}})
	if err != nil && found && sum.NumErrors > 0 {
		msg := "repository has errors"
		if len(sum.BrokenPacks) > 0 {
			msg += ": damaged packs " + strings.Join(sum.BrokenPacks, ", ")
		}
		if e, ok := err.(*Error); ok && e.Message != "" {
			msg += " (" + e.Message + ")"
		}
		return &sum, &Error{Op: "check", DRC: r.DRC, Code: 1, Message: oneLine(msg)}
	}
	if err != nil {
		return nil, err
	}
	return &sum, nil
}
