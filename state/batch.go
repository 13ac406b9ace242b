package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/custream/custream/processor/customer"
)

// Batch is the state changes of one group of commands of a task. It is a
// Pebble indexed batch: every read sees the batch's own writes, and nothing
// reaches the DB until Task.Commit. Close (or Discard) throws it away.
// It implements customer.Store.
type Batch struct {
	reader
	b      *pebble.Batch
	task   *Task
	closed bool
}

// NewBatch starts a batch on the task's keyspace.
func (t *Task) NewBatch() *Batch {
	b := t.db.pdb.NewIndexedBatch()
	return &Batch{reader: reader{r: b, task: t}, b: b, task: t}
}

// Close discards the batch if it was not committed and releases it. It is
// safe to call more than once and after Task.Commit.
func (b *Batch) Close() {
	if b.closed {
		return
	}
	b.closed = true
	// Close only returns an error for a batch already closed, which the
	// flag rules out.
	_ = b.b.Close()
}

// Discard is Close, named for the abort path.
func (b *Batch) Discard() { b.Close() }

func (b *Batch) set(key, value []byte) error {
	if err := b.b.Set(key, value, nil); err != nil {
		return fmt.Errorf("setting %x: %w", key, err)
	}
	return nil
}

func (b *Batch) del(key []byte) error {
	if err := b.b.Delete(key, nil); err != nil {
		return fmt.Errorf("deleting %x: %w", key, err)
	}
	return nil
}

// PutCustomer stores c, replacing its previous version, and brings the
// identifier, holder and search indexes in line: it diffs the index keys
// of the previous version against those of c and writes only the
// difference. c.ID must belong to this task (TaskOf).
func (b *Batch) PutCustomer(c *customer.Customer) error {
	t := b.task
	if owner := TaskOf(c.ID, t.partitions); owner != t.id {
		return fmt.Errorf("task %d: customer %d belongs to task %d", t.id, c.ID, owner)
	}
	old, _, err := b.Customer(c.ID)
	if err != nil {
		return err
	}
	oldIdent, oldOther := t.indexKeys(old)
	newIdent, newOther := t.indexKeys(c)

	// Index entries whose key holds the customer id (holder, search) belong
	// to this customer alone: remove the stale ones, add the new ones.
	gone, added := diffSorted(oldOther, newOther)
	for _, k := range gone {
		if err := b.del([]byte(k)); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}
	for _, k := range added {
		if err := b.set([]byte(k), marker); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}

	// Identifier entries map a scope's identifier to one customer, and in a
	// merge the survivor may take over the victim's entry in the same batch,
	// before or after the victim's tombstone is put. So a stale entry is
	// removed only while it still points at this customer.
	idValue := appendInt64(nil, c.ID)
	gone, added = diffSorted(oldIdent, newIdent)
	for _, k := range gone {
		cur, err := b.get([]byte(k))
		if err != nil {
			return fmt.Errorf("task %d: customer %d: reading identifier entry %x: %w", t.id, c.ID, k, err)
		}
		if !bytes.Equal(cur, idValue) {
			continue
		}
		if err := b.del([]byte(k)); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}
	for _, k := range added {
		if err := b.set([]byte(k), idValue); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}

	if err := b.set(customerKey(t.id, c.ID), encodeCustomer(nil, c)); err != nil {
		return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
	}
	return nil
}

// indexKeys returns the sorted, distinct index keys of c: identifier keys,
// and holder plus search keys. A nil or merged-away customer has none: its
// identifiers are released to the survivor.
//
// Only primary profiles are indexed: the identifiers of Conflicting
// profiles are always in the primary profile of the same scope too
// (customer.Reader's contract).
func (t *Task) indexKeys(c *customer.Customer) (ident, other []string) {
	if c == nil || c.MergedInto != 0 {
		return nil, nil
	}
	for _, p := range c.Profiles {
		for _, id := range p.Identifiers {
			k := id.Key()
			ident = append(ident, string(identifierKey(t.id, c.Org, p.Source, p.AccountID, id.Type, k)))
			other = append(other, string(holderKey(t.id, c.Org, id.Type, k, c.ID, p.Source, p.AccountID)))
		}
	}
	for _, tok := range customer.SearchTokens(c) {
		other = append(other, string(searchKey(t.id, c.Org, tok, c.ID)))
	}
	slices.Sort(ident)
	slices.Sort(other)
	return slices.Compact(ident), slices.Compact(other)
}

