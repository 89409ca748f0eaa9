package wal

import "sort"

// sortedSegments parses the segment names among names, in order of timeline then
// number.
func sortedSegments(names []string, size int64) []Segment {
	var segs []Segment
	for _, n := range names {
		if s, err := Parse(n, size); err == nil {
			segs = append(segs, s)
		}
	}
	sort.Slice(segs, func(i, j int) bool {
		if segs[i].Timeline != segs[j].Timeline {
			return segs[i].Timeline < segs[j].Timeline
		}
		return segs[i].Number < segs[j].Number
	})
	return segs
}

// Range returns the first and last segment among names, in WAL order ("" if none).
func Range(names []string, size int64) (first, last string) {
	segs := sortedSegments(names, size)
	if len(segs) == 0 {
		return "", ""
	}
	return segs[0].Name(size), segs[len(segs)-1].Name(size)
}
