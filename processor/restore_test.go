package processor_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/custream/custream/state"
)

// TestRestoreFromEmptyStateDir: a member with an empty state dir rebuilds
// every task from the changelog, byte for byte the state of the member
// that wrote it.
func TestRestoreFromEmptyStateDir(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 3)
	dir1, dir2 := t.TempDir(), t.TempDir()
	m1 := h.startMember(t, "writer", dir1)
	g := newGen(5, 9, h.partitions)
	g.pointsPct = 30 // balances are state too: they must come back byte for byte
	cmds := g.batch(5000)
	h.produce(t, cmds)
	h.check(t, h.readTopic(t, h.topo.Results, len(cmds), 2*time.Minute), distinctRequests(cmds))
	m1.stop(t)

	began := time.Now()
	m2 := h.startMember(t, "restorer", dir2)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		ready, why := m2.p.Ready()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restorer not ready after 2 minutes: %s", why)
		}
	}
	t.Logf("restored %d tasks in %s", h.partitions, time.Since(began).Round(time.Millisecond))
	if n := m2.counter(t, "custream_task_restore_seconds", nil); n != float64(h.partitions) {
		t.Errorf("custream_task_restore_seconds has %v observations, want one per task (%d)", n, h.partitions)
	}
	// Each task was held unprocessed while it restored; the time is
	// counted once the loop starts processing it, just after Ready.
	for task := range h.partitions {
		label := map[string]string{"task": fmt.Sprint(task)}
		for deadline := time.Now().Add(30 * time.Second); m2.counter(t, "custream_task_not_processing_seconds_total", label) == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("task %d: custream_task_not_processing_seconds_total still 0 30s after the restore", task)
			}
		}
	}
	m2.stop(t)

	a, b := dumps(t, dir1, h.partitions), dumps(t, dir2, h.partitions)
	for task := int32(0); task < h.partitions; task++ {
		if err := sameState(a[task], b[task], state.CheckpointKey(task)); err != nil {
			t.Errorf("task %d: restored state differs: %v", task, err)
		}
	}
}

func dumps(t *testing.T, dir string, partitions int32) map[int32][]state.KV {
	t.Helper()
	db, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[int32][]state.KV{}
	for task := int32(0); task < partitions; task++ {
		kvs, err := db.Task(task, partitions).Dump()
		if err != nil {
			t.Fatal(err)
		}
		out[task] = kvs
	}
	return out
}

// sameState compares two task keyspaces byte for byte, except the
// checkpoint's value.
func sameState(a, b []state.KV, checkpoint []byte) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d keys, want %d", len(b), len(a))
	}
	if len(a) < 2 {
		return fmt.Errorf("only %d keys: the load did not reach this task", len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) {
			return fmt.Errorf("key %d is %x, want %x", i, b[i].Key, a[i].Key)
		}
		if !bytes.Equal(a[i].Value, b[i].Value) && !bytes.Equal(a[i].Key, checkpoint) {
			return fmt.Errorf("value of key %x is %x, want %x", a[i].Key, b[i].Value, a[i].Value)
		}
	}
	return nil
}
