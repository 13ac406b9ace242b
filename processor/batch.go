package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
	"github.com/custream/custream/state"
)

// taskBatch is one task's uncommitted work in the open transaction.
type taskBatch struct {
	task  *state.Task
	id    int32
	batch *state.Batch

	mu            sync.Mutex
	lastChangelog int64 // offset of the last changelog record acked, -1 if none

	tally tally // counted into the metrics only if the transaction commits
	// refused are the poisoned input records this batch answered with an
	// output-too-large result.
	refused []recordID
}

// tally counts one task batch's effects.
type tally struct {
	in            map[string]int    // records by topic
	results       map[[2]string]int // (op, code)
	dlq           map[string]int    // by reason
	repartitioned map[string]int    // forwarded records by the topic they arrived on
	merges        int
}

func (t *tally) add(m *Metrics) {
	for topic, n := range t.in {
		m.recordsIn.WithLabelValues(topic).Add(float64(n))
	}
	for k, n := range t.results {
		m.results.WithLabelValues(k[0], k[1]).Add(float64(n))
	}
	for reason, n := range t.dlq {
		m.dlq.WithLabelValues(reason).Add(float64(n))
	}
	for topic, n := range t.repartitioned {
		m.repartitioned.WithLabelValues(topic).Add(float64(n))
	}
	m.merges.Add(float64(t.merges))
}

// recordID names one consumed input record.
type recordID struct {
	topic     string
	partition int32
	offset    int64
}

func idOf(r *kgo.Record) recordID { return recordID{r.Topic, r.Partition, r.Offset} }

// tooLargeError says that an input record's outputs cannot be produced:
// one would exceed its topic's max.message.bytes (or the changelog's, for
// a state write). Its transaction aborts, and the retry answers the record
// with an output-too-large result instead (Processor.poison).
type tooLargeError struct {
	rec recordID
	why string
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s[%d]@%d: %s", e.rec.topic, e.rec.partition, e.rec.offset, e.why)
}

// errNotReady is a task that stopped being ready (a rebalance dropped it)
// between the choice of a transaction's records and their processing.
var errNotReady = errors.New("the task is no longer ready (rebalance)")

// producer produces a transaction's records and collects every error the
// broker or the client reports for them, by the input record they answer
// when that is known.
type producer struct {
	sess *kgo.GroupTransactSession
	mu   sync.Mutex
	errs []error
	// tooLarge are the records refused for their size whose input is known.
	tooLarge []*tooLargeError
}

func (pr *producer) failed() (errs []error, tooLarge []*tooLargeError) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.errs, pr.tooLarge
}

// produce produces r in the transaction; from is the input record r
// answers (nil when no single one does), onAck runs once r is acknowledged.
func (pr *producer) produce(r *kgo.Record, from *recordID, onAck func(*kgo.Record)) {
	pr.sess.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err == nil {
			if onAck != nil {
				onAck(r)
			}
			return
		}
		pr.mu.Lock()
		defer pr.mu.Unlock()
		if from != nil && errors.Is(err, kerr.MessageTooLarge) {
			pr.tooLarge = append(pr.tooLarge, &tooLargeError{*from, fmt.Sprintf("a %d-byte record for %s was refused: %v", len(r.Value), r.Topic, err)})
			return
		}
		pr.errs = append(pr.errs, fmt.Errorf("producing to %s[%d]: %w", r.Topic, r.Partition, err))
	})
}

// fits refuses an output record over its topic's max.message.bytes before
// it is produced, with the input record it answers.
func (p *Processor) fits(r *kgo.Record, from recordID, what string) error {
	limit, ok := p.maxBytes[r.Topic]
	if !ok {
		return nil
	}
	if n := sink.RecordBatchBytes(r); n > int(limit) {
		return &tooLargeError{from, fmt.Sprintf("its %s would be a %d-byte record, over the %d bytes %s takes (max.message.bytes)", what, n, limit, r.Topic)}
	}
	return nil
}

