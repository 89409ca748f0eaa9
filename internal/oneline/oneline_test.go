package oneline

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOf(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"  padded  ", "padded"},
		{"pg_dump: error: Dumping the contents of table \"t\" failed\npg_dump: detail: server closed the connection\n\n", "pg_dump: error: Dumping the contents of table \"t\" failed; pg_dump: detail: server closed the connection"},
		{"a\r\nb\rc", "a; b; c"},
		{"\n\n", ""},
	} {
		if got := Of(c.in); got != c.want {
			t.Errorf("Of(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("é", Max) // 2 bytes each
	got := Of(long)
	if !strings.HasSuffix(got, "…") || len(got) > Max+len("…") || !utf8.ValidString(got) {
		t.Errorf("a long line is cut to %d bytes (valid UTF-8: %v)", len(got), utf8.ValidString(got))
	}
	if Error(nil) != "" || Error(errors.New("x\ny")) != "x; y" {
		t.Error("Error")
	}
}
