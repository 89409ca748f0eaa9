package wal

import (
	"fmt"
	"regexp"
	"strconv"
)

// DefaultSegmentSize is PostgreSQL's WAL segment size unless initdb --wal-segsize
// said otherwise.
const DefaultSegmentSize = 16 << 20

var (
	segmentName = regexp.MustCompile(`^[0-9A-F]{24}$`)
	// Other files PostgreSQL archives: timeline history, backup labels, partial segments.
	otherName = regexp.MustCompile(`^([0-9A-F]{8}\.history|[0-9A-F]{24}\.[0-9A-F]{8}\.backup|[0-9A-F]{24}\.partial)$`)
)

// ValidName reports whether name is a file PostgreSQL archives (a segment, a timeline
// history, a backup label or a partial segment): nothing else goes into the spool.
func ValidName(name string) bool { return segmentName.MatchString(name) || otherName.MatchString(name) }

// IsSegment reports whether name is a whole WAL segment.
func IsSegment(name string) bool { return segmentName.MatchString(name) }

// Segment is a WAL segment's place: its timeline and its number from the start of the
// log (log id * segments per log id + segment).
type Segment struct {
	Timeline uint32
	Number   uint64
}

// segsPerLog is how many segments of size bytes one log id (4 GiB) holds.
func segsPerLog(size int64) uint64 { return uint64(0x100000000 / size) }

// Parse reads a segment name for segments of size bytes.
func Parse(name string, size int64) (Segment, error) {
	if !segmentName.MatchString(name) {
		return Segment{}, fmt.Errorf("%q is not a WAL segment name", name)
	}
	tl, _ := strconv.ParseUint(name[:8], 16, 32)
	log, _ := strconv.ParseUint(name[8:16], 16, 32)
	seg, _ := strconv.ParseUint(name[16:], 16, 32)
	if seg >= segsPerLog(size) {
		return Segment{}, fmt.Errorf("%q is not a WAL segment name for %d-byte segments", name, size)
	}
	return Segment{Timeline: uint32(tl), Number: log*segsPerLog(size) + seg}, nil
}

// Name is the segment's file name for segments of size bytes.
func (s Segment) Name(size int64) string {
	n := segsPerLog(size)
	return fmt.Sprintf("%08X%08X%08X", s.Timeline, s.Number/n, s.Number%n)
}

// Gap is a hole in a chain of segments: the segments From to To (both included) are
// missing between two that are present.
type Gap struct {
	After, From, To, Before string
}

func (g Gap) String() string {
	if g.From == g.To {
		return fmt.Sprintf("WAL segment %s is missing (between %s and %s)", g.From, g.After, g.Before)
	}
	return fmt.Sprintf("WAL segments %s to %s are missing (between %s and %s)", g.From, g.To, g.After, g.Before)
}

// Gaps returns the holes in a chain: after is the last segment known to be archived
// before names ("" if none), names are the segments at hand in any order. Segments of
// different timelines are separate chains (a new timeline starts at a segment of its
// own); names that are not segments are ignored.
func Gaps(after string, names []string, size int64) []Gap {
	last := map[uint32]Segment{}
	var prev *Segment
	if a, err := Parse(after, size); err == nil {
		prev = &a
	}
	segs := sortedSegments(names, size)
	var gaps []Gap
	for _, s := range segs {
		p, ok := last[s.Timeline]
		if !ok && prev != nil && prev.Timeline == s.Timeline {
			p, ok = *prev, true
		}
		if ok && s.Number > p.Number+1 {
			gaps = append(gaps, Gap{After: p.Name(size), From: Segment{s.Timeline, p.Number + 1}.Name(size),
				To: Segment{s.Timeline, s.Number - 1}.Name(size), Before: s.Name(size)})
		}
		last[s.Timeline] = s
	}
	return gaps
}
