package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// ErrNoDaemon means no daemon answers on the socket.
var ErrNoDaemon = errors.New("no cadang daemon is running")

// ZoneHeader carries the daemon's time zone (an IANA name) on every answer.
const ZoneHeader = "Cadang-Timezone"

// ConfigFileHeader and ConfigDigestHeader carry, on every answer, the configuration file
// the daemon runs and the SHA-256 (hex) of its bytes as the daemon loaded them.
const (
	ConfigFileHeader   = "Cadang-Config-File"
	ConfigDigestHeader = "Cadang-Config-Digest"
)

// Client talks to a daemon over its unix socket.
type Client struct {
	socket string
	http   *http.Client
	// OnZone, if set, is told the daemon's time zone (scheduler.timezone) with every
	// answer, so that a client prints times as the daemon's operators read them.
	OnZone func(name string)
	// OnConfig, if set, is told the configuration file the daemon runs and its digest
	// with every answer, so that a client can warn when the file changed since.
	OnConfig func(file, digest string)
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	return &Client{
		socket: socket,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
		}},
	}
}

// APIError is an error answer of the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://cadang"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (socket %s): start it with `cadang daemon`", ErrNoDaemon, c.socket)
		}
		return fmt.Errorf("cadang daemon (socket %s): %w", c.socket, err)
	}
	defer resp.Body.Close()
	if z := resp.Header.Get(ZoneHeader); z != "" && c.OnZone != nil {
		c.OnZone(z)
	}
	if dg := resp.Header.Get(ConfigDigestHeader); dg != "" && c.OnConfig != nil {
		c.OnConfig(resp.Header.Get(ConfigFileHeader), dg)
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte: // a report
		*o, err = io.ReadAll(resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	return &st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Targets returns the configured targets.
func (c *Client) Targets(ctx context.Context) ([]TargetInfo, error) {
	var out []TargetInfo
	return out, c.do(ctx, http.MethodGet, "/v1/targets", nil, &out)
}

// Backup queues an on-demand backup.
func (c *Client) Backup(ctx context.Context, target string) (*RunInfo, error) {
	var ri RunInfo
	return &ri, c.do(ctx, http.MethodPost, "/v1/backups", BackupRequest{Target: target}, &ri)
}

// Restore queues a restore.
func (c *Client) Restore(ctx context.Context, req RestoreRequest) (*RunInfo, error) {
	var ri RunInfo
	return &ri, c.do(ctx, http.MethodPost, "/v1/restores", req, &ri)
}

// Run returns one run with its live state.
func (c *Client) Run(ctx context.Context, id uint64) (*RunInfo, error) {
	var ri RunInfo
	return &ri, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/runs/%d", id), nil, &ri)
}

// Runs lists runs, newest first; target "" means all.
func (c *Client) Runs(ctx context.Context, target string, limit int) ([]RunInfo, error) {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	q.Set("limit", fmt.Sprint(limit))
	var out []RunInfo
	return out, c.do(ctx, http.MethodGet, "/v1/runs?"+q.Encode(), nil, &out)
}

// Cancel cancels a queued or running run.
func (c *Client) Cancel(ctx context.Context, id uint64) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/runs/%d/cancel", id), nil, nil)
}

// Snapshots lists a target's snapshots at a DRC ("" for the primary).
func (c *Client) Snapshots(ctx context.Context, target, drcName string) ([]SnapshotInfo, error) {
	q := url.Values{"target": {target}}
	if drcName != "" {
		q.Set("drc", drcName)
	}
	var out []SnapshotInfo
	return out, c.do(ctx, http.MethodGet, "/v1/snapshots?"+q.Encode(), nil, &out)
}

// Schedule returns the runs planned in the next hours.
func (c *Client) Schedule(ctx context.Context, hours int) (*ScheduleAnswer, error) {
	var out ScheduleAnswer
	return &out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/schedule?hours=%d", hours), nil, &out)
}

// Forget queues a forget run of a target (its retention policy, applied now).
func (c *Client) Forget(ctx context.Context, req ForgetRequest) (*RunInfo, error) {
	var ri RunInfo
	return &ri, c.do(ctx, http.MethodPost, "/v1/forget", req, &ri)
}

// Prune queues prune runs.
func (c *Client) Prune(ctx context.Context, req MaintenanceRequest) ([]RunInfo, error) {
	var out []RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/prune", req, &out)
}

// Check queues check runs.
func (c *Client) Check(ctx context.Context, req MaintenanceRequest) ([]RunInfo, error) {
	var out []RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/check", req, &out)
}

// Unlock queues unlock runs.
func (c *Client) Unlock(ctx context.Context, req UnlockRequest) ([]RunInfo, error) {
	var out []RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/unlock", req, &out)
}

// Restic queues a restic hand run (operator only: the daemon's unix socket).
func (c *Client) Restic(ctx context.Context, req ResticRequest) (RunInfo, error) {
	var out RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/restic", req, &out)
}

// Reload asks the daemon to re-read its configuration file.
func (c *Client) Reload(ctx context.Context) (ReloadAnswer, error) {
	var out ReloadAnswer
	return out, c.do(ctx, http.MethodPost, "/v1/reload", nil, &out)
}

// List lists a folder of a target's snapshot (snapshot "" or "latest": the newest
// good one; path "": the top).
func (c *Client) List(ctx context.Context, target, snapshot, drcName, path string) (*Listing, error) {
	q := url.Values{"target": {target}, "snapshot": {snapshot}, "drc": {drcName}, "path": {path}}
	var out Listing
	return &out, c.do(ctx, http.MethodGet, "/v1/ls?"+q.Encode(), nil, &out)
}

// Wait polls a run until it ends, calling progress with each state seen.
func (c *Client) Wait(ctx context.Context, id uint64, every time.Duration, progress func(*RunInfo)) (*RunInfo, error) {
	for {
		ri, err := c.Run(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(ri)
		}
		if ri.Status.Done() {
			return ri, nil
		}
		select {
		case <-ctx.Done():
			return ri, ctx.Err()
		case <-time.After(every):
		}
	}
}

// Drill queues drill runs.
func (c *Client) Drill(ctx context.Context, req DrillRequest) ([]RunInfo, error) {
	var out []RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/drills", req, &out)
}

// DrillReport returns the report of a drill run in format (json, html, pdf) and
// language (id, en; "" for the configured one).
func (c *Client) DrillReport(ctx context.Context, id uint64, format, lang string) ([]byte, error) {
	var b []byte
	q := url.Values{"format": {format}, "lang": {lang}}
	return b, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/reports/drill/%d?%s", id, q.Encode()), nil, &b)
}

// HandoverReport returns the hand-over report of a downloaded export.
func (c *Client) HandoverReport(ctx context.Context, id uint64, format, lang string) ([]byte, error) {
	var b []byte
	q := url.Values{"format": {format}, "lang": {lang}}
	return b, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/exports/%d/handover?%s", id, q.Encode()), nil, &b)
}

// PeriodReport returns the summary report of the drills between two dates (YYYY-MM-DD,
// both included).
func (c *Client) PeriodReport(ctx context.Context, from, to, format, lang string) ([]byte, error) {
	var b []byte
	q := url.Values{"from": {from}, "to": {to}, "format": {format}, "lang": {lang}}
	return b, c.do(ctx, http.MethodGet, "/v1/reports/period?"+q.Encode(), nil, &b)
}

// DRCs returns every DRC's status.
func (c *Client) DRCs(ctx context.Context) ([]DRCStatus, error) {
	var out []DRCStatus
	return out, c.do(ctx, http.MethodGet, "/v1/drcs", nil, &out)
}

// Replicate queues replication passes now and returns their runs.
func (c *Client) Replicate(ctx context.Context, req ReplicateRequest) ([]RunInfo, error) {
	var out []RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/replicate", req, &out)
}

// Verify queues a verify run.
func (c *Client) Verify(ctx context.Context, req VerifyRequest) (*RunInfo, error) {
	var ri RunInfo
	return &ri, c.do(ctx, http.MethodPost, "/v1/verify", req, &ri)
}

// Alarms returns the active alarms (all of them with all).
func (c *Client) Alarms(ctx context.Context, all bool) ([]Alarm, error) {
	path := "/v1/alarms"
	if all {
		path += "?all=1"
	}
	var out []Alarm
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Damage returns the damaged objects recorded at the DRCs (open ones, or all), newest
// first; drc and agency narrow the list when not empty.
func (c *Client) Damage(ctx context.Context, all bool, drc, agency string) ([]Damage, error) {
	q := url.Values{}
	if all {
		q.Set("all", "1")
	}
	if drc != "" {
		q.Set("drc", drc)
	}
	if agency != "" {
		q.Set("agency", agency)
	}
	path := withQuery("/v1/damage", q)
	var out []Damage
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Repair queues repair runs of the damaged objects; it returns them.
func (c *Client) Repair(ctx context.Context, req RepairRequest) ([]RunInfo, error) {
	var out []RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/repair", req, &out)
}

// Recover queues recover runs: the objects hidden behind S3 delete markers at a DRC are
// made visible again. It returns the runs.
func (c *Client) Recover(ctx context.Context, req RecoverRequest) ([]RunInfo, error) {
	var out []RunInfo
	return out, c.do(ctx, http.MethodPost, "/v1/recover", req, &out)
}

// Audit returns the audit log, newest first: only agency's entries when agency is not
// empty, only those at or after since when it is not empty (a time, RFC 3339, or a
// date, YYYY-MM-DD, in the daemon's zone), at most limit (0: all; negative: the
// daemon's default, 100).
func (c *Client) Audit(ctx context.Context, agency, since string, limit int) ([]AuditEntry, error) {
	q := url.Values{}
	if agency != "" {
		q.Set("agency", agency)
	}
	if since != "" {
		q.Set("since", since)
	}
	if limit >= 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := withQuery("/v1/audit", q)
	var out []AuditEntry
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// AuditVerify checks the audit log's chain in the daemon.
func (c *Client) AuditVerify(ctx context.Context) (AuditVerification, error) {
	var out AuditVerification
	return out, c.do(ctx, http.MethodGet, "/v1/audit/verify", nil, &out)
}

// CreateToken creates an API token; the answer holds its secret, which cannot be had
// again.
func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (TokenCreated, error) {
	var out TokenCreated
	return out, c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
}

// Tokens lists the API tokens, revoked and expired ones too, by name.
func (c *Client) Tokens(ctx context.Context) ([]TokenInfo, error) {
	var out []TokenInfo
	return out, c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
}

// RevokeToken revokes the API token named name.
func (c *Client) RevokeToken(ctx context.Context, name string) (TokenInfo, error) {
	var out TokenInfo
	return out, c.do(ctx, http.MethodPost, "/v1/tokens/"+url.PathEscape(name)+"/revoke", nil, &out)
}

// Requests lists the agencies' restore and export requests, newest first; agency and
// status "" mean all.
func (c *Client) Requests(ctx context.Context, agency, status string) ([]Request, error) {
	q := url.Values{}
	if agency != "" {
		q.Set("agency", agency)
	}
	if status != "" {
		q.Set("status", status)
	}
	path := withQuery("/v1/requests", q)
	var out []Request
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Request returns one request.
func (c *Client) Request(ctx context.Context, id uint64) (Request, error) {
	var out Request
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/requests/%d", id), nil, &out)
}

// Decide approves (approve) or rejects request id, with a comment (needed to reject).
func (c *Client) Decide(ctx context.Context, id uint64, approve bool, comment string) (Request, error) {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	var out Request
	return out, c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/requests/%d/%s", id, verb), DecisionRequest{Comment: comment}, &out)
}

// StateStatus returns the state bundles at each DRC.
func (c *Client) StateStatus(ctx context.Context) (StateStatus, error) {
	var out StateStatus
	return out, c.do(ctx, http.MethodGet, "/v1/state", nil, &out)
}

// NotifyTest sends a test message on a notification channel.
func (c *Client) NotifyTest(ctx context.Context, channel string) error {
	return c.do(ctx, http.MethodPost, "/v1/notify/test", NotifyTestRequest{Channel: channel}, nil)
}

// withQuery is path with the query q, when it has any value.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// Takeover promotes a standby to the primary (see TakeoverRequest).
func (c *Client) Takeover(ctx context.Context, req TakeoverRequest) (SiteStatus, error) {
	var out SiteStatus
	return out, c.do(ctx, http.MethodPost, "/v1/takeover", req, &out)
}

// Handback returns the primary role to the site taken over (see HandbackRequest).
func (c *Client) Handback(ctx context.Context, req HandbackRequest) (SiteStatus, error) {
	var out SiteStatus
	return out, c.do(ctx, http.MethodPost, "/v1/handback", req, &out)
}
