// Package escrow writes and opens cadang's own state as one bundle that survives the
// loss of the main site: a consistent copy of the catalog, the configuration, the
// repositories' key files and a manifest of their SHA-256, as a tar, compressed with
// zstd and encrypted with age to the escrow recipients (public keys whose identities
// are kept offline), the same way as an agency's export (engine/export). The daemon
// puts a bundle in a reserved area of every DRC (Prefix) after every change that
// matters and at least every interval, beside a small plaintext sidecar (Sidecar)
// that lets anyone check the bundle's bytes without the identity.
//
// It imports nothing of the daemon: it is bytes in, bytes out.
package escrow

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/cadang/cadang/engine/export"
)

// Names in a bundle and at a DRC.
const (
	// Prefix is the folder of a DRC's store that holds the state bundles: no agency's
	// repository can have its name (an agency id starts with a letter or a digit).
	Prefix       = "_state/"
	ManifestName = "manifest.json"
	CatalogName  = "catalog.db"
	ConfigName   = "cadang.yaml"
	KeysDir      = "keys/"
	// Format is the version of the bundle's layout.
	Format = 1
	// nameLayout is a bundle's time in its name (UTC).
	nameLayout = "20060102T150405.000Z"
)

// Manifest says what a bundle holds: it is the tar's last entry, written once every
// file's SHA-256 is known.
type Manifest struct {
	Format        int        `json:"format"`
	Version       string     `json:"version"` // cadang's
	Created       time.Time  `json:"created"`
	Host          string     `json:"host"`
	Site          string     `json:"site,omitempty"` // the writer's daemon.site
	ConfigFile    string     `json:"config_file"`    // where the daemon read its configuration
	CatalogSchema int        `json:"catalog_schema"`
	Files         []FileInfo `json:"files"`
}

// FileInfo is one file of a bundle.
type FileInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Sidecar is the plaintext description of a bundle at a DRC (NAME.json beside NAME):
// nothing secret, enough to check the bundle's bytes and choose one by time.
type Sidecar struct {
	Bundle  string    `json:"bundle"` // its object name
	Created time.Time `json:"created"`
	Bytes   int64     `json:"bytes"`
	SHA256  string    `json:"sha256"` // of the encrypted bytes
	Host    string    `json:"host"`
	Site    string    `json:"site,omitempty"` // the writer's daemon.site
	Version string    `json:"version"`
	Files   int       `json:"files"`
}

// BundleName is the object name of a bundle made at t.
func BundleName(t time.Time) string {
	return Prefix + "cadang-state-" + t.UTC().Format(nameLayout) + export.Extension
}

// ParseName returns the time of a bundle's object name, and whether it is one.
func ParseName(name string) (time.Time, bool) {
	base, ok := strings.CutPrefix(name, Prefix+"cadang-state-")
	if !ok {
		return time.Time{}, false
	}
	base, ok = strings.CutSuffix(base, export.Extension)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(nameLayout, base)
	return t, err == nil
}

// Source is one file to put in a bundle. Emit calls start once with the file's size,
// and writes exactly that many bytes to the writer start returns.
type Source struct {
	Name string
	Mode int64
	Emit func(start func(size int64) (io.Writer, error)) error
}

// FileSource is a file of the filesystem as a Source named name.
func FileSource(name, file string) Source {
	return Source{Name: name, Mode: 0o600, Emit: func(start func(int64) (io.Writer, error)) error {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		w, err := start(st.Size())
		if err != nil {
			return err
		}
		_, err = io.CopyN(w, f, st.Size())
		return err
	}}
}