// runTransaction runs one transaction over a poll's records. Pebble is
// written only after the transaction commits; on anything else the batches
// are dropped and every task restores from its changelog before going on.
// The transaction commits only if every record it produced was
// acknowledged: it flushes, looks at every produce error, and only then
// ends. The error return is for failures that must stop the processor.
func (p *Processor) runTransaction(groups []taskRecords, n int) error {
	// The transaction must end even when the processor is shutting down,
	// so End gets its own deadline rather than Run's context.
	endCtx, cancel := context.WithTimeout(context.Background(), p.cfg.TransactionTimeout)
	defer cancel()
	// The commit covers what was applied, not all that was fetched.
	endCtx = kgo.PreTxnCommitFnContext(endCtx, func(req *kmsg.TxnOffsetCommitRequest) error {
		p.queues.lowerCommit(req)
		return nil
	})

	began := time.Now()
	if err := p.sess.Begin(); err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}

	pr := &producer{sess: p.sess}
	var batches []*taskBatch
	discard := func() {
		for _, tb := range batches {
			tb.batch.Close()
		}
	}
	abort := func() error {
		discard()
		_, err := p.sess.End(endCtx, kgo.TryAbort)
		p.markAllPending()
		p.cfg.Metrics.txns.WithLabelValues("aborted").Inc()
		return err
	}
	for _, g := range groups {
		tb, err := p.processTask(g, pr)
		if tb != nil {
			batches = append(batches, tb)
		}
		if err != nil {
			var tl *tooLargeError
			if errors.As(err, &tl) {
				p.refuse(tl)
				return wrapEnd(abort())
			}
			if errors.Is(err, errNotReady) {
				// A rebalance took the task since its records were
				// taken: the session fails this transaction anyway.
				p.log.Info("a task left during the transaction (rebalance); aborting, tasks restore before going on", "err", err)
				return wrapEnd(abort())
			}
			if schemas.Retryable(err) {
				// The registry is down, not the record at fault: the
				// whole batch goes again after a backoff (registry.go).
				if endErr := abort(); endErr != nil {
					return fmt.Errorf("%w (and aborting: %v)", err, endErr)
				}
				return &retryBatch{err}
			}
			if endErr := abort(); endErr != nil {
				return fmt.Errorf("%w (and aborting: %v)", err, endErr)
			}
			return err
		}
	}

	processed := time.Now()
	// Every record must be acknowledged before the commit decides: End
	// would flush too, but decide on what failed before the flush.
	if err := p.sess.Client().Flush(endCtx); err != nil {
		p.log.Warn("flushing the transaction's records failed; aborting", "err", err)
		return wrapEnd(abort())
	}
	if errs, large := pr.failed(); len(errs) > 0 || len(large) > 0 {
		for _, tl := range large {
			p.refuse(tl)
		}
		if len(errs) > 0 {
			p.log.Warn("transaction aborted after produce errors", "errors", len(errs), "first", errs[0])
		}
		return wrapEnd(abort())
	}
	committed, err := p.sess.End(endCtx, kgo.TryCommit)
	ended := time.Now()
	m := p.cfg.Metrics
	if !committed || err != nil {
		m.txns.WithLabelValues("aborted").Inc()
		discard()
		p.markAllPending()
		if err == nil {
			p.log.Info("transaction aborted (rebalance); tasks restore before going on")
		}
		return wrapEnd(err)
	}
	m.txns.WithLabelValues("committed").Inc()
	m.txnSeconds.Observe(time.Since(began).Seconds())
	m.batchRecords.Observe(float64(n))
	for _, g := range groups {
		p.noteConsumed(g.records)
	}
	// Refused records are answered now; their next arrival is a repeat.
	for _, tb := range batches {
		for _, id := range tb.refused {
			delete(p.poison, id)
		}
	}
	// The previous transaction's batches must be in Pebble before these
	// go: applies stay in order, and these read through them.
	if err := p.awaitApply(); err != nil {
		// Kafka has both transactions; Pebble has neither. Stopping here is
		// safe: the next start restores the tail from the changelog.
		discard()
		return err
	}
	for _, tb := range batches {
		tb.tally.add(m)
	}
	p.log.Debug("batch committed", "records", n, "tasks", len(batches),
		"process", processed.Sub(began), "end", ended.Sub(processed), "wait-pebble", time.Since(ended))
	p.startApply(batches)
	return nil
}

