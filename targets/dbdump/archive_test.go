package dbdump_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/cadang/cadang/targets/dbdump"
)

// An archive of small files and large streams reads back entry by entry, each stream
// whole, whatever the size of the reads; it is a plain tar (parts as files); the same
// content gives the same bytes.
func TestArchiveRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 10_000)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	entries := []struct {
		name   string
		data   []byte
		stream bool
	}{
		{"cadang.json", []byte(`{"kind":"postgres"}`), false},
		{"globals.sql", []byte("CREATE ROLE a;\n"), true},
		{"a.pgc", big, true},              // many parts
		{"empty.pgc", nil, true},          // one empty part
		{"exact.pgc", big[:3*1000], true}, // exactly three parts
		{"b.pgc", big[:999], true},        // less than a part
		{"manifest.json", []byte("{}"), false},
	}
	write := func() []byte {
		var buf bytes.Buffer
		aw := dbdump.NewArchiveWriter(&buf)
		aw.SetPartSize(1000)
		for _, e := range entries {
			if !e.stream {
				if err := aw.WriteFile(e.name, e.data); err != nil {
					t.Fatal(err)
				}
				continue
			}
			w := aw.Stream(e.name)
			// Writes of odd sizes, across part boundaries.
			for rest := e.data; len(rest) > 0; {
				k := min(len(rest), 1+rng.IntN(2500))
				if _, err := w.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	archive := write()
	if !bytes.Equal(archive, write()) {
		t.Error("the same content gave a different archive")
	}

	var names []string
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if len(names) != 1+1+10+1+3+1+1 || names[2] != "a.pgc.part-000001" || names[11] != "a.pgc.part-000010" {
		t.Errorf("tar entries: %v", names)
	}

	// Read every entry; also skip one unread and read one only in part.
	for _, skip := range []bool{false, true} {
		ar := dbdump.NewArchiveReader(iotest.HalfReader(bytes.NewReader(archive)))
		for i, e := range entries {
			name, r, err := ar.Next()
			if err != nil || name != e.name {
				t.Fatalf("entry %d: %q, %v; want %q", i, name, err, e.name)
			}
			if skip && e.name == "a.pgc" {
				_, _ = io.ReadFull(r, make([]byte, 1500))
				continue
			}
			if skip && e.name == "globals.sql" {
				continue
			}
			got, err := io.ReadAll(iotest.OneByteReader(r))
			if err != nil || !bytes.Equal(got, e.data) && !(len(got) == 0 && len(e.data) == 0) {
				t.Fatalf("entry %s: %d bytes (%v), want %d", e.name, len(got), err, len(e.data))
			}
		}
		if _, _, err := ar.Next(); !errors.Is(err, io.EOF) {
			t.Errorf("after the last entry: %v", err)
		}
	}
}

// A stream whose parts are out of order is an error, not a shorter dump.
func TestArchivePartsOutOfOrder(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range []string{"a.pgc.part-000001", "a.pgc.part-000003"} {
		_ = tw.WriteHeader(&tar.Header{Name: n, Size: 1, Mode: 0o600})
		_, _ = tw.Write([]byte("x"))
	}
	tw.Close()
	ar := dbdump.NewArchiveReader(&buf)
	_, r, err := ar.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Error("parts 1 and 3 read as one dump")
	}
}
