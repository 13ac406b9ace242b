package state

import (
	"bytes"
	"hash/maphash"
)

// overlay indexes a batch's writes by key, so the batch can read its own
// writes back. It is an open-addressing hash table over the ops list
// rather than a Go map: a map keyed by string allocates each key, once per
// write of a dozen per command.
type overlay struct {
	ops   []batchOp
	slots []int32  // 1 + index in ops of the key's last write; 0 is empty
	hash  []uint64 // hash of the slot's key
	n     int      // distinct keys
}

// batchOp is one write of a batch: a set, or a delete (value nil). The
// bytes live in the Pebble batch's buffer (SetDeferred).
type batchOp struct {
	key, value []byte
	del        bool
	// superseded marks a write followed by a later write of the same key.
	superseded bool
}

var overlaySeed = maphash.MakeSeed()

// reserve sizes an empty overlay for n writes.
func (o *overlay) reserve(n int) {
	if n <= 0 || len(o.ops) > 0 {
		return
	}
	o.ops = make([]batchOp, 0, n)
	size := 256
	for size < 2*n {
		size *= 2
	}
	o.slots, o.hash = make([]int32, size), make([]uint64, size)
}

// last returns the last write of key, if the batch wrote it.
func (o *overlay) last(key []byte) (*batchOp, bool) {
	if o.n == 0 {
		return nil, false
	}
	h := maphash.Bytes(overlaySeed, key)
	mask := uint64(len(o.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := o.slots[i]
		if s == 0 {
			return nil, false
		}
		if o.hash[i] == h && bytes.Equal(o.ops[s-1].key, key) {
			return &o.ops[s-1], true
		}
	}
}

// record appends a write, superseding the previous write of its key.
func (o *overlay) record(op batchOp) {
	if 2*(o.n+1) > len(o.slots) {
		o.grow()
	}
	o.ops = append(o.ops, op)
	idx := int32(len(o.ops))
	h := maphash.Bytes(overlaySeed, op.key)
	mask := uint64(len(o.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := o.slots[i]
		if s == 0 {
			o.slots[i], o.hash[i] = idx, h
			o.n++
			return
		}
		if o.hash[i] == h && bytes.Equal(o.ops[s-1].key, op.key) {
			o.ops[s-1].superseded = true
			o.slots[i] = idx
			return
		}
	}
}

func (o *overlay) grow() {
	size := max(256, 2*len(o.slots))
	slots, hash := make([]int32, size), make([]uint64, size)
	mask := uint64(size - 1)
	for j, s := range o.slots {
		if s == 0 {
			continue
		}
		i := o.hash[j] & mask
		for slots[i] != 0 {
			i = (i + 1) & mask
		}
		slots[i], hash[i] = s, o.hash[j]
	}
	o.slots, o.hash = slots, hash
}
