package sample

import (
	"reflect"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// TestBalancesLeaveCommandsAlone: asking for balances between commands
// does not change the commands, and a generator without Config.Balances
// has none to give.
func TestBalancesLeaveCommandsAlone(t *testing.T) {
	cfg := Config{Seed: 7, Orgs: []int64{100, 101, 102}, Partitions: 2, PartitionOf: func(org int64) int32 { return int32(org % 2) }}
	plain := New(cfg)
	if _, ok := plain.Balance(); ok {
		t.Fatal("a generator without Config.Balances gave a balance")
	}
	cfg.Balances = true
	mixed := New(cfg)
	balances := 0
	for i := range 5000 {
		want, got := plain.Next(), mixed.Next()
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("command %d differs with balances asked for:\n got %+v\nwant %+v", i, got, want)
		}
		if b, ok := mixed.Balance(); ok {
			balances++
			if b.Op != customer.OpPoints || b.Balance == nil || b.CustomerID <= 0 || b.RequestID != "" {
				t.Fatalf("balance %d: %+v", balances, b)
			}
			if err := customer.CheckBalance(b.Balance); err != nil {
				t.Fatalf("balance %d: %v", balances, err)
			}
		}
	}
	if balances < 4900 {
		t.Errorf("%d balances after 5000 commands, want one after nearly every command", balances)
	}
}

// TestBalanceVersionsIncrease: each (customer, program) gets versions 1,
// 2, 3 …, and a balance names a customer of its org's task.
func TestBalanceVersionsIncrease(t *testing.T) {
	const P = 3
	partOf := func(org int64) int32 { return int32(org % P) }
	g := New(Config{Seed: 1, Orgs: []int64{100, 101, 102, 103}, Partitions: P, PartitionOf: partOf, Balances: true})
	last := map[[2]int64]int64{}
	for range 20000 {
		g.Next()
		b, ok := g.Balance()
		if !ok {
			continue
		}
		if got := int32(b.CustomerID % P); got != partOf(b.Org) {
			t.Fatalf("balance for customer %d of org %d: task %d, the org's is %d", b.CustomerID, b.Org, got, partOf(b.Org))
		}
		k := [2]int64{b.CustomerID, b.Balance.ProgramID}
		if b.Balance.Version != last[k]+1 {
			t.Fatalf("customer %d, program %d: version %d after %d", k[0], k[1], b.Balance.Version, last[k])
		}
		last[k] = b.Balance.Version
	}
	if len(last) < 1000 {
		t.Errorf("balances for %d (customer, program) pairs, want many", len(last))
	}
}
