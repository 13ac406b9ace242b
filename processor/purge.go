package processor

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// purgeInterval is how often the records the group consumed are deleted
// from the repartition topic.
const purgeInterval = 30 * time.Second

// A forwarded record is needed only until the transaction that processed
// it commits: then its offset is committed, and no owner reads below it
// again. So, as Kafka Streams does with its repartition topics, custream
// deletes them up to the committed offsets (DeleteRecords) instead of
// keeping them for a retention time, which the topic does not have (its
// retention.ms is -1: a task down for days loses nothing).

// noteConsumed records the offsets a committed transaction applied of the
// repartition topic: the offset after the last record per partition. Only
// the loop goroutine calls it.
func (p *Processor) noteConsumed(records []*kgo.Record) {
	for _, r := range records {
		if r.Topic == p.cfg.Topology.Repartition && r.Offset+1 > p.consumed[r.Partition] {
			p.consumed[r.Partition] = r.Offset + 1
		}
	}
}

// maybePurge deletes the consumed records of the repartition topic, at most
// every purgeInterval. A failure is logged and retried next time: what is
// not deleted yet costs disk, nothing else.
func (p *Processor) maybePurge(ctx context.Context) {
	if len(p.consumed) == 0 || time.Since(p.lastPurge) < purgeInterval {
		return
	}
	p.lastPurge = time.Now()
	offsets := kadm.Offsets{}
	for part, next := range p.consumed {
		if next > p.purged[part] {
			offsets.AddOffset(p.cfg.Topology.Repartition, part, next, -1)
		}
	}
	if len(offsets) == 0 {
		return
	}
	adm, closeAdm, err := p.admin()
	if err != nil {
		p.log.Warn("could not purge the repartition topic", "err", err)
		return
	}
	defer closeAdm()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := adm.DeleteRecords(dctx, offsets)
	if err != nil {
		p.log.Warn("could not purge the repartition topic", "err", err)
		return
	}
	resp.Each(func(r kadm.DeleteRecordsResponse) {
		if r.Err != nil {
			p.log.Warn("could not purge a repartition partition", "partition", r.Partition, "err", r.Err)
			return
		}
		p.purged[r.Partition] = r.LowWatermark
	})
}
