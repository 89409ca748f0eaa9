package escrow

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func sources(t *testing.T, files map[string]string) []Source {
	t.Helper()
	dir := t.TempDir()
	var out []Source
	for name, content := range files {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, FileSource(name, p))
	}
	return out
}

// A bundle opens with either escrow identity, and gives back every file byte for
// byte; the key's text is nowhere in the sealed bytes; another identity, a flipped
// byte and a cut bundle are refused.
func TestBundleRoundTrip(t *testing.T) {
	kepala, _ := age.GenerateX25519Identity()
	persandian, _ := age.GenerateX25519Identity()
	stranger, _ := age.GenerateX25519Identity()
	files := map[string]string{
		CatalogName:              strings.Repeat("catalog page ", 10000),
		ConfigName:               "state_dir: /var/lib/cadang\n",
		KeysDir + "local/a.key":  "KUNCI-RAHASIA-local-a\n",
		KeysDir + "remote/a.key": "KUNCI-RAHASIA-remote-a\n",
	}
	var buf bytes.Buffer
	m, sum, err := Write(t.Context(), sources(t, files), Manifest{Version: "test", Created: time.Now(), Host: "dc1"},
		[]age.Recipient{kepala.Recipient(), persandian.Recipient()}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != len(files) || sum.Bytes != int64(buf.Len()) {
		t.Fatalf("manifest %+v, summary %+v, %d bytes", m, sum, buf.Len())
	}
	if bytes.Contains(buf.Bytes(), []byte("KUNCI-RAHASIA")) {
		t.Fatal("a key file is readable in the bundle")
	}
	for _, id := range []*age.X25519Identity{kepala, persandian} {
		dir := t.TempDir()
		got, err := Open(bytes.NewReader(buf.Bytes()), []age.Identity{id}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Host != "dc1" || len(got.Files) != len(files) {
			t.Errorf("manifest: %+v", got)
		}
		for name, content := range files {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil || string(b) != content {
				t.Errorf("%s: %v, same bytes %v", name, err, string(b) == content)
			}
		}
	}
	if _, err := Open(bytes.NewReader(buf.Bytes()), []age.Identity{stranger}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not one of the bundle's recipients") {
		t.Errorf("another identity: %v", err)
	}
	flipped := bytes.Clone(buf.Bytes())
	flipped[len(flipped)/2] ^= 1
	if _, err := Open(bytes.NewReader(flipped), []age.Identity{kepala}, t.TempDir()); !errors.Is(err, ErrDamaged) {
		t.Errorf("a flipped byte: %v, want ErrDamaged", err)
	}
	if _, err := Open(bytes.NewReader(buf.Bytes()[:buf.Len()-100]), []age.Identity{kepala}, t.TempDir()); !errors.Is(err, ErrDamaged) {
		t.Errorf("a cut bundle: %v, want ErrDamaged", err)
	}
}

// A source that writes less than it said is an error, not a short file in a bundle.
func TestShortSource(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	short := Source{Name: CatalogName, Mode: 0o600, Emit: func(start func(int64) (io.Writer, error)) error {
		w, err := start(100)
		if err != nil {
			return err
		}
		_, err = w.Write([]byte("only this"))
		return err
	}}
	_, _, err := Write(t.Context(), []Source{short}, Manifest{Created: time.Now()}, []age.Recipient{id.Recipient()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "catalog.db") {
		t.Errorf("a short source: %v", err)
	}
}

func TestNames(t *testing.T) {
	at := time.Date(2026, 12, 2, 5, 0, 1, 123e6, time.UTC)
	name := BundleName(at.In(time.FixedZone("WIB", 7*3600)))
	if name != "_state/cadang-state-20261202T050001.123Z.tar.zst.age" {
		t.Errorf("BundleName: %s", name)
	}
	if got, ok := ParseName(name); !ok || !got.Equal(at) {
		t.Errorf("ParseName(%s): %v %v", name, got, ok)
	}
	for _, bad := range []string{"_state/x.json", "dinkes/config", name + ".json"} {
		if _, ok := ParseName(bad); ok {
			t.Errorf("ParseName(%s) accepted", bad)
		}
	}
}

// Retention keeps the newest N and the newest of each recent day.
func TestRetention(t *testing.T) {
	loc := time.UTC
	now := time.Date(2026, 12, 31, 12, 0, 0, 0, loc)
	var times []time.Time
	for d := range 40 { // two bundles a day for 40 days
		for _, h := range []int{1, 9} {
			times = append(times, now.AddDate(0, 0, -d).Add(time.Duration(h-12)*time.Hour))
		}
	}
	drop := Retention(times, now, 5, 30, loc)
	kept := map[time.Time]bool{}
	for _, t := range times {
		kept[t] = true
	}
	for _, t := range drop {
		delete(kept, t)
	}
	// The 5 newest (days 0, 0, 1, 1 and 2's 09:00), and each day's 09:00 for days 3..29
	// (day 30's is before now minus 30 days).
	if len(kept) != 5+27 {
		t.Errorf("kept %d bundles, want 32", len(kept))
	}
	if !kept[times[0]] || kept[times[len(times)-1]] {
		t.Error("the newest is not kept, or the oldest is")
	}
}
