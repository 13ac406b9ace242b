package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
	"github.com/custream/custream/state"
)

// Processor is one member of the custream consumer group: it owns some
// tasks, runs the transaction loop over them, and restores a task from its
// changelog before it processes the task's input.
type Processor struct {
	cfg Config
	log *slog.Logger
	db  *state.DB
	enc *sink.Encoder
	dec *Decoder
	// admit decides which producers may act for which orgs (admit.go).
	admit *admitter
	sess  *kgo.GroupTransactSession

	partitions int32 // of every topic, checked at start
	// maxBytes is every output topic's max.message.bytes, read from the
	// broker at start: an output over it is refused before it is produced.
	maxBytes map[string]int32

	// poison lists input records whose outputs could not be produced (too
	// large): on the retry of their batch they are answered with an
	// output-too-large result instead. Only the loop goroutine touches it.
	poison map[recordID]string

	// consumed and purged are, per repartition partition, the offset
	// after the last record a committed transaction consumed, and the low
	// watermark the last purge left (purge.go). Loop goroutine only.
	consumed, purged map[int32]int64
	lastPurge        time.Time

	// queues are the ready tasks' fetched records not applied yet, and
	// started the tasks whose queues know where their partitions stand
	// (order.go). Loop goroutine only.
	queues    *queues
	started   map[int32]bool
	moreReady bool // the last batch was full: more may be buffered and ready

	mu       sync.Mutex
	assigned map[int32]bool // tasks the group gave us, always within gen
	pending  map[int32]bool // assigned tasks not yet restored
	ready    map[int32]*state.Task
	idle     *idleClock // time each assigned task spent not processing
	// gen is this member's tasks in the current generation, as its
	// SyncGroup assignment says; owners is every task's owner address in
	// it. Both nil while rebalancing. They are the authority on what is
	// ours: the group callbacks only add and remove on top of them.
	gen    map[int32]bool
	owners map[int32]string
	// lastGen is this member's tasks in the last generation it had,
	// kept through revokes: its v2 join metadata reports them, since
	// franz-go tells an eager balancer nothing of them (balancer.go).
	// genCause is the leader's cause of that generation.
	lastGen  []int32
	genCause string
	// counted is the generation number the rebalance metrics last
	// counted (0: none yet in this process), countedTasks its tasks.
	counted      int32
	countedTasks map[int32]bool
	// doubt, when set, says why this member's membership is in doubt (a
	// group error, or the process stopped for a while): it serves no
	// reads until the group confirms it (membership.go).
	doubt string
	// standbyWant is this generation's standby tasks of this member
	// (never its own tasks), standbys the replicators running
	// (standby.go): the loop starts them, restoreOne stops a task's
	// before it restores it.
	standbyWant map[int32]bool
	standbys    map[int32]*replicator
	// pollCancel interrupts the poll in flight.
	pollCancel context.CancelFunc

	// applying is the last committed transaction's batches on their way
	// into Pebble while the loop processes the next poll (apply.go).
	// Only the loop goroutine touches it.
	applying *pebbleApply

	// registryBackoff is the wait before retrying a batch aborted because
	// the schema registry did not answer, 0 after a batch that went
	// through (registry.go). Loop goroutine only.
	registryBackoff time.Duration
}

// fetchMaxWait is the consumer's FetchMaxWait (see New).
const fetchMaxWait = 500 * time.Millisecond

