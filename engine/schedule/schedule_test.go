package schedule

import (
	"fmt"
	"testing"
	"time"
)

func TestJitterIsDeterministic(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := range 200 {
		name := fmt.Sprintf("app-%03d", i)
		off := JitterOffset(name, time.Hour)
		if off < 0 || off >= time.Hour || off%time.Second != 0 {
			t.Fatalf("%s: offset %s out of [0, 1h) or not whole seconds", name, off)
		}
		if again := JitterOffset(name, time.Hour); again != off {
			t.Fatalf("%s: offset %s then %s", name, off, again)
		}
		seen[off] = true
	}
	// 200 targets at the same cron time must not start in the same second: with an
	// hour of jitter, nearly every one gets a second of its own.
	if len(seen) < 190 {
		t.Errorf("200 targets share only %d distinct start offsets", len(seen))
	}
	if JitterOffset("x", 0) != 0 || JitterOffset("x", 500*time.Millisecond) >= 500*time.Millisecond {
		t.Error("jitter 0 or below a second misbehaves")
	}
}
