package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/custream/custream/processor/customer"
)

// Batch is the state changes of one group of commands of a task. Writes go
// to a plain Pebble batch and to an overlay of the batch's own writes, so
// every read sees them; reads the overlay cannot answer go to the task's
// committed state. Nothing reaches the DB until Task.Commit. Close (or
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
	// committed or closed.
	prev *Batch
	// life guards what a batch reading through this one (next) and the
	// goroutine committing this one share: closed, pins, applied.
	life    sync.Mutex
	pins    int  // batches reading through this one
	applied bool // Task.Commit wrote it to Pebble
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
}

// listEntry is one cached holder list: its raw value, nil when absent.
type listEntry struct{ v []byte }

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
// same task whose Task.Commit may still be running in another goroutine:
// the processor applies one transaction's batch to Pebble while it
// processes the next. prev must be done with writes (its Writes read);
// this batch sees prev's writes whether or not they reached Pebble yet,
// and Task.Commit refuses it until prev is committed. prev's memory stays
// alive until this batch is committed or closed.
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
	// A committed and closed prev is in Pebble: plain reads see it.
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
// committed state.
func (b *Batch) view(key []byte, fn func(v []byte) error) (bool, error) {
	if op, ok := b.lastWrite(key); ok {
		if op.del {
			return false, nil
		}
		return true, fn(op.value)
	}
	return dbSource{b.task.db.pdb}.view(key, fn)
}

// scan implements source: the committed keys under prefix the batch has
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
// out, else the committed value.
func (b *Batch) getFiltered(key []byte) ([]byte, error) {
	if _, written := b.lastWrite(key); !written {
		if may, err := b.task.filter.mayContain(b.task, key); err != nil || !may {
			return nil, err
		}
	}
	return b.get(key)
}