// New checks the topics and joins nothing yet; Run joins the group.
func New(ctx context.Context, cfg Config, db *state.DB) (*Processor, error) {
	cfg.ensureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("processor config: %w", err)
	}
	p := &Processor{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "processor"),
		db:       db,
		dec:      NewDecoder(cfg.Topology, cfg.Confluent),
		admit:    newAdmitter(cfg.Admission),
		assigned: map[int32]bool{},
		pending:  map[int32]bool{},
		ready:    map[int32]*state.Task{},
		idle:     newIdleClock(cfg.Metrics.notProcessing),
		poison:   map[recordID]string{},
		consumed: map[int32]int64{},
		purged:   map[int32]int64{},
		queues:   newQueues(cfg.Topology),
		started:  map[int32]bool{},
		standbys: map[int32]*replicator{},
	}
	adm, closeAdm, err := p.admin()
	if err != nil {
		return nil, err
	}
	defer closeAdm()
	if p.partitions, err = CheckTopics(ctx, adm, cfg.Topology); err != nil {
		return nil, err
	}
	t := cfg.Topology
	if p.maxBytes, err = MaxMessageBytes(ctx, adm, t.Results, t.Merges, t.Snapshots, t.DLQ, t.Changelog, t.Repartition); err != nil {
		return nil, err
	}
	var ids schemas.OutputIDs
	if cfg.OutputFormat == sink.Confluent {
		// Before anything is produced: no record is ever written with a
		// schema the registry has not accepted.
		if ids, err = registerOutputs(ctx, cfg, p.log); err != nil {
			return nil, err
		}
	}
	p.enc = sink.NewEncoder(sink.Options{
		Format:      cfg.OutputFormat,
		SchemaIDs:   ids,
		Topics:      sink.Topics{Results: t.Results, Merges: t.Merges, Snapshots: t.Snapshots, DLQ: t.DLQ},
		MaxDLQBytes: int(p.maxBytes[t.DLQ]),
		Instance:    cfg.InstanceID,
	})
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.InstanceID(cfg.InstanceID),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.ConsumeTopics(cfg.Topology.ConsumedTopics()...),
		// Partition p of every input topic goes to one member: a whole
		// task (docs/exactly-once.md).
		// Sticky (v2) first; v1 for a group that still has members of
		// a release without v2 (balancer.go).
		kgo.Balancers(
			&taskBalancer{sticky: true, advertise: cfg.AdvertiseHTTP, standbys: cfg.StandbyReplicas, report: p.joinReport, onSync: p.setGeneration},
			&taskBalancer{advertise: cfg.AdvertiseHTTP, onSync: p.setGeneration},
		),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The broker holds a fetch with nothing to return this long. A
		// task that waits for a partition (order.go), and a task just
		// restored behind empty ones, wait no longer than this for records
		// that arrive meanwhile; franz-go's default is 5s.
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.TransactionalID(cfg.Group + "-" + cfg.InstanceID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		// Every output record names its partition: task p writes
		// partition p of every topic.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Batches as large as each topic takes, so that any record the
		// broker would accept is produced (franz-go's default is below
		// Kafka's default max.message.bytes).
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 {
			if n, ok := p.maxBytes[topic]; ok {
				return n
			}
			return defaultMaxMessageBytes
		}),
		kgo.OnPartitionsAssigned(p.onAssigned),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onRevoked),
		kgo.WithHooks(groupErrorHook(p.groupError)),
	}, cfg.ClientOpts...)
	opts = append(opts, cfg.SessionOpts...)
	if p.sess, err = kgo.NewGroupTransactSession(opts...); err != nil {
		return nil, fmt.Errorf("creating the transactional group session: %w", err)
	}
	// Initialising the transactional id now fences a crashed predecessor
	// with the same id and aborts its open transaction at once, so the
	// restores that follow do not wait out the transaction timeout.
	if _, _, err := p.sess.Client().ProducerID(ctx); err != nil {
		p.sess.Close()
		return nil, fmt.Errorf("initialising transactional id %s-%s: %w", cfg.Group, cfg.InstanceID, err)
	}
	return p, nil
}

// now is the processor's clock (Config.Now), in UTC.
func (p *Processor) now() time.Time { return p.cfg.Now().UTC() }

// updateTaskGauges mirrors the task maps into the metrics; p.mu is held.
func (p *Processor) updateTaskGauges() {
	p.cfg.Metrics.tasks.WithLabelValues("assigned").Set(float64(len(p.assigned)))
	p.cfg.Metrics.tasks.WithLabelValues("restoring").Set(float64(len(p.pending)))
	p.cfg.Metrics.tasks.WithLabelValues("ready").Set(float64(len(p.ready)))
}

