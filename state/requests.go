package state

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Request returns the result record stored for a request id of org, for
// idempotency: a duplicate command gets the first result again. An id
// stored before the cutoff of the task's last PruneRequests is forgotten,
// whether or not the sweep has deleted it yet.
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
	if readInt64(v) < b.task.requests.forgottenBefore() {
		return nil, false, nil
	}
	return v[8:], true, nil
}

// PutRequest remembers the result record of a request id of org, stored at
// time at. Storing an id again replaces its record and time.
func (b *Batch) PutRequest(org int64, requestID string, rec []byte, at time.Time) error {
	t := b.task
	nanos := at.UnixNano()
	v := append(appendInt64(make([]byte, 0, 8+len(rec)), nanos), rec...)
	if err := b.set(requestKey(t.id, org, requestID), v); err != nil {
		return fmt.Errorf("task %d: request %q of org %d: %w", t.id, requestID, org, err)
	}
	t.requests.stored(nanos)
	b.requestsPut++
	return nil
}

// sweepMin is the fewest request entries one PruneRequests reads while a
// sweep is under way; it reads twice the ids the task's last batch stored
// if that is more, so a sweep outruns the ids a bulk load adds.
const sweepMin = 1024

// PruneRequests forgets request ids stored before before. Request answers
// them as absent from now on, exactly; deleting them is a sweep over the
// request table, a bounded slice per call, that runs only while some
// entry may be older than the cutoff. The deletes are the batch's writes,
// so they reach the changelog as tombstones.
//
// Layout 3 kept a second table of the ids ordered by time to find the
// expired ones: one more key written per command and two more deleted
// when it expired, to save a scan that, with a retention of days, finds
// nothing for days and then runs once per retention period.
func (b *Batch) PruneRequests(before time.Time) error {
	t := b.task
	cut := before.UnixNano()
	from, budget, ok := t.requests.startSweep(cut, max(sweepMin, 2*int(t.lastPuts.Load())))
	if !ok {
		return nil
	}
	lower := tablePrefix(t.id, tabRequest)
	if from != nil {
		lower = from
	}
	upper := prefixEnd(tablePrefix(t.id, tabRequest))
	it, err := t.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("task %d: sweeping request ids: %w", t.id, err)
	}
	// Collect first, delete after: the overlay is not changed while it is
	// read. Entries this batch (or the one it reads through) wrote are
	// skipped: they are new, or already deleted.
	var expired [][]byte
	oldest := int64(math.MaxInt64)
	var next []byte
	n := 0
	for it.First(); it.Valid(); it.Next() {
		if n == budget {
			next = bytes.Clone(it.Key())
			break
		}
		n++
		if _, ok := b.lastWrite(it.Key()); ok {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("task %d: sweeping request ids: %w", t.id, err)
		}
		if len(v) < 8 {
			it.Close()
			return fmt.Errorf("task %d: sweeping request ids: value of %x is %d bytes, want ≥ 8", t.id, it.Key(), len(v))
		}
		if at := readInt64(v); at < cut {
			expired = append(expired, bytes.Clone(it.Key()))
		} else {
			oldest = min(oldest, at)
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("task %d: sweeping request ids: %w", t.id, err)
	}
	// The ids this batch stored count too (the iterator saw only applied
	// state): new ones are never expired, but a caller may store any time.
	err = b.liveWrites(func(op *batchOp) error {
		if op.del || op.key[taskLen] != tabRequest || len(op.value) < 8 {
			return nil
		}
		if at := readInt64(op.value); at < cut {
			expired = append(expired, bytes.Clone(op.key))
		} else {
			oldest = min(oldest, at)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("task %d: sweeping request ids: %w", t.id, err)
	}
	t.requests.endSweep(next, oldest)
	for _, k := range expired {
		if err := b.del(k); err != nil {
			return fmt.Errorf("task %d: pruning request key %x: %w", t.id, k, err)
		}
	}
	return nil
}

// forgetRequest deletes a request id (a tombstone in the changelog).
func (b *Batch) forgetRequest(org int64, requestID string) error {
	return b.del(requestKey(b.task.id, org, requestID))
}

// requestSweep is a task's knowledge of its request table's times, which
// lets PruneRequests skip the sweep while nothing can have expired.
type requestSweep struct {
	mu sync.Mutex
	// cut is the cutoff of the last PruneRequests: ids stored before it
	// are forgotten.
	cut int64
	// oldest is a lower bound on the time of every entry in the table:
	// the oldest entry the last full sweep kept, lowered by every store
	// since. math.MinInt64 when unknown (a task opened on a state it has
	// not swept yet).
	oldest int64
	// sweeping says a sweep is under way; next is where it goes on (nil:
	// at the table's start) and cycleOldest the oldest entry it kept or
	// saw stored so far.
	sweeping    bool
	next        []byte
	cycleOldest int64
}

func newRequestSweep() *requestSweep {
	return &requestSweep{cut: math.MinInt64, oldest: math.MinInt64}
}

func (s *requestSweep) forgottenBefore() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut
}

// stored notes an entry stored at time at.
func (s *requestSweep) stored(at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oldest = min(s.oldest, at)
	if s.sweeping {
		s.cycleOldest = min(s.cycleOldest, at)
	}
}

// startSweep records the cutoff and says whether to read the table, from
// where and how many entries: a sweep goes on until it reaches the end,
// and a new one starts only when an entry may be older than the cutoff.
func (s *requestSweep) startSweep(cut int64, budget int) (from []byte, n int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = max(s.cut, cut)
	if !s.sweeping {
		if s.oldest >= s.cut {
			return nil, 0, false
		}
		s.sweeping, s.next, s.cycleOldest = true, nil, math.MaxInt64
	}
	return s.next, budget, true
}

// endSweep records where the sweep stopped (nil: at the table's end, the
// sweep is done) and the oldest entry it kept.
func (s *requestSweep) endSweep(next []byte, oldest int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cycleOldest = min(s.cycleOldest, oldest)
	s.next = next
	if next == nil {
		s.sweeping = false
		s.oldest = s.cycleOldest
	}
}

// reset forgets what the sweep knew: the table changed under it (restore,
// drop).
func (s *requestSweep) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oldest, s.sweeping, s.next = math.MinInt64, false, nil
}
