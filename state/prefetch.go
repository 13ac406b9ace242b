package state

import (
	"github.com/custream/custream/processor/customer"
)

// Prefetched is applied state read ahead of the serial loop for one
// command (Task.Prefetch), to be installed into the batch that applies it
// (Batch.Install).
type Prefetched struct {
	docs  []prefetchedDoc
	lists []prefetchedList
}

type prefetchedDoc struct {
	id  int64
	doc *customer.Customer // nil: no such customer
}

type prefetchedList struct {
	key []byte
	v   []byte // nil: no holders
}

// maxPrefetchHolders bounds the documents of an identifier's holders read
// ahead: a register that joins reads its one other holder, a merge two.
const maxPrefetchHolders = 4

// Prefetch reads, from the task's applied state, what the hint r says a
// command of org will read: the customer it names, the holder lists of
// its identifiers and the documents of the customers those lists name.
// It runs on the processor's decoding goroutines, beside the serial loop,
// and is safe to call concurrently with it and with Task.Apply. A read
// that fails is left out: the serial loop reads it again and meets the
// error with its command at hand.
func (t *Task) Prefetch(org int64, r customer.Reads) *Prefetched {
	var p Prefetched
	src := reader{src: dbSource{t.db.pdb}, task: t}
	seen := map[int64]bool{}
	readDoc := func(id int64) {
		if id <= 0 || seen[id] || TaskOf(id, t.partitions) != t.id {
			return
		}
		seen[id] = true
		c, _, err := src.Customer(id)
		if err == nil {
			p.docs = append(p.docs, prefetchedDoc{id: id, doc: c})
		}
	}
	readDoc(r.CustomerID)
	var hb [4][]byte
	for _, id := range r.Identifiers {
		key := appendHoldersKey(nil, t.id, org, id.Type, id.Key())
		may, err := t.filter.mayContain(t, key)
		if err != nil {
			continue
		}
		var v []byte
		if may {
			if v, err = src.get(key); err != nil {
				continue
			}
		}
		p.lists = append(p.lists, prefetchedList{key: key, v: v})
		hs, err := splitHoldings(hb[:0], v)
		if err != nil {
			continue
		}
		for i, h := range hs {
			if i == maxPrefetchHolders {
				break
			}
			readDoc(readInt64(h))
		}
	}
	return &p
}

// Install gives the batch what Prefetch read for its next command, as if
// the batch had read it itself. A key the batch already read or wrote, or
// that the batch it reads through wrote, keeps what the batch has: the
// prefetch read the applied state, which those writes are newer than.
// Every other key's applied value cannot have changed since the prefetch
// read it, because the only batch of the task on its way into Pebble
// meanwhile is the one this batch reads through (NewBatchAfter), so the
// commands see exactly what they would have read.
func (b *Batch) Install(p *Prefetched) {
	if p == nil || b.closed {
		return
	}
	for _, d := range p.docs {
		if b.docs[d.id] != nil {
			continue
		}
		b.kbuf = appendInt64(appendTablePrefix(b.kbuf[:0], b.task.id, tabCustomer), d.id)
		if _, written := b.lastWrite(b.kbuf); written {
			continue
		}
		b.docs[d.id] = &docEntry{doc: d.doc, absent: d.doc == nil}
	}
	for _, l := range p.lists {
		if b.lists[string(l.key)] != nil {
			continue
		}
		if _, written := b.lastWrite(l.key); written {
			continue
		}
		b.lists[string(l.key)] = &listEntry{v: l.v}
	}
}
