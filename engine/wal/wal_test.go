package wal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSegmentNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		next string
	}{
		{"000000010000000000000001", "000000010000000000000002"},
		{"0000000100000000000000FF", "000000010000000100000000"},
		{"00000002000000A3000000FE", "00000002000000A3000000FF"},
	} {
		s, err := Parse(tc.name, DefaultSegmentSize)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Name(DefaultSegmentSize); got != tc.name {
			t.Errorf("round trip of %s gave %s", tc.name, got)
		}
		s.Number++
		if got := s.Name(DefaultSegmentSize); got != tc.next {
			t.Errorf("after %s: %s, want %s", tc.name, got, tc.next)
		}
	}
	for _, bad := range []string{"", "00000001000000000000001", "0000000100000000000001000", "../00000001000000000000001", "000000010000000000000100"} {
		if _, err := Parse(bad, DefaultSegmentSize); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for name, ok := range map[string]bool{
		"00000002.history": true, "000000010000000000000002.00000028.backup": true,
		"000000010000000000000002.partial": true, "x": false, "00000002.history/../x": false,
	} {
		if ValidName(name) != ok {
			t.Errorf("ValidName(%q) = %v", name, !ok)
		}
	}
}

func TestGapsNameTheMissingSegment(t *testing.T) {
	size := int64(DefaultSegmentSize)
	names := []string{"0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000001", "000000010000000100000002", "00000001.history"}
	gaps := Gaps("0000000100000000000000FD", names, size)
	if len(gaps) != 1 || gaps[0].From != "000000010000000100000000" || gaps[0].To != gaps[0].From {
		t.Fatalf("gaps: %+v", gaps)
	}
	if !strings.Contains(gaps[0].String(), "WAL segment 000000010000000100000000 is missing") {
		t.Errorf("message: %s", gaps[0])
	}
	if g := Gaps("0000000100000000000000FB", names[:1], size); len(g) != 1 || g[0].From != "0000000100000000000000FC" || g[0].To != "0000000100000000000000FD" {
		t.Errorf("gap after the last archived: %+v", g)
	}
	// A new timeline is a chain of its own.
	if g := Gaps("", []string{"000000010000000000000003", "000000020000000000000007", "000000020000000000000008"}, size); len(g) != 0 {
		t.Errorf("timelines: %+v", g)
	}
	if first, last := Range(names, size); first != "0000000100000000000000FE" || last != "000000010000000100000002" {
		t.Errorf("range %s..%s", first, last)
	}
}

func TestSpoolPutIsIdempotentAndRefusesOtherContent(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	name := "000000010000000000000003"
	if err := s.Put(name, strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(name, strings.NewReader("one")); err != nil {
		t.Fatalf("same segment again: %v", err)
	}
	if err := s.Put(name, strings.NewReader("two")); err == nil || !strings.Contains(err.Error(), "other content") {
		t.Fatalf("other content: %v", err)
	}
	if err := s.Put("../evil", strings.NewReader("x")); err == nil {
		t.Fatal("a path was spooled")
	}
	names, _ := s.Names()
	if len(names) != 1 || names[0] != name {
		t.Fatalf("spool holds %v", names)
	}
	if err := s.Put("000000010000000000000005", strings.NewReader("five")); err != nil {
		t.Fatal(err)
	}
	gaps, _ := s.Gaps(DefaultSegmentSize)
	if len(gaps) != 1 || gaps[0].From != "000000010000000000000004" {
		t.Fatalf("gaps %+v", gaps)
	}
	if err := s.Remove([]string{name}, DefaultSegmentSize); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.LastArchived(); last != name {
		t.Fatalf("last archived %q", last)
	}
	entries, _ := os.ReadDir(s.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	if gaps, _ := s.Gaps(DefaultSegmentSize); len(gaps) != 1 || gaps[0].After != name {
		t.Fatalf("gap after the archived batch: %+v", gaps)
	}
}

func TestSegmentSizeFromTheSpool(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.SegmentSize(); got != DefaultSegmentSize {
		t.Fatalf("empty spool: %d", got)
	}
	mib := strings.Repeat("x", 1<<20)
	for _, n := range []string{"000000010000000000000FFF", "000000010000000100000001", "00000001.history"} {
		if err := s.Put(n, strings.NewReader(mib)); err != nil {
			t.Fatal(err)
		}
	}
	size := s.SegmentSize()
	if size != 1<<20 {
		t.Fatalf("segment size %d", size)
	}
	// 1 MiB segments: 0x1000 to a log id; ...0FFF is followed by ...1/000.
	gaps := Gaps("", []string{"000000010000000000000FFF", "000000010000000100000001"}, size)
	if len(gaps) != 1 || gaps[0].From != "000000010000000100000000" || gaps[0].To != gaps[0].From {
		t.Fatalf("gaps with 1 MiB segments: %+v", gaps)
	}
}