// Partitions is the partition count of every topic, i.e. the task count.
func (p *Processor) Partitions() int32 { return p.partitions }

// onAssigned runs in the group's goroutine: it only records the new tasks
// and pauses their partitions; the loop restores them and resumes.
func (p *Processor) onAssigned(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	cl.PauseFetchPartitions(m)
	_, generation := cl.GroupMetadata()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.countGeneration(generation)
	for _, parts := range m {
		for _, part := range parts {
			if p.gen != nil && !p.gen[part] {
				// Cannot happen with the SyncGroup we parsed; the
				// generation's assignment wins.
				p.log.Warn("assigned a task outside this generation's assignment; ignoring it", "task", part)
				continue
			}
			p.assigned[part] = true
			p.pending[part] = true
			p.idle.stop(part)
			delete(p.ready, part)
		}
	}
	if p.pollCancel != nil {
		p.pollCancel()
	}
	p.updateTaskGauges()
	p.log.Info("tasks assigned", "tasks", sortedKeys(p.assigned))
}

// onRevoked records lost tasks. The session aborts a transaction in flight;
// the loop drops the revoked tasks' batches.
func (p *Processor) onRevoked(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	cl.ResumeFetchPartitions(m)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.owners, p.gen = nil, nil // stale until the next generation's assignment
	for _, parts := range m {
		for _, part := range parts {
			delete(p.assigned, part)
			delete(p.pending, part)
			delete(p.ready, part)
			p.idle.run(part)
		}
	}
	p.updateTaskGauges()
	p.log.Info("tasks revoked", "remaining", sortedKeys(p.assigned))
}

// Run processes input until ctx ends, then finishes or aborts the open
// transaction and leaves the group. It returns nil after a clean shutdown,
// or the error that stopped it.
func (p *Processor) Run(ctx context.Context) error {
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		p.watchMembership(wctx)
	}()
	defer func() {
		stopWatch()
		<-watched
	}()
	err := p.loop(ctx)
	// The replicators end with the loop's context; wait for them before
	// the state closes.
	p.stopAllStandbys()
	if aerr := p.awaitApply(); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		// Leave the transaction and the group to the broker's timeouts:
		// the next owner restores from what committed.
		p.sess.Close()
		return err
	}
	p.log.Info("shutting down")
	p.sess.CloseAllowingRebalance()
	if !p.cfg.StayInGroupOnClose {
		p.leaveGroup()
	}
	return nil
}

// leaveGroup removes this static member from the group, which its client
// does not do on close, so the other members take its tasks now rather
// than after the session timeout.
func (p *Processor) leaveGroup() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm, closeAdm, err := p.admin()
	if err != nil {
		p.log.Warn("could not leave the group", "err", err)
		return
	}
	defer closeAdm()
	if _, _, err := LeaveGroup(ctx, adm, p.cfg.Group, "custream shutting down", p.cfg.InstanceID); err != nil {
		p.log.Warn("could not leave the group; its session timeout will", "err", err)
		return
	}
	p.log.Info("left the group", "group", p.cfg.Group, "instance", p.cfg.InstanceID)
}

