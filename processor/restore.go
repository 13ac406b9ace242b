package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/state"
)

// changelogOverhead is what a changelog record adds to its key and value:
// the batch and record framing (sink.RecordBatchBytes) and the value prefix.
const changelogOverhead = 61 + 6*10 + 1

// restoreChunk bounds the changelog records applied to Pebble in one batch.
const restoreChunk = 10_000

// restorePending restores every assigned task that is not ready, on up to
// GOMAXPROCS goroutines (restores of different tasks share nothing but
// Pebble, and applying the changelog is CPU work), and resumes fetching
// each task's input partitions as soon as it is restored (the loop
// processes them once this returns). It returns when
// no task is pending, or with the first error.
func (p *Processor) restorePending(ctx context.Context) error {
	for {
		p.mu.Lock()
		pending := sortedKeys(p.pending)
		p.mu.Unlock()
		if len(pending) == 0 {
			return nil
		}
		// One round over the tasks pending now; a task assigned meanwhile
		// is picked up by the next round.
		rctx, cancel := context.WithCancel(ctx)
		errs := make([]error, len(pending))
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(runtime.GOMAXPROCS(0), len(pending)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if errs[i] = p.restoreOne(rctx, pending[i]); errs[i] != nil {
						cancel() // the others stop too; the loop retries
					}
				}
			}()
		}
		for i := range pending {
			next <- i
		}
		close(next)
		wg.Wait()
		cancel()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
}

// restoreOne restores one task and, if it is still ours, makes it ready
// and resumes its input partitions.
func (p *Processor) restoreOne(ctx context.Context, task int32) error {
	// A standby copy of the task stops before the task's first active
	// write: two writers must never share its keyspace (standby.go).
	p.stopStandby(task)
	t := p.db.Task(task, p.partitions)
	// A state write that would make a changelog record the broker refuses
	// fails when it is made, with its command at hand (handle).
	t.LimitWrites(int(p.maxBytes[p.cfg.Topology.Changelog]) - changelogOverhead)
	// The key filter is built from the local state before restore adds to
	// it (a no-op when an earlier assignment built it).
	began := time.Now()
	keys, err := t.Warm()
	if err != nil {
		return fmt.Errorf("task %d: %w", task, err)
	}
	p.log.Debug("task key filter ready", "task", task, "keys", keys, "took", time.Since(began).Round(time.Millisecond))
	if err := p.restoreTask(ctx, t, task); err != nil {
		return fmt.Errorf("restoring task %d: %w", task, err)
	}
	p.mu.Lock()
	stillOurs := p.pending[task] && p.assigned[task]
	if stillOurs {
		delete(p.pending, task)
		p.ready[task] = t
		p.cfg.Metrics.restoreSeconds.Observe(time.Since(began).Seconds())
		p.updateTaskGauges()
	}
	p.mu.Unlock()
	if stillOurs {
		resume := map[string][]int32{}
		for _, topic := range p.cfg.Topology.ConsumedTopics() {
			resume[topic] = []int32{task}
		}
		p.sess.Client().ResumeFetchPartitions(resume)
	}
	return nil
}

// restoreTask catches task t up with its changelog partition: from the
// local checkpoint to the end, read_committed, once no transaction is open
// on the partition (docs/exactly-once.md, "Restore").
func (p *Processor) restoreTask(ctx context.Context, t *state.Task, part int32) error {
	adm, closeAdm, err := p.admin()
	if err != nil {
		return err
	}
	defer closeAdm()
	topic := p.cfg.Topology.Changelog

	start, end, err := p.stableEnd(ctx, adm, topic, part)
	if err != nil {
		return err
	}
	from, err := p.resumeFrom(t, part, start, end, "task")
	if err != nil {
		return err
	}
	if from >= end {
		return nil
	}
	return p.replay(ctx, t, part, from, end)
}

// resumeFrom returns the changelog offset task part's state goes on from:
// its checkpoint, unless the changelog [start, end) cannot continue it.
// State ahead of the changelog (the topic was recreated or truncated) or
// behind its start (retention removed what it needs) is dropped and built
// again: Kafka is the truth. what names the copy in the logs (a task, a
// standby).
func (p *Processor) resumeFrom(t *state.Task, part int32, start, end int64, what string) (int64, error) {
	from, err := t.Checkpoint()
	if err != nil {
		return 0, fmt.Errorf("reading the checkpoint: %w", err)
	}
	if from > end {
		p.log.Warn("local state is ahead of the changelog; rebuilding it", "task", part, "copy", what, "checkpoint", from, "changelog_end", end)
		if err := t.Drop(); err != nil {
			return 0, fmt.Errorf("dropping the %s's state: %w", what, err)
		}
		from = 0
	}
	if from < start {
		p.log.Warn("changelog starts after the local checkpoint; rebuilding it", "task", part, "copy", what, "checkpoint", from, "changelog_start", start)
		if err := t.Drop(); err != nil {
			return 0, fmt.Errorf("dropping the %s's state: %w", what, err)
		}
		from = start
	}
	return from, nil
}

