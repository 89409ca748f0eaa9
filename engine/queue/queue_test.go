package queue

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/internal/testenv"
)

// The queue's rules with a fake job body: at most `limit` at once, one per target,
// on-demand before scheduled, and a waiting job says why.
func TestQueueLimits(t *testing.T) {
	q := New(2)
	var mu sync.Mutex
	running, maxRunning := map[string]int{}, 0
	var order []uint64
	release := make(chan struct{})
	body := func(j *Job) {
		mu.Lock()
		running[j.Run.Target]++
		total := 0
		for tg, n := range running {
			if n > 1 {
				t.Errorf("target %s runs %d at once", tg, n)
			}
			total += n
		}
		maxRunning = max(maxRunning, total)
		order = append(order, j.Run.ID)
		mu.Unlock()
		<-release
		mu.Lock()
		running[j.Run.Target]--
		mu.Unlock()
	}
	t0 := time.Now()
	add := func(id uint64, target string, prio int) *Job {
		j := &Job{Run: &catalog.Run{ID: id, Target: target, Op: "backup", Queued: t0.Add(time.Duration(id))}, Priority: prio}
		if err := q.Add(j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	add(1, "a", PriorityScheduled)
	add(2, "a", PriorityScheduled)
	add(3, "b", PriorityScheduled)
	add(4, "c", PriorityScheduled)
	urgent := add(5, "d", PriorityOnDemand)

	q.dispatch(body)
	testenv.Eventually(t, 10*time.Second, "the first two jobs to start", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 2
	})
	mu.Lock()
	if fmt.Sprint(order) != "[5 1]" && fmt.Sprint(order) != "[1 5]" {
		t.Errorf("first two started: %v (want the on-demand run and the oldest)", order)
	}
	mu.Unlock()
	_ = urgent
	if _, _, why := q.Get(2).State(); !strings.Contains(why, "concurrency") {
		t.Errorf("run 2 waits because %q", why)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Loop(ctx, body)
	for i := 0; i < 5; i++ {
		release <- struct{}{}
	}
	if !q.Wait(5 * time.Second) {
		t.Fatal("jobs did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	if maxRunning > 2 || len(order) != 5 {
		t.Errorf("max running %d, order %v", maxRunning, order)
	}
}

func TestQueueSameTargetWaits(t *testing.T) {
	q := New(4)
	block := make(chan struct{})
	q.Add(&Job{Run: &catalog.Run{ID: 1, Target: "a", Op: "backup"}})
	q.Add(&Job{Run: &catalog.Run{ID: 2, Target: "a", Op: "restore"}})
	q.dispatch(func(*Job) { <-block })
	if _, _, why := q.Get(2).State(); why != "waiting: target busy with run 1 (backup)" {
		t.Errorf("run 2 waits because %q", why)
	}
	if !q.Remove(2) || q.Get(2) != nil {
		t.Error("a queued run could not be removed")
	}
	close(block)
	q.Wait(time.Second)
	if left := q.Close(); len(left) != 0 {
		t.Errorf("left after close: %d", len(left))
	}
	if err := q.Add(&Job{Run: &catalog.Run{ID: 3}}); err == nil {
		t.Error("a closed queue took a job")
	}
}

// A job marked Beside (the drill of a continuous target) runs while its target is
// busy and does not keep the target busy: the target's archive runs go on beside it.
func TestQueueBesideItsTarget(t *testing.T) {
	q := New(4)
	block := make(chan struct{})
	started := make(chan uint64, 4)
	body := func(j *Job) { started <- j.Run.ID; <-block }
	q.Add(&Job{Run: &catalog.Run{ID: 1, Target: "pg", Op: "drill"}, Uses: Uses{Beside: true}})
	q.Add(&Job{Run: &catalog.Run{ID: 2, Target: "pg", Op: "backup"}})
	q.Add(&Job{Run: &catalog.Run{ID: 3, Target: "pg", Op: "backup"}})
	q.dispatch(body)
	got := map[uint64]bool{}
	for len(got) < 2 {
		select {
		case id := <-started:
			got[id] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v started: the drill kept its target busy", got)
		}
	}
	if !got[1] || !got[2] {
		t.Errorf("started %v, want the drill and the first backup", got)
	}
	if _, _, why := q.Get(3).State(); why != "waiting: target busy with run 2 (backup)" {
		t.Errorf("the second backup waits because %q", why)
	}
	close(block)
	q.Wait(5 * time.Second)
}