// Holders is reader.Holders through the batch's list cache.
func (b *Batch) Holders(org int64, id customer.Identifier) ([]customer.Holding, error) {
	idkey := id.Key()
	b.kbuf = appendHoldersKey(b.kbuf[:0], b.task.id, org, id.Type, idkey)
	e, err := b.list(b.kbuf)
	if err == nil {
		var out []customer.Holding
		out, err = parseHoldings(e.v)
		if err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("task %d: holders of %s %q in org %d: %w", b.task.id, id.Type, idkey, org, err)
}

// OwnerInScope is reader.OwnerInScope through the batch's list cache.
func (b *Batch) OwnerInScope(org int64, source, accountID string, id customer.Identifier) (int64, bool, error) {
	idkey := id.Key()
	b.kbuf = appendHoldersKey(b.kbuf[:0], b.task.id, org, id.Type, idkey)
	e, err := b.list(b.kbuf)
	if err != nil {
		return 0, false, fmt.Errorf("task %d: looking up %s %q in org %d %s/%s: %w", b.task.id, id.Type, idkey, org, source, accountID, err)
	}
	owner, ok, err := ownerInList(e.v, source, accountID)
	if err != nil {
		return 0, false, fmt.Errorf("task %d: looking up %s %q in org %d %s/%s: %w", b.task.id, id.Type, idkey, org, source, accountID, err)
	}
	return owner, ok, nil
}

// list returns the cache entry of the holder list at key, reading it
// on first use. Its value is the cache's: replace it, never modify it.
func (b *Batch) list(key []byte) (*listEntry, error) {
	if e := b.lists[string(key)]; e != nil {
		return e, nil
	}
	v, err := b.getFiltered(key)
	if err != nil {
		return nil, fmt.Errorf("reading holder list %x: %w", key, err)
	}
	e := &listEntry{v: v}
	b.lists[string(key)] = e
	return e, nil
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
// are the batch's: read-only, valid until the batch is committed or
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

// Close discards the batch if it was not committed and releases it. It is
// safe to call more than once and after Task.Commit.
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

// PutCustomer stores c, replacing its previous version, and brings the
// holder and search indexes in line: it diffs the index keys
// of the previous version against those of c and writes only the
// difference. c.ID must belong to this task (TaskOf).
func (b *Batch) PutCustomer(c *customer.Customer) error {
	return b.putCustomer(c, nil)
}

// putCustomer is PutCustomer with the document's encoding given (restore
// writes the changelog's bytes as they are), or nil to encode c.
func (b *Batch) putCustomer(c *customer.Customer, enc []byte) error {
	t := b.task
	if owner := TaskOf(c.ID, t.partitions); owner != t.id {
		return fmt.Errorf("task %d: customer %d belongs to task %d", t.id, c.ID, owner)
	}
	old, err := b.doc(c.ID)
	if err != nil {
		return err
	}
	oldKeys := t.indexKeys(old)
	newKeys := t.indexKeys(c)

	// Search entries hold the customer id in their key, so they belong to
	// this customer alone: remove the stale ones, add the new ones. Holder
	// entries sort after them (table 08 > 05) and go to editHolders.
	gone, added := diffSorted(oldKeys, newKeys)
	gone, goneH := splitAtTable(gone, tabHolders)
	added, addedH := splitAtTable(added, tabHolders)
	if err := b.editHolders(goneH, addedH); err != nil {
		return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
	}
	for _, k := range gone {
		if err := b.del(k); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}
	for _, k := range added {
		if err := b.set(k, marker); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}

	if enc == nil {
		b.enc = encodeCustomer(b.enc[:0], c)
		enc = b.enc
	}
	b.kbuf = appendInt64(appendTablePrefix(b.kbuf[:0], t.id, tabCustomer), c.ID)
	if err := b.set(b.kbuf, enc); err != nil {
		return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
	}
	// The caller keeps c and may change it, so the cache keeps the bytes
	// (the batch's copy, which lives as long as the cache) and decodes
	// them if read again.
	b.docs[c.ID] = &docEntry{enc: b.over.ops[len(b.over.ops)-1].value}
	return nil
}

// splitAtTable splits sorted keys of one task into those of tables before
// tab and those of tab onwards.
func splitAtTable(keys [][]byte, tab byte) (before, from [][]byte) {
	i, _ := slices.BinarySearchFunc(keys, tab, func(k []byte, tab byte) int {
		return cmp.Compare(k[taskLen], tab)
	})
	return keys[:i], keys[i:]
}

// editHolders applies a customer's holder changes: gone and added are
// sorted holder entries (appendHolderEntry: list key + holding) only in
// the previous version or only in the new one. Each list touched is read
// through the batch, edited and written back (deleted when empty). Every
// holding in gone carries this customer's id, so a list entry is removed
// only while it belongs to this customer: in a merge the survivor's
// holdings of the same identifier stay, whatever the order of the writes.
func (b *Batch) editHolders(gone, added [][]byte) error {
	cur, next, g, a := b.cur, b.next, b.g, b.a
	defer func() { b.cur, b.next, b.g, b.a = cur[:0], next[:0], g[:0], a[:0] }()
	for len(gone) > 0 || len(added) > 0 {
		var key []byte
		var err error
		if len(gone) > 0 {
			key, _, err = splitHolderEntry(gone[0])
		}
		if err == nil && len(added) > 0 {
			var ak []byte
			ak, _, err = splitHolderEntry(added[0])
			if key == nil || bytes.Compare(ak, key) < 0 {
				key = ak
			}
		}
		if err != nil {
			return err
		}
		g, gone = takeList(g[:0], gone, key)
		a, added = takeList(a[:0], added, key)

		e, err := b.list(key)
		if err != nil {
			return err
		}
		v := e.v
		cur, err = splitHoldings(cur, v)
		if err != nil {
			return fmt.Errorf("holder list %x: %w", key, err)
		}
		// Merge cur minus g with a; all three are sorted and distinct.
		next = next[:0]
		size := 0
		i, j := 0, 0
		for i < len(cur) || j < len(a) {
			var h []byte
			switch c := cmpHeads(cur, i, a, j); {
			case c < 0:
				h = cur[i]
				i++
			case c > 0:
				h = a[j]
				j++
			default:
				h = cur[i]
				i++
				j++
			}
			if slices.ContainsFunc(g, func(x []byte) bool { return bytes.Equal(x, h) }) {
				continue
			}
			next = append(next, h)
			size += len(h)
		}
		var nv []byte
		if size > 0 {
			nv = make([]byte, 0, size)
			for _, h := range next {
				nv = append(nv, h...)
			}
		}
		// nv is new memory (Pebble copies it too), so the cache may keep it.
		e.v = nv
		switch {
		case nv != nil:
			err = b.set(key, nv)
		case v != nil:
			err = b.del(key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// cmpHeads compares x[i] with y[j], an exhausted side comparing greater.
func cmpHeads(x [][]byte, i int, y [][]byte, j int) int {
	switch {
	case i == len(x):
		return 1
	case j == len(y):
		return -1
	}
	return bytes.Compare(x[i], y[j])
}

// takeList appends to dst the holdings of the leading holder entries of
// the list key and returns it with the other entries. entries is sorted,
// so those of one list are contiguous.
func takeList(dst, entries [][]byte, key []byte) (holdings, rest [][]byte) {
	n := 0
	for n < len(entries) && len(entries[n]) > len(key) && bytes.Equal(entries[n][:len(key)], key) {
		// The list key is self-delimiting, so a shared prefix of its length
		// is the same list.
		dst = append(dst, entries[n][len(key):])
		n++
	}
	return dst, entries[n:]
}

// indexKeys returns the sorted, distinct index keys of c: search keys
// followed by holder entries (appendHolderEntry). A nil or merged-away
// customer has none: its identifiers are released to the survivor. The
// keys share one buffer, so a customer's dozen keys cost two allocations,
// not a dozen.
//
// Only primary profiles are indexed: the identifiers of Conflicting
// profiles are always in the primary profile of the same scope too
// (customer.Reader's contract).
func (t *Task) indexKeys(c *customer.Customer) [][]byte {
	if c == nil || c.MergedInto != 0 {
		return nil
	}
	var kb keyBuf
	for _, p := range c.Profiles {
		for _, id := range p.Identifiers {
			kb.add(appendHolderEntry(kb.start(), t.id, c.Org, id.Type, id.Key(), c.ID, p.Source, p.AccountID))
		}
	}
	for _, tok := range customer.SearchTokens(c) {
		kb.add(appendSearchKey(kb.start(), t.id, c.Org, tok, c.ID))
	}
	return kb.sorted()
}

// keyBuf builds many keys in one buffer: start returns the buffer to append
// a key to, add records where it ended.
type keyBuf struct {
	buf  []byte
	ends []int
}

func (k *keyBuf) start() []byte {
	if k.buf == nil {
		k.buf = make([]byte, 0, 512)
		k.ends = make([]int, 0, 16)
	}
	return k.buf
}

func (k *keyBuf) add(b []byte) {
	k.buf = b
	k.ends = append(k.ends, len(b))
}

// sorted returns the keys, sorted and distinct, as slices of the buffer.
func (k *keyBuf) sorted() [][]byte {
	if len(k.ends) == 0 {
		return nil
	}
	keys := make([][]byte, len(k.ends))
	from := 0
	for i, end := range k.ends {
		keys[i] = k.buf[from:end:end]
		from = end
	}
	slices.SortFunc(keys, bytes.Compare)
	return slices.CompactFunc(keys, bytes.Equal)
}

// diffSorted returns the elements only in a (gone) and only in b (added);
// both inputs are sorted and distinct, and so are the outputs.
func diffSorted(a, b [][]byte) (gone, added [][]byte) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && bytes.Compare(a[i], b[j]) < 0):
			gone = append(gone, a[i])
			i++
		case i == len(a) || bytes.Compare(b[j], a[i]) < 0:
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
	// committed (flushSeq), not once per id.
	b.seq, b.seqSet = seq+1, true
	id := int64(seq)*int64(t.partitions) + int64(t.id)
	// The allocator never gave this id before (the seq only grows once
	// committed), so no customer has it: PutCustomer need not look.
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
	// read. Committed entries the batch deleted are skipped (a request
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

// removeIndexes removes the index entries of customer id's current version.
func (b *Batch) removeIndexes(id int64) error {
	old, err := b.doc(id)
	if err != nil || old == nil {
		return err
	}
	gone, goneH := splitAtTable(b.task.indexKeys(old), tabHolders)
	if err := b.editHolders(goneH, nil); err != nil {
		return err
	}
	for _, k := range gone {
		if err := b.del(k); err != nil {
			return err
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
