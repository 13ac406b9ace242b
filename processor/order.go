package processor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The order a task applies its records in. A task reads several
// partitions — partition p of every input topic and of the repartition
// topic — and one org's commands may arrive on any of them. Applying a
// poll's records topic by topic made the order depend on how fetches
// happened to interleave: three runs over the same backlog gave different
// join and merge counts. So, as Kafka Streams does with stream time, a
// task applies its records in timestamp order across its partitions (ties:
// topic order, then offset), taking at each step the head record with the
// smallest timestamp; and while one of its partitions has nothing buffered
// but is known to have more (its position is below its end), the task
// waits for it, at most Config.MaxTaskIdle, then goes on without it and
// counts that in custream_order_idle_expired_total. A backlog is then
// applied in the same order every time.
//
// Records fetched but not applied stay buffered across transactions; each
// transaction commits, per partition, the offset after the last record it
// applied, not what was fetched (kgo.PreTxnCommitFnContext lowers the
// offsets franz-go would commit, and franz-go records the offsets as sent).
// An abort rewinds the consumer to the committed offsets, so the buffers
// are dropped with it.

// topicPart names one consumed partition.
type topicPart struct {
	topic string
	part  int32
}

// partQueue is one partition's fetched records not yet applied.
type partQueue struct {
	rank    int           // the topic's place in the topology: ties go to the lower
	recs    []*kgo.Record // in offset order
	pos     int64         // offset after the last record fetched (or the start, before any)
	end     int64         // the partition's end as last known: last stable offset; -1 unknown
	applied int64         // offset after the last record applied; what a commit may commit; -1 none yet
	known   bool          // pos and end are set
	waiting time.Time     // since when the task waits for this partition; zero if not
}

// lagging reports whether the partition has nothing buffered yet more to
// come, as far as the broker told us.
func (q *partQueue) lagging() bool {
	return len(q.recs) == 0 && (!q.known || q.pos < q.end)
}

// queues are the buffered records of this member's ready tasks. Only the
// loop goroutine uses them.
type queues struct {
	parts map[topicPart]*partQueue
	rank  map[string]int
	bytes int // of the buffered records (recordBytes plus keys)
}

func newQueues(topo Topology) *queues {
	q := &queues{parts: map[topicPart]*partQueue{}, rank: map[string]int{}}
	for i, t := range topo.ConsumedTopics() {
		q.rank[t] = i
	}
	return q
}

func (q *queues) part(tp topicPart) *partQueue {
	pq := q.parts[tp]
	if pq == nil {
		pq = &partQueue{rank: q.rank[tp.topic], end: -1, applied: -1}
		q.parts[tp] = pq
	}
	return pq
}

// add buffers a poll's records and what the fetches said of their
// partitions' ends.
func (q *queues) add(fs kgo.Fetches) int {
	n := 0
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		pq := q.part(topicPart{fp.Topic, fp.Partition})
		pq.recs = append(pq.recs, fp.Records...)
		for _, r := range fp.Records {
			q.bytes += recordBytes(r) + len(r.Key)
		}
		pq.pos = fp.Records[len(fp.Records)-1].Offset + 1
		pq.end = max(pq.end, fp.LastStableOffset, pq.pos)
		pq.known = true
		n += len(fp.Records)
	})
	return n
}

// start sets where a partition of a task that just became ready stands:
// its committed position and its end, from the broker.
func (q *queues) start(tp topicPart, pos, end int64) {
	pq := q.part(tp)
	pq.recs, pq.pos, pq.end, pq.known, pq.waiting, pq.applied = nil, pos, end, true, time.Time{}, -1
}

// drop forgets the buffers of every partition (an abort rewound the
// consumer) or of one task's partitions (it is no longer ours).
func (q *queues) drop(task int32, all bool) {
	for tp, pq := range q.parts {
		if all || tp.part == task {
			for _, r := range pq.recs {
				q.bytes -= recordBytes(r) + len(r.Key)
			}
			delete(q.parts, tp)
		}
	}
}

// lagging reports whether any partition of task waits for records, with
// others buffered (the only case a wait changes anything).
func (q *queues) lagging(task int32, topics []string) bool {
	some, lag := false, false
	for _, t := range topics {
		if pq, ok := q.parts[topicPart{t, task}]; ok {
			some = some || len(pq.recs) > 0
			lag = lag || pq.lagging()
		}
	}
	return some && lag
}

