package drc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/cadang/cadang/internal/oneline"
	"github.com/minio/minio-go/v7"
)

// ErrUnreachable matches a DRC that does not answer (network down, server stopped,
// timeout, a mount gone): the kind of failure an outage causes, as opposed to a
// configuration mistake (a wrong secret, a missing bucket). Backups and replication
// route around unreachable DRCs; they never route around configuration mistakes.
var ErrUnreachable = errors.New("drc unreachable")

type unreachableError struct{ msg string }

func (e *unreachableError) Error() string        { return e.msg }
func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }

func unreachablef(format string, args ...any) error {
	return &unreachableError{msg: fmt.Sprintf(format, args...)}
}

// IsUnreachable reports whether err says that a DRC could not be reached.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
		syscall.ETIMEDOUT, syscall.EHOSTDOWN, syscall.EIO, syscall.ESTALE, syscall.ENOTCONN} {
		if errors.Is(err, e) {
			return true
		}
	}
	switch minio.ToErrorResponse(err).Code {
	case "ServiceUnavailable", "SlowDown", "XMinioServerNotInitialized":
		return true
	}
	return false
}

// Health is what cadang knows of a DRC's state: whether it answers, how full it is
// where the store reports it, and the settings of its bucket that matter for
// recovery (versioning and object lock keep deleted or overwritten objects).
type Health struct {
	DRC        string    `json:"drc"`
	Reachable  bool      `json:"reachable"`
	Error      string    `json:"error,omitempty"` // one line, naming the DRC
	Checked    time.Time `json:"checked"`
	LatencyMS  float64   `json:"latency_ms"`
	FreeBytes  *uint64   `json:"free_bytes,omitempty"`
	TotalBytes *uint64   `json:"total_bytes,omitempty"`
	Capacity   string    `json:"capacity,omitempty"`    // why free space is not known
	Versioning string    `json:"versioning,omitempty"`  // enabled, suspended, off (S3); n/a for a directory
	ObjectLock string    `json:"object_lock,omitempty"` // off, or "on" with the default retention
	// Immutability is set for a DRC configured immutable: its mode and retention
	// ("compliance, 30d"); LockError says, one line, why its bucket cannot lock.
	Immutability string `json:"immutability,omitempty"`
	LockError    string `json:"lock_error,omitempty"`
}

// Health checks the DRC now. It never fails: what cannot be learned is said in the
// result.
func (s *Site) Health(ctx context.Context, now func() time.Time) Health {
	h := Health{DRC: s.Name, Checked: now()}
	start := time.Now()
	err := s.Check(ctx)
	h.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		h.Error = err.Error()
		return h
	}
	h.Reachable = true
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	if s.s3 == nil {
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.Path, &st); err != nil {
			h.Capacity = "unknown: " + err.Error()
		} else {
			free, total := st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
			h.FreeBytes, h.TotalBytes = &free, &total
		}
		h.Versioning, h.ObjectLock = "n/a", "n/a"
		return h
	}
	h.Capacity = "not reported by the S3 API"
	if s.Immutable() {
		h.Immutability = fmt.Sprintf("%s, %s", s.Immutability.Mode, FormatDays(s.Immutability.Retain))
		if err := s.s3.checkObjectLock(ctx, s.Name); err != nil {
			h.LockError = err.Error()
		}
	}
	if v, err := s.s3.client.GetBucketVersioning(ctx, s.s3.bucket); err != nil {
		h.Versioning = "unknown: " + oneline.Of(minio.ToErrorResponse(err).Code+" "+err.Error())
	} else {
		switch v.Status {
		case "Enabled":
			h.Versioning = "enabled"
		case "Suspended":
			h.Versioning = "suspended"
		default:
			h.Versioning = "off"
		}
	}
	enabled, mode, validity, unit, err := s.s3.client.GetObjectLockConfig(ctx, s.s3.bucket)
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == "ObjectLockConfigurationNotFoundError":
		h.ObjectLock = "off"
	case err != nil:
		h.ObjectLock = "unknown: " + oneline.Of(err.Error())
	case enabled != "Enabled":
		h.ObjectLock = "off"
	default:
		h.ObjectLock = "on"
		if mode != nil && validity != nil && unit != nil {
			h.ObjectLock += fmt.Sprintf(", %s %d %s", strings.ToLower(mode.String()), *validity, strings.ToLower(unit.String()))
		}
	}
	return h
}

// HasKey reports whether this DRC has a password file for agency: the repository was
// created or seeded here once.
func (s *Site) HasKey(agency string) bool { return s.hasPassword(agency) }
