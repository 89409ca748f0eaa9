package iec

import (
	"math"
	"testing"
)

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{200 << 20, "200.0 MiB"}, {-300 << 20, "-300.0 MiB"}, {math.MaxInt64, "8.0 EiB"}, {math.MinInt64, "-8.0 EiB"},
	} {
		if got := Bytes(c.in); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := UBytes(math.MaxUint64); got != "16.0 EiB" {
		t.Errorf("UBytes(max) = %q", got)
	}
}
