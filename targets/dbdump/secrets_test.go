package dbdump_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/dbdump"
)

// Credential files are private (0600 in a 0700 folder), gone after Close; a password
// file's errors name the file, never its content.
func TestPrivate(t *testing.T) {
	p, err := dbdump.NewPrivate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.WriteFile("pgpass", []byte("*:*:*:*:s3cret\n"))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{p.Dir: 0o700 | os.ModeDir, f: 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode() != want {
			t.Errorf("%s: %v %v, want %v", path, st.Mode(), err, want)
		}
	}
	if _, err := p.WriteFile("pgpass", nil); err == nil {
		t.Error("a credential file was overwritten")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Errorf("the private folder is still there: %v", err)
	}

	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct{ content, want, err string }{
		{"pa:ss\\word\n", "pa:ss\\word", ""},
		{"crlf\r\nsecond line", "crlf", ""},
		{"no newline", "no newline", ""},
		{"\nhidden-secret", "", "is empty"},
	} {
		path := write("pw", tc.content)
		got, err := dbdump.ReadSecret(path)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: got %q, %v; want %q", tc.content, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "hidden-secret")):
			t.Errorf("%q: error %v, want one containing %q and not the content", tc.content, err, tc.err)
		}
	}
	if _, err := dbdump.ReadSecret(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "password_file "+dir+"/missing does not exist") {
		t.Errorf("missing file: %v", err)
	}
}
