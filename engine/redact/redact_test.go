package redact

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/srv/restore", "/srv/restore"},
		{"postgres://u:pw1@db:5432/x", "postgres://u:xxxxx@db:5432/x"},
		{"postgres://u@db/x?password=pw2&sslmode=disable", "postgres://u@db/x?password=xxxxx&sslmode=disable"},
		{"mysql://u:a%2Fb@db/x?PWD=z&api_token=t", "mysql://u:xxxxx@db/x?PWD=xxxxx&api_token=xxxxx"},
		{"postgres://u@db/x?sslmode=disable", "postgres://u@db/x?sslmode=disable"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestScrubKeepsErrorChain(t *testing.T) {
	base := errors.New("cannot restore to postgres://u:p%40ss@db/x")
	secrets := Secrets("postgres://u:p%40ss@db/x")
	err := Error(fmt.Errorf("run: %w", base), secrets)
	if strings.Contains(err.Error(), "p%40ss") || strings.Contains(err.Error(), "p@ss") || !errors.Is(err, base) {
		t.Errorf("scrubbed error %q (still wraps the original: %v)", err, errors.Is(err, base))
	}
}
