package engine

import (
	"testing"
	"time"
)

// The archivers' claim: a target's batch is due once its interval has passed and no
// batch of it is being stored; release lets the next one be claimed.
func TestWALStateClaim(t *testing.T) {
	st := newWALState()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	release, due := st.claim("pg", time.Minute, t0)
	if !due {
		t.Fatal("first batch not due")
	}
	if _, due := st.claim("pg", time.Minute, t0.Add(2*time.Minute)); due {
		t.Error("a second batch claimed while the first is being stored")
	}
	if _, due := st.claim("my", time.Minute, t0); !due {
		t.Error("another target's batch not due")
	}
	release()
	if _, due := st.claim("pg", time.Minute, t0.Add(30*time.Second)); due {
		t.Error("a batch claimed before its interval passed")
	}
	if _, due := st.claim("pg", time.Minute, t0.Add(time.Minute)); !due {
		t.Error("a batch not due after its interval and a release")
	}
}
