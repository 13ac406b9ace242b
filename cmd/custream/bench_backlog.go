package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/sample"
	"github.com/custream/custream/schemas"
)

// backlog is the throughput phase's input, produced before its child
// starts: commands, and with --points-pct balances for customers the
// commands before them register.
type backlog struct {
	records   []*kgo.Record
	commands  int
	balances  int
	misrouted int // records produced to a partition not their org's
}

// newBacklog makes n records from gen. pointsPct of them are balances
// (gen.Balance; gen made with sample.Config.Balances): record i is one
// when fewer than (i+1)·pointsPct/100 came before it and gen has a
// customer to name, so the share holds from the start, but the first
// records are commands until a loyalty customer exists. Every
// misroutedPct-th percent goes to the next partition, as a producer that
// does not hash the key with murmur2 would put it.
//
// The records' timestamps are one millisecond apart, ending at end: a
// task applies its records in timestamp order across its topics, ties
// going by topic, so with the producer's clock (many records a
// millisecond) it would apply a millisecond's records source by source
// rather than in the order they were generated, and the ids registrations
// get, which the balances name, would differ from gen's.
func newBacklog(topo processor.Topology, gen *sample.Generator, n int, P int32, misroutedPct, pointsPct int, end time.Time) (backlog, error) {
	bl := backlog{records: make([]*kgo.Record, n)}
	t0 := end.Add(-time.Duration(n) * time.Millisecond)
	for i := range bl.records {
		var cmd customer.Command
		isBalance := false
		if bl.balances < (i+1)*pointsPct/100 {
			cmd, isBalance = gen.Balance()
		}
		if isBalance {
			bl.balances++
		} else {
			cmd = gen.Next()
			bl.commands++
		}
		r, err := commandRecord(topo, cmd)
		if err != nil {
			return backlog{}, err
		}
		r.Timestamp = t0.Add(time.Duration(i) * time.Millisecond)
		r.Partition = processor.TaskOfOrg(cmd.Org, P)
		if i*misroutedPct/100 != (i+1)*misroutedPct/100 {
			r.Partition = (r.Partition + 1) % P
			bl.misrouted++
		}
		bl.records[i] = r
	}
	return bl, nil
}

// balanceTally is what the results say of the backlog's balances.
type balanceTally struct {
	applied int
	// refused counts the balances refused, by error code.
	refused map[customer.Code]int
}

// tallyBalances reads the first n results of the results topic (the
// throughput phase's: the topic is the bench's own) and counts the
// balances' (op points): applied (success) or refused by which code. It
// runs after the throughput child stopped, so decoding the results takes
// no CPU from the child while it is measured.
func tallyBalances(ctx context.Context, base []kgo.Opt, topic string, n int) (balanceTally, error) {
	t := balanceTally{refused: map[customer.Code]int{}}
	cl, err := kgo.NewClient(append(base, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return t, fmt.Errorf("reading the results back: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	seen := 0
	for seen < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return t, fmt.Errorf("reading the results back: %d of %d: %w", seen, n, err)
		}
		var decodeErr error
		fs.EachRecord(func(r *kgo.Record) {
			if seen >= n || decodeErr != nil {
				return
			}
			seen++
			res, err := schemas.DecodeResult(r.Value)
			if err != nil {
				decodeErr = fmt.Errorf("result at %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			switch {
			case res.Op != customer.OpPoints:
			case res.Success:
				t.applied++
			default:
				for _, e := range res.Errors[:min(1, len(res.Errors))] {
					t.refused[e.Code]++
				}
			}
		})
		if decodeErr != nil {
			return t, decodeErr
		}
	}
	return t, nil
}

// refusals lists the refused balances by code, the most frequent first:
// "none", or "12 × 8009, 3 × 8908".
func (t balanceTally) refusals() string {
	if len(t.refused) == 0 {
		return "none"
	}
	codes := make([]customer.Code, 0, len(t.refused))
	for c := range t.refused {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		if t.refused[codes[i]] != t.refused[codes[j]] {
			return t.refused[codes[i]] > t.refused[codes[j]]
		}
		return codes[i] < codes[j]
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d × %d", t.refused[c], c)
	}
	return strings.Join(parts, ", ")
}
