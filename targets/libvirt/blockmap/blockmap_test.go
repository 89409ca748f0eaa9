package blockmap

import (
	"crypto/sha256"
	"reflect"
	"testing"
)

func TestBlockMap(t *testing.T) {
	m := New(3*BlockSize + 5)
	if m.Blocks() != 4 || m.BlockLen(3) != 5 || m.BlockLen(0) != BlockSize {
		t.Fatalf("layout: %d blocks, last %d", m.Blocks(), m.BlockLen(3))
	}
	m.Gen[2], m.Sum[2] = 7, sha256.Sum256([]byte("x"))
	got, err := Parse(m.Marshal())
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	b := m.Marshal()
	for _, bad := range [][]byte{b[:len(b)-1], append([]byte("NOTAMAP!"), b[8:]...), nil} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("damaged map accepted")
		}
	}
	if Path(1025) != "blocks/0001/00001025" {
		t.Errorf("blockPath: %s", Path(1025))
	}
}
