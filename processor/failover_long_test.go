package processor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/state"
)

// TestFailoverAtScale is issue 15's measurement at state size (`make
// failover`; minutes, so only with CUSTREAM_LONG=1 and a real broker): a
// backlog of CUSTREAM_FAILOVER_REGISTERS registrations (default 2,000,000,
// each a new customer) over 1,200 orgs and 12 tasks, so the member that is
// killed holds about half of them. Two members: the victim a `custream run`
// child, the survivor in-process. Once the backlog is processed, a light
// steady load runs and the victim dies by SIGKILL; measured: kill → the
// survivor holds every task, kill → every moved task's first new result,
// the changelog records the survivor replayed for the moved tasks, its
// custream_standby_lag just before the kill, and whether a moved task's
// restore waited for a transaction the victim left open. Once with
// --standby-replicas 1, then on a second deployment over the same input
// with 0. After the first failover the victim comes back on its state dir
// and both members restart one after the other under the load, first
// leaving the group on shutdown (the old default), then staying in it (the
// deploy default): tasks moved and the time tasks spent not processing.
// Every run ends with one committed result per requestId. Figures only
// (t.Logf), for docs/benchmarks.md; nothing here asserts a time.
func TestFailoverAtScale(t *testing.T) {
	skipShort(t)
	if os.Getenv("CUSTREAM_LONG") == "" {
		t.Skip("long measurement (minutes): CUSTREAM_LONG=1 with CUSTREAM_TEST_BROKERS, or make failover")
	}
	if os.Getenv(kafkatest.EnvBrokers) == "" {
		t.Skip("needs a real broker in " + kafkatest.EnvBrokers)
	}
	total := 2_000_000
	if s := os.Getenv("CUSTREAM_FAILOVER_REGISTERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("CUSTREAM_FAILOVER_REGISTERS=%q: want a positive count", s)
		}
		total = n
	}
	const tasks = 12
	// Each run is a deployment of its own, with its own topics and the
	// same backlog produced into them: `custream run` children name their
	// input topics by --topic-prefix, so two runs cannot share inputs.
	backlog := func(t *testing.T) (*harness, *registers) {
		h := newHarness(t, tasks)
		src := newRegisters(1200, tasks)
		start := time.Now()
		for sent := 0; sent < total; {
			n := min(20_000, total-sent)
			h.produce(t, src.batch(n))
			sent += n
		}
		t.Logf("backlog: %d registrations over %d orgs produced in %s", total, len(src.orgs), time.Since(start).Round(time.Millisecond))
		return h, src
	}

	// A standby, then the rolling restarts on the same deployment.
	t.Run("standby", func(t *testing.T) {
		h, src := backlog(t)
		load := h.startLoad(src)
		load.pause()
		a, bDir := h.failoverAtScale(t, src, load, 1)
		h.rollingRestarts(t, src, load, a, bDir)
		load.stop(t)
	})
	// No standby: the moved tasks restore their whole changelog.
	t.Run("nostandby", func(t *testing.T) {
		h, src := backlog(t)
		load := h.startLoad(src)
		load.pause()
		a, _ := h.failoverAtScale(t, src, load, 0)
		load.stop(t)
		h.waitCaughtUp(t, 10*time.Minute)
		a.stop(t)
		h.checkOnce(t, src.sent())
	})
}