func (p *Processor) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		// Restore reads and may drop a task's state: the last batch must be
		// in Pebble first. An apply that failed stops the processor.
		if err := p.awaitApplyIfPending(); err != nil {
			return err
		}
		// Standbys start here, where no write of an active task is in
		// flight; a task about to restore has none (restoreOne).
		p.syncStandbys(ctx)
		if err := p.restorePending(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Error("restore failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		// A poll blocks until records arrive; new tasks arrive paused, so
		// onAssigned cancels the poll to let the loop restore them.
		pctx, cancel := context.WithCancel(ctx)
		p.mu.Lock()
		p.pollCancel = cancel
		restoreFirst := len(p.pending) > 0
		p.mu.Unlock()
		if restoreFirst {
			cancel()
			continue
		}
		if err := p.startReady(ctx); err != nil {
			cancel()
			if ctx.Err() != nil {
				break
			}
			p.log.Warn("reading the positions of newly ready tasks failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		var fs kgo.Fetches
		switch {
		case p.queues.full():
			// Buffers full: apply before fetching more.
		case p.moreReady:
			// The last batch was full and more may be ready: take what is
			// fetched already, without waiting (a done context polls once).
			done, stop := context.WithCancel(pctx)
			stop()
			fs = p.sess.PollRecords(done, p.cfg.MaxBatchRecords)
		default:
			if wait, ok := p.pollWait(); ok {
				// A task waits for a lagging partition: poll no longer
				// than its wait has left, then decide again.
				wctx, cancelWait := context.WithTimeout(pctx, wait)
				fs = p.sess.PollRecords(wctx, p.cfg.MaxBatchRecords)
				cancelWait()
			} else {
				fs = p.sess.PollRecords(pctx, p.cfg.MaxBatchRecords)
			}
		}
		cancel()
		if fs.IsClientClosed() {
			return errors.New("the Kafka client closed")
		}
		fs.EachError(func(topic string, part int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			p.log.Warn("fetch error", "topic", topic, "partition", part, "err", err)
		})
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if n := len(fp.Records); n > 0 {
				behind := fp.HighWatermark - (fp.Records[n-1].Offset + 1)
				p.cfg.Metrics.lag.WithLabelValues(fp.Topic, strconv.Itoa(int(fp.Partition))).Set(float64(max(behind, 0)))
			}
		})
		if !p.allReady(fs) {
			// Records of a task that is not restored yet (assigned after
			// the poll began): abort, which rewinds the consumer to the
			// committed offsets, and restore first.
			if err := p.rewind(); err != nil {
				return err
			}
			continue
		}
		p.queues.add(fs)
		groups, n := p.selectBatch(ctx)
		// Fewer than a full batch: every task took what it could, and the
		// rest waits for a lagging partition or for new records.
		p.moreReady = n >= p.cfg.MaxBatchRecords
		if n == 0 {
			continue
		}
		if err := p.runTransaction(groups, n); err != nil {
			var rb *retryBatch
			if errors.As(err, &rb) {
				p.waitForRegistry(ctx, rb.err)
				continue
			}
			return err
		}
		p.registryBackoff = 0
		p.maybePurge(ctx)
	}
	return nil
}

// taskRecords is one task's records of a transaction, in the order they
// are applied (order.go).
type taskRecords struct {
	task    int32
	records []*kgo.Record
}

// allReady reports whether every polled record belongs to a ready task.
func (p *Processor) allReady(fs kgo.Fetches) bool {
	ok := true
	p.mu.Lock()
	defer p.mu.Unlock()
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) > 0 && p.ready[fp.Partition] == nil {
			ok = false
		}
	})
	return ok
}

// rewind aborts an empty transaction, which sends the consumer back to the
// committed offsets, drops every buffered record with it, and makes every
// task restore first.
func (p *Processor) rewind() error {
	endCtx, cancel := context.WithTimeout(context.Background(), p.cfg.TransactionTimeout)
	defer cancel()
	if err := p.sess.Begin(); err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	_, err := p.sess.End(endCtx, kgo.TryAbort)
	p.markAllPending()
	return wrapEnd(err)
}

func (p *Processor) readyTask(t int32) *state.Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready[t]
}

// markAllPending makes every assigned task restore before it goes on: after
// a transaction that did not commit, the changelog says what happened. The
// consumer was rewound to the committed offsets, so the buffered records
// go too.
func (p *Processor) markAllPending() {
	p.queues.drop(0, true)
	p.started = map[int32]bool{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.assigned {
		p.pending[t] = true
		delete(p.ready, t)
		p.idle.stop(t)
	}
	p.updateTaskGauges()
}

func sortedKeys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