// stableEnd waits until the changelog partition has no open transaction
// (last stable offset == high watermark), so that the restore sees every
// commit a previous owner made, then returns the log start and end.
func (p *Processor) stableEnd(ctx context.Context, adm *kadm.Client, topic string, part int32) (start, end int64, err error) {
	deadline := time.Now().Add(2 * p.cfg.TransactionTimeout)
	for {
		start, end, err := logBounds(ctx, adm, topic, part)
		if err != nil {
			return 0, 0, err
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return 0, 0, fmt.Errorf("listing stable offsets of %s: %w", topic, err)
		}
		l, ok := stable.Lookup(topic, part)
		if !ok {
			return 0, 0, fmt.Errorf("partition %s[%d] not found", topic, part)
		}
		if l.Err != nil {
			return 0, 0, fmt.Errorf("stable offset of %s[%d]: %w", topic, part, l.Err)
		}
		if l.Offset >= end {
			return start, end, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s[%d] still has an open transaction (stable offset %d < end %d) after %s",
				topic, part, l.Offset, end, 2*p.cfg.TransactionTimeout)
		}
		sleep(ctx, 100*time.Millisecond)
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
	}
}

// replay applies changelog records [from, end) to the task. It is done
// when its position, as the broker reports it, reaches end: control
// batches, aborted transactions and compacted gaps move the position, a
// quiet broker does not (partitionReader). While the broker does not answer
// it waits, says so, and goes on when it answers; nothing processes the
// task meanwhile.
func (p *Processor) replay(ctx context.Context, t *state.Task, part int32, from, end int64) error {
	topic := p.cfg.Topology.Changelog
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.cfg.Brokers...)}, p.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("creating the restore client: %w", err)
	}
	defer cl.Close()
	label := strconv.Itoa(int(part))
	waiting := p.cfg.Metrics.restoreWaiting.WithLabelValues(label)
	defer waiting.Set(0)
	rd := newPartitionReader(cl, topic, part, from, p.log.With("task", part), func(w bool) {
		if w {
			waiting.Set(1)
		} else {
			waiting.Set(0)
		}
	})

	// One response is fetched while the previous one is applied.
	type result struct {
		f   fetched
		err error
	}
	ahead := make(chan result, 1)
	fctx, cancel := context.WithCancel(ctx)
	var fetcher sync.WaitGroup
	fetcher.Add(1)
	go func() {
		defer fetcher.Done()
		defer close(ahead)
		for {
			f, err := rd.fetch(fctx)
			select {
			case ahead <- result{f, err}:
			case <-fctx.Done():
				return
			}
			if err != nil || f.next >= end {
				return
			}
		}
	}()
	defer fetcher.Wait()
	defer cancel()

	began, lastLog := time.Now(), time.Now()
	total := end - from
	var applied int64
	pos := from
	kvs := make([]state.KV, 0, restoreChunk)
	flush := func() error {
		if err := t.ApplyChangelog(kvs, pos); err != nil {
			return fmt.Errorf("applying changelog records up to offset %d: %w", pos, err)
		}
		applied += int64(len(kvs))
		p.cfg.Metrics.restored.WithLabelValues(label).Add(float64(len(kvs)))
		p.cfg.Metrics.remaining.WithLabelValues(label).Set(float64(max(end-pos, 0)))
		kvs = kvs[:0]
		return nil
	}
	p.log.Info("restoring task", "task", part, "from", from, "to", end, "records", total)
	for pos < end {
		res, ok := <-ahead
		if !ok {
			return ctx.Err()
		}
		if res.err != nil {
			return fmt.Errorf("reading %s[%d] at offset %d: %w", topic, part, pos, res.err)
		}
		for _, r := range res.f.records {
			if r.Offset >= end {
				break
			}
			kv, err := state.ChangelogKV(r.Key, r.Value)
			if err != nil {
				return fmt.Errorf("%s[%d] at offset %d: %w", topic, part, r.Offset, err)
			}
			kvs = append(kvs, kv)
			// A response holds up to 32 MiB; apply it in chunks, so a
			// Pebble batch stays bounded and progress shows as it goes.
			if len(kvs) >= restoreChunk {
				pos = r.Offset + 1
				if err := flush(); err != nil {
					return err
				}
			}
		}
		pos = min(res.f.next, end)
		if pos >= end {
			if err := flush(); err != nil {
				return err
			}
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			rate := float64(pos-from) / time.Since(began).Seconds()
			p.log.Info("restoring task", "task", part, "offset", pos, "remaining", end-pos, "records_per_sec", int64(rate))
		}
	}
	el := time.Since(began)
	p.log.Info("restored task", "task", part, "records", applied, "offsets", total, "took", el.Round(time.Millisecond),
		"records_per_sec", int64(float64(total)/el.Seconds()))
	return nil
}

// admin returns an admin client and its closer.
func (p *Processor) admin() (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.cfg.Brokers...)}, p.cfg.ClientOpts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("creating an admin client: %w", err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}
