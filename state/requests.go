package state

import (
	"bytes"
	"fmt"
	"time"
)

// Request returns the result record stored for a request id of org, for
// idempotency: a duplicate command gets the first result again.
func (b *Batch) Request(org int64, requestID string) (rec []byte, ok bool, err error) {
	v, err := b.getFiltered(requestKey(b.task.id, org, requestID))
	if err != nil {
		return nil, false, fmt.Errorf("task %d: reading request %q of org %d: %w", b.task.id, requestID, org, err)
	}
	if v == nil {
		return nil, false, nil
	}
	if len(v) < 8 {
		return nil, false, fmt.Errorf("task %d: request %q of org %d: value is %d bytes, want ≥ 8", b.task.id, requestID, org, len(v))
	}
	return v[8:], true, nil
}

// PutRequest remembers the result record of a request id of org, stored at
// command time at (the record's timestamp, never the wall clock, so replays
// prune the same entries). Storing an id again replaces its record and time.
func (b *Batch) PutRequest(org int64, requestID string, rec []byte, at time.Time) error {
	t := b.task
	key := requestKey(t.id, org, requestID)
	old, err := b.getFiltered(key)
	if err != nil {
		return fmt.Errorf("task %d: reading request %q of org %d: %w", t.id, requestID, org, err)
	}
	nanos := at.UnixNano()
	if len(old) >= 8 {
		if prev := readInt64(old); prev != nanos {
			if err := b.del(reqByTimeKey(t.id, prev, org, requestID)); err != nil {
				return fmt.Errorf("task %d: request %q of org %d: %w", t.id, requestID, org, err)
			}
		}
	}
	v := append(appendInt64(make([]byte, 0, 8+len(rec)), nanos), rec...)
	if err := b.set(key, v); err != nil {
		return fmt.Errorf("task %d: request %q of org %d: %w", t.id, requestID, org, err)
	}
	if err := b.set(reqByTimeKey(t.id, nanos, org, requestID), marker); err != nil {
		return fmt.Errorf("task %d: request %q of org %d: %w", t.id, requestID, org, err)
	}
	return nil
}

// PruneRequests forgets request ids stored at a time before before. It
// reads only the expired entries of the time-ordered table, so calling it
// on every batch is cheap.
func (b *Batch) PruneRequests(before time.Time) error {
	t := b.task
	lower := tablePrefix(t.id, tabReqByTime)
	upper := appendInt64(tablePrefix(t.id, tabReqByTime), before.UnixNano())
	// Collect first, delete after: the overlay is not changed while it is
	// read. Applied entries the batch deleted are skipped (a request
	// stored again at a later time), and the batch's own entries count.
	var expired [][]byte
	err := dbSource{t.db.pdb}.scanRange(lower, upper, func(key, _ []byte) error {
		if _, ok := b.lastWrite(key); !ok {
			expired = append(expired, bytes.Clone(key))
		}
		return nil
	})
	if err == nil {
		err = b.liveWrites(func(op *batchOp) error {
			if !op.del && bytes.Compare(op.key, lower) >= 0 && bytes.Compare(op.key, upper) < 0 {
				expired = append(expired, bytes.Clone(op.key))
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("task %d: pruning requests before %s: %w", t.id, before, err)
	}
	for _, k := range expired {
		org, requestID, err := parseReqByTime(k)
		if err != nil {
			return fmt.Errorf("task %d: pruning requests: key %x: %w", t.id, k, err)
		}
		if err := b.del(k); err != nil {
			return fmt.Errorf("task %d: pruning request %q of org %d: %w", t.id, requestID, org, err)
		}
		if err := b.del(requestKey(t.id, org, requestID)); err != nil {
			return fmt.Errorf("task %d: pruning request %q of org %d: %w", t.id, requestID, org, err)
		}
	}
	return nil
}

// forgetRequest deletes a request id and its entry in the time-ordered
// table.
func (b *Batch) forgetRequest(org int64, requestID string) error {
	t := b.task
	key := requestKey(t.id, org, requestID)
	old, err := b.getFiltered(key)
	if err != nil {
		return fmt.Errorf("task %d: reading request %q of org %d: %w", t.id, requestID, org, err)
	}
	if len(old) >= 8 {
		if err := b.del(reqByTimeKey(t.id, readInt64(old), org, requestID)); err != nil {
			return err
		}
	}
	return b.del(key)
}
