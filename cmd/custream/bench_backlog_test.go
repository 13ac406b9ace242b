package main

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/sample"
	"github.com/custream/custream/state"
)

// TestBenchBacklogBalances makes the backlog of `custream bench
// --points-pct 50` and runs it through the processor's decoder and the
// real rules on real (in-memory) state, task by task in the order a task
// applies it: about half the records are balances, each names a customer
// a registration earlier in its partition's backlog created, versions
// climb per (customer, program), and every balance is applied.
func TestBenchBacklogBalances(t *testing.T) {
	const (
		n   = 30_000
		P   = int32(2)
		pct = 50
	)
	topo := processor.DefaultTopology("bench", "bench", customer.DefaultSources())
	gen := sample.New(sample.Config{Seed: 1, Orgs: orgsFor(3, P), Partitions: P, Balances: true,
		PartitionOf: func(org int64) int32 { return processor.TaskOfOrg(org, P) }})
	bl, err := newBacklog(topo, gen, n, P, 0, pct, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(bl.records) != n || bl.commands+bl.balances != n {
		t.Fatalf("%d records, %d commands + %d balances, want %d", len(bl.records), bl.commands, bl.balances, n)
	}
	if want := n * pct / 100; bl.balances < want-10 || bl.balances > want {
		t.Errorf("%d balances of %d records, want about %d", bl.balances, n, want)
	}

	db, err := state.Open("/state", state.Options{FS: vfs.NewMem(), CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dec := processor.NewDecoder(topo, nil)
	cfg := customer.DefaultConfig()
	type task struct {
		st      *state.Task
		batch   *state.Batch
		inBatch int
		created map[int64]bool // ids its registrations created so far
	}
	tasks := map[int32]*task{}
	type topicPart struct {
		topic string
		part  int32
	}
	offsets := map[topicPart]int64{} // the next offset of each partition
	versions := map[[2]int64]int64{}
	prev := time.Time{}
	applied, refused := 0, map[customer.Code]int{}
	for i, r := range bl.records {
		if !r.Timestamp.After(prev) {
			t.Fatalf("record %d: timestamp %s not after the one before, %s", i, r.Timestamp, prev)
		}
		prev = r.Timestamp
		// As the broker gives it to the task: an offset in its partition.
		r := *r
		tp := topicPart{r.Topic, r.Partition}
		r.Offset = offsets[tp]
		offsets[tp]++
		org, p, bad := dec.Route(&r, P)
		if bad != nil || p != r.Partition {
			t.Fatalf("record %d: org %d routed to task %d on partition %d (%v)", i, org, p, r.Partition, bad)
		}
		cmd, _, bad, err := dec.Decode(context.Background(), &r)
		if err != nil || bad != nil {
			t.Fatalf("record %d: decoding: %v %v", i, err, bad)
		}
		tk := tasks[p]
		if tk == nil {
			tk = &task{st: db.Task(p, P), created: map[int64]bool{}}
			tk.batch = tk.st.NewBatch()
			tasks[p] = tk
		}
		if cmd.Op == customer.OpPoints {
			if !tk.created[cmd.CustomerID] {
				t.Fatalf("record %d: a balance for customer %d, whom no registration earlier in partition %d created", i, cmd.CustomerID, p)
			}
			k := [2]int64{cmd.CustomerID, cmd.Balance.ProgramID}
			if cmd.Balance.Version <= versions[k] {
				t.Fatalf("record %d: customer %d, program %d: version %d after %d", i, k[0], k[1], cmd.Balance.Version, versions[k])
			}
			versions[k] = cmd.Balance.Version
		}
		out, err := customer.Apply(cfg, tk.batch, cmd)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		res := out.Result
		switch {
		case cmd.Op == customer.OpRegister && res.Success && !hasCode(res.Warnings, customer.CodeJoined):
			tk.created[res.CreatedID] = true
		case cmd.Op == customer.OpPoints && res.Success:
			applied++
		case cmd.Op == customer.OpPoints:
			refused[res.Errors[0].Code]++
			if len(refused) == 1 && refused[res.Errors[0].Code] == 1 {
				t.Errorf("record %d: balance for customer %d refused: %v", i, cmd.CustomerID, res.Errors)
			}
		}
		// Batches the size of the processor's transactions.
		if tk.inBatch++; tk.inBatch == processor.DefaultMaxBatchRecords {
			if err := tk.st.Apply(tk.batch, -1); err != nil {
				t.Fatal(err)
			}
			tk.batch, tk.inBatch = tk.st.NewBatch(), 0
		}
	}
	if len(tasks) != int(P) {
		t.Errorf("records for %d tasks, want %d", len(tasks), P)
	}
	if applied != bl.balances {
		t.Errorf("%d of %d balances applied; refused: %v", applied, bl.balances, refused)
	}
	if len(versions) < bl.balances/10 {
		t.Errorf("balances for %d (customer, program) pairs, want many", len(versions))
	}
}

func hasCode(issues []customer.Issue, code customer.Code) bool {
	for _, iss := range issues {
		if iss.Code == code {
			return true
		}
	}
	return false
}
