package export

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"filippo.io/age"
)

// marker is plaintext that must never show in a bundle.
const marker = "RAHASIA-NIK-3271010101010001-MARKER"

// buildTar returns a tar of several files: small texts carrying marker, an empty
// file, a directory, a symlink and a 10 MiB random file.
func buildTar(t testing.TB, big int) ([]byte, int) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	n := 0
	add := func(h *tar.Header, body []byte) {
		t.Helper()
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
		n++
	}
	add(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	for i, s := range []string{"satu", "dua", "tiga"} {
		body := []byte(strings.Repeat(s+" "+marker+"\n", 100*(i+1)))
		add(&tar.Header{Name: "data/" + s + ".txt", Mode: 0o644, Size: int64(len(body))}, body)
	}
	add(&tar.Header{Name: "data/kosong", Mode: 0o600}, nil)
	add(&tar.Header{Name: "data/tautan", Typeflag: tar.TypeSymlink, Linkname: "satu.txt"}, nil)
	random := make([]byte, big)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	add(&tar.Header{Name: "data/acak.bin", Mode: 0o644, Size: int64(len(random))}, random)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), n
}

func identity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func seal(t testing.TB, plain []byte, rs ...age.Recipient) ([]byte, Summary, error) {
	t.Helper()
	var out bytes.Buffer
	sum, err := Seal(context.Background(), bytes.NewReader(plain), rs, &out)
	return out.Bytes(), sum, err
}

// A bundle opens to the very tar it was sealed from, says nothing of its plaintext,
// and its summary is right.
func TestSealOpenRoundTrip(t *testing.T) {
	plain, entries := buildTar(t, 10<<20)
	id := identity(t)
	bundle, sum, err := seal(t, plain, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bundle, []byte(marker)) || bytes.Contains(bundle, []byte("acak.bin")) {
		t.Fatal("the bundle carries plaintext")
	}
	if !bytes.HasPrefix(bundle, []byte("age-encryption.org/v1\n")) {
		t.Errorf("the bundle is not an age file: %q", bundle[:min(len(bundle), 30)])
	}
	h := sha256.Sum256(bundle)
	want := Summary{PlainBytes: int64(len(plain)), Bytes: int64(len(bundle)), SHA256: hex.EncodeToString(h[:]), Files: entries}
	if sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	r, err := Open(bytes.NewReader(bundle), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("opened %d bytes, differ from the %d sealed", len(got), len(plain))
	}
}

