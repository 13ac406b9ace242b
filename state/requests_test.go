package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestRequestSweepInSlices: a table larger than one sweep's slice is
// swept over several batches; Request forgets expired ids at once, the
// state loses them slice by slice, and a sweep is not started again while
// nothing can have expired.
func TestRequestSweepInSlices(t *testing.T) {
	db := mustOpen(t, "db", Options{FS: vfs.NewMem(), CacheBytes: 8 << 20})
	task := db.Task(0, 1)
	const n = 5 * sweepMin
	b := task.NewBatch()
	for i := range n {
		must(t, b.PutRequest(org, fmt.Sprintf("r%05d", i), []byte("result"), t0.Add(time.Duration(i)*time.Second)))
	}
	apply(t, task, b, -1)
	task.lastPuts.Store(0) // slices of sweepMin

	cut := t0.Add(n / 2 * time.Second) // the first half expires
	requests := func() int {
		n := 0
		for _, kv := range dump(t, task) {
			if kv.Key[taskLen] == tabRequest {
				n++
			}
		}
		return n
	}
	batches := 0
	for ; batches < 10; batches++ {
		b := task.NewBatch()
		must(t, b.PruneRequests(cut))
		if batches == 0 {
			if _, ok, _ := b.Request(org, "r00000"); ok {
				t.Fatal("an expired id is answered before the sweep deleted it")
			}
			if _, ok, _ := b.Request(org, fmt.Sprintf("r%05d", n-1)); !ok {
				t.Fatal("a live id is forgotten")
			}
		}
		apply(t, task, b, -1)
		if !task.requests.sweeping {
			batches++
			break
		}
	}
	if got := requests(); got != n/2 {
		t.Fatalf("after the sweep %d ids remain, want %d", got, n/2)
	}
	if batches != n/sweepMin {
		t.Errorf("the sweep took %d batches, want %d slices of %d", batches, n/sweepMin, sweepMin)
	}
	// The oldest id kept is at the cutoff: the same cutoff starts no
	// sweep, a later one does.
	b = task.NewBatch()
	must(t, b.PruneRequests(cut))
	if task.requests.sweeping {
		t.Error("a sweep started though nothing can have expired")
	}
	b.Close()
	b = task.NewBatch()
	must(t, b.PruneRequests(cut.Add(time.Second)))
	if !task.requests.sweeping {
		t.Error("no sweep started though the oldest id expired")
	}
	b.Close()
}
