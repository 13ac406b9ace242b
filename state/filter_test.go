package state

import (
	"fmt"
	"hash/maphash"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// The filter never rules out a key it was given, across stage growth, and
// rules out most others.
func TestFilterNoFalseNegatives(t *testing.T) {
	f := newKeyFilter()
	f.reset() // built and empty, as after Drop
	const n = 3*minStageKeys + 123
	for i := range n {
		f.add([]byte(fmt.Sprintf("key-%d", i)))
	}
	if len(f.stages) < 2 {
		t.Fatalf("%d keys made %d stages, want growth", n, len(f.stages))
	}
	for i := range n {
		if !f.has(t, fmt.Sprintf("key-%d", i)) {
			t.Fatalf("key-%d ruled out after being added", i)
		}
	}
	fp := 0
	const probes = 100_000
	for i := range probes {
		if f.has(t, fmt.Sprintf("other-%d", i)) {
			fp++
		}
	}
	// About 1% per stage; a filter that said yes to everything fails here.
	if rate := float64(fp) / probes; rate > 0.05 {
		t.Errorf("false-positive rate %.3f with %d stages, want ≤ 0.05", rate, len(f.stages))
	}
	t.Logf("%d keys, %d stages, false-positive rate %.4f", n, len(f.stages), float64(fp)/probes)
}

func (f *keyFilter) has(t *testing.T, key string) bool {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	h := maphash.Bytes(f.seed, []byte(key))
	for _, s := range f.stages {
		if s.has(h) {
			return true
		}
	}
	return false
}

// A filter built by scanning state written before it existed (a restart)
// sees every holder list and request; Drop empties it with the keyspace.
func TestFilterBuiltFromState(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env, db *DB) {
		task := db.Task(0, 1)
		b := task.NewBatch()
		put(t, b, person(1, org, "a", "", map[string][]string{"INSTORE/": {"mobile:111"}}))
		must(t, b.PutRequest(org, "r1", []byte("result"), t0))
		apply(t, task, b, 1)
		must(t, db.Close())

		db = e.open(t)
		task = db.Task(0, 1)
		b = task.NewBatch()
		defer b.Close()
		owner, ok, err := b.OwnerInScope(org, "INSTORE", "", customer.Identifier{Type: "mobile", Value: "111"})
		if err != nil || !ok || owner != 1 {
			t.Errorf("after a restart, OwnerInScope = %d, %v, %v; want customer 1", owner, ok, err)
		}
		if rec, ok, err := b.Request(org, "r1"); err != nil || !ok || string(rec) != "result" {
			t.Errorf("after a restart, Request = %q, %v, %v", rec, ok, err)
		}
		b.Close()

		must(t, task.Drop())
		if len(task.filter.stages) != 0 || !task.filter.built {
			t.Errorf("after Drop the filter has %d stages (built %v), want empty and built", len(task.filter.stages), task.filter.built)
		}
	})
}
