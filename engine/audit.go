package engine

import (
	"errors"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
)

// The audit log's side of the daemon: the API's middleware (engine/server) says what
// was called and answered; the daemon adds the time and the agency and appends it to
// the catalog, which chains it.

func (s service) Audit(agency string, since time.Time, limit int) ([]api.AuditEntry, error) {
	es, err := s.d.cat.AuditEntries(agency, since, limit)
	if err != nil {
		return nil, wireErr(err)
	}
	out := make([]api.AuditEntry, len(es))
	for i, e := range es {
		out[i] = apiAudit(e)
	}
	return out, nil
}

func (s service) AuditVerify() (api.AuditVerification, error) {
	return auditVerification(s.d.cat)
}

// auditVerification checks c's audit log: a broken chain is an answer, not an error.
func auditVerification(c *catalog.Catalog) (api.AuditVerification, error) {
	checked, err := c.VerifyAudit()
	var broken *catalog.AuditBreakError
	switch {
	case errors.As(err, &broken):
		return api.AuditVerification{Checked: checked, BrokenSeq: broken.Seq, Why: broken.Why}, nil
	case err != nil:
		return api.AuditVerification{}, wireErr(err)
	}
	seq, head, err := c.AuditHead()
	if err != nil {
		return api.AuditVerification{}, wireErr(err)
	}
	return api.AuditVerification{Intact: true, Checked: checked, HeadSeq: seq, Head: head}, nil
}

// AuditVerification checks the audit log of the catalog file at path, opened read-only:
// a copy, or the catalog of a daemon that is not running (`cadang audit verify
// --catalog FILE`).
func AuditVerification(path string) (api.AuditVerification, error) {
	c, err := catalog.OpenReadOnly(path)
	if err != nil {
		return api.AuditVerification{}, err
	}
	defer c.Close()
	return auditVerification(c)
}

func (s service) RecordAudit(e api.AuditEntry, target string, run uint64) {
	d := s.d
	if e.Agency == "" && target != "" {
		if t, ok := d.conf().targets[target]; ok {
			e.Agency = t.Cfg.Agency
		}
	}
	if e.Agency == "" && run != 0 {
		if r, err := d.cat.Run(run); err == nil {
			e.Agency = r.Agency
		}
	}
	if _, err := d.cat.AppendAudit(catalogAudit(e), d.now()); err != nil {
		d.log.Error("audit log: the call is not recorded", "action", e.Action, "principal", e.Principal,
			"object", e.Object, "status", e.Status, "err", err)
	}
}
