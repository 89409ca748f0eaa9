package engine

import (
	"errors"
	"time"

	"github.com/cadang/cadang/engine/reports"
)

// The drills' reports are engine/reports'; the daemon holds its Builder (d.reports).

// drillReport renders the report of a finished drill run.
func (v service) drillReport(id uint64, format, lang string) ([]byte, error) {
	cf := v.d.conf()
	b, err := cf.reports.Drill(id, format, lang)
	return b, reportErr(err)
}

// periodReport renders the summary of every drill that started in [from, to).
func (v service) periodReport(from, to time.Time, format, lang string) ([]byte, error) {
	cf := v.d.conf()
	b, err := cf.reports.Period(from, to, format, lang)
	return b, reportErr(err)
}

// reportErr lets a report's refusal (reports.ErrBadRequest) answer as the daemon's own
// bad requests do.
func reportErr(err error) error {
	if errors.Is(err, reports.ErrBadRequest) {
		return badRequest{err}
	}
	return err
}

type badRequest struct{ error }

func (e badRequest) Is(target error) bool { return target == errBadRequest }

func (e badRequest) Unwrap() error { return e.error }
