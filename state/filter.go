package state

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
)

// keyFilter is an in-memory filter of the holder-list and request keys a
// task's applied state may hold: when it says a key is absent, it is,
// and the read is skipped. A bulk load registers mostly new identifiers
// with new request ids, and a Pebble miss still walks the memtables and
// probes the bloom filter of every level (microseconds); this filter
// answers in one cache line.
//
// It is derived state and never persisted: it is built by one scan of the
// task's two tables the first time it is needed, and kept a superset of
// the keys by adding every such key a batch sets (applied or not;
// restore writes through a batch too). Deletes are not removed; they only cost a read.
// Drop empties it, as it empties the keyspace.
type keyFilter struct {
	mu     sync.Mutex
	built  bool
	seed   maphash.Seed
	stages []*bloomStage
}

// bitsPerKey gives a false-positive rate of about 1% per stage, for
// 1.25 bytes of memory per identifier.
const (
	bitsPerKey    = 10
	minStageKeys  = 1 << 16
	blockBits     = 512 // one cache line
	wordsPerBlock = blockBits / 64
	probes        = 7
)

// bloomStage is a blocked bloom filter of a fixed capacity: each key sets
// its bits in one 512-bit block. When the newest stage is full, a stage of
// twice the total capacity is added, so a filter of n keys has O(log n)
// stages and a lookup probes one block in each.
type bloomStage struct {
	words  []uint64
	blocks uint64
	n, cap int
}

func newStage(capacity int) *bloomStage {
	blocks := (capacity*bitsPerKey + blockBits - 1) / blockBits
	return &bloomStage{words: make([]uint64, blocks*wordsPerBlock), blocks: uint64(blocks), cap: capacity}
}

// bitsOf returns the block of hash h and the probe sequence's start and
// step (double hashing within the block).
func (s *bloomStage) block(h uint64) []uint64 {
	i, _ := bits.Mul64(h, s.blocks) // the high half maps h uniformly to [0, blocks)
	return s.words[i*wordsPerBlock : (i+1)*wordsPerBlock]
}

func (s *bloomStage) add(h uint64) {
	b := s.block(h)
	x, step := uint32(h), uint32(h>>32)|1
	for range probes {
		bit := x % blockBits
		b[bit/64] |= 1 << (bit % 64)
		x += step
	}
	s.n++
}

func (s *bloomStage) has(h uint64) bool {
	b := s.block(h)
	x, step := uint32(h), uint32(h>>32)|1
	for range probes {
		bit := x % blockBits
		if b[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
		x += step
	}
	return true
}

func newKeyFilter() *keyFilter { return &keyFilter{seed: maphash.MakeSeed()} }

// mayContain reports whether key may be in the task's state; false is
// certain. An unbuilt filter is built first by scanning the task's holder
// table.
func (f *keyFilter) mayContain(t *Task, key []byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.built {
		if err := f.build(t); err != nil {
			return true, err
		}
	}
	h := maphash.Bytes(f.seed, key)
	for _, s := range f.stages {
		if s.has(h) {
			return true, nil
		}
	}
	return false, nil
}

// add records a key written to the task's state. Before the filter is
// built there is nothing to keep up to date: the build's scan sees the key.
func (f *keyFilter) add(key []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.built {
		f.addLocked(maphash.Bytes(f.seed, key))
	}
}

func (f *keyFilter) addLocked(h uint64) {
	if len(f.stages) == 0 || f.stages[len(f.stages)-1].n >= f.stages[len(f.stages)-1].cap {
		total := 0
		for _, s := range f.stages {
			total += s.cap
		}
		f.stages = append(f.stages, newStage(max(minStageKeys, 2*total)))
	}
	f.stages[len(f.stages)-1].add(h)
}

// reset empties the filter for an empty keyspace (after Drop): it is
// exact, and built.
func (f *keyFilter) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stages, f.built = nil, true
}

// filtered reports whether a task's key is in a table the filter covers.
func filtered(key []byte) bool {
	return key[taskLen] == tabHolders || key[taskLen] == tabRequest
}

// build scans the task's filtered tables into one stage sized for them
// with room to grow.
func (f *keyFilter) build(t *Task) error {
	var hs []uint64
	for _, tab := range []byte{tabHolders, tabRequest} {
		err := dbSource{t.db.pdb}.scan(tablePrefix(t.id, tab), func(key, _ []byte) error {
			hs = append(hs, maphash.Bytes(f.seed, key))
			return nil
		})
		if err != nil {
			return fmt.Errorf("task %d: building the key filter: %w", t.id, err)
		}
	}
	f.stages = []*bloomStage{newStage(max(minStageKeys, 2*len(hs)))}
	for _, h := range hs {
		f.stages[0].add(h)
	}
	f.built = true
	return nil
}

// Warm builds the task's key filter now if it is not built yet, instead of
// on the task's first read: a scan of the holder and request tables, about
// a second per million customers. It reports the keys the filter holds.
func (t *Task) Warm() (int, error) {
	f := t.filter
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.built {
		if err := f.build(t); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, s := range f.stages {
		n += s.n
	}
	return n, nil
}

// filter returns the identifier filter of task partition, shared by every
// Task value of that partition.
func (db *DB) filter(partition int32) *keyFilter {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.filters == nil {
		db.filters = map[int32]*keyFilter{}
	}
	f := db.filters[partition]
	if f == nil {
		f = newKeyFilter()
		db.filters[partition] = f
	}
	return f
}