// diffSorted returns the elements only in a (gone) and only in b (added);
// both inputs are sorted and distinct, and so are the outputs.
func diffSorted(a, b []string) (gone, added []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			gone = append(gone, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return gone, added
}

// NextID allocates a customer id: seq*partitions + task, seq counting from
// 1 in the task's allocator key. The counter is read and written through
// the batch, so ids allocated in a discarded batch are reused, and the
// counter travels in the changelog like everything else.
func (b *Batch) NextID() (int64, error) {
	t := b.task
	key := seqKey(t.id)
	v, err := b.get(key)
	if err != nil {
		return 0, fmt.Errorf("task %d: reading the id allocator: %w", t.id, err)
	}
	seq := uint64(1)
	if v != nil {
		if len(v) != 8 {
			return 0, fmt.Errorf("task %d: id allocator value is %d bytes, want 8", t.id, len(v))
		}
		seq = binary.BigEndian.Uint64(v)
	}
	if t.partitions <= 0 || seq > uint64((math.MaxInt64-int64(t.id))/int64(t.partitions)) {
		return 0, fmt.Errorf("task %d: id allocator exhausted at seq %d of %d partitions", t.id, seq, t.partitions)
	}
	if err := b.set(key, binary.BigEndian.AppendUint64(nil, seq+1)); err != nil {
		return 0, fmt.Errorf("task %d: advancing the id allocator: %w", t.id, err)
	}
	return int64(seq)*int64(t.partitions) + int64(t.id), nil
}

// Request returns the result record stored for a request id of org, for
// idempotency: a duplicate command gets the first result again.
func (b *Batch) Request(org int64, requestID string) (rec []byte, ok bool, err error) {
	v, err := b.get(requestKey(b.task.id, org, requestID))
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
	old, err := b.get(key)
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
	it, err := b.b.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("task %d: pruning requests before %s: %w", t.id, before, err)
	}
	// Collect first, delete after: the batch is not mutated under its own
	// iterator.
	var expired [][]byte
	for it.First(); it.Valid(); it.Next() {
		expired = append(expired, bytes.Clone(it.Key()))
	}
	if err := it.Close(); err != nil {
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

// Writes returns the batch's writes as changelog records, in the order of
// each key's last write, one record per key (the last write wins, as it
// would in the compacted topic). A nil Value is a delete. The checkpoint is
// local bookkeeping and never listed. The records own their bytes.
func (b *Batch) Writes() ([]KV, error) {
	if b.closed {
		return nil, fmt.Errorf("task %d: reading the writes of a closed batch", b.task.id)
	}
	ckpt := checkpointKey(b.task.id)
	var all []KV
	last := map[string]int{}
	r := b.b.Reader()
	for {
		kind, key, value, ok, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("task %d: reading batch entry %d: %w", b.task.id, len(all), err)
		}
		if !ok {
			break
		}
		if bytes.Equal(key, ckpt) {
			continue
		}
		kv := KV{Key: bytes.Clone(key)}
		switch kind {
		case pebble.InternalKeyKindSet:
			kv.Value = bytes.Clone(value)
			if kv.Value == nil {
				kv.Value = []byte{} // a set is never a tombstone
			}
		case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete:
		default:
			return nil, fmt.Errorf("task %d: batch holds a %s of %x, which the changelog cannot carry", b.task.id, kind, key)
		}
		last[string(kv.Key)] = len(all)
		all = append(all, kv)
	}
	out := all[:0]
	for i, kv := range all {
		if last[string(kv.Key)] == i {
			out = append(out, kv)
		}
	}
	return out, nil
}
