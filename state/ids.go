package state

import (
	"encoding/binary"
	"fmt"
	"math"
)

// NextID allocates a customer id: seq*partitions + task, seq counting from
// 1 in the task's allocator key. The counter is read and written through
// the batch, so ids allocated in a discarded batch are reused, and the
// counter travels in the changelog like everything else.
func (b *Batch) NextID() (int64, error) {
	t := b.task
	if b.seq == 0 {
		v, err := b.get(seqKey(t.id))
		if err != nil {
			return 0, fmt.Errorf("task %d: reading the id allocator: %w", t.id, err)
		}
		b.seq = 1
		if v != nil {
			if len(v) != 8 {
				return 0, fmt.Errorf("task %d: id allocator value is %d bytes, want 8", t.id, len(v))
			}
			b.seq = binary.BigEndian.Uint64(v)
		}
	}
	seq := b.seq
	if t.partitions <= 0 || seq > uint64((math.MaxInt64-int64(t.id))/int64(t.partitions)) {
		return 0, fmt.Errorf("task %d: id allocator exhausted at seq %d of %d partitions", t.id, seq, t.partitions)
	}
	// The counter is written once, when the batch's writes are read or
	// applied (flushSeq), not once per id.
	b.seq, b.seqSet = seq+1, true
	id := int64(seq)*int64(t.partitions) + int64(t.id)
	// The allocator never gave this id before (the seq only grows once
	// applied), so no customer has it: PutCustomer need not look.
	b.docs[id] = &docEntry{absent: true}
	return id, nil
}

// flushSeq writes the id allocator if NextID advanced it since the last
// flush.
func (b *Batch) flushSeq() error {
	if !b.seqSet {
		return nil
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], b.seq)
	if err := b.set(seqKey(b.task.id), v[:]); err != nil {
		return fmt.Errorf("task %d: advancing the id allocator: %w", b.task.id, err)
	}
	b.seqSet = false
	return nil
}
