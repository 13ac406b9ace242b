package state

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/custream/custream/processor/customer"
)

// Batch is the state changes of one group of commands of a task. Writes go
// to a plain Pebble batch and to an overlay of the batch's own writes, so
// every read sees them; reads the overlay cannot answer go to the task's
// applied state. Nothing reaches the DB until Task.Apply. Close (or
// Discard) throws it away. It implements customer.Store.
//
// Pebble's indexed batch would give the same read-your-writes, but every
// write then costs a skiplist insert and every read a merged iterator over
// the batch and the DB; the overlay is a map lookup, and a read of a key the
// batch never wrote is a plain DB.Get.
type Batch struct {
	reader
	b      *pebble.Batch
	task   *Task
	closed bool
	// prev is a batch whose writes this one reads through, because they
	// may not be in Pebble yet (NewBatchAfter); nil once this batch is
	// applied or closed.
	prev *Batch
	// life guards what a batch reading through this one (next) and the
	// goroutine applying this one share: closed, pins, applied.
	life    sync.Mutex
	pins    int  // batches reading through this one
	applied bool // Task.Apply wrote it to Pebble
	// over lists the batch's writes, in order and indexed by key; their
	// bytes are in b's buffer (SetDeferred), which lives until Close.
	over overlay
	// docs caches the customers this batch has read, written or allocated,
	// as of the batch: a command reads its customer, then PutCustomer needs
	// the previous version to diff the indexes, and both used to read and
	// decode it again. Every write of a customer key goes through
	// PutCustomer, which updates the entry, so the cache cannot go stale;
	// it lives and dies with the batch.
	docs map[int64]*docEntry
	// lists caches the holder lists (raw values; nil when absent) this
	// batch has read or written, by key: register reads an identifier's
	// holders and its owner in a scope, then PutCustomer edits the same
	// list. Every write of a holder list goes through editHolders, which
	// updates the entry.
	lists map[string]*listEntry
	// kbuf builds the keys of point reads (a batch is used by one
	// goroutine at a time).
	kbuf []byte
	// enc encodes customers for PutCustomer (Pebble copies them).
	enc []byte
	// seq is the task's id allocator as of the batch (0 until NextID
	// first reads it); seqSet says it changed and is not yet written.
	seq    uint64
	seqSet bool
	// scratch of editHolders, reused across calls.
	cur, next, g, a [][]byte
	// maxWrite bounds the key and value of one changelog write (0: no
	// bound); see Task.LimitWrites.
	maxWrite int
	// requestsPut counts PutRequest calls, to size the next sweep.
	requestsPut int
	// maxID bounds the customer ids the state and this batch hold, once
	// maxIDKnown (restore only: knownAbsent).
	maxID      int64
	maxIDKnown bool
}

// docEntry is one cached customer: the decoded document (decoded lazily
// from enc after a write; never handed out, only clones of it), or absent.
type docEntry struct {
	doc    *customer.Customer
	enc    []byte
	absent bool
}

// NewBatch starts a batch on the task's keyspace.
func (t *Task) NewBatch() *Batch {
	// Sized like the last batch, with some room: most batches are full.
	size, ops := t.lastBytes.Load(), t.lastOps.Load()
	b := &Batch{b: t.db.pdb.NewBatchWithSize(int(size + size/8)), task: t,
		docs: map[int64]*docEntry{}, lists: map[string]*listEntry{}, maxWrite: int(t.maxWrite.Load())}
	b.over.reserve(int(ops + ops/8))
	b.reader = reader{src: b, task: t}
	return b
}

// NewBatchAfter starts a batch that reads through prev, a batch of the
// same task whose Task.Apply may still be running in another goroutine:
// the processor applies one transaction's batch to Pebble while it
// processes the next. prev must be done with writes (its Writes read);
// this batch sees prev's writes whether or not they reached Pebble yet,
// and Task.Apply refuses it until prev is applied. prev's memory stays
// alive until this batch is applied or closed.
func (t *Task) NewBatchAfter(prev *Batch) (*Batch, error) {
	b := t.NewBatch()
	if prev == nil {
		return b, nil
	}
	if prev.task.id != t.id {
		b.Close()
		return nil, fmt.Errorf("task %d: a batch cannot read through a batch of task %d", t.id, prev.task.id)
	}
	prev.life.Lock()
	defer prev.life.Unlock()
	switch {
	case !prev.closed:
		prev.pins++
		b.prev = prev
	case !prev.applied:
		b.Close()
		return nil, fmt.Errorf("task %d: the batch to read through was discarded", t.id)
	}
	// An applied and closed prev is in Pebble: plain reads see it.
	return b, nil
}

// lastWrite returns the last write of key by this batch, else by the
// batch it reads through.
func (b *Batch) lastWrite(key []byte) (*batchOp, bool) {
	if op, ok := b.over.last(key); ok {
		return op, true
	}
	if b.prev != nil {
		return b.prev.over.last(key)
	}
	return nil, false
}

// liveWrites calls fn for the last write of every key written by this
// batch or the batch it reads through, the newer one winning.
func (b *Batch) liveWrites(fn func(op *batchOp) error) error {
	if p := b.prev; p != nil {
		for i := range p.over.ops {
			op := &p.over.ops[i]
			if op.superseded {
				continue
			}
			if _, mine := b.over.last(op.key); mine {
				continue
			}
			if err := fn(op); err != nil {
				return err
			}
		}
	}
	for i := range b.over.ops {
		if op := &b.over.ops[i]; !op.superseded {
			if err := fn(op); err != nil {
				return err
			}
		}
	}
	return nil
}