// Write seals the sources, then m with their hashes, into a bundle for recipients,
// written to w. It returns the manifest written and what export.Seal says of the
// bundle (its size and SHA-256).
func Write(ctx context.Context, sources []Source, m Manifest, recipients []age.Recipient, w io.Writer) (Manifest, export.Summary, error) {
	m.Format = Format
	m.Files = nil
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeTar(sources, &m, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	sum, err := export.Seal(ctx, pr, recipients, w)
	_ = pr.CloseWithError(err)
	if terr := <-done; terr != nil && !errors.Is(terr, io.ErrClosedPipe) {
		err = terr // the source's own error says more than the seal's
	}
	if err != nil {
		return Manifest{}, export.Summary{}, err
	}
	return m, sum, nil
}

func writeTar(sources []Source, m *Manifest, w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, s := range sources {
		var h hash.Hash
		var want int64
		counted := &countWriter{}
		err := s.Emit(func(size int64) (io.Writer, error) {
			if h != nil {
				return nil, fmt.Errorf("%s: started twice", s.Name)
			}
			want, h = size, sha256.New()
			if err := tw.WriteHeader(&tar.Header{Name: s.Name, Mode: s.Mode, Size: size, ModTime: m.Created, Typeflag: tar.TypeReg}); err != nil {
				return nil, err
			}
			return io.MultiWriter(tw, h, counted), nil
		})
		if err == nil && h == nil {
			err = errors.New("nothing written")
		}
		if err == nil && counted.n != want {
			err = fmt.Errorf("%d bytes written of %d", counted.n, want)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		m.Files = append(m.Files, FileInfo{Name: s.Name, Size: want, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(b)), ModTime: m.Created, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	return tw.Close()
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// ErrDamaged (wrapped) says a bundle cannot be trusted: it does not decrypt, or a file
// does not match its manifest.
var ErrDamaged = errors.New("state bundle damaged")

// Open decrypts a bundle with one of ids and writes its files into dir (which must
// exist), checking each against the manifest: a file missing, extra, or of another
// SHA-256 is refused (ErrDamaged), as is a bundle that does not decrypt. On error dir
// may hold part of the files: the caller removes it.
func Open(r io.Reader, ids []age.Identity, dir string) (Manifest, error) {
	tarStream, err := export.Open(r, ids...)
	if err != nil {
		if errors.As(err, new(*age.NoIdentityMatchError)) {
			return Manifest{}, fmt.Errorf("the identity given is not one of the bundle's recipients: %w", err)
		}
		return Manifest{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	tr := tar.NewReader(tarStream)
	got := map[string]FileInfo{}
	var m *Manifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || name != h.Name || strings.HasPrefix(name, "../") || path.IsAbs(name) || name == ".." {
			return Manifest{}, fmt.Errorf("%w: unexpected entry %q", ErrDamaged, h.Name)
		}
		if name == ManifestName {
			var x Manifest
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&x); err != nil {
				return Manifest{}, fmt.Errorf("%w: manifest: %v", ErrDamaged, err)
			}
			m = &x
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return Manifest{}, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return Manifest{}, err
		}
		hh := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, hh), tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%s: %w", name, err)
		}
		got[name] = FileInfo{Name: name, Size: n, SHA256: hex.EncodeToString(hh.Sum(nil))}
	}
	if m == nil {
		return Manifest{}, fmt.Errorf("%w: no manifest", ErrDamaged)
	}
	if m.Format != Format {
		return Manifest{}, fmt.Errorf("state bundle format %d: this cadang reads format %d", m.Format, Format)
	}
	for _, f := range m.Files {
		g, ok := got[f.Name]
		switch {
		case !ok:
			return Manifest{}, fmt.Errorf("%w: %s is missing", ErrDamaged, f.Name)
		case g != f:
			return Manifest{}, fmt.Errorf("%w: %s: SHA-256 %s, the manifest says %s", ErrDamaged, f.Name, g.SHA256, f.SHA256)
		}
		delete(got, f.Name)
	}
	for name := range got {
		return Manifest{}, fmt.Errorf("%w: %s is not in the manifest", ErrDamaged, name)
	}
	return *m, nil
}

// Retention says which bundles to delete: of the times given (bundles at one DRC),
// the newest keepLast are kept, and the newest of each of the last keepDaily days (in
// loc) before now.
func Retention(times []time.Time, now time.Time, keepLast, keepDaily int, loc *time.Location) (drop []time.Time) {
	sorted := append([]time.Time(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].After(sorted[j]) })
	keep := map[time.Time]bool{}
	for i, t := range sorted {
		if i < keepLast {
			keep[t] = true
		}
	}
	oldest := now.In(loc).AddDate(0, 0, -keepDaily)
	days := map[string]bool{}
	for _, t := range sorted {
		day := t.In(loc).Format("2006-01-02")
		if t.After(oldest) && !days[day] {
			days[day] = true
			keep[t] = true
		}
	}
	for _, t := range sorted {
		if !keep[t] {
			drop = append(drop, t)
		}
	}
	return drop
}
