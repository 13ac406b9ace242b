package state

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// A task's changelog partition holds one record per Pebble write of a
// changelog table (inChangelog), produced in the Kafka transaction of the
// batch that made it:
//
//	key    the Pebble key, as it is
//	value  'S' + the Pebble value for a set; null (a tombstone) for a delete
//
// The processor builds and produces the records; their key and value are
// this package's contract, framed by ChangelogValue and read back by
// ChangelogKV.

// changelogSet prefixes the value of every changelog record that sets a
// key. Kafka tells an empty value from a null one only by a length of 0 or
// -1, and clients blur the two; the prefix keeps "set to empty" (index
// entries have empty values) apart from "delete", which is a true null, so
// compaction drops deleted keys.
const changelogSet = 'S'

// ChangelogValue is the value of the changelog record of kv: changelogSet
// and kv.Value for a set, nil for a delete. The record's key is kv.Key.
func ChangelogValue(kv KV) []byte {
	if kv.Value == nil {
		return nil
	}
	return append(append(make([]byte, 0, len(kv.Value)+1), changelogSet), kv.Value...)
}

// ChangelogKV decodes the key and value of a changelog record back to its
// Pebble write. The KV shares their memory.
func ChangelogKV(key, value []byte) (KV, error) {
	if len(key) == 0 {
		return KV{}, errors.New("changelog record without a key")
	}
	if len(value) == 0 {
		return KV{Key: key}, nil // a delete
	}
	if value[0] != changelogSet {
		return KV{}, fmt.Errorf("changelog record with unknown value prefix %#x", value[0])
	}
	return KV{Key: key, Value: value[1:]}, nil
}

// Writes returns the batch's writes as changelog records, in the order of
// each key's last write, one record per key (the last write wins, as it
// would in the compacted topic). A nil Value is a delete. The checkpoint
// is local bookkeeping and never listed. The records own their bytes (one
// allocation for all of them).
func (b *Batch) Writes() ([]KV, error) {
	if b.closed {
		return nil, fmt.Errorf("task %d: reading the writes of a closed batch", b.task.id)
	}
	if err := b.flushSeq(); err != nil {
		return nil, err
	}
	n, size := 0, 0
	for i := range b.over.ops {
		if op := &b.over.ops[i]; !op.superseded && inChangelog(op.key) {
			n++
			size += len(op.key) + len(op.value)
		}
	}
	arena := make([]byte, 0, size)
	out := make([]KV, 0, n)
	for i := range b.over.ops {
		op := &b.over.ops[i]
		if op.superseded || !inChangelog(op.key) {
			continue
		}
		arena = append(arena, op.key...)
		kv := KV{Key: arena[len(arena)-len(op.key) : len(arena) : len(arena)]}
		if !op.del {
			arena = append(arena, op.value...)
			// A set is never a tombstone, even of an empty value.
			kv.Value = arena[len(arena)-len(op.value) : len(arena) : len(arena)]
		}
		out = append(out, kv)
	}
	return out, nil
}

// applyRecord applies one changelog record (a write to a primary table,
// checked by checkChangelogKey) and derives the index entries it implies,
// through the same code the processing path uses, so a restored state is
// byte for byte the state that wrote the changelog.
func (b *Batch) applyRecord(kv KV) error {
	t := b.task
	switch kv.Key[taskLen] {
	case tabMeta: // the id allocator
		if kv.Value == nil {
			return b.del(kv.Key)
		}
		return b.set(kv.Key, kv.Value)
	case tabCustomer:
		if len(kv.Key) != taskLen+1+8 {
			return fmt.Errorf("customer key %x is not task, table and id", kv.Key)
		}
		id := readInt64(kv.Key[taskLen+1:])
		if kv.Value == nil {
			// Customers are never deleted (a merged-away one stays as a
			// tombstone), but a delete means no document and no index
			// entries, whatever wrote it.
			if err := b.removeIndexes(id); err != nil {
				return err
			}
			b.docs[id] = &docEntry{absent: true}
			return b.del(kv.Key)
		}
		c, err := decodeCustomer(kv.Value)
		if err != nil {
			return fmt.Errorf("customer %d: %w", id, err)
		}
		if c.ID != id {
			return fmt.Errorf("customer key %x holds customer %d", kv.Key, c.ID)
		}
		if err := b.knownAbsent(id); err != nil {
			return err
		}
		return b.putCustomer(c, kv.Value)
	case tabRequest:
		org, requestID, err := parseRequestKey(kv.Key)
		if err != nil {
			return err
		}
		if kv.Value == nil {
			return b.forgetRequest(org, requestID)
		}
		if len(kv.Value) < 8 {
			return fmt.Errorf("request %q of org %d: value is %d bytes, want ≥ 8", requestID, org, len(kv.Value))
		}
		return b.PutRequest(org, requestID, kv.Value[8:], time.Unix(0, readInt64(kv.Value)))
	}
	return fmt.Errorf("task %d: key %x is not in a changelog table", t.id, kv.Key)
}

// knownAbsent spares restore the read of a customer's previous version
// when the task's state cannot hold one: its id is above every customer
// id in the state. A restore from an empty state dir then reads no
// previous versions at all (they were a fifth of its CPU), and a tail
// restore reads only those of customers it already has. The bound is the
// state's own last customer key, not the id allocator: in a compacted
// changelog the allocator's one surviving record comes last, after
// customers it covers, so a restore interrupted in between leaves
// customers the allocator does not cover yet.
func (b *Batch) knownAbsent(id int64) error {
	if b.prev != nil || b.docs[id] != nil {
		return nil // not restore's batch, or already known
	}
	if !b.maxIDKnown {
		max, err := b.task.maxCustomerID()
		if err != nil {
			return err
		}
		b.maxID, b.maxIDKnown = max, true
	}
	if id > b.maxID {
		b.docs[id] = &docEntry{absent: true}
		b.maxID = id
	}
	return nil
}

// maxCustomerID returns the highest customer id in the task's applied
// state, 0 when it has none: the customer table's last key (ids sort
// numerically).
func (t *Task) maxCustomerID() (int64, error) {
	prefix := tablePrefix(t.id, tabCustomer)
	it, err := t.db.pdb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, fmt.Errorf("task %d: finding the last customer: %w", t.id, err)
	}
	var max int64
	if it.Last() && len(it.Key()) == taskLen+1+8 {
		max = readInt64(it.Key()[taskLen+1:])
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("task %d: finding the last customer: %w", t.id, err)
	}
	return max, nil
}
