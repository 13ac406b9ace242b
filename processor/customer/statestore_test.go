package customer_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/state"
)

// store runs the rules on the real state: one task of a Pebble DB, with
// commands grouped into batches the way the processor groups them. Apply
// reads and writes through the open batch (a Pebble batch and an overlay
// of its own writes, so a command sees the writes of earlier commands of
// its group); every group is applied with Task.Apply(batch, -1). Queries
// read applied state through Task.Reader(), as the HTTP facade does, so
// view applies the open group first.
type store struct {
	tb    testing.TB
	task  *state.Task
	batch *state.Batch // the open group, nil between groups
	group int          // commands per batch
	n     int          // commands in the open batch
}

// storeConfig is where a store runs: the filesystem and the task.
type storeConfig struct {
	fs         vfs.FS // nil: the real disk, in tb.TempDir()
	task, of   int32  // task id and partition count
	group      int    // commands per batch
	cacheBytes int64
}

// newStore is the store most tests run against: Pebble on an in-memory
// filesystem, the only task of one partition (so ids are 1, 2, 3, … and
// the golden files stay readable), one command per batch.
func newStore(tb testing.TB) *store {
	tb.Helper()
	return openStore(tb, storeConfig{fs: vfs.NewMem(), task: 0, of: 1, group: 1})
}

func openStore(tb testing.TB, c storeConfig) *store {
	tb.Helper()
	dir := "db"
	if c.fs == nil {
		dir = tb.TempDir()
	}
	if c.cacheBytes == 0 {
		c.cacheBytes = 8 << 20
	}
	db, err := state.Open(dir, state.Options{FS: c.fs, CacheBytes: c.cacheBytes})
	if err != nil {
		tb.Fatal(err)
	}
	s := &store{tb: tb, task: db.Task(c.task, c.of), group: max(c.group, 1)}
	tb.Cleanup(func() {
		if s.batch != nil {
			s.batch.Close()
		}
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// open returns the open batch, starting one if needed.
func (s *store) open() *state.Batch {
	if s.batch == nil {
		s.batch = s.task.NewBatch()
		s.n = 0
	}
	return s.batch
}

// apply runs one command through the open batch and applies the group
// when it is full. A store error fails the test: the processor would
// discard the batch, which no test expects.
func (s *store) apply(cfg customer.Config, cmd customer.Command) (customer.Outcome, error) {
	out, err := customer.Apply(cfg, s.open(), cmd)
	if err != nil {
		return out, err
	}
	if s.n++; s.n >= s.group {
		s.flush()
	}
	return out, nil
}

// flush applies the open group, if any, to Pebble with no checkpoint
// (these tests have no changelog).
func (s *store) flush() {
	s.tb.Helper()
	if s.batch == nil {
		return
	}
	b := s.batch
	s.batch = nil
	// Writes is what the processor produces to the changelog; calling it
	// keeps that path under test too.
	if _, err := b.Writes(); err != nil {
		s.tb.Fatal(err)
	}
	if err := s.task.Apply(b, -1); err != nil {
		s.tb.Fatal(err)
	}
}

// view applies the open group and returns the applied state, for queries.
func (s *store) view() customer.Reader {
	s.flush()
	return s.task.Reader()
}

// get reads one committed customer.
func (s *store) get(id int64) *customer.Customer {
	s.tb.Helper()
	c, ok, err := s.view().Customer(id)
	if err != nil || !ok {
		s.tb.Fatalf("customer %d: ok=%v err=%v", id, ok, err)
	}
	return c
}

// pending returns the open batch's writes (none when no batch is open).
func (s *store) pending() []state.KV {
	s.tb.Helper()
	if s.batch == nil {
		return nil
	}
	kvs, err := s.batch.Writes()
	if err != nil {
		s.tb.Fatal(err)
	}
	return kvs
}

// dump is the task's committed keyspace as text, one key=value per line:
// what replay and "a failed command writes nothing" compare.
func (s *store) dump() string {
	s.tb.Helper()
	s.flush()
	kvs, err := s.task.Dump()
	if err != nil {
		s.tb.Fatal(err)
	}
	var b bytes.Buffer
	for _, kv := range kvs {
		fmt.Fprintf(&b, "%x=%x\n", kv.Key, kv.Value)
	}
	return b.String()
}