// failoverAtScale runs one failover on h's deployment over the backlog
// already in its input: it returns the survivor, which then holds every
// task, and the victim's state dir.
func (h *harness) failoverAtScale(t *testing.T, src *registers, load *loader, replicas int) (*member, string) {
	t.Helper()
	const tasks = 12
	h.tune = func(c *processor.Config) { c.StandbyReplicas = replicas }
	bDir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "victim.log")
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("victim log (last 4000 bytes):\n%s", tail(b, 4000))
			}
		}
	}()
	// The victim joins first and alone, so the survivor never holds a copy
	// of the victim's tasks but what a standby gives it.
	start := time.Now()
	victim := h.startChild(t, bDir, logPath, "--instance-id", "b", "--standby-replicas", strconv.Itoa(replicas), "--cache-mb", "128")
	adm := kadm.NewClient(h.client(t))
	for deadline := time.Now().Add(90 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		groups, err := adm.DescribeGroups(ctx, h.group)
		cancel()
		if err == nil && groups[h.group].State == "Stable" && len(groups[h.group].Members) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the victim did not join the group within 90s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	a := h.startMemberOn(t, "a", filepath.Join(t.TempDir(), "a"), state.Options{CacheBytes: 128 << 20})
	var mine []int32
	for deadline := time.Now().Add(3 * time.Minute); ; {
		gen, _ := a.p.Tasks()
		if len(gen) == tasks/2 {
			mine = gen
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the survivor holds %v after 3m, want half of %d tasks", gen, tasks)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var moved []int32
	for task := int32(0); task < tasks; task++ {
		if !slices.Contains(mine, task) {
			moved = append(moved, task)
		}
	}
	t.Logf("standby-replicas %d: the survivor holds %v, the victim %v", replicas, mine, moved)
	h.waitCaughtUp(t, 15*time.Minute)
	t.Logf("standby-replicas %d: the backlog of %d commands is processed %s after the victim started", replicas, src.sent(), time.Since(start).Round(time.Millisecond))
	if replicas > 0 {
		a.waitStandbysCaughtUp(t, len(moved), 5*time.Minute)
	}
	restored := func() float64 { return a.restoredRecords(t, moved) }
	var changelog int64
	clEnds := h.endOffsets(t, h.topo.Changelog)
	for _, task := range moved {
		changelog += clEnds[task]
	}

	// The light load runs a while, then the victim dies wherever it is.
	load.resume()
	time.Sleep(10 * time.Second)
	lag := a.gauge(t, "custream_standby_lag", nil)
	restoredBefore := restored()
	customers := src.onTasks(moved)
	resultEnds := h.endOffsets(t, h.topo.Results)
	victim.kill(t)
	killed := time.Now()
	// A transaction the victim left open on a moved task's changelog holds
	// that task's restore until the transaction times out (10s from its
	// start): the last stable offset is below the end.
	var openTxn []int32
	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stable, err := adm.ListCommittedOffsets(ctx, h.topo.Changelog)
		cancel()
		if err != nil {
			t.Fatalf("stable offsets of the changelog: %v", err)
		}
		ends := h.endOffsets(t, h.topo.Changelog)
		for _, task := range moved {
			if l, ok := stable.Lookup(h.topo.Changelog, task); ok && l.Offset < ends[task] {
				openTxn = append(openTxn, task)
			}
		}
	}
	t.Logf("standby-replicas %d: SIGKILL to the victim, which held %d customers; the survivor's standby lag %v", replicas, customers, lag)

	last, rebalanced := h.firstResultsAfter(t, a, killed, moved, resultEnds, tasks, 5*time.Minute, 200*time.Millisecond)
	t.Logf("FIGURE failover: standby-replicas %d, victim's customers %d, moved tasks %v, their changelogs %d offsets before the load; lag before the kill %v; replayed %v changelog records; kill → survivor holds every task %s; kill → every moved task processes %s; moved tasks whose changelog the victim left inside an open transaction (their restore waits for its 10s timeout): %v (session timeout 6s)",
		replicas, customers, moved, changelog, lag, restored()-restoredBefore, rebalanced.Round(time.Millisecond), last.Round(time.Millisecond), openTxn)
	return a, bDir
}

// rollingRestarts brings the victim back in-process on its state dir, then
// restarts both members one after the other under the load, first leaving
// the group on shutdown, then staying in it.
func (h *harness) rollingRestarts(t *testing.T, src *registers, load *loader, a *member, bDir string) {
	t.Helper()
	// Every incarnation is started to stay in the group on its next stop
	// but for the first phase's two members.
	stay := false
	h.tune = func(c *processor.Config) { c.StandbyReplicas = 1; c.StayInGroupOnClose = stay }
	members := map[string]*member{"a": a}
	dirs := map[string]string{"a": a.dir, "b": filepath.Join(bDir, "pebble")} // the child's layout
	// a was started before tune set StayInGroupOnClose, so it leaves on
	// stop, as the first phase wants.
	members["b"] = h.startMemberOn(t, "b", dirs["b"], state.Options{CacheBytes: 128 << 20})
	defer func() {
		for _, m := range members {
			m.stop(t)
		}
	}()
	h.waitStable(t, members)
	h.waitSettled(t, members)
	t.Logf("the victim is back on its state dir; %d commands sent so far", src.sent())

	for _, phase := range []struct {
		name string
		stay bool
	}{{"leave the group on shutdown (before)", false}, {"stay in the group (after, deploy default)", true}} {
		stay = true // the incarnations this phase starts
		var dead, moved float64
		var down []time.Duration
		before := sumCounters(t, members, "custream_task_not_processing_seconds_total", nil)
		resultsFrom := h.endOffsets(t, h.topo.Results)
		phaseStart := time.Now()
		for _, name := range []string{"a", "b"} {
			other := "b"
			if name == "b" {
				other = "a"
			}
			gained := members[other].counter(t, "custream_task_moves_total", map[string]string{"direction": "gained"})
			prev := h.waitStable(t, members)
			stopped := time.Now()
			members[name].stop(t)
			dead += members[name].counter(t, "custream_task_not_processing_seconds_total", nil)
			members[name] = h.startMemberOn(t, name, dirs[name], state.Options{CacheBytes: 128 << 20})
			now := h.waitStable(t, members)
			h.waitSettled(t, members)
			down = append(down, time.Since(stopped).Round(time.Millisecond))
			g := members[other].counter(t, "custream_task_moves_total", map[string]string{"direction": "gained"}) - gained
			moved += g
			t.Logf("%s: %s restarted; %s gained %v tasks meanwhile; owners before %v, after %v (moved %v); stop → all tasks processing again %s",
				phase.name, name, other, g, prev, now, movedTasks(prev, now), down[len(down)-1])
		}
		time.Sleep(2 * time.Second) // the last waits end and are counted
		notProcessing := dead + sumCounters(t, members, "custream_task_not_processing_seconds_total", nil) - before
		gaps := h.resultGaps(t, resultsFrom, time.Second)
		t.Logf("FIGURE rolling restart, %s: tasks moved to the other member %v; custream_task_not_processing_seconds_total summed over members %.2f s; results' gaps over 1s summed over the 12 tasks %s (longest %s); each restart, stop → every task processing %v; phase %s",
			phase.name, moved, notProcessing, gaps.sum.Round(time.Millisecond), gaps.longest.Round(time.Millisecond), down, time.Since(phaseStart).Round(time.Millisecond))
	}
	load.pause()
	h.waitCaughtUp(t, 10*time.Minute)
	h.checkOnce(t, src.sent())
}

// waitSettled waits until every member is ready (its tasks restored) and
// its standbys have caught up with the changelog but for the light load.
func (h *harness) waitSettled(t *testing.T, members map[string]*member) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Minute); ; {
		ok := true
		for _, m := range members {
			ready, _ := m.p.Ready()
			if !ready || m.gauge(t, "custream_standby_lag", nil) > 1000 {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the members did not settle within 5m")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sumCounters(t *testing.T, members map[string]*member, name string, labels map[string]string) float64 {
	var n float64
	for _, m := range members {
		n += m.counter(t, name, labels)
	}
	return n
}

type gaps struct{ sum, longest time.Duration }

// resultGaps reads the committed results after from and sums, per task,
// the gaps over limit between consecutive results' timestamps (when the
// processor produced them): the time a task that had input did not
// process.
func (h *harness) resultGaps(t *testing.T, from map[int32]int64, limit time.Duration) gaps {
	t.Helper()
	offsets := map[string]map[int32]kgo.Offset{h.topo.Results: {}}
	for p, o := range from {
		offsets[h.topo.Results][p] = kgo.NewOffset().At(o)
	}
	rd := h.client(t, kgo.ConsumePartitions(offsets), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer rd.Close()
	lastTS := map[int32]time.Time{}
	var g gaps
	// Until every task has a result from after now, or nothing comes for
	// 6s, bounded: the load goes on meanwhile.
	endAt, done := time.Now(), map[int32]bool{}
	for quiet, deadline := 0, time.Now().Add(2*time.Minute); quiet < 3 && len(done) < len(from) && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := rd.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			quiet++
			continue
		}
		quiet = 0
		fs.EachRecord(func(r *kgo.Record) {
			if done[r.Partition] {
				return
			}
			if r.Timestamp.After(endAt) {
				done[r.Partition] = true
			}
			if prev, ok := lastTS[r.Partition]; ok {
				if d := r.Timestamp.Sub(prev); d > limit {
					g.sum += d
					g.longest = max(g.longest, d)
				}
			}
			lastTS[r.Partition] = r.Timestamp
		})
	}
	return g
}

// waitCaughtUp waits until the group's committed offsets reach the end of
// every input partition.
func (h *harness) waitCaughtUp(t *testing.T, limit time.Duration) {
	t.Helper()
	adm := kadm.NewClient(h.client(t))
	var lag int64
	for deadline := time.Now().Add(limit); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		committed, err := adm.FetchOffsets(ctx, h.group)
		if err == nil {
			err = committed.Error()
		}
		var ends kadm.ListedOffsets
		if err == nil {
			ends, err = adm.ListEndOffsets(ctx, h.topo.InputTopics()...)
		}
		cancel()
		if err == nil {
			lag = 0
			ends.Each(func(o kadm.ListedOffset) {
				c, _ := committed.Lookup(o.Topic, o.Partition)
				lag += o.Offset - max(c.At, 0)
			})
			if lag == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group is %d input records behind after %s (%v)", lag, limit, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkOnce reads every committed result and checks that each of the want
// requestIds has exactly one: nothing lost, nothing doubled. (h.check's
// direct application would re-apply millions of commands.)
func (h *harness) checkOnce(t *testing.T, want int) {
	t.Helper()
	results := h.readTopic(t, h.topo.Results, want, 10*time.Minute)
	perReq := make(map[string]int, want)
	for _, r := range results {
		if isDuplicate(r) {
			continue
		}
		rr, err := schemas.DecodeResult(r.Value)
		if err != nil {
			t.Fatalf("decoding result at %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		perReq[rr.RequestID]++
	}
	doubled := 0
	for id, n := range perReq {
		if n != 1 {
			doubled++
			if doubled < 10 {
				t.Errorf("requestId %s has %d committed results, want 1", id, n)
			}
		}
	}
	t.Logf("%s: %d results for %d requestIds, %d of %d commands without a result, %d with more than one", h.group, len(results), len(perReq), want-len(perReq), want, doubled)
	if len(perReq) != want {
		t.Errorf("%d requestIds have results, want %d", len(perReq), want)
	}
}

// registers makes registrations of new customers (one unique externalId
// each) round-robin over orgs, and counts them per task.
type registers struct {
	mu     sync.Mutex
	orgs   []int64
	parts  int32
	n      int
	onTask map[int32]int
}

func newRegisters(orgs int, partitions int32) *registers {
	r := &registers{parts: partitions, onTask: map[int32]int{}}
	for i := 0; i < orgs; i++ {
		r.orgs = append(r.orgs, int64(5000+i))
	}
	return r
}

func (r *registers) batch(n int) []customer.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]customer.Command, n)
	for i := range out {
		r.n++
		org := r.orgs[r.n%len(r.orgs)]
		r.onTask[processor.TaskOfOrg(org, r.parts)]++
		out[i] = customer.Command{RequestID: "fl-" + strconv.Itoa(r.n), Org: org, Source: "INSTORE", Op: customer.OpRegister,
			Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", LastName: "Sawyer",
				Identifiers: []customer.Identifier{{Type: "externalId", Value: "x-" + strconv.Itoa(r.n)}}}}}}
	}
	return out
}