// refuse marks an input record whose outputs cannot be produced: the
// retry of its batch answers it with an output-too-large result.
func (p *Processor) refuse(tl *tooLargeError) {
	if _, ok := p.poison[tl.rec]; !ok {
		p.log.Warn("a command's outputs are too large to produce; it is answered with an error result instead",
			"topic", tl.rec.topic, "partition", tl.rec.partition, "offset", tl.rec.offset, "why", tl.why)
	}
	p.poison[tl.rec] = tl.why
}

func wrapEnd(err error) error {
	if err != nil {
		return fmt.Errorf("ending the transaction: %w", err)
	}
	return nil
}

// apply writes the task's batch and its new changelog checkpoint to Pebble.
func (tb *taskBatch) apply() error {
	tb.mu.Lock()
	last := tb.lastChangelog
	tb.mu.Unlock()
	next := int64(-1)
	if last >= 0 {
		next = last + 1
	}
	if err := tb.task.Apply(tb.batch, next); err != nil {
		return fmt.Errorf("task %d: writing the committed batch to Pebble: %w", tb.id, err)
	}
	return nil
}

// processTask applies one task's records to a new batch and produces their
// results, merges, DLQ records, snapshots and changelog records. An output
// that would not fit its topic returns a *tooLargeError naming the input
// record that caused it.
func (p *Processor) processTask(g taskRecords, pr *producer) (*taskBatch, error) {
	t := p.readyTask(g.task)
	if t == nil {
		return nil, fmt.Errorf("task %d: %w", g.task, errNotReady)
	}
	// The task's previous batch may still be on its way into Pebble: this
	// one reads through it.
	batch, err := t.NewBatchAfter(p.applyingBatch(g.task))
	if err != nil {
		return nil, fmt.Errorf("task %d: %w", g.task, err)
	}
	tb := &taskBatch{task: t, id: g.task, batch: batch, lastChangelog: -1,
		tally: tally{in: map[string]int{}, results: map[[2]string]int{}, dlq: map[string]int{}, repartitioned: map[string]int{}}}
	dec := p.decodeAhead(t, g.records)
	defer dec.wait()
	// Request ids are forgotten by the processor's clock, which producers
	// cannot move (docs/exactly-once.md, "Idempotency"). Before the
	// records, so that none of them is answered from an id the batch
	// forgets.
	if err := tb.batch.PruneRequests(p.now().Add(-p.cfg.RequestRetention)); err != nil {
		return tb, fmt.Errorf("task %d: pruning old request ids: %w", g.task, err)
	}
	// changed maps each customer the batch changed to the last input
	// record that changed it: its snapshot answers to that record.
	changed := map[int64]recordID{}
	for i, r := range g.records {
		tb.tally.in[r.Topic]++
		d, err := dec.get(i)
		if err != nil {
			return tb, err
		}
		tb.batch.Install(d.pre)
		if err := p.handle(tb, r, d, pr, changed); err != nil {
			return tb, err
		}
	}
	ids := make([]int64, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	// The documents as the batch wrote them, decoded and encoded as
	// snapshots on every core.
	docs := make([][]byte, 0, len(ids))
	owners := make([]recordID, 0, len(ids))
	for _, id := range ids {
		enc, ok, err := tb.batch.Encoded(id)
		if err != nil {
			return tb, fmt.Errorf("task %d: reading customer %d for its snapshot: %w", g.task, id, err)
		}
		if ok {
			docs = append(docs, enc)
			owners = append(owners, changed[id])
		}
	}
	snaps, err := p.encodeSnapshots(docs, g.task)
	if err != nil {
		return tb, err
	}
	for i, rec := range snaps {
		if err := p.fits(rec, owners[i], "snapshot"); err != nil {
			return tb, err
		}
	}
	for i, rec := range snaps {
		pr.produce(rec, &owners[i], nil)
	}

	writes, err := tb.batch.Writes()
	if err != nil {
		return tb, fmt.Errorf("task %d: reading the batch's writes: %w", g.task, err)
	}
	for _, kv := range writes {
		// Writes are bounded when made (state.Task.LimitWrites), so a
		// changelog record too large here is a bug, not an input's fault.
		rec := &kgo.Record{Topic: p.cfg.Topology.Changelog, Partition: g.task, Key: kv.Key, Value: state.ChangelogValue(kv)}
		pr.produce(rec, nil, func(r *kgo.Record) {
			tb.mu.Lock()
			if r.Offset > tb.lastChangelog {
				tb.lastChangelog = r.Offset
			}
			tb.mu.Unlock()
		})
	}
	return tb, nil
}

// handle processes one input record. Bad input goes to the DLQ; a rule
// violation is an error result; an output too large for its topic is a
// *tooLargeError; any other error is a state failure.
func (p *Processor) handle(tb *taskBatch, r *kgo.Record, d decoded, pr *producer, changed map[int64]recordID) error {
	b := tb.batch
	id := idOf(r)
	if d.forward >= 0 {
		// Another task's org: forwarded unchanged in this transaction, so
		// a crash neither loses nor doubles it.
		tb.tally.repartitioned[r.Topic]++
		pr.produce(sink.Forward(p.cfg.Topology.Repartition, r, d.forward), &id, nil)
		return nil
	}
	origin := d.origin
	cmd, bad := d.cmd, d.bad
	if bad != nil {
		tb.tally.dlq[bad.Code]++
		pr.produce(p.enc.DLQ(r, d.origin, bad.Code, bad.Message), &id, nil)
		return nil
	}

	if prev, ok, err := b.Request(cmd.Org, cmd.RequestID); err != nil {
		return fmt.Errorf("task %d: reading request %q of org %d: %w", r.Partition, cmd.RequestID, cmd.Org, err)
	} else if ok {
		// A repeated requestId gets its first result again, changing nothing.
		rec, err := p.enc.StoredResult(prev, origin, r.Partition)
		if err != nil {
			return fmt.Errorf("task %d: re-encoding the stored result of request %q: %w", r.Partition, cmd.RequestID, err)
		}
		pr.produce(rec, &id, nil)
		return nil
	}
	if why, ok := p.poison[id]; ok {
		return p.answerTooLarge(tb, r, cmd, origin, why, pr)
	}

	out, err := customer.Apply(p.cfg.Domain, b, cmd)
	if errors.Is(err, customer.ErrBadCommand) {
		tb.tally.dlq[schemas.ErrCodeUndecodable]++
		pr.produce(p.enc.DLQ(r, origin, schemas.ErrCodeUndecodable, err.Error()), &id, nil)
		return nil
	}
	if errors.Is(err, state.ErrTooLarge) {
		return &tooLargeError{id, err.Error()}
	}
	if err != nil {
		return fmt.Errorf("task %d: applying %s %q of org %d (%s[%d]@%d): %w",
			r.Partition, cmd.Op, cmd.RequestID, cmd.Org, r.Topic, r.Partition, r.Offset, err)
	}
	rec, stored, err := p.enc.ResultAndStored(out.Result, origin, r.Partition)
	if err != nil {
		return fmt.Errorf("task %d: encoding the result of request %q: %w", r.Partition, cmd.RequestID, err)
	}
	if err := p.fits(rec, id, "result"); err != nil {
		return err
	}
	if err := b.PutRequest(cmd.Org, cmd.RequestID, stored, p.now()); err != nil {
		if errors.Is(err, state.ErrTooLarge) {
			return &tooLargeError{id, err.Error()}
		}
		return fmt.Errorf("task %d: remembering request %q: %w", r.Partition, cmd.RequestID, err)
	}
	merges := make([]*kgo.Record, 0, len(out.Merges))
	for _, m := range out.Merges {
		rec, err := p.enc.Merge(m, r.Partition)
		if err != nil {
			return fmt.Errorf("task %d: encoding a merge notice of request %q: %w", r.Partition, cmd.RequestID, err)
		}
		if err := p.fits(rec, id, "merge notice"); err != nil {
			return err
		}
		merges = append(merges, rec)
	}
	pr.produce(rec, &id, nil)
	for _, rec := range merges {
		pr.produce(rec, &id, nil)
	}
	code := "ok"
	if len(out.Result.Errors) > 0 {
		code = strconv.Itoa(int(out.Result.Errors[0].Code))
	}
	tb.tally.results[[2]string{string(cmd.Op), code}]++
	tb.tally.merges += len(out.Merges)
	for _, c := range out.Changed {
		changed[c] = id
	}
	return nil
}

// answerTooLarge answers a poisoned command: a small error result, its
// request id remembered with it, no state change, and its input record to
// the DLQ, so the request id still gets exactly one result.
func (p *Processor) answerTooLarge(tb *taskBatch, r *kgo.Record, cmd customer.Command, origin sink.Origin, why string, pr *producer) error {
	id := idOf(r)
	res := customer.Result{
		RequestID: cmd.RequestID, Org: cmd.Org, Source: cmd.Source, AccountID: cmd.AccountID, Op: cmd.Op,
		Errors: []customer.Issue{customer.Issuef(schemas.ResultCodeOutputTooLarge,
			"The command was not applied: %s; the input record is in the DLQ (%s)", why, schemas.ErrCodeOutputTooLarge)},
	}
	rec, stored, err := p.enc.ResultAndStored(res, origin, r.Partition)
	if err != nil {
		return fmt.Errorf("task %d: encoding the output-too-large result of request %q: %w", r.Partition, cmd.RequestID, err)
	}
	if err := tb.batch.PutRequest(cmd.Org, cmd.RequestID, stored, p.now()); err != nil {
		return fmt.Errorf("task %d: remembering request %q: %w", r.Partition, cmd.RequestID, err)
	}
	pr.produce(rec, nil, nil)
	pr.produce(p.enc.DLQ(r, origin, schemas.ErrCodeOutputTooLarge, why), nil, nil)
	tb.tally.results[[2]string{string(cmd.Op), strconv.Itoa(schemas.ResultCodeOutputTooLarge)}]++
	tb.tally.dlq[schemas.ErrCodeOutputTooLarge]++
	tb.refused = append(tb.refused, id)
	return nil
}

// decoded is one record's decoding: a command and its origin, or a bad
// record, or (forward ≥ 0) a record of another task's org to forward
// there through the repartition topic.
type decoded struct {
	cmd     customer.Command
	origin  sink.Origin
	bad     *BadRecord
	forward int32
	// pre is the applied state the command will read, read ahead
	// (state.Task.Prefetch); nil for records that apply nothing.
	pre *state.Prefetched
}

// decode routes r and, if it is this task's, decodes it.
func (p *Processor) decode(r *kgo.Record) (decoded, error) {
	org, task, bad := p.dec.Route(r, p.partitions)
	if bad != nil {
		return decoded{bad: bad, forward: -1, origin: originOf(r)}, nil
	}
	if task != r.Partition {
		if r.Topic != p.cfg.Topology.Repartition && p.cfg.Misrouted == MisroutedRepartition {
			return decoded{forward: task}, nil
		}
		return decoded{forward: -1, origin: originOf(r), bad: &BadRecord{schemas.ErrCodeMisrouted, fmt.Sprintf(
			"org %d belongs to partition %d (murmur2 of its canonical key, as Kafka's default partitioner), but arrived on partition %d; produce with the default partitioner, or run with --misrouted=repartition",
			org, task, r.Partition)}}, nil
	}
	// This task applies r: its producer must be admitted for the org
	// before anything of r is decoded (admit.go).
	in, _ := p.dec.inputOf(r) // Route checked it is an input's
	if bad := p.admit.admit(in, org, r); bad != nil {
		return decoded{forward: -1, origin: originOf(r), bad: bad}, nil
	}
	cmd, origin, bad, err := p.dec.Decode(context.Background(), r)
	return decoded{cmd: cmd, origin: origin, bad: bad, forward: -1}, err
}

// decodeChunk is how many records a decoding goroutine takes at a time,
// and how far ahead of the apply loop decoding must be before it starts.
const decodeChunk = 128

// decoding is a poll's records being decoded by background goroutines,
// chunk by chunk in order, while the serial apply loop consumes them: the
// loop waits only for the chunk it needs, so decoding and the state reads
// the commands will need run on the other cores beside the apply instead
// of before it.
type decoding struct {
	out  []decoded
	done []chan struct{} // closed when chunk c is decoded
	errs []error         // a chunk's failure, set before its done closes
}

// decodeAhead starts decoding records on GOMAXPROCS-1 goroutines (at
// least one), and reading from t's applied state what each command will
// read, so the serial loop finds it in memory.
func (p *Processor) decodeAhead(t *state.Task, records []*kgo.Record) *decoding {
	chunks := (len(records) + decodeChunk - 1) / decodeChunk
	d := &decoding{out: make([]decoded, len(records)), done: make([]chan struct{}, chunks), errs: make([]error, chunks)}
	for c := range d.done {
		d.done[c] = make(chan struct{})
	}
	var next atomic.Int64
	workers := min(max(runtime.GOMAXPROCS(0)-1, 1), chunks)
	for range workers {
		go func() {
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				for i := c * decodeChunk; i < min((c+1)*decodeChunk, len(records)); i++ {
					dr, err := p.decode(records[i])
					if err != nil {
						d.errs[c] = err
						break
					}
					if dr.bad == nil && dr.forward < 0 {
						dr.pre = t.Prefetch(dr.cmd.Org, customer.ReadsOf(p.cfg.Domain, dr.cmd))
					}
					d.out[i] = dr
				}
				close(d.done[c])
			}
		}()
	}
	return d
}

