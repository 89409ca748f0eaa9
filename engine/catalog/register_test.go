package catalog

import (
	"path/filepath"
	"testing"
)

// The register numbers documents sequentially per series and year, from 1 each
// year, and a document keeps its number, also after the catalog is opened again.
func TestDocumentNumber(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c := open(t, path)
	for _, tc := range []struct {
		series string
		run    uint64
		year   int
		want   DocNumber
	}{
		{"drill", 42, 2026, DocNumber{2026, 1}},
		{"drill", 43, 2026, DocNumber{2026, 2}},
		{"drill", 42, 2026, DocNumber{2026, 1}}, // rendered again
		{"period", 1, 2026, DocNumber{2026, 1}},
		{"drill", 50, 2027, DocNumber{2027, 1}},
		{"drill", 43, 2027, DocNumber{2026, 2}}, // a document keeps its year
	} {
		got, err := c.DocumentNumber(tc.series, tc.run, tc.year)
		if err != nil || got != tc.want {
			t.Errorf("DocumentNumber(%s, %d, %d) = %+v, %v; want %+v", tc.series, tc.run, tc.year, got, err, tc.want)
		}
	}
	c.Close()
	c = open(t, path)
	defer c.Close()
	if got, err := c.DocumentNumber("drill", 51, 2027); err != nil || got != (DocNumber{2027, 2}) {
		t.Errorf("after reopening: %+v, %v", got, err)
	}
}
