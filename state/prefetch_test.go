package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/sample"
)

// TestPrefetchChangesNothing runs the sample mix twice: once reading
// state as the rules ask for it, once as the processor does, with every
// command's reads fetched ahead from the applied state while the batch
// before is not yet applied (its writes still only in its overlay), and
// installed before the command. The results and the final state must be
// the same, byte for byte.
func TestPrefetchChangesNothing(t *testing.T) {
	cfg := customer.DefaultConfig()
	cfg.DefaultCountryCode = "91"
	plainDB := mustOpen(t, "db", Options{FS: vfs.NewMem(), CacheBytes: 8 << 20})
	preDB := mustOpen(t, "db", Options{FS: vfs.NewMem(), CacheBytes: 8 << 20})
	plain, pre := plainDB.Task(0, 1), preDB.Task(0, 1)
	genA := sample.New(sample.Config{Seed: 5, Orgs: []int64{org}, DuplicatePct: 40})
	genB := sample.New(sample.Config{Seed: 5, Orgs: []int64{org}, DuplicatePct: 40})
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var prev *Batch
	installed := 0
	for n := range 40 {
		cmds := make([]customer.Command, 100)
		for i := range cmds {
			cmds[i] = genA.Next()
			cmds[i].Time = t0.Add(time.Duration(n*100+i) * time.Second)
		}
		// The plain run: read as the rules ask.
		b := plain.NewBatch()
		var want []string
		for _, c := range cmds {
			out, err := customer.Apply(cfg, b, c)
			must(t, err)
			want = append(want, outcomeJSON(t, out))
		}
		_, err := b.Writes()
		must(t, err)
		must(t, plain.Apply(b, -1))

		// The pipelined run with prefetch.
		pb, err := pre.NewBatchAfter(prev)
		must(t, err)
		prefetched := make([]*Prefetched, len(cmds))
		for i := range cmds {
			c := genB.Next()
			c.Time = cmds[i].Time
			cmds[i] = c
			prefetched[i] = pre.Prefetch(c.Org, customer.ReadsOf(cfg, c))
			installed += len(prefetched[i].docs) + len(prefetched[i].lists)
		}
		for i, c := range cmds {
			pb.Install(prefetched[i])
			out, err := customer.Apply(cfg, pb, c)
			must(t, err)
			if got := outcomeJSON(t, out); got != want[i] {
				t.Fatalf("batch %d command %d (%s): with prefetch %s, without %s", n, i, c.Op, got, want[i])
			}
		}
		_, err = pb.Writes()
		must(t, err)
		// Only now does the batch before reach Pebble, as in the
		// processor, where it is applied while this one is processed.
		if prev != nil {
			must(t, pre.Apply(prev, -1))
		}
		prev = pb
	}
	must(t, pre.Apply(prev, -1))
	if installed < 1000 {
		t.Fatalf("only %d reads were prefetched: the test proves little", installed)
	}
	a, b := dump(t, plain), dump(t, pre)
	if len(a) != len(b) {
		t.Fatalf("states differ: %d keys without prefetch, %d with", len(a), len(b))
	}
	for i := range a {
		if string(a[i].Key) != string(b[i].Key) || string(a[i].Value) != string(b[i].Value) {
			t.Fatalf("states differ at key %d: %x=%x without prefetch, %x=%x with", i, a[i].Key, a[i].Value, b[i].Key, b[i].Value)
		}
	}
}

func outcomeJSON(t *testing.T, out customer.Outcome) string {
	t.Helper()
	b, err := json.Marshal(out)
	must(t, err)
	return string(b)
}
