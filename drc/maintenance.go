package drc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/internal/oneline"
)

// Maintenance is the `maintenance:` section of a DRC: when its repositories are pruned
// and checked. The schedules are 5-field cron specs that engine/config validates.
type Maintenance struct {
	// Prune is when `restic prune` runs on every agency's repository at this DRC
	// (removing the data that retention's `restic forget` left unreferenced).
	Prune string `yaml:"prune"`
	// Check is when `restic check` runs on every agency's repository at this DRC.
	Check string `yaml:"check"`
	// ReadDataSubset is how much of the data each check reads back, as a percentage
	// ("5%"). The data is split into ceil(100/x) parts and each check reads the next
	// part, so every pack is read once every ceil(100/x) checks. Empty or "0%": checks
	// read only the structure (index, snapshots, trees), not the data.
	ReadDataSubset string `yaml:"read_data_subset"`
	// ReadAllWithin is the period within which the scheduled checks read every pack at
	// this DRC when read_data_subset is not given (default 30 days): the data is split
	// into as many parts as checks surely run in that period, from the check schedule.
	ReadAllWithin time.Duration `yaml:"read_all_within"`
	// CheckEvery is the longest time between two scheduled checks, which engine/config
	// works out from Check (it owns the cron parser); 0 without a schedule.
	CheckEvery time.Duration `yaml:"-"`
}

// DefaultReadAllWithin is how soon the scheduled checks read every pack at a DRC whose
// read_data_subset is not given: bitrot is found within a month at every site.
const DefaultReadAllWithin = 30 * 24 * time.Hour

// Parts is the number of parts the data is split into for the checks' rotation:
// read_data_subset's when given, else as many as there are checks within
// read_all_within (at least 1: with checks rarer than that, each reads all the data);
// 0 when nothing is read (no schedule, or read_data_subset 0%).
func (m Maintenance) Parts() (int, error) {
	if strings.TrimSpace(m.ReadDataSubset) != "" {
		return ParseSubset(m.ReadDataSubset)
	}
	if m.CheckEvery <= 0 {
		return 0, nil
	}
	within := m.ReadAllWithin
	if within == 0 {
		within = DefaultReadAllWithin
	}
	return min(max(1, int(within/m.CheckEvery)), MaxSubsetParts), nil
}

// MaxSubsetParts bounds the parts a check rotation has (restic accepts n/t with t at
// most 65536; 1000 parts is 0.1% a check).
const MaxSubsetParts = 1000

// ParseSubset turns a read_data_subset value into the number of parts the data is
// split into: "5%" is 20 parts, "3%" is 34 (each part at most 3%), "100%" is 1 (all
// data every check), "" or "0%" is 0 (no data read).
func ParseSubset(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("%q: give a percentage such as 5%%", s)
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	switch {
	case err != nil || math.IsNaN(p) || p < 0 || p > 100:
		return 0, fmt.Errorf("%q: give a percentage from 0%% to 100%%", s)
	case p == 0:
		return 0, nil
	}
	parts := int(math.Ceil(100/p - 1e-9))
	if parts > MaxSubsetParts {
		return 0, fmt.Errorf("%q is less than %.1f%%: every pack would be read only once every %d checks", s, 100.0/MaxSubsetParts, parts)
	}
	return parts, nil
}

// validateMaintenance checks what drc itself can check of the maintenance and limit
// settings; the cron specs are checked by engine/config, which owns the cron parser.
func (c *Config) validateMaintenance(report func(field, msg string)) {
	if c.Concurrency < 0 {
		report("concurrency", "must not be negative (0: only daemon.concurrency applies)")
	}
	if c.Role == RoleSecondary && c.Maintenance.Prune != "" {
		report("maintenance.prune", "a secondary DRC is never pruned by restic: replication removes there what the primary's prune removed (after replication.delete_after); schedule prune at the primary")
	}
	if _, err := ParseSubset(c.Maintenance.ReadDataSubset); err != nil {
		report("maintenance.read_data_subset", err.Error())
	}
	switch m := c.Maintenance; {
	case m.ReadAllWithin < 0:
		report("maintenance.read_all_within", "must not be negative")
	case m.ReadAllWithin > 0 && strings.TrimSpace(m.ReadDataSubset) != "":
		report("maintenance.read_all_within", "give read_data_subset or read_all_within, not both")
	case m.ReadAllWithin > 0 && m.Check == "":
		report("maintenance.read_all_within", "has no effect without maintenance.check (the checks read the data)")
	}
}

// Forget removes snapshots by id (`restic forget ID...`). Which ones is the caller's
// decision: cadang computes its retention over good snapshots only (see engine).
func (r *Repo) Forget(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if id == "" || strings.HasPrefix(id, "-") {
			return fmt.Errorf("forget: %q is not a snapshot id", id)
		}
	}
	args := append([]string{"forget", "--"}, ids...)
	return r.run(ctx, call{op: "forget", args: args, stdout: io.Discard})
}

// Prune removes the data no snapshot references any more (`restic prune`). It
// returns restic's account of what it removed, in one line.
func (r *Repo) Prune(ctx context.Context) (string, error) {
	var lines []string
	err := r.run(ctx, call{op: "prune", args: []string{"prune"}, onLine: func(b []byte) {
		line := strings.TrimSpace(string(b))
		for _, key := range []string{"total prune:", "remaining:", "unused size after prune:"} {
			if strings.Contains(line, key) && len(lines) < 8 {
				lines = append(lines, strings.Join(strings.Fields(line), " "))
			}
		}
	}})
	return strings.Join(lines, "; "), err
}

// CheckSummary is what `restic check` found.
type CheckSummary struct {
	NumErrors       int      `json:"num_errors"`
	BrokenPacks     []string `json:"broken_packs,omitempty"`
	HintRepairIndex bool     `json:"suggest_repair_index,omitempty"`
	HintPrune       bool     `json:"suggest_prune,omitempty"`
	Errors          []string `json:"errors,omitempty"` // the first error messages
}

// Check runs `restic check`, reading part of parts of the data (`--read-data-subset
// part/parts`), or no data when parts is 0. A repository with errors returns the
// summary together with an error naming the first problem.
func (r *Repo) Check(ctx context.Context, part, parts int) (*CheckSummary, error) {
	args := []string{"check"}
	if parts > 0 {
		if part < 1 || part > parts {
			return nil, fmt.Errorf("check: part %d of %d", part, parts)
		}
		args = append(args, fmt.Sprintf("--read-data-subset=%d/%d", part, parts))
	}
	var sum CheckSummary
	err := r.run(ctx, call{op: "check", args: args, onLine: func(b []byte) {
		var m struct {
			MessageType string `json:"message_type"`
			Message     string `json:"message"`
		}
		if json.Unmarshal(b, &m) != nil {
			return
		}
		switch m.MessageType {
		case "summary":
			_ = json.Unmarshal(b, &sum)
		case "error":
			if len(sum.Errors) < 10 {
				sum.Errors = append(sum.Errors, oneline.Of(m.Message))
			}
		}
	}})
	if err != nil {
		var rerr *Error
		if errors.As(err, &rerr) && rerr.Code == 1 && (sum.NumErrors > 0 || len(sum.Errors) > 0) {
			first := "see restic check"
			if len(sum.Errors) > 0 {
				first = sum.Errors[0]
			}
			return &sum, &Error{Op: "check", DRC: r.DRC, Code: 1, Message: fmt.Sprintf("%d errors in the repository of %s, first: %s", max(sum.NumErrors, len(sum.Errors)), r.Agency, first)}
		}
		return nil, err
	}
	return &sum, nil
}