// Every recipient can open, and other identities cannot.
func TestOpenWrongIdentity(t *testing.T) {
	plain, _ := buildTar(t, 64<<10)
	a, b, stranger := identity(t), identity(t), identity(t)
	bundle, _, err := seal(t, plain, a.Recipient(), b.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*age.X25519Identity{a, b} {
		r, err := Open(bytes.NewReader(bundle), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("recipient could not open: %v", err)
		}
	}
	_, err = Open(bytes.NewReader(bundle), stranger)
	var noMatch *age.NoIdentityMatchError
	if !errors.As(err, &noMatch) {
		t.Fatalf("open with a stranger's identity: %v, want age.NoIdentityMatchError", err)
	}
}

// A bundle cut short or changed never opens to a tar that looks whole.
func TestOpenDamagedBundle(t *testing.T) {
	plain, _ := buildTar(t, 256<<10)
	id := identity(t)
	bundle, _, err := seal(t, plain, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(bundle)
	flipped[len(flipped)/2] ^= 1
	damaged := map[string][]byte{
		"truncated":       bundle[:len(bundle)-100],
		"one byte short":  bundle[:len(bundle)-1],
		"flipped":         flipped,
		"trailing data":   append(bytes.Clone(bundle), 0),
		"twice":           append(bytes.Clone(bundle), bundle...),
		"only the header": nil,
	}
	// Cut at the end of the header, and at every 64 KiB chunk's end (age's chunks
	// are 64 KiB of plaintext and a 16-byte tag, after a 16-byte nonce).
	i := bytes.Index(bundle, []byte("\n---"))
	start := i + 1 + bytes.IndexByte(bundle[i+1:], '\n') + 1 + 16
	damaged["only the header"] = bundle[:start]
	for k := 1; start+k*(64<<10+16) < len(bundle); k++ {
		damaged[fmt.Sprintf("cut after chunk %d", k)] = bundle[:start+k*(64<<10+16)]
	}
	for name, b := range damaged {
		r, err := Open(bytes.NewReader(b), id)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err == nil {
			t.Errorf("%s bundle opened without error", name)
		}
	}
}

// A tar stream that is cut short, anywhere, makes Seal fail; so does one that is
// not a tar, and one with data after its end.
func TestSealRejectsBadTar(t *testing.T) {
	plain, _ := buildTar(t, 64<<10)
	id := identity(t)
	// Where the last entry's data ends: before the two zero blocks of the marker.
	end := len(plain) - 1024
	cuts := map[string]int{
		"in a header":            700,
		"in an entry's data":     len(plain) / 2,
		"at an entry's boundary": end,
		"in the end marker":      end + 512,
		"one byte short":         len(plain) - 1,
		"empty":                  0,
	}
	for name, n := range cuts {
		partial, _, err := seal(t, plain[:n], id.Recipient())
		if err == nil {
			t.Errorf("tar cut %s (%d of %d bytes): sealed without error", name, n, len(plain))
			continue
		}
		// What was written is no bundle: it does not open to a (shorter) tar.
		if r, err := Open(bytes.NewReader(partial), id); err == nil {
			if _, err := io.ReadAll(r); err == nil {
				t.Errorf("tar cut %s: the partial output opens without error", name)
			}
		}
	}
	garbage := []byte(strings.Repeat("this is not a tar stream\n", 100))
	if _, _, err := seal(t, garbage, id.Recipient()); err == nil {
		t.Error("a stream that is not a tar sealed without error")
	}
	tail := append(bytes.Clone(plain), []byte("trailing garbage")...)
	if _, _, err := seal(t, tail, id.Recipient()); err == nil {
		t.Error("a tar with data after its end sealed without error")
	}
	// Zero padding after the end (GNU tar's 10 KiB records) is fine, and kept.
	padded := append(bytes.Clone(plain), make([]byte, 10240-len(plain)%10240)...)
	bundle, sum, err := seal(t, padded, id.Recipient())
	if err != nil {
		t.Fatalf("padded tar: %v", err)
	}
	if sum.PlainBytes != int64(len(padded)) {
		t.Errorf("padded tar: %d plain bytes, want %d", sum.PlainBytes, len(padded))
	}
	r, err := Open(bytes.NewReader(bundle), id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, padded) {
		t.Error("padded tar did not round-trip")
	}
}

// An empty archive (only its end marker) is a whole tar of no entries.
func TestSealEmptyArchive(t *testing.T) {
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).Close(); err != nil {
		t.Fatal(err)
	}
	_, sum, err := seal(t, buf.Bytes(), identity(t).Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 0 || sum.PlainBytes != 1024 {
		t.Errorf("summary %+v", sum)
	}
}

// failingReader yields its data, then an error: restic dying mid-dump.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

// A read error of the source, or a cancelled context, fails Seal with that error.
func TestSealSourceErrorAndCancel(t *testing.T) {
	plain, _ := buildTar(t, 1<<20)
	id := identity(t)
	boom := errors.New("restic: connection reset")
	_, err := Seal(context.Background(), &failingReader{r: bytes.NewReader(plain[:len(plain)/2]), err: boom}, []age.Recipient{id.Recipient()}, io.Discard)
	if !errors.Is(err, boom) {
		t.Errorf("source error: %v, want %v", err, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Seal(ctx, bytes.NewReader(plain), []age.Recipient{id.Recipient()}, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if _, err := Seal(context.Background(), bytes.NewReader(plain), nil, io.Discard); err == nil {
		t.Error("sealed to no recipient")
	}
}

// errWriter fails after n bytes: a full disk.
type errWriter struct{ n int }

func (e *errWriter) Write(p []byte) (int, error) {
	if len(p) > e.n {
		w := e.n
		e.n = 0
		return w, errors.New("no space left on device")
	}
	e.n -= len(p)
	return len(p), nil
}

func TestSealWriteError(t *testing.T) {
	plain, _ := buildTar(t, 4<<20)
	// Random data does not compress: the bundle is over 4 MiB.
	_, err := Seal(context.Background(), bytes.NewReader(plain), []age.Recipient{identity(t).Recipient()}, &errWriter{n: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("write error: %v", err)
	}
}

// Reads of odd sizes (a pipe from restic) make the same bundle contents.
func TestSealSmallReads(t *testing.T) {
	plain, entries := buildTar(t, 300<<10)
	id := identity(t)
	var out bytes.Buffer
	sum, err := Seal(context.Background(), &jitterReader{r: bytes.NewReader(plain), rnd: mrand.New(mrand.NewPCG(1, 2))}, []age.Recipient{id.Recipient()}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != entries {
		t.Errorf("%d entries, want %d", sum.Files, entries)
	}
	r, err := Open(&out, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, plain) {
		t.Error("round trip with small reads differs")
	}
}

type jitterReader struct {
	r   io.Reader
	rnd *mrand.Rand
}

func (j *jitterReader) Read(p []byte) (int, error) {
	return j.r.Read(p[:min(len(p), 1+j.rnd.IntN(3000))])
}
