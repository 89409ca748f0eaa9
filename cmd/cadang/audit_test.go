package main

import (
	"testing"
	"time"
)

func TestAuditSince(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"36h", "2026-11-30T21:30:00Z"},
		{"7d", "2026-11-25T09:30:00Z"},
		{"2026-12-01", "2026-12-01"},
		{"2026-12-01T08:00:00+07:00", "2026-12-01T08:00:00+07:00"},
	} {
		got, err := auditSince(c.in, now)
		if err != nil || got != c.want {
			t.Errorf("auditSince(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"yesterday", "-3d", "-1h", "2026-13-01"} {
		if _, err := auditSince(bad, now); err == nil {
			t.Errorf("auditSince(%q) accepted", bad)
		}
	}
}
