package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/state"
)

// A standby is a copy of a task this member does not own, kept up to date
// from the task's changelog partition (docs/exactly-once.md, "Standbys"):
// the restore code run continuously, read_committed, with no input
// processing and no writes to Kafka. Its state's checkpoint is reported in
// the member's join metadata like any other copy, so when the task's owner
// fails the leader moves the task here and its restore replays only the
// tail.
//
// Two writers must never share a task's keyspace: a standby's replicator
// is started only by the loop goroutine (syncStandbys), after the last
// transaction's state is in Pebble, for a task that is not this member's;
// and restoreOne stops (and waits for) the task's replicator before it
// restores the task, which every active write follows.

// standbyFetchWait is how long the broker may hold a standby's fetch of an
// idle changelog partition: an idle standby costs one request per wait.
// A replicator being stopped does not wait it out (the request's context
// ends).
const standbyFetchWait = 5 * time.Second

// replicator is one standby task's running replication.
type replicator struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// setStandbys records the standby tasks of a new generation (minus the
// member's own tasks, which never have a standby here) and wakes the loop,
// which stops the replicators of tasks that left the set and starts the
// new ones (syncStandbys). A task that became this member's needs no
// hurry: its restore stops its replicator first. p.mu is held.
func (p *Processor) setStandbys(standbys []int32, gen map[int32]bool) {
	want := make(map[int32]bool, len(standbys))
	for _, t := range standbys {
		if t >= 0 && t < p.partitions && !gen[t] {
			want[t] = true
		}
	}
	changed := len(want) != len(p.standbyWant)
	for t := range want {
		if !p.standbyWant[t] {
			changed = true
		}
	}
	p.standbyWant = want
	if changed && p.pollCancel != nil {
		p.pollCancel() // the loop stops the old ones and starts the new
	}
}

// syncStandbys makes the running replicators those of the generation's
// standby set: it stops and waits for the others, and starts the missing
// ones under ctx. Only the loop goroutine calls it, when no transaction's
// state is on its way into Pebble and no restore runs.
func (p *Processor) syncStandbys(ctx context.Context) {
	p.mu.Lock()
	var stop []int32
	for t := range p.standbys {
		if !p.standbyWant[t] || p.assigned[t] || p.gen[t] {
			stop = append(stop, t)
		}
	}
	p.mu.Unlock()
	for _, t := range stop {
		p.stopStandby(t)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range sortedKeys(p.standbyWant) {
		if p.standbys[t] != nil || p.assigned[t] || p.gen[t] {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &replicator{cancel: cancel, done: make(chan struct{})}
		p.standbys[t] = r
		go func() {
			defer close(r.done)
			p.replicate(rctx, t)
		}()
	}
	p.cfg.Metrics.standbyTasks.Set(float64(len(p.standbys)))
}

// stopStandby stops task's replicator, if one runs, and returns once it has
// ended: no write of it reaches the task's keyspace after this returns.
func (p *Processor) stopStandby(task int32) {
	p.mu.Lock()
	r := p.standbys[task]
	delete(p.standbys, task)
	p.cfg.Metrics.standbyTasks.Set(float64(len(p.standbys)))
	p.mu.Unlock()
	if r == nil {
		return
	}
	began := time.Now()
	r.cancel()
	<-r.done
	p.cfg.Metrics.standbyLag.DeleteLabelValues(strconv.Itoa(int(task)))
	p.log.Info("standby stopped", "task", task, "took", time.Since(began).Round(time.Millisecond))
}

// stopAllStandbys stops every replicator and waits for them (shutdown).
func (p *Processor) stopAllStandbys() {
	p.mu.Lock()
	tasks := sortedKeys(p.standbys)
	p.mu.Unlock()
	for _, t := range tasks {
		p.stopStandby(t)
	}
}

// replicate keeps task's standby copy up to date until ctx ends, starting
// over (from the checkpoint it reached) after an error.
func (p *Processor) replicate(ctx context.Context, task int32) {
	p.log.Info("standby started", "task", task)
	for ctx.Err() == nil {
		err := p.replicateFrom(ctx, task)
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("standby replication failed; retrying", "task", task, "err", err)
		sleep(ctx, time.Second)
	}
}

// replicateFrom applies task's changelog from the local checkpoint on, as
// restoreTask and replay do but without an end: it returns only with an
// error or when ctx ends.
func (p *Processor) replicateFrom(ctx context.Context, part int32) error {
	topic := p.cfg.Topology.Changelog
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.cfg.Brokers...)}, p.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("creating the standby client: %w", err)
	}
	defer cl.Close()
	t := p.db.Task(part, p.partitions)
	start, end, err := logBounds(ctx, kadm.NewClient(cl), topic, part)
	if err != nil {
		return err
	}
	// As restoreTask: Kafka is the truth about what the task's state is.
	from, err := p.resumeFrom(t, part, start, end, "standby")
	if err != nil {
		return err
	}
	label := strconv.Itoa(int(part))
	lag := p.cfg.Metrics.standbyLag.WithLabelValues(label)
	lag.Set(float64(max(end-from, 0)))
	rd := newPartitionReader(cl, topic, part, from, p.log.With("task", part, "standby", true), nil)
	rd.maxWait = int32(standbyFetchWait / time.Millisecond)
	pos := from
	kvs := make([]state.KV, 0, restoreChunk)
	for {
		f, err := rd.fetch(ctx)
		if err != nil {
			return fmt.Errorf("reading %s[%d] at offset %d: %w", topic, part, pos, err)
		}
		for _, r := range f.records {
			kv, err := state.ChangelogKV(r.Key, r.Value)
			if err != nil {
				return fmt.Errorf("%s[%d] at offset %d: %w", topic, part, r.Offset, err)
			}
			kvs = append(kvs, kv)
			if len(kvs) >= restoreChunk {
				if err := t.ApplyChangelog(kvs, r.Offset+1); err != nil {
					return fmt.Errorf("applying changelog records up to offset %d: %w", r.Offset+1, err)
				}
				pos, kvs = r.Offset+1, kvs[:0]
			}
		}
		// Markers and aborted records move the position too: record it,
		// so the checkpoint the member reports is as warm as it is.
		if f.next > pos || len(kvs) > 0 {
			if err := t.ApplyChangelog(kvs, f.next); err != nil {
				return fmt.Errorf("applying changelog records up to offset %d: %w", f.next, err)
			}
			pos, kvs = f.next, kvs[:0]
		}
		lag.Set(float64(max(f.hwm-pos, 0)))
	}
}

// logBounds lists a partition's log start and end offsets.
func logBounds(ctx context.Context, adm *kadm.Client, topic string, part int32) (start, end int64, err error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	s, ok1 := starts.Lookup(topic, part)
	e, ok2 := ends.Lookup(topic, part)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("partition %s[%d] not found", topic, part)
	}
	if err := errors.Join(s.Err, e.Err); err != nil {
		return 0, 0, fmt.Errorf("offsets of %s[%d]: %w", topic, part, err)
	}
	return s.Offset, e.Offset, nil
}
