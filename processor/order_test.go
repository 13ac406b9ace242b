package processor_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/schemas"
)

// TestBacklogOrderIsDeterministic: the same backlog over four source
// topics, processed three times from scratch (a fresh group, changelog and
// outputs each time), gives the same results — codes, ids, warnings — for
// every request, and each task applies its records in timestamp order
// across its partitions.
func TestBacklogOrderIsDeterministic(t *testing.T) {
	skipShort(t)
	base := newHarness(t, 2)
	base.tune = func(c *processor.Config) {
		c.MaxBatchRecords = 300
		c.MaxTaskIdle = 30 * time.Second // the broker is there: never go on without a partition
	}
	// A backlog with distinct timestamps, so their order is one order.
	cmds := newGen(41, 6, base.partitions).batch(4000)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i, c := range cmds {
		r := base.record(t, c)
		r.Timestamp = t0.Add(time.Duration(i) * time.Millisecond)
		recs = append(recs, r)
	}
	if err := base.producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	index := map[string]int{}
	for i, c := range cmds {
		index[c.RequestID] = i
	}
	var runs []map[string]schemas.ResultRecord
	for run := range 3 {
		h := base.rerun(t, fmt.Sprintf("run%d", run))
		m := h.startMember(t, "m", t.TempDir())
		results := h.readTopic(t, h.topo.Results, len(cmds), 3*time.Minute)
		h.check(t, results, len(cmds))
		m.stop(t)

		byReq := map[string]schemas.ResultRecord{}
		last := map[int32]time.Time{}
		for _, r := range results {
			rr, err := schemas.DecodeResult(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			rr.Origin = schemas.Origin{} // the same in every run; compared below through the requestId
			byReq[rr.RequestID] = rr
			ts := recs[index[rr.RequestID]].Timestamp
			if ts.Before(last[r.Partition]) {
				t.Errorf("run %d, task %d: request %s (stamped %s) applied after one stamped %s", run, r.Partition, rr.RequestID, ts, last[r.Partition])
			}
			last[r.Partition] = ts
		}
		joins, merges := 0, 0
		for _, rr := range byReq {
			for _, w := range rr.Warnings {
				switch w.Code {
				case 8050:
					joins++
				case 8051:
					merges++
				}
			}
		}
		t.Logf("run %d: %d results, %d joins (8050), %d merges (8051)", run, len(byReq), joins, merges)
		runs = append(runs, byReq)
	}
	for run := 1; run < len(runs); run++ {
		diffs := 0
		for id, want := range runs[0] {
			if got := runs[run][id]; !reflect.DeepEqual(got, want) {
				if diffs++; diffs <= 3 {
					t.Errorf("run %d, request %s: %+v; run 0 gave %+v", run, id, got.Result, want.Result)
				}
			}
		}
		if diffs > 0 {
			t.Errorf("run %d: %d of %d results differ from run 0", run, diffs, len(runs[0]))
		}
	}
}
