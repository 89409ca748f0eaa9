package libvirt

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/cadang/cadang/targets/libvirt/blockmap"
)

// The probe reads the last blocks that hold data and some others; a checkpoint is
// trusted only when the highest clean block holding data was read and every clean
// block read is unchanged.
func TestProbeSoundness(t *testing.T) {
	m := blockmap.New(64 * BlockSize)
	for i := range 48 {
		m.Sum[i] = sha256.Sum256([]byte{byte(i)})
	}
	for i := 48; i < 64; i++ {
		m.Sum[i] = blockmap.ZeroSum(BlockSize)
	}
	pick := probeBlocks(m)
	if len(pick) != probeTop+probeRandom {
		t.Fatalf("picked %v", pick)
	}
	for i, b := range pick[len(pick)-probeTop:] {
		if b != 40+i {
			t.Fatalf("the last blocks holding data are not all picked: %v", pick)
		}
	}
	probe := func(changed map[int]bool) *probes {
		p := &probes{parent: m, sums: map[int][sha256.Size]byte{}}
		for _, b := range pick {
			p.sums[b] = m.Sum[b]
			if changed[b] {
				p.sums[b] = sha256.Sum256([]byte("other"))
			}
		}
		return p
	}
	clean := func(dirty ...int) *changes {
		c := &changes{dirty: make([]bool, 64)}
		for _, d := range dirty {
			c.dirty[d] = true
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		ch      *changes
		changed map[int]bool
		want    string
	}{
		{"nothing changed", clean(), nil, ""},
		{"written blocks differ", clean(47, 3), map[int]bool{47: true}, ""},
		{"shrunk below data", clean(), map[int]bool{47: true}, "block 47 differs from the previous snapshot"},
		{"all top blocks written, the highest clean one not read", clean(40, 41, 42, 43, 44, 45, 46, 47), nil, "was not read before the job"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := probe(tc.changed)
			if tc.name == "all top blocks written, the highest clean one not read" {
				delete(p.sums, 39) // in case 39 was picked at random
			}
			got := unsound(tc.ch, p)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("unsound = %q, want %q", got, tc.want)
			}
		})
	}
}