// full reports whether the buffers hold maxBufferedBytes or more: then
// the loop fetches no more until it has applied some, waiting or not.
func (q *queues) full() bool { return q.bytes >= maxBufferedBytes }

// take picks the records of task to apply now, at most max, in order. It
// stops at the first pick a lagging partition could precede, unless the
// task has waited idle for it; waiting says it stopped so, began that this
// call started the wait, expired that it went on after waiting in vain.
func (q *queues) take(task int32, topics []string, max int, idle time.Duration, now time.Time) (out []*kgo.Record, waiting, began, expired bool) {
	var pqs []*partQueue
	for _, t := range topics {
		if pq, ok := q.parts[topicPart{t, task}]; ok {
			pqs = append(pqs, pq)
		}
	}
	for len(out) < max {
		var head *partQueue
		blocked := false
		for _, pq := range pqs {
			if pq.lagging() {
				blocked = true
				continue
			}
			if len(pq.recs) == 0 {
				continue
			}
			if head == nil || before(pq.recs[0], pq.rank, head.recs[0], head.rank) {
				head = pq
			}
		}
		if head == nil {
			break
		}
		if blocked {
			since := now
			for _, pq := range pqs {
				if pq.lagging() && !pq.waiting.IsZero() && pq.waiting.Before(since) {
					since = pq.waiting
				}
			}
			for _, pq := range pqs {
				if pq.lagging() && pq.waiting.IsZero() {
					pq.waiting = now
					began = true
				}
			}
			if now.Sub(since) < idle {
				return out, true, began, false
			}
			expired = true
		}
		r := head.recs[0]
		q.bytes -= recordBytes(r) + len(r.Key)
		head.recs[0] = nil
		head.recs = head.recs[1:]
		head.applied = r.Offset + 1
		out = append(out, r)
	}
	for _, pq := range pqs {
		if !pq.lagging() {
			pq.waiting = time.Time{}
		}
	}
	return out, false, began, expired
}

// before orders records by timestamp, then topic rank, then offset.
func before(a *kgo.Record, ra int, b *kgo.Record, rb int) bool {
	return cmp.Or(a.Timestamp.Compare(b.Timestamp), cmp.Compare(ra, rb), cmp.Compare(a.Offset, b.Offset)) < 0
}

// lowerCommit lowers every partition's offset in a transaction's offset
// commit to the offset after the last record applied, so records fetched
// and still buffered are not committed. A partition with nothing applied
// since the task became ready keeps the committed offset it had (franz-go
// sends its committed offset then).
func (q *queues) lowerCommit(req *kmsg.TxnOffsetCommitRequest) {
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			pq, ok := q.parts[topicPart{t.Topic, p.Partition}]
			if !ok {
				continue
			}
			if pq.applied >= 0 && pq.applied < p.Offset {
				p.Offset = pq.applied
			} else if pq.applied < 0 && len(pq.recs) > 0 && pq.recs[0].Offset < p.Offset {
				// Fetched, none applied yet: commit no further than
				// the first buffered record.
				p.Offset = pq.recs[0].Offset
			}
		}
	}
}

// settle asks the broker where each lagging partition of task really
// stands: a partition whose last records are commit or abort markers, or
// aborted transactions, has a position below its end that no fetch will
// ever return a record for, and the task would wait for it in vain. A raw
// read_committed Fetch from the position returns the offset after what the
// broker holds (kgo.ProcessFetchPartition, as restore reads); if no record
// came back below the end, the partition is caught up.
func (q *queues) settle(ctx context.Context, cl *kgo.Client, task int32, topics []string) {
	for _, t := range topics {
		pq, ok := q.parts[topicPart{t, task}]
		if !ok || !pq.lagging() || !pq.known {
			continue
		}
		rd := newPartitionReader(cl, t, task, pq.pos, nopLogger, nil)
		rd.maxWait = 0 // a probe: answer with what there is
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		f, err := rd.probe(fctx)
		cancel()
		if err != nil {
			continue
		}
		if len(f.records) == 0 {
			pq.pos = max(pq.pos, f.next)
			pq.end = max(pq.end, f.lso)
			if f.next >= pq.end {
				pq.end = f.next
			}
		}
	}
}

