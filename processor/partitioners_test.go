package processor_test

import (
	"context"
	"hash/crc32"
	"hash/fnv"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// TestAnyPartitioner: producers that partition as the common Kafka clients
// do — murmur2 (Java, franz-go), CRC32 (librdkafka: kcat, confluent-kafka),
// FNV-1a (sarama), round-robin ignoring keys (segmentio/kafka-go) — each
// send the same 5,000 mixed commands for 20 orgs over 12 partitions, and
// then 2,000 registrations. Every requestId gets exactly one committed
// result, equal to the domain applied directly in the order the processor
// applied them. With a key-hashing partitioner, which keeps an org's
// commands on one partition, the registrations' results equal the murmur2
// run's (ids compared by their order of creation in the org): each org's
// order was kept through the repartition hop. (The mixed commands name
// customer ids, which depend on how a task interleaved its orgs, so their
// outcomes are compared with the direct application only.)
func TestAnyPartitioner(t *testing.T) {
	skipShort(t)
	fnv32a := func(b []byte) uint32 { h := fnv.New32a(); h.Write(b); return h.Sum32() }
	runs := []struct {
		name        string
		partitioner kgo.Partitioner
		keyed       bool // an org's commands all land on one partition
	}{
		{"murmur2", kgo.StickyKeyPartitioner(nil), true},
		{"crc32", kgo.StickyKeyPartitioner(kgo.SaramaHasher(crc32.ChecksumIEEE)), true},
		{"fnv1a", kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a)), true},
		{"round-robin", kgo.RoundRobinPartitioner(), false},
	}
	const partitions = 12
	cmds := newGen(51, 20, partitions).batch(5000)
	regs := newGen(52, 20, partitions)
	regs.registerOnly = true
	registrations := regs.batch(2000)
	for i := range registrations {
		registrations[i].RequestID = "reg-" + registrations[i].RequestID
		registrations[i].Org += 100 // orgs of their own, so the mixed commands do not touch them
	}
	cmds = append(cmds, registrations...)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var reference map[string]outcome
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			h := newHarness(t, partitions)
			// The broker is there: a task never goes on without a lagging
			// partition, however slow a loaded machine makes the fetches
			// (after MaxTaskIdle the order is no longer the timestamps').
			h.tune = func(c *processor.Config) { c.MaxTaskIdle = time.Minute }
			producer := h.client(t, kgo.RecordPartitioner(run.partitioner), kgo.ProducerLinger(5*time.Millisecond))
			// Distinct timestamps, the same in every run: the order the
			// commands were produced in, whatever partition they land on.
			recs := make([]*kgo.Record, len(cmds))
			for i, c := range cmds {
				recs[i] = h.record(t, c)
				recs[i].Timestamp = t0.Add(time.Duration(i) * time.Millisecond)
			}
			if err := producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			misrouted := 0
			for _, r := range recs {
				org, _ := strconv.ParseInt(string(r.Key), 10, 64)
				if r.Partition != processor.TaskOfOrg(org, partitions) {
					misrouted++
				}
			}
			m := h.startMember(t, "m", t.TempDir())
			defer m.stop(t)
			results := h.readTopic(t, h.topo.Results, len(cmds), 3*time.Minute)
			h.check(t, results, len(cmds))
			forwarded := 0
			for _, in := range h.topo.Inputs {
				forwarded += int(m.counter(t, "custream_repartitioned_records_total", map[string]string{"topic": in.Topic}))
			}
			t.Logf("%s: %d of %d commands on a partition not their org's, %d forwarded; tasks waited for a lagging partition %v times, went on without it %v times",
				run.name, misrouted, len(cmds), forwarded, m.counter(t, "custream_order_waits_total", nil), m.counter(t, "custream_order_idle_expired_total", nil))
			if forwarded != misrouted {
				t.Errorf("%d records forwarded, want the %d misrouted", forwarded, misrouted)
			}
			got := outcomes(t, results)
			switch {
			case run.name == "murmur2":
				reference = got
			case run.keyed && reference != nil:
				diffs := 0
				for _, c := range registrations {
					id, want := c.RequestID, reference[c.RequestID]
					if got[id] != want {
						if diffs++; diffs <= 3 {
							t.Errorf("request %s: %+v; the murmur2 run gave %+v", id, got[id], want)
						}
					}
				}
				if diffs > 0 {
					t.Errorf("%d of %d registrations' results differ from the murmur2 run", diffs, len(registrations))
				}
			}
		})
	}
}

// outcome is what a result says, with customer ids replaced by their order
// of first appearance in the org's results (ids depend on how orgs
// interleave in a task, which partitioners change).
type outcome struct {
	Success  bool
	Created  int
	Errors   string
	Warnings string
}

func outcomes(t *testing.T, results []*kgo.Record) map[string]outcome {
	t.Helper()
	canon := map[int64]map[int64]int{} // org → id → rank
	out := map[string]outcome{}
	for _, r := range results {
		if isDuplicate(r) {
			continue
		}
		rr, err := schemas.DecodeResult(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		ids := canon[rr.Org]
		if ids == nil {
			ids = map[int64]int{}
			canon[rr.Org] = ids
		}
		o := outcome{Success: rr.Success, Errors: codes(rr.Errors), Warnings: codes(rr.Warnings)}
		if rr.CreatedID != 0 {
			if _, ok := ids[rr.CreatedID]; !ok {
				ids[rr.CreatedID] = len(ids) + 1
			}
			o.Created = ids[rr.CreatedID]
		}
		out[rr.RequestID] = o
	}
	return out
}

func codes(is []customer.Issue) string {
	s := ""
	for _, i := range is {
		s += strconv.Itoa(int(i.Code)) + " "
	}
	return s
}