func (r *registers) sent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *registers) onTasks(tasks []int32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int
	for _, task := range tasks {
		n += r.onTask[task]
	}
	return n
}

// loader produces a light steady load, 10 registrations every 50ms (200/s
// over every task), while it is not paused.
type loader struct {
	mu      sync.Mutex
	paused  bool
	done    chan struct{}
	quit    chan struct{}
	pending sync.WaitGroup
	err     error
	h       *harness
}

func (h *harness) startLoad(src *registers) *loader {
	l := &loader{done: make(chan struct{}), quit: make(chan struct{}), h: h}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.quit:
				return
			case <-tick.C:
			}
			l.mu.Lock()
			paused := l.paused
			l.mu.Unlock()
			if paused {
				continue
			}
			for _, cmd := range src.batch(10) {
				value, hs, err := schemas.EncodeJSONCommand(cmd)
				if err != nil {
					l.fail(fmt.Errorf("encoding %s: %w", cmd.RequestID, err))
					continue
				}
				r := &kgo.Record{Topic: h.inputTopic(cmd.Source), Key: []byte(strconv.FormatInt(cmd.Org, 10)), Value: value}
				for _, x := range hs {
					r.Headers = append(r.Headers, kgo.RecordHeader{Key: x.Key, Value: x.Value})
				}
				l.pending.Add(1)
				h.producer.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
					defer l.pending.Done()
					if err != nil {
						l.fail(err)
					}
				})
			}
		}
	}()
	return l
}

func (l *loader) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

func (l *loader) resume() { l.mu.Lock(); l.paused = false; l.mu.Unlock() }

// pause stops producing and waits until what was sent is acknowledged.
func (l *loader) pause() {
	l.mu.Lock()
	l.paused = true
	l.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // a tick under way finishes its batch
	l.pending.Wait()
}

func (l *loader) stop(t *testing.T) {
	t.Helper()
	l.pause()
	close(l.quit)
	<-l.done
	l.pending.Wait()
	if l.err != nil {
		t.Fatalf("the load: %v", l.err)
	}
}
