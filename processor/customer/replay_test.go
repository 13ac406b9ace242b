package customer_test

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"

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
		out, err := customer.Apply(cfg, st, gc.cmd)
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

// replay applies cmds to a fresh store and returns the outcomes and every
// customer's snapshot bytes in id order.
func replay(tb testing.TB, cmds []customer.Command) (*memStore, []customer.Outcome, []byte) {
	cfg := testConfig()
	st := newMemStore()
	var outs []customer.Outcome
	ids := map[int64]bool{}
	var order []int64
	for _, c := range cmds {
		out, err := customer.Apply(cfg, st, c)
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
		c, _, err := st.Customer(id)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := json.Marshal(customer.Snapshot(cfg, c))
		if err != nil {
			tb.Fatal(err)
		}
		snaps.Write(b)
		snaps.WriteByte('\n')
	}
	return st, outs, snaps.Bytes()
}

// TestReplayDeterminism: the same sequence applied twice from scratch gives
// the same results, the same stored documents and the same snapshots, byte
// for byte.
func TestReplayDeterminism(t *testing.T) {
	cmds := genCommands(t, 3, 3000)
	a, outsA, snapsA := replay(t, cmds)
	b, outsB, snapsB := replay(t, cmds)
	if !reflect.DeepEqual(outsA, outsB) {
		t.Fatal("outcomes differ between two replays")
	}
	if !bytes.Equal(a.dump(), b.dump()) {
		t.Fatal("stored documents differ between two replays")
	}
	if !bytes.Equal(snapsA, snapsB) {
		t.Fatal("snapshots differ between two replays")
	}
	if len(a.docs) < 20 {
		t.Fatalf("only %d customers: the sequence is too dull to prove anything", len(a.docs))
	}
}
