package mirror_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/testenv"
)

// The helpers below are drc's own test helpers (drc/drc_test.go), which an external
// test package cannot import.

func newRestic(t *testing.T) *drc.Restic {
	return &drc.Restic{Binary: testenv.Restic(t), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func openSite(t *testing.T, r *drc.Restic, state string, cfg drc.Config) *drc.Site {
	t.Helper()
	s, err := drc.Open(cfg, r, state)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func objectNames(t *testing.T, s drc.Store, prefix string) []string {
	t.Helper()
	var names []string
	if err := s.List(context.Background(), prefix, func(o drc.ObjectInfo) error {
		names = append(names, o.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}
