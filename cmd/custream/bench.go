package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/embedded"
	"github.com/custream/custream/processor/sample"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/state"
)

type benchFlags struct {
	kafka       kafkaFlags
	commands    int
	partitions  int
	batch       int
	latencyRate int
	latencyDur  time.Duration
	cacheMB     int
	orgs        int
	misrouted   int
	pointsPct   int
	cpuProfile  string
}

// runBench measures the exactly-once processor against the broker: bulk
// throughput per partition, a restore from the changelog, end-to-end
// latency at a fixed rate, and a stateless consume→produce passthrough
// with the same transaction settings on the same broker as the baseline.
// The processor runs as child processes, this binary's `custream run`, so
// the CPU and memory it reports are the processor's alone.
func runBench(args []string, stdout, stderr io.Writer) int {
	var f benchFlags
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.kafka.register(fs)
	fs.IntVar(&f.commands, "commands", 200_000, "input records of the throughput run: commands, and with --points-pct balances")
	fs.IntVar(&f.partitions, "partitions", 1, "partitions (tasks); 1 measures one partition's pipeline")
	fs.IntVar(&f.batch, "batch-records", processor.DefaultMaxBatchRecords, "input records per transaction at most")
	fs.IntVar(&f.latencyRate, "latency-rate", 0, "commands/s of the latency run (default: half the measured throughput)")
	fs.DurationVar(&f.latencyDur, "latency-duration", 10*time.Second, "length of the latency run")
	fs.IntVar(&f.cacheMB, "cache-mb", state.DefaultCacheBytes>>20, "Pebble block cache")
	fs.IntVar(&f.orgs, "orgs", 1, "orgs the commands are spread over")
	fs.IntVar(&f.misrouted, "misrouted-pct", 0, "percent of the backlog produced to a partition that is not its org's, as a non-murmur2 producer would (needs --partitions 2 or more): they are forwarded through the repartition topic")
	fs.IntVar(&f.pointsPct, "points-pct", 0, "percent of the throughput backlog that are balances from the loyalty engine (to the points topic), for loyalty customers the commands before them register, with versions increasing per customer and program; the rest are commands")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the throughput child's whole life to this file, and of the restore child's to this file plus .restore")
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	if f.misrouted < 0 || f.misrouted > 100 || (f.misrouted > 0 && f.partitions < 2) {
		fmt.Fprintln(stderr, "custream bench: --misrouted-pct is 0 to 100, and needs --partitions 2 or more (with one partition nothing can be misrouted)")
		return 2
	}
	if f.pointsPct < 0 || f.pointsPct > 100 || (f.pointsPct > 0 && f.misrouted > 0) {
		fmt.Fprintln(stderr, "custream bench: --points-pct is 0 to 100, and needs --misrouted-pct 0 (a misrouted registration is applied after the records behind it, so the ids the balances name are not known)")
		return 2
	}
	if f.commands < 1 || f.partitions < 1 {
		fmt.Fprintln(stderr, "custream bench: --commands and --partitions are 1 or more")
		return 2
	}
	log := newLogger(stderr, cmp.Or(os.Getenv("CUSTREAM_LOG_LEVEL"), "warn"))
	if err := bench(context.Background(), f, stdout, log); err != nil {
		fmt.Fprintln(stderr, "custream bench:", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, f benchFlags, out io.Writer, log *slog.Logger) (err error) {
	tmp, err := os.MkdirTemp("", "custream-bench")
	if err != nil {
		return err
	}
	defer func() { cleanBenchDir(tmp, err != nil, log) }()
	brokers := f.kafka.brokerList()
	brokerKind := "Apache Kafka at " + strings.Join(brokers, ",")
	if len(brokers) == 0 {
		b, err := embedded.Start(filepath.Join(tmp, "kafka"), 0, log)
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = []string{b.Addr()}
		brokerKind = "embedded kfake (not Apache Kafka: figures are for orientation only)"
	}
	opts, err := f.kafka.clientOpts(os.Getenv)
	if err != nil {
		return err
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)
	adm, closeAdm, err := newAdmin(brokers, opts)
	if err != nil {
		return err
	}
	defer closeAdm()

	name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	topo := processor.DefaultTopology(name, name, customer.DefaultSources())
	P := int32(f.partitions)
	if _, err := processor.EnsureTopics(ctx, adm, topo, processor.TopicsConfig{Partitions: P}); err != nil {
		return err
	}
	defer deleteTopics(adm, topo)
	exe, _ := os.Executable()
	if f.pointsPct == 0 {
		fmt.Fprintf(out, "custream bench: %s, %d partition(s), %d commands, batches of ≤ %d\n", brokerKind, P, f.commands, f.batch)
	} else {
		fmt.Fprintf(out, "custream bench: %s, %d partition(s), %d input records (%d%% balances), batches of ≤ %d\n", brokerKind, P, f.commands, f.pointsPct, f.batch)
	}
	fmt.Fprintf(out, "  the processor runs as child processes (%s run); their CPU and RSS are theirs alone\n\n", exe)

	orgs := orgsFor(f.orgs, P)
	gen := sample.New(sample.Config{Seed: 1, Orgs: orgs, Partitions: P, PartitionOf: func(org int64) int32 {
		return processor.TaskOfOrg(org, P)
	}, Balances: f.pointsPct > 0})
	bl, err := newBacklog(topo, gen, f.commands, P, f.misrouted, f.pointsPct, time.Now())
	if err != nil {
		return err
	}
	records := bl.records
	prodRate, err := produceAll(ctx, append(base, kgo.RecordPartitioner(kgo.ManualPartitioner())), records)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  loaded the input topics at %.0f records/s (%d of %d on a partition not their org's)\n", prodRate, bl.misrouted, len(records))

	spec := func(phase, stateOf, profile string) childSpec {
		return childSpec{phase: phase, stateOf: stateOf, tmp: tmp, brokers: brokers, kafka: &f.kafka, name: name,
			partitions: P, batch: f.batch, cacheMB: f.cacheMB, cpuProfile: profile}
	}
	results := newResultWatch(ctx, base, topo.Results)
	defer results.close()

	// 1. Throughput: the whole backlog through the exactly-once processor.
	var tally func() (balanceTally, error)
	if bl.balances > 0 {
		tally = func() (balanceTally, error) { return tallyBalances(ctx, base, topo.Results, len(records)) }
	}
	tput, err := benchThroughput(out, spec("throughput", "", f.cpuProfile), results, bl, P, tally)
	if err != nil {
		return err
	}

	// 2. Restore: the same group again with an empty state dir rebuilds
	// every task from the changelog.
	restoreProfile := ""
	if f.cpuProfile != "" {
		restoreProfile = f.cpuProfile + ".restore"
	}
	if err := benchRestore(ctx, out, adm, spec("restore", "", restoreProfile), topo.Changelog); err != nil {
		return err
	}

	// 3. Latency: a steady rate, produce → committed result, through a
	// third child on the restored state (so its figures are its own).
	rate := f.latencyRate
	if rate == 0 {
		rate = max(1, int(tput*float64(P)/2))
	}
	if err := benchLatency(ctx, out, spec("latency", "restore", ""), base, topo, gen, results, rate, f.latencyDur); err != nil {
		return err
	}

	// 4. Baseline: consume → produce with the same transactions, no state.
	pt, err := passthrough(ctx, adm, base, name, P, records, f.batch)
	if err != nil {
		return err
	}
	ptRate := float64(f.commands) / pt.Seconds() / float64(P)
	fmt.Fprintf(out, "  passthrough baseline: %d records in %s = %.0f records/s per partition\n", f.commands, pt.Round(time.Millisecond), ptRate)
	fmt.Fprintf(out, "\n  processor / passthrough = %.0f%%\n", 100*tput/ptRate)
	return nil
}

// cleanBenchDir removes the bench's temp dir, but after a failure keeps
// the children's logs (and only them: the state dirs and an embedded
// broker's log can be large) for the reader.
func cleanBenchDir(tmp string, failed bool, log *slog.Logger) {
	if !failed {
		if err := os.RemoveAll(tmp); err != nil {
			log.Warn("removing the bench's temp dir", "dir", tmp, "err", err)
		}
		return
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		log.Warn("cleaning the bench's temp dir", "dir", tmp, "err", err)
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
				log.Warn("cleaning the bench's temp dir", "path", filepath.Join(tmp, e.Name()), "err", err)
			}
		}
	}
	log.Warn("the children's logs are kept", "dir", tmp)
}

// benchThroughput starts a child on the preloaded backlog and waits until
// the results topic holds a result for every record; it returns the input
// records/s per partition (commands/s when they are all commands) from the
// child's start to the last result. With balances in the backlog, tally
// counts which of them were applied, once the child has stopped.
func benchThroughput(out io.Writer, spec childSpec, results *resultWatch, bl backlog, P int32, tally func() (balanceTally, error)) (float64, error) {
	n := len(bl.records)
	c, err := startChild(spec)
	if err != nil {
		return 0, err
	}
	defer c.kill()
	first, err := results.await(1, 30*time.Minute, c.exited)
	if err != nil {
		return 0, c.failed(err)
	}
	firstUsage, err := c.sample()
	if err != nil {
		return 0, c.failed(err)
	}
	firstN := results.firstCount()
	last, err := results.await(n, 30*time.Minute, c.exited)
	if err != nil {
		return 0, c.failed(err)
	}
	lastUsage, err := c.sample()
	if err != nil {
		return 0, c.failed(err)
	}
	whole, err := c.stop()
	if err != nil {
		return 0, err
	}
	el := last.Sub(c.started)
	perPart := func(k int, d time.Duration) float64 { return float64(k) / d.Seconds() / float64(P) }
	tput := perPart(n, el)
	// Without balances the lines are as they always were, so older runs
	// compare line by line.
	items, item := "commands", "command"
	if bl.balances == 0 {
		fmt.Fprintf(out, "  throughput: %d commands in %s = %.0f commands/s per partition (child start to last result: start-up, group join, restore included)\n",
			n, el.Round(time.Millisecond), tput)
	} else {
		items, item = "records", "input record"
		fmt.Fprintf(out, "  throughput: %d input records (%d commands, %d balances) in %s = %.0f records/s per partition (child start to last result: start-up, group join, restore included)\n",
			n, bl.commands, bl.balances, el.Round(time.Millisecond), tput)
		t, err := tally()
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(out, "    commands: %d = %.0f commands/s per partition\n", bl.commands, perPart(bl.commands, el))
		fmt.Fprintf(out, "    balances: %d = %.0f balances/s per partition; applied (results op=points, success): %d = %.0f balances/s per partition; refused: %s\n",
			bl.balances, perPart(bl.balances, el), t.applied, perPart(t.applied, el), t.refusals())
	}
	steadyN := n - firstN
	if steady := last.Sub(first); steadyN > 0 && steady > 0 {
		fmt.Fprintf(out, "    steady (first result, %s after the start, to the last): %.0f %s/s per partition\n",
			first.Sub(c.started).Round(time.Millisecond), perPart(steadyN, steady), items)
	}
	fmt.Fprintf(out, "    child CPU, whole life (rusage: start-up, join, backlog, shutdown): %s = %.1f µs per %s\n",
		whole.cpu.Round(time.Millisecond), perItem(whole.cpu, n), item)
	if cpu := lastUsage.cpu - firstUsage.cpu; steadyN > 0 {
		fmt.Fprintf(out, "    child CPU, steady (/proc, first result to last; 10 ms ticks): %s = %.1f µs per %s\n",
			cpu.Round(time.Millisecond), perItem(cpu, steadyN), item)
	}
	fmt.Fprintf(out, "    child peak RSS: %.1f MiB (VmHWM, shutdown included; %.1f MiB at the last result)\n", whole.peakMiB(), lastUsage.peakMiB())
	return tput, nil
}

// perItem is cpu per item in µs.
func perItem(cpu time.Duration, items int) float64 {
	return float64(cpu.Nanoseconds()) / 1e3 / float64(items)
}

// orgsFor returns n org ids, at least one per partition when n ≥ P, so
// every task gets work.
func orgsFor(n int, partitions int32) []int64 {
	var out []int64
	seen := map[int32]bool{}
	for org := int64(100); len(out) < n; org++ {
		p := processor.TaskOfOrg(org, partitions)
		if len(seen) < int(partitions) && seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, org)
	}
	return out
}