// view implements source: the batch's own last write of key, else the
// applied state.
func (b *Batch) view(key []byte, fn func(v []byte) error) (bool, error) {
	if op, ok := b.lastWrite(key); ok {
		if op.del {
			return false, nil
		}
		return true, fn(op.value)
	}
	return dbSource{b.task.db.pdb}.view(key, fn)
}

// scan implements source: the applied keys under prefix the batch has
// not written, then the batch's live writes under it. Unlike the DB's
// scan it is not in key order; its callers collect sets.
func (b *Batch) scan(prefix []byte, fn func(key, value []byte) error) error {
	err := dbSource{b.task.db.pdb}.scan(prefix, func(key, value []byte) error {
		if _, ok := b.lastWrite(key); ok {
			return nil
		}
		return fn(key, value)
	})
	if err != nil {
		return err
	}
	return b.liveWrites(func(op *batchOp) error {
		if op.del || !bytes.HasPrefix(op.key, prefix) {
			return nil
		}
		return fn(op.key, op.value)
	})
}

// getFiltered is get for a key of a filtered table (filtered): the
// batch's own write, else nothing when the task's filter rules the key
// out, else the applied value.
func (b *Batch) getFiltered(key []byte) ([]byte, error) {
	if _, written := b.lastWrite(key); !written {
		if may, err := b.task.filter.mayContain(b.task, key); err != nil || !may {
			return nil, err
		}
	}
	return b.get(key)
}

// doc returns the batch's current version of customer id (nil when there
// is none). The result is the cached document itself: callers must not
// modify it or hand it out.
func (b *Batch) doc(id int64) (*customer.Customer, error) {
	e := b.docs[id]
	if e == nil {
		b.kbuf = appendInt64(appendTablePrefix(b.kbuf[:0], b.task.id, tabCustomer), id)
		c, _, err := b.customerAt(b.kbuf, id)
		if err != nil {
			return nil, err
		}
		b.docs[id] = &docEntry{doc: c, absent: c == nil}
		return c, nil
	}
	if e.absent {
		return nil, nil
	}
	if e.doc == nil {
		c, err := decodeCustomer(e.enc)
		if err != nil {
			return nil, fmt.Errorf("task %d: decoding customer %d: %w", b.task.id, id, err)
		}
		e.doc = c
	}
	return e.doc, nil
}

// Customer returns the batch's version of customer id (its own writes
// included), or ok=false when there is none. The caller owns the result.
func (b *Batch) Customer(id int64) (*customer.Customer, bool, error) {
	c, err := b.doc(id)
	if err != nil || c == nil {
		return nil, false, err
	}
	return c.Clone(), true, nil
}

// Encoded returns the stored encoding of the batch's version of customer
// id (its own writes included), or ok=false when there is none. The bytes
// are the batch's: read-only, valid until the batch is applied or
// closed, and safe to read from other goroutines meanwhile
// (DecodeCustomer). It spares the snapshot path a decode and a clone on
// the serial path.
func (b *Batch) Encoded(id int64) ([]byte, bool, error) {
	e := b.docs[id]
	if e != nil && e.enc != nil {
		return e.enc, true, nil
	}
	c, err := b.doc(id)
	if err != nil || c == nil {
		return nil, false, err
	}
	return encodeCustomer(nil, c), true, nil
}

// Close discards the batch if it was not applied and releases it. It is
// safe to call more than once and after Task.Apply.
func (b *Batch) Close() {
	b.life.Lock()
	if b.closed {
		b.life.Unlock()
		return
	}
	b.closed = true
	release := b.pins == 0
	prev := b.prev
	b.prev = nil
	b.life.Unlock()
	if prev != nil {
		prev.unpin()
	}
	if release {
		b.release()
	}
}

// unpin ends one batch's reading through b, releasing b if it was the
// last and b is closed.
func (b *Batch) unpin() {
	b.life.Lock()
	b.pins--
	release := b.pins == 0 && b.closed
	b.life.Unlock()
	if release {
		b.release()
	}
}

// release gives the Pebble batch back; it runs once, when the batch is
// closed and no batch reads through it.
func (b *Batch) release() {
	b.over = overlay{} // its bytes go back to Pebble's pool
	// Close only returns an error for a batch already closed, which
	// release's single call rules out.
	_ = b.b.Close()
}

// Discard is Close, named for the abort path.
func (b *Batch) Discard() { b.Close() }

func (b *Batch) set(key, value []byte) error {
	if b.closed {
		return fmt.Errorf("setting %x in a closed batch", key)
	}
	if b.maxWrite > 0 && len(key)+len(value) > b.maxWrite && inChangelog(key) {
		return fmt.Errorf("a %d-byte write of table %#x: %w (at most %d bytes, the changelog's record limit)",
			len(key)+len(value), key[taskLen], ErrTooLarge, b.maxWrite)
	}
	if filtered(key) {
		b.task.filter.add(key)
	}
	op := b.b.SetDeferred(len(key), len(value))
	copy(op.Key, key)
	copy(op.Value, value)
	if err := op.Finish(); err != nil {
		return fmt.Errorf("setting %x: %w", key, err)
	}
	b.over.record(batchOp{key: op.Key, value: op.Value})
	return nil
}

func (b *Batch) del(key []byte) error {
	if b.closed {
		return fmt.Errorf("deleting %x in a closed batch", key)
	}
	op := b.b.DeleteDeferred(len(key))
	copy(op.Key, key)
	if err := op.Finish(); err != nil {
		return fmt.Errorf("deleting %x: %w", key, err)
	}
	b.over.record(batchOp{key: op.Key, del: true})
	return nil
}
