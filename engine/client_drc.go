package engine

import (
	"context"
	"net/http"

	"github.com/cadang/cadang/engine/catalog"
)

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
func (c *Client) Alarms(ctx context.Context, all bool) ([]catalog.Alarm, error) {
	path := "/v1/alarms"
	if all {
		path += "?all=1"
	}
	var out []catalog.Alarm
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}