// commandRecord is cmd as a producer sends it, in the JSON form, keyed by
// its org: a command to its source's topic with its headers, a balance
// (OpPoints) to the points topic without any.
func commandRecord(topo processor.Topology, cmd customer.Command) (*kgo.Record, error) {
	if cmd.Op == customer.OpPoints {
		value, err := schemas.EncodeBalanceJSON(cmd)
		if err != nil {
			return nil, err
		}
		return &kgo.Record{Topic: topo.PointsTopic(), Key: strconv.AppendInt(nil, cmd.Org, 10), Value: value}, nil
	}
	value, hs, err := schemas.EncodeJSONCommand(cmd)
	if err != nil {
		return nil, err
	}
	var topic string
	for _, in := range topo.Inputs {
		if in.Source.Name == cmd.Source {
			topic = in.Topic
		}
	}
	r := &kgo.Record{Topic: topic, Key: strconv.AppendInt(nil, cmd.Org, 10), Value: value}
	for _, h := range hs {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r, nil
}

func produceAll(ctx context.Context, base []kgo.Opt, records []*kgo.Record) (float64, error) {
	cl, err := kgo.NewClient(append(base, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for _, r := range records {
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, fmt.Errorf("producing the input: %w", *e)
	}
	return float64(len(records)) / time.Since(start).Seconds(), nil
}

// resultWatch counts committed results and notes when each arrived. The
// results topic, read committed, says when the processor is done: a
// transaction's results are there once it committed.
type resultWatch struct {
	cl *kgo.Client
	mu sync.Mutex
	n  int
	// last is when the latest results arrived.
	last time.Time
	// first is when the first results arrived and firstN how many came
	// then, for the steady rate after the group join and restore.
	first  time.Time
	firstN int
	seen   map[schemas.Origin]time.Time
	track  bool
	// target and reached are await's: reached is closed when n reaches
	// target, at reachedAt.
	target    int
	reached   chan struct{}
	reachedAt time.Time
	quit      chan struct{}
	wg        sync.WaitGroup
}

// errAborted: await gave up because its abort channel closed (the child
// it waited on exited).
var errAborted = errors.New("stopped waiting for results")

func newResultWatch(ctx context.Context, base []kgo.Opt, topic string) *resultWatch {
	w := &resultWatch{seen: map[schemas.Origin]time.Time{}, quit: make(chan struct{})}
	cl, err := kgo.NewClient(append(base, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		panic(err) // only bad options fail here, and base was used before
	}
	w.cl = cl
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.quit:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fs := cl.PollFetches(pctx)
			cancel()
			now := time.Now()
			w.mu.Lock()
			if fs.NumRecords() > 0 {
				w.last = now
				if w.first.IsZero() {
					w.first, w.firstN = now, fs.NumRecords()
				}
			}
			fs.EachRecord(func(r *kgo.Record) {
				w.n++
				if w.track {
					if rr, err := schemas.DecodeResult(r.Value); err == nil {
						w.seen[rr.Origin] = now
					}
				}
			})
			if w.reached != nil && w.n >= w.target {
				w.reachedAt = now
				close(w.reached)
				w.reached = nil
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// firstCount is how many results the first fetch that had any brought.
func (w *resultWatch) firstCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstN
}

// await returns when the watch has seen n results: the moment the fetch
// that brought the n-th arrived. It gives up after limit, or when abort
// closes (errAborted).
func (w *resultWatch) await(n int, limit time.Duration, abort <-chan struct{}) (time.Time, error) {
	w.mu.Lock()
	if w.n >= n {
		defer w.mu.Unlock()
		return w.last, nil
	}
	reached := make(chan struct{})
	w.target, w.reached = n, reached
	w.mu.Unlock()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var err error
	select {
	case <-reached:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.reachedAt, nil
	case <-abort:
		err = errAborted
	case <-timer.C:
		err = fmt.Errorf("still waiting after %s", limit)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reached = nil
	return time.Time{}, fmt.Errorf("%d of %d results: %w", w.n, n, err)
}

func (w *resultWatch) close() { close(w.quit); w.wg.Wait(); w.cl.Close() }

type latencies struct {
	n             int
	p50, p99, max time.Duration
}

func latencyRun(ctx context.Context, base []kgo.Opt, topo processor.Topology, gen *sample.Generator, w *resultWatch, rate int, dur time.Duration, abort <-chan struct{}) (latencies, error) {
	cl, err := kgo.NewClient(append(base, kgo.ProducerLinger(0))...)
	if err != nil {
		return latencies{}, err
	}
	defer cl.Close()
	w.mu.Lock()
	w.track = true
	already := w.n
	w.mu.Unlock()

	var mu sync.Mutex
	sent := map[schemas.Origin]time.Time{}
	var perr error
	total := int(float64(rate) * dur.Seconds())
	interval := time.Second / time.Duration(max(rate, 1))
	start := time.Now()
	for i := 0; i < total; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		r, err := commandRecord(topo, gen.Next())
		if err != nil {
			return latencies{}, err
		}
		at := time.Now()
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				perr = err
				return
			}
			sent[schemas.Origin{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}] = at
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return latencies{}, err
	}
	if perr != nil {
		return latencies{}, perr
	}
	if _, err := w.await(already+total, 5*time.Minute, abort); err != nil {
		return latencies{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var ds []time.Duration
	for o, at := range sent {
		if seen, ok := w.seen[o]; ok {
			ds = append(ds, seen.Sub(at))
		}
	}
	if len(ds) == 0 {
		return latencies{}, errors.New("no latency samples")
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(100 * time.Microsecond)
	}
	return latencies{n: len(ds), p50: q(0.50), p99: q(0.99), max: ds[len(ds)-1].Round(100 * time.Microsecond)}, nil
}

// passthrough copies the same records from an input topic to an output
// topic in transactions of the same size, with a GroupTransactSession, and
// returns the time it took: what Kafka transactions cost without any work.
func passthrough(ctx context.Context, adm *kadm.Client, base []kgo.Opt, name string, P int32, records []*kgo.Record, batch int) (time.Duration, error) {
	in, outTopic := name+"-pt.in", name+"-pt.out"
	for _, t := range []string{in, outTopic} {
		if _, err := adm.CreateTopic(ctx, P, -1, nil, t); err != nil {
			return 0, fmt.Errorf("creating %s: %w", t, err)
		}
	}
	defer adm.DeleteTopics(context.Background(), in, outTopic)
	copies := make([]*kgo.Record, len(records))
	for i, r := range records {
		copies[i] = &kgo.Record{Topic: in, Key: r.Key, Value: r.Value, Headers: r.Headers}
	}
	time.Sleep(time.Second) // let the new topics' metadata settle
	if _, err := produceAll(ctx, base, copies); err != nil {
		return 0, err
	}
	sess, err := kgo.NewGroupTransactSession(append(base,
		kgo.ConsumerGroup(name+"-pt"), kgo.ConsumeTopics(in), kgo.TransactionalID(name+"-pt"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	start := time.Now()
	done := 0
	for done < len(records) {
		if time.Since(start) > 30*time.Minute {
			return 0, fmt.Errorf("passthrough: only %d of %d after 30 minutes", done, len(records))
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := sess.PollRecords(pctx, batch)
		cancel()
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return 0, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Topic: outTopic, Partition: r.Partition, Key: r.Key, Value: r.Value}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return 0, err
		}
		if committed {
			done += fs.NumRecords()
		}
	}
	return time.Since(start), nil
}

func deleteTopics(adm *kadm.Client, topo processor.Topology) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	for _, s := range topo.Specs() {
		names = append(names, s.Name)
	}
	_, _ = adm.DeleteTopics(ctx, names...)
}

// benchRestore starts a child on an empty state dir, in the group whose
// changelog the throughput child wrote, and times it until its /readyz
// says every task it owns is restored: the test benchRestore made in
// process before (processor.Ready), asked over HTTP.
func benchRestore(ctx context.Context, out io.Writer, adm *kadm.Client, spec childSpec, changelog string) error {
	ends, err := adm.ListEndOffsets(ctx, changelog)
	if err != nil {
		return fmt.Errorf("changelog end offsets: %w", err)
	}
	var offsets int64
	ends.Each(func(o kadm.ListedOffset) { offsets += o.Offset })
	c, err := startChild(spec)
	if err != nil {
		return err
	}
	defer c.kill()
	r, err := c.awaitReady(30 * time.Minute)
	if err != nil {
		return err
	}
	records, err := c.restoredRecords()
	if err != nil {
		return err
	}
	whole, err := c.stop()
	if err != nil {
		return err
	}
	el := r.ready.Sub(c.started)
	fmt.Fprintf(out, "  restore from an empty state dir: %d changelog records (%d offsets with the transaction markers) in %s = %.0f records/s (child start to /readyz ready: start-up and group join included)\n",
		records, offsets, el.Round(time.Millisecond), float64(records)/el.Seconds())
	if phase := r.ready.Sub(r.restoring); !r.restoring.IsZero() && phase > 0 {
		fmt.Fprintf(out, "    restoring (/readyz \"restoring\" to ready): %s = %.0f records/s\n",
			phase.Round(time.Millisecond), float64(records)/phase.Seconds())
	}
	fmt.Fprintf(out, "    child CPU, whole life (rusage: start-up, join, restore, shutdown): %s = %.2f µs per record\n",
		whole.cpu.Round(time.Millisecond), perItem(whole.cpu, int(records)))
	if !r.restoring.IsZero() {
		cpu := r.readyUsage.cpu - r.restoringUsage.cpu
		fmt.Fprintf(out, "    child CPU, restoring (/proc; 10 ms ticks): %s = %.2f µs per record\n",
			cpu.Round(time.Millisecond), perItem(cpu, int(records)))
	}
	fmt.Fprintf(out, "    child peak RSS: %.1f MiB (VmHWM, shutdown included; %.1f MiB when ready)\n", whole.peakMiB(), r.readyUsage.peakMiB())
	return nil
}

// benchLatency starts a child on the restored state, waits until it is
// ready, and measures produce → committed result at a steady rate.
func benchLatency(ctx context.Context, out io.Writer, spec childSpec, base []kgo.Opt, topo processor.Topology, gen *sample.Generator, results *resultWatch, rate int, dur time.Duration) error {
	c, err := startChild(spec)
	if err != nil {
		return err
	}
	defer c.kill()
	if _, err := c.awaitReady(30 * time.Minute); err != nil {
		return err
	}
	before, err := c.sample()
	if err != nil {
		return c.failed(err)
	}
	lat, err := latencyRun(ctx, base, topo, gen, results, rate, dur, c.exited)
	if err != nil {
		return c.failed(err)
	}
	after, err := c.sample()
	if err != nil {
		return c.failed(err)
	}
	if _, err := c.stop(); err != nil {
		return err
	}
	fmt.Fprintf(out, "  end-to-end latency at %d commands/s (produce → committed result): p50 %s, p99 %s, max %s (%d commands)\n",
		rate, lat.p50, lat.p99, lat.max, lat.n)
	fmt.Fprintf(out, "    child CPU meanwhile (/proc): %.1f µs per command at this rate\n", perItem(after.cpu-before.cpu, lat.n))
	return nil
}
