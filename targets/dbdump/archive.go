package dbdump

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"
)

// The archive of an `all: true` backup holds several dumps in ONE snapshot: a tar stream
// whose small entries (an index, the globals, the manifest) are plain files and whose
// dumps are split in parts of at most PartSize bytes, named "<name>.part-000001",
// "<name>.part-000002", ... A tar entry must declare its size before its content, and a
// dump's size is known only at its end: parts let the dump stream with a bounded buffer
// and no temporary file. `cat simpus.pgc.part-* > simpus.pgc` rebuilds a dump by hand;
// ArchiveReader does it on the fly. Headers carry a fixed time so that an unchanged
// database gives an identical stream (restic then stores nothing new).
const PartSize = 64 << 20

var archiveTime = time.Unix(0, 0).UTC()

// ArchiveWriter writes an archive.
type ArchiveWriter struct {
	tw       *tar.Writer
	buf      []byte
	partSize int
}

// NewArchiveWriter starts an archive on w.
func NewArchiveWriter(w io.Writer) *ArchiveWriter {
	return &ArchiveWriter{tw: tar.NewWriter(w), partSize: PartSize}
}

// WriteFile adds a small file.
func (a *ArchiveWriter) WriteFile(name string, data []byte) error {
	if err := a.tw.WriteHeader(header(name, int64(len(data)))); err != nil {
		return err
	}
	_, err := a.tw.Write(data)
	return err
}

func header(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Size: size, Mode: 0o600, ModTime: archiveTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
}

// Stream returns a writer for a large entry: what is written to it is stored in parts.
// Close it before adding another entry.
func (a *ArchiveWriter) Stream(name string) io.WriteCloser {
	if a.buf == nil {
		a.buf = make([]byte, 0, a.partSize)
	}
	return &partWriter{a: a, name: name}
}

// Close ends the archive.
func (a *ArchiveWriter) Close() error { return a.tw.Close() }

type partWriter struct {
	a    *ArchiveWriter
	name string
	n    int // parts written
}

func (p *partWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		room := p.a.partSize - len(p.a.buf)
		k := min(room, len(b))
		p.a.buf = append(p.a.buf, b[:k]...)
		b, written = b[k:], written+k
		if len(p.a.buf) == p.a.partSize {
			if err := p.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (p *partWriter) flush() error {
	p.n++
	if err := p.a.WriteFile(fmt.Sprintf("%s.part-%06d", p.name, p.n), p.a.buf); err != nil {
		return err
	}
	p.a.buf = p.a.buf[:0]
	return nil
}

// Close writes the last part (an empty dump is one empty part).
func (p *partWriter) Close() error {
	if len(p.a.buf) > 0 || p.n == 0 {
		return p.flush()
	}
	return nil
}

// ArchiveReader reads an archive entry by entry, the parts of a dump joined.
type ArchiveReader struct {
	tr      *tar.Reader
	pending *tar.Header // the first part of the next entry, already read
	current io.Reader   // the entry returned last
	err     error
}

// NewArchiveReader reads an archive from r.
func NewArchiveReader(r io.Reader) *ArchiveReader { return &ArchiveReader{tr: tar.NewReader(r)} }

var partName = regexp.MustCompile(`^(.*)\.part-(\d{6})$`)

// Next returns the next entry's name and content (valid until the next call), or
// io.EOF at the end.
func (a *ArchiveReader) Next() (string, io.Reader, error) {
	if a.current != nil {
		// Skip what the caller left of the previous entry.
		if _, err := io.Copy(io.Discard, a.current); err != nil && a.err == nil {
			a.err = err
		}
		a.current = nil
	}
	if a.err != nil {
		return "", nil, a.err
	}
	h := a.pending
	a.pending = nil
	if h == nil {
		var err error
		if h, err = a.tr.Next(); err != nil {
			a.err = err
			return "", nil, err
		}
	}
	m := partName.FindStringSubmatch(h.Name)
	if m == nil {
		a.current = a.tr
		return h.Name, a.tr, nil
	}
	if m[2] != "000001" {
		a.err = fmt.Errorf("archive: %s starts with part %s", m[1], m[2])
		return "", nil, a.err
	}
	a.current = &partsReader{a: a, base: m[1], n: 1}
	return m[1], a.current, nil
}

// partsReader reads the parts of one entry one after the other.
type partsReader struct {
	a    *ArchiveReader
	base string
	n    int
	done bool
}

func (p *partsReader) Read(b []byte) (int, error) {
	for !p.done {
		n, err := p.a.tr.Read(b)
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		if n > 0 {
			return n, nil // the end of a part is not the end of the entry
		}
		// This part is over: is the next entry the next part?
		h, err := p.a.tr.Next()
		if errors.Is(err, io.EOF) {
			p.done = true
			break
		}
		if err != nil {
			p.a.err = err
			return 0, err
		}
		m := partName.FindStringSubmatch(h.Name)
		if m != nil && m[1] == p.base {
			k, _ := strconv.Atoi(m[2])
			if k != p.n+1 {
				p.a.err = fmt.Errorf("archive: %s part %d follows part %d", p.base, k, p.n)
				return 0, p.a.err
			}
			p.n = k
			continue
		}
		p.a.pending = h
		p.done = true
	}
	return 0, io.EOF
}
