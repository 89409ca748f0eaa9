package api

// BackupRequest asks for an on-demand backup: POST /v1/backups.
type BackupRequest struct {
	Target string `json:"target"`
}

// RestoreRequest asks for a snapshot of a target to be restored: POST /v1/restores.
type RestoreRequest struct {
	Target   string `json:"target"`
	Snapshot string `json:"snapshot,omitempty"` // an id, a unique prefix, or "latest" (the default)
	DRC      string `json:"drc,omitempty"`      // default: the primary
	To       string `json:"to"`                 // a directory, a file or a URL, as the kind understands
	Force    bool   `json:"force,omitempty"`    // allow a destination that holds data
	// Include restores only these paths of the snapshot (and what is below them);
	// only kinds that can restore part of a snapshot (files) take it.
	Include []string          `json:"include,omitempty"`
	Options map[string]string `json:"options,omitempty"` // kind-specific
}

// MaintenanceRequest asks for prune or check runs: POST /v1/prune, POST /v1/check.
type MaintenanceRequest struct {
	DRC    string `json:"drc,omitempty"`    // a DRC name, "all", or "" for the primary
	Agency string `json:"agency,omitempty"` // "" for every agency
	// ReadDataSubset overrides the DRC's read_data_subset for this check ("100%" reads
	// all data); the rotation is left as it is.
	ReadDataSubset string `json:"read_data_subset,omitempty"`
}

// ForgetRequest asks for a target's retention to be applied now: POST /v1/forget.
type ForgetRequest struct {
	Target string `json:"target"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// UnlockRequest asks for unlock runs: POST /v1/unlock.
type UnlockRequest struct {
	DRC    string `json:"drc,omitempty"`    // a DRC name, or "" for every DRC
	Agency string `json:"agency,omitempty"` // "" for every agency
	// All removes every lock, stale or not (after the client's confirmation).
	All bool `json:"all,omitempty"`
}

// ResticRequest asks for a hand operation: restic run with Args on one agency's
// repository at a DRC, with its environment, as a recorded run: POST /v1/restic.
// Only commands that neither read the agency's data nor a key are accepted (see
// docs/operations.md).
type ResticRequest struct {
	Agency string   `json:"agency"`
	DRC    string   `json:"drc,omitempty"` // "" for the primary
	Args   []string `json:"args"`
}

// ResticOutput is the manifest of a restic hand run: what restic printed (its
// standard output and error, the end kept when longer than the limit) and its exit
// code.
type ResticOutput struct {
	Args      []string `json:"args"`
	Output    string   `json:"output"`
	Truncated bool     `json:"truncated,omitempty"`
	ExitCode  int      `json:"exit_code"`
}

// DrillRequest asks for restore drills: POST /v1/drills.
type DrillRequest struct {
	Target string `json:"target,omitempty"`
	All    bool   `json:"all,omitempty"` // every target
	DRC    string `json:"drc,omitempty"` // only this DRC (default: the target's drill.drcs)
}

// ReplicateRequest asks for a replication pass now: to one secondary (or all), for one
// agency (or all): POST /v1/replicate.
type ReplicateRequest struct {
	DRC    string `json:"drc,omitempty"`
	Agency string `json:"agency,omitempty"`
}

// RecoverRequest asks to make the objects hidden behind S3 delete markers at a DRC
// visible again (for one agency, or all): POST /v1/recover.
type RecoverRequest struct {
	DRC    string `json:"drc"`
	Agency string `json:"agency,omitempty"`
}

// RepairRequest asks to repair the damaged objects recorded at the DRCs (one DRC, or
// all) from a good copy at another: POST /v1/repair. DryRun says what would be done.
type RepairRequest struct {
	DRC    string `json:"drc,omitempty"`
	Agency string `json:"agency,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// VerifyRequest asks to verify the repositories at a DRC: POST /v1/verify.
type VerifyRequest struct {
	DRC      string `json:"drc"`
	Agency   string `json:"agency,omitempty"` // default: every agency
	ReadData bool   `json:"read_data,omitempty"`
}

// TokenRequest asks for an API token: POST /v1/tokens. Agency is required for the
// agency-* roles and refused for the others. Expires is a duration from now ("90d",
// the default; "12h"), at most two years (730d): no token is valid for ever.
type TokenRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Agency  string `json:"agency,omitempty"`
	Expires string `json:"expires,omitempty"`
}
