package customer_test

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor/customer"
)

// genCommands makes a random command sequence (the model's generator,
// driven by a model so removals hit held identifiers).
func genCommands(tb testing.TB, seed int64, n int) []customer.Command {
	tb.Helper()
	cfg, st := testConfig(), newStore(tb)
	m := &model{custs: map[int64]*mCust{}}
	g := &gen{r: rand.New(rand.NewSource(seed)), pool: idPool(), m: m, byOrg: map[int64][]int64{}}
	var cmds []customer.Command
	for range n {
		gc := g.next()
		out, err := st.apply(cfg, gc.cmd)
		if err != nil {
			tb.Fatal(err)
		}
		if want := m.step(gc, out.Result.CreatedID); want.ok && want.created == -1 {
			g.known = append(g.known, out.Result.CreatedID)
			g.byOrg[gc.cmd.Org] = append(g.byOrg[gc.cmd.Org], out.Result.CreatedID)
		}
		cmds = append(cmds, gc.cmd)
	}
	return cmds
}

// replay applies cmds to a fresh store, committing every group commands,
// and returns the store, the outcomes and every customer's snapshot bytes
// in the order they were first changed.
func replay(tb testing.TB, cmds []customer.Command, group int) (*store, []customer.Outcome, []byte) {
	cfg := testConfig()
	st := openStore(tb, storeConfig{fs: vfs.NewMem(), task: 0, of: 1, group: group})
	var outs []customer.Outcome
	ids := map[int64]bool{}
	var order []int64
	for _, c := range cmds {
		out, err := st.apply(cfg, c)
		if err != nil {
			tb.Fatal(err)
		}
		outs = append(outs, out)
		for _, id := range out.Changed {
			if !ids[id] {
				ids[id] = true
				order = append(order, id)
			}
		}
	}
	var snaps bytes.Buffer
	for _, id := range order {
		b, err := json.Marshal(customer.Snapshot(st.get(id)))
		if err != nil {
			tb.Fatal(err)
		}
		snaps.Write(b)
		snaps.WriteByte('\n')
	}
	if len(order) < 20 {
		tb.Fatalf("only %d customers: the sequence is too dull to prove anything", len(order))
	}
	return st, outs, snaps.Bytes()
}

// TestReplayDeterminism: the same sequence applied twice from scratch gives
// the same results, the same task keyspace (documents, indexes, allocator)
// and the same snapshots, byte for byte. The two runs group commands into
// batches differently (one per command, then 100 per batch, as the
// processor does): batching must not change any outcome or byte.
func TestReplayDeterminism(t *testing.T) {
	cmds := genCommands(t, 3, 3000)
	a, outsA, snapsA := replay(t, cmds, 1)
	b, outsB, snapsB := replay(t, cmds, 100)
	if !reflect.DeepEqual(outsA, outsB) {
		t.Fatal("outcomes differ between two replays")
	}
	if da, db := a.dump(), b.dump(); da != db {
		t.Fatalf("task keyspaces differ between two replays (%d and %d bytes of dump)", len(da), len(db))
	}
	if !bytes.Equal(snapsA, snapsB) {
		t.Fatal("snapshots differ between two replays")
	}
}
