package processor

import (
	"time"

	"github.com/custream/custream/state"
)

// pebbleApply is one committed transaction's task batches being written
// to Pebble by a goroutine of their own, while the loop polls and
// processes the next records: a batch's memtable inserts cost about a
// sixth of its processing, and nothing about them needs the loop.
//
// The next batch of a task reads through the applying one
// (state.Task.NewBatchAfter), so it sees every effect of the committed
// transaction whether or not it reached Pebble yet. Ordering is kept by
// awaiting: the loop waits for this apply before it starts the next, and
// before any restore (which reads and may drop a task's state). A failed
// apply stops the processor: Kafka has the transaction and Pebble does
// not, so the next start restores it from the changelog.
type pebbleApply struct {
	batches []*taskBatch
	done    chan struct{}
	err     error // set before done closes
}

// startApply writes batches to Pebble in the background.
func (p *Processor) startApply(batches []*taskBatch) {
	a := &pebbleApply{batches: batches, done: make(chan struct{})}
	p.applying = a
	go func() {
		defer close(a.done)
		began := time.Now()
		for _, tb := range a.batches {
			if err := tb.apply(); err != nil {
				a.err = err
				for _, rest := range a.batches {
					rest.batch.Close()
				}
				return
			}
		}
		p.cfg.Metrics.pebbleSeconds.Observe(time.Since(began).Seconds())
	}()
}

// awaitApply waits for the batches being written to Pebble, if any, and
// returns the apply's error.
func (p *Processor) awaitApply() error {
	a := p.applying
	if a == nil {
		return nil
	}
	<-a.done
	p.applying = nil
	return a.err
}

// awaitApplyIfPending is awaitApply when tasks are about to restore; with
// every task ready there is nothing to wait for yet.
func (p *Processor) awaitApplyIfPending() error {
	p.mu.Lock()
	restoring := len(p.pending) > 0
	p.mu.Unlock()
	if !restoring {
		return nil
	}
	return p.awaitApply()
}

// applyingBatch returns the batch of task on its way into Pebble, or nil.
func (p *Processor) applyingBatch(task int32) *state.Batch {
	if p.applying == nil {
		return nil
	}
	for _, tb := range p.applying.batches {
		if tb.id == task {
			return tb.batch
		}
	}
	return nil
}