// get waits for record i's chunk and returns its decoding.
func (d *decoding) get(i int) (decoded, error) {
	c := i / decodeChunk
	<-d.done[c]
	if err := d.errs[c]; err != nil {
		return decoded{}, err
	}
	return d.out[i], nil
}

// wait waits for every chunk, so no goroutine is left decoding.
func (d *decoding) wait() {
	for _, ch := range d.done {
		<-ch
	}
}

// encodeSnapshots decodes stored customer documents and encodes their
// snapshot records, on every core.
func (p *Processor) encodeSnapshots(docs [][]byte, task int32) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, len(docs))
	err := parallel(len(docs), 32, func(i int) error {
		c, err := state.DecodeCustomer(docs[i])
		if err != nil {
			return fmt.Errorf("task %d: decoding a customer for its snapshot: %w", task, err)
		}
		rec, err := p.enc.Snapshot(c, task)
		if err != nil {
			return fmt.Errorf("task %d: encoding the snapshot of customer %d: %w", task, c.ID, err)
		}
		out[i] = rec
		return nil
	})
	return out, err
}

// parallel runs fn(0) … fn(n-1) on up to GOMAXPROCS goroutines, one more
// goroutine per grain items, and returns the errors joined; a goroutine
// stops at its first error.
func parallel(n, grain int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n/grain+1)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	return errors.Join(errs...)
}
