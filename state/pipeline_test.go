package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A batch started with NewBatchAfter while the previous batch's apply
// runs in another goroutine (the processor's pipeline) ends in the same
// state as batches applied one after the other: it reads the previous
// batch's customers, holder lists, requests and id allocator whether or
// not they reached Pebble yet. Run with -race, it also checks the two
// goroutines share nothing unguarded.
func TestPipelinedBatchesMatchSequential(t *testing.T) {
	run := func(pipelined bool) []KV {
		db := mustOpen(t, "db", Options{FS: vfs.NewMem()})
		task := db.Task(1, 2)
		m := newModel(rand.New(rand.NewPCG(5, 6)))
		var prev *Batch // written, not yet applied
		var done chan error
		for batch := range 30 {
			var b *Batch
			if pipelined {
				var err error
				b, err = task.NewBatchAfter(prev)
				must(t, err)
			} else {
				b = task.NewBatch()
			}
			steps := 2 + m.rng.IntN(6)
			for i := range steps {
				if i == steps/2 && prev != nil {
					// prev's apply starts once this batch has read
					// through it, and runs while this batch goes on.
					done = make(chan error, 1)
					go func(b *Batch, ckpt int64) { done <- task.Apply(b, ckpt) }(prev, int64(batch-1))
				}
				m.step(t, b)
			}
			at := t0.Add(time.Duration(batch) * time.Minute)
			if batch > 0 {
				if rec, ok, err := b.Request(org, fmt.Sprintf("req-%d", batch-1)); err != nil || !ok || string(rec) != fmt.Sprint(batch-1) {
					t.Fatalf("batch %d: previous request = %q, %v, %v", batch, rec, ok, err)
				}
			}
			must(t, b.PutRequest(org, fmt.Sprintf("req-%d", batch), []byte(fmt.Sprint(batch)), at))
			must(t, b.PruneRequests(at.Add(-5*time.Minute)))
			_, err := b.Writes()
			must(t, err)
			m.commit()
			if !pipelined {
				must(t, task.Apply(b, int64(batch)))
				continue
			}
			if done != nil {
				must(t, <-done) // applies stay in order
				done = nil
			}
			prev = b
		}
		if prev != nil {
			must(t, task.Apply(prev, 29))
		}
		return dump(t, task)
	}
	seq, pipe := run(false), run(true)
	if err := equalKVs(seq, pipe); err != nil {
		t.Fatalf("pipelined state differs from sequential: %v", err)
	}
}

// A batch that reads through another cannot be applied before it, and
// one cannot read through a discarded batch.
func TestPipelinedCommitOrder(t *testing.T) {
	db := mustOpen(t, "db", Options{FS: vfs.NewMem()})
	task := db.Task(0, 1)
	first := task.NewBatch()
	put(t, first, person(1, org, "a", "", map[string][]string{"INSTORE/": {"mobile:1"}}))
	second, err := task.NewBatchAfter(first)
	must(t, err)
	if err := task.Apply(second, 2); err == nil {
		t.Fatal("applied a batch before the batch it reads through")
	}
	must(t, task.Apply(first, 1))

	discarded := task.NewBatch()
	discarded.Discard()
	if _, err := task.NewBatchAfter(discarded); err == nil {
		t.Error("read through a discarded batch")
	}
	// After its apply, a batch is in Pebble: reading through it is a
	// plain batch.
	third, err := task.NewBatchAfter(first)
	must(t, err)
	defer third.Close()
	if c, ok, err := third.Customer(1); err != nil || !ok || c.Profiles[0].FirstName != "a" {
		t.Errorf("customer 1 after its batch was applied: %v, %v, %v", c, ok, err)
	}
}
