package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// RunbookInfo is a configured runbook: GET /v1/runbooks.
type RunbookInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Version     string `json:"version,omitempty"`
	File        string `json:"file"`
	Digest      string `json:"digest"` // SHA-256 of its source
	Groups      int    `json:"groups"`
	Steps       int    `json:"steps"`
	RTO         string `json:"rto,omitempty"` // declared
}

// RunbookPlan is a dry run of a runbook: GET /v1/runbooks/{name}/plan. Nothing runs.
type RunbookPlan struct {
	Runbook string            `json:"runbook"`
	Digest  string            `json:"digest"`
	Mode    string            `json:"mode"` // the mode the plan is shown for (test unless asked)
	Steps   []RunbookPlanStep `json:"steps"`
}

// RunbookPlanStep is one step of a plan: what it would do, where, and how long restores
// of its target took before (ETA).
type RunbookPlanStep struct {
	No        int      `json:"no"`
	Group     string   `json:"group"`
	Step      string   `json:"step"`
	Kind      string   `json:"kind"` // restore, run, check, manual, notify
	DependsOn []string `json:"depends_on,omitempty"`
	Parallel  bool     `json:"parallel,omitempty"`
	Runs      bool     `json:"runs"` // false: skipped in this mode
	Critical  bool     `json:"critical"`
	What      string   `json:"what"` // one line: the argv, the check, the prompt
	Target    string   `json:"target,omitempty"`
	DRC       string   `json:"drc,omitempty"`      // the DRC it would restore from (first that answers: the fallback order)
	Snapshot  string   `json:"snapshot,omitempty"` // the snapshot it would use, with its time
	To        string   `json:"to,omitempty"`       // the destination (test mode: the scratch name)
	ETA       string   `json:"eta,omitempty"`      // from the last restores and drills of the target
	Error     string   `json:"error,omitempty"`    // why it cannot run now (no snapshot, ...)
}

// RunbookRunRequest starts a runbook: POST /v1/runbook-runs. A real run needs Confirm
// equal to the runbook's name.
type RunbookRunRequest struct {
	Runbook string `json:"runbook"`
	Mode    string `json:"mode"` // test or real
	Confirm string `json:"confirm,omitempty"`
}

// RunbookRun is a runbook run: its status (running, waiting, succeeded, failed, halted,
// aborted) and its steps.
type RunbookRun struct {
	ID      uint64         `json:"id"`
	Runbook string         `json:"runbook"`
	Mode    string         `json:"mode"`
	Status  string         `json:"status"`
	File    string         `json:"file"`
	Digest  string         `json:"digest"`
	Version string         `json:"version,omitempty"`
	By      string         `json:"by"`
	Started time.Time      `json:"started"`
	Ended   time.Time      `json:"ended,omitzero"`
	Steps   []RunbookStep  `json:"steps"`
	Events  []RunbookEvent `json:"events,omitempty"`
	// Reports are the report files (JSON, HTML, PDF) the daemon wrote when the run ended.
	Reports []string `json:"reports,omitempty"`
}

// RunbookStep is one step's state in a run.
type RunbookStep struct {
	No       int       `json:"no"`
	Group    string    `json:"group"`
	Step     string    `json:"step"`
	Status   string    `json:"status"` // pending, running, waiting, ok, failed, skipped
	Critical bool      `json:"critical,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
	Actor    string    `json:"actor,omitempty"`
	Ticket   string    `json:"ticket,omitempty"`
	Title    string    `json:"title,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// RunbookEvent is what a person did to a run.
type RunbookEvent struct {
	Time   time.Time `json:"time"`
	By     string    `json:"by"`
	Role   string    `json:"role,omitempty"`
	What   string    `json:"what"`
	Step   string    `json:"step,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// RunbookApproveRequest confirms a manual gate: POST /v1/runbook-runs/{id}/approve.
type RunbookApproveRequest struct {
	Step   string `json:"step"`
	Ticket string `json:"ticket,omitempty"`
}

// Runbooks lists the configured runbooks.
func (c *Client) Runbooks(ctx context.Context) ([]RunbookInfo, error) {
	var out []RunbookInfo
	return out, c.do(ctx, http.MethodGet, "/v1/runbooks", nil, &out)
}

// RunbookPlan is the dry run of runbook name in mode (test or real).
func (c *Client) RunbookPlan(ctx context.Context, name, mode string) (RunbookPlan, error) {
	var out RunbookPlan
	return out, c.do(ctx, http.MethodGet, "/v1/runbooks/"+url.PathEscape(name)+"/plan?mode="+url.QueryEscape(mode), nil, &out)
}

// StartRunbook starts a runbook run.
func (c *Client) StartRunbook(ctx context.Context, req RunbookRunRequest) (RunbookRun, error) {
	var out RunbookRun
	return out, c.do(ctx, http.MethodPost, "/v1/runbook-runs", req, &out)
}

// RunbookRun returns a runbook run.
func (c *Client) RunbookRun(ctx context.Context, id uint64) (RunbookRun, error) {
	var out RunbookRun
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/runbook-runs/%d", id), nil, &out)
}

// RunbookAction approves a gate (approve, with req), aborts (abort) or continues
// (continue) a runbook run.
func (c *Client) RunbookAction(ctx context.Context, id uint64, action string, req *RunbookApproveRequest) (RunbookRun, error) {
	var out RunbookRun
	var body any
	if req != nil {
		body = req
	}
	return out, c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/runbook-runs/%d/%s", id, action), body, &out)
}

// RunbookDone reports whether a run has stopped: ended, or halted (it needs a person to
// continue or abort it). A run waiting at a manual gate has not: someone confirms it.
func RunbookDone(status string) bool {
	switch status {
	case "running", "waiting", "":
		return false
	}
	return true
}

// RunbookReport returns the report of a runbook run in format (json, html, pdf) and
// language (id, en; "" for the configured one).
func (c *Client) RunbookReport(ctx context.Context, id uint64, format, lang string) ([]byte, error) {
	var b []byte
	q := url.Values{"format": {format}, "lang": {lang}}
	return b, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/reports/runbook/%d?%s", id, q.Encode()), nil, &b)
}