// sortedTasks lists tasks in ascending order.
func sortedTasks(ts []int32) []int32 {
	slices.Sort(ts)
	return ts
}

// maxBufferedBytes bounds the records buffered while a task waits for a
// lagging partition. A wait lasts at most MaxTaskIdle, and the lagging
// partition's records come in the same fetches as the others', so the
// bound is met only when that partition is slow to come: then the task
// goes on without it, as after MaxTaskIdle, and the metric counts it.
const maxBufferedBytes = 64 << 20

// startReady sets, for every task that became ready since the last call,
// where its partitions stand: the group's committed offset (or the log
// start, where the group has none) and the last stable offset, as the
// broker reports them. Tasks no longer ready lose their buffers.
func (p *Processor) startReady(ctx context.Context) error {
	p.mu.Lock()
	var fresh []int32
	for t := range p.ready {
		if !p.started[t] {
			fresh = append(fresh, t)
		}
	}
	for t := range p.started {
		if p.ready[t] == nil {
			delete(p.started, t)
			p.queues.drop(t, false)
		}
	}
	p.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	adm, closeAdm, err := p.admin()
	if err != nil {
		return err
	}
	defer closeAdm()
	topics := p.cfg.Topology.ConsumedTopics()
	committed, err := adm.FetchOffsetsForTopics(ctx, p.cfg.Group, topics...)
	if err != nil {
		return fmt.Errorf("fetching the group's committed offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	for _, task := range sortedTasks(fresh) {
		for _, t := range topics {
			s, ok1 := starts.Lookup(t, task)
			e, ok2 := ends.Lookup(t, task)
			if !ok1 || !ok2 || s.Err != nil || e.Err != nil {
				return fmt.Errorf("offsets of %s[%d] not listed (%v, %v)", t, task, s.Err, e.Err)
			}
			pos := s.Offset
			if c, ok := committed.Lookup(t, task); ok && c.Err == nil && c.At >= 0 {
				pos = max(pos, c.At)
			}
			p.queues.start(topicPart{t, task}, pos, e.Offset)
		}
		p.started[task] = true
	}
	p.mu.Lock()
	for _, task := range fresh {
		p.idle.run(task)
	}
	p.mu.Unlock()
	return nil
}

// pollWait is how long the next poll may wait when a task waits for a
// lagging partition: what its idle time has left (at least a little).
func (p *Processor) pollWait() (time.Duration, bool) {
	var soonest time.Time
	for _, pq := range p.queues.parts {
		if !pq.waiting.IsZero() && (soonest.IsZero() || pq.waiting.Before(soonest)) {
			soonest = pq.waiting
		}
	}
	if soonest.IsZero() {
		return 0, false
	}
	return max(time.Until(soonest.Add(p.cfg.MaxTaskIdle)), 10*time.Millisecond), true
}

// selectBatch picks the records of the next transaction: per ready task,
// in the order of order.go, at most MaxBatchRecords in all.
func (p *Processor) selectBatch(ctx context.Context) ([]taskRecords, int) {
	topics := p.cfg.Topology.ConsumedTopics()
	tasks := make([]int32, 0, len(p.started))
	for t := range p.started {
		tasks = append(tasks, t)
	}
	var out []taskRecords
	n := 0
	now := time.Now()
	idle := p.cfg.MaxTaskIdle
	if p.queues.full() {
		idle = 0 // full buffers: apply what there is rather than wait
	}
	for _, task := range sortedTasks(tasks) {
		if n >= p.cfg.MaxBatchRecords {
			break
		}
		if p.queues.lagging(task, topics) {
			p.queues.settle(ctx, p.sess.Client(), task, topics)
		}
		recs, _, began, expired := p.queues.take(task, topics, p.cfg.MaxBatchRecords-n, idle, now)
		if began {
			p.cfg.Metrics.orderWaits.Inc()
		}
		if expired {
			p.cfg.Metrics.orderIdleExpired.Inc()
		}
		if len(recs) > 0 {
			out = append(out, taskRecords{task: task, records: recs})
			n += len(recs)
		}
	}
	return out, n
}
