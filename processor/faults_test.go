package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/facade/peerauth"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/state"
)

// The fault tests of issue 10: restores under broker faults and unusual
// changelog tails, and ownership after a member stopped past its session
// timeout. Each checks the end state against the domain applied directly,
// so each fails when a restore ends early or a member serves a task it no
// longer owns.

// source is a changelog the test wrote itself and the state it stands for.
type source struct {
	// direct is the state the changelog stands for: the generated
	// commands applied with customer.Apply, one task per partition.
	direct *state.DB
	// records counts the data records produced, per partition.
	records map[int32]int
	// writer can write more of the changelog.
	writer *changelogWriter
}

// writeChangelog applies commands directly to a fresh state, and
// produces each batch's writes (Batch.Writes) to the changelog partition
// of its task, in transactions, as the processor would have: first bulk
// registrations with identifiers of their own until about bulk changelog
// records are due (cheap, so the changelog is large), then mixed
// commands of g (joins, merges, updates); remember stores the request ids
// of the mixed commands too, as the processor does. Building the state
// through the processor would take minutes; this takes seconds.
func (h *harness) writeChangelog(t *testing.T, g *gen, bulk, mixed int, remember bool) *source {
	t.Helper()
	began := time.Now()
	db, err := state.Open("", state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src := &source{direct: db, records: map[int32]int{}}
	w := h.newChangelogWriter(t)
	total, n := 0, 0
	for total < bulk {
		cmds := make([]customer.Command, 100*h.partitions)
		for i := range cmds {
			cmds[i] = bulkRegister(g.orgs[n%len(g.orgs)], n)
			n++
		}
		total += w.apply(t, db, cmds, true)
	}
	w.remember = remember
	for i := 0; i < mixed; i += 100 {
		w.apply(t, db, g.batch(min(100, mixed-i)), true)
	}
	w.commit(t)
	src.records, src.writer = w.records, w
	t.Logf("wrote %d changelog records %v for %d bulk and %d mixed commands in %s", w.total, w.records, n, mixed, time.Since(began).Round(time.Millisecond))
	return src
}

// bulkRegister is the n-th registration of the bulk load: identifiers no
// other command uses.
func bulkRegister(org int64, n int) customer.Command {
	return customer.Command{RequestID: fmt.Sprintf("bulk-%d", n), Org: org, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Bulk", LastName: "Load", Identifiers: []customer.Identifier{
			{Type: "email", Value: fmt.Sprintf("bulk%d@example.com", n)},
			{Type: "mobile", Value: fmt.Sprintf("91800%07d", n)},
		}}}}}
}

// changelogWriter produces a directly applied state's writes to the
// changelog, in transactions of about perTxn records.
type changelogWriter struct {
	h   *harness
	cl  *kgo.Client
	ctx context.Context
	// remember stores each applied command's request id, as the
	// processor does, so the changelog holds request records too.
	remember bool
	records  map[int32]int // per partition, produced in committed or open transactions
	total    int
	inTxn    int

	mu      sync.Mutex
	err     error
	offsets map[int32][]int64 // of the records produced since the last takeOffsets
}

const perTxn = 50_000

func (h *harness) newChangelogWriter(t *testing.T) *changelogWriter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return &changelogWriter{h: h, ctx: ctx, records: map[int32]int{}, offsets: map[int32][]int64{}, cl: h.client(t,
		kgo.TransactionalID(h.group+"-writer"),
		kgo.TransactionTimeout(time.Minute),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(64<<10),
		// One produce request in flight per broker: a transaction's first
		// request may be refused while the previous one's markers are
		// written, and the requests behind it would then be out of
		// sequence.
		kgo.MaxProduceRequestsInflightPerBroker(1),
	)}
}

// apply applies cmds directly to db, one batch per task as the processor
// batches, and produces each batch's writes; keep applies the batches to
// db, else they are discarded (for a transaction the test aborts). It
// returns the number of records produced.
func (w *changelogWriter) apply(t *testing.T, db *state.DB, cmds []customer.Command, keep bool) int {
	t.Helper()
	return w.applyEach(t, db, cmds, keep, nil)
}

// applyEach is apply, and passes every write produced to each (if set).
func (w *changelogWriter) applyEach(t *testing.T, db *state.DB, cmds []customer.Command, keep bool, each func(state.KV)) int {
	t.Helper()
	h := w.h
	byTask := map[int32][]customer.Command{}
	for _, cmd := range cmds {
		task := processor.TaskOfOrg(cmd.Org, h.partitions)
		byTask[task] = append(byTask[task], cmd)
	}
	now := time.Now()
	produced := 0
	for part := int32(0); part < h.partitions; part++ {
		if len(byTask[part]) == 0 {
			continue
		}
		kvs := w.batch(t, db, part, keep, func(b *state.Batch) error {
			for _, cmd := range byTask[part] {
				// Recent, so that the processor's retention keeps them.
				cmd.Time = now
				out, err := customer.Apply(h.domain, b, cmd)
				if err != nil {
					return fmt.Errorf("applying %s: %w", cmd.RequestID, err)
				}
				if w.remember {
					if err := b.PutRequest(cmd.Org, cmd.RequestID, []byte(fmt.Sprint(out.Result.Success)), now); err != nil {
						return err
					}
				}
			}
			return nil
		})
		produced += len(kvs)
		for _, kv := range kvs {
			if each != nil {
				each(kv)
			}
		}
	}
	if w.inTxn >= perTxn {
		w.commit(t)
	}
	return produced
}

// batch runs fn on a new batch of task part of db, produces the batch's
// writes to changelog partition part in the open transaction, then
// applies the batch to db (keep) or discards it. It returns the writes.
func (w *changelogWriter) batch(t *testing.T, db *state.DB, part int32, keep bool, fn func(b *state.Batch) error) []state.KV {
	t.Helper()
	task := db.Task(part, w.h.partitions)
	b := task.NewBatch()
	defer b.Close()
	if err := fn(b); err != nil {
		t.Fatalf("task %d: %v", part, err)
	}
	kvs, err := b.Writes()
	if err != nil {
		t.Fatal(err)
	}
	w.produce(t, part, kvs)
	if keep {
		if err := task.Apply(b, -1); err != nil {
			t.Fatal(err)
		}
	}
	return kvs
}

// produce sends kvs to the changelog partition part in the open
// transaction (beginning one if none is open).
func (w *changelogWriter) produce(t *testing.T, part int32, kvs []state.KV) {
	t.Helper()
	if w.inTxn == 0 {
		if err := w.cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range kvs {
		rec := &kgo.Record{Topic: w.h.topo.Changelog, Partition: part, Key: kv.Key, Value: state.ChangelogValue(kv)}
		w.cl.Produce(w.ctx, rec, func(r *kgo.Record, err error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if err != nil {
				w.err = err
				return
			}
			w.offsets[r.Partition] = append(w.offsets[r.Partition], r.Offset)
		})
	}
	w.records[part] += len(kvs)
	w.total += len(kvs)
	w.inTxn += max(len(kvs), 1)
}

// takeOffsets returns the offsets of the records produced (and flushed)
// since the last call, per partition.
func (w *changelogWriter) takeOffsets() map[int32][]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.offsets
	w.offsets = map[int32][]int64{}
	return out
}

// commit ends the open transaction, if any, with a commit.
func (w *changelogWriter) commit(t *testing.T) { t.Helper(); w.end(t, kgo.TryCommit) }

// abort ends the open transaction, if any, with an abort.
func (w *changelogWriter) abort(t *testing.T) { t.Helper(); w.end(t, kgo.TryAbort) }

func (w *changelogWriter) end(t *testing.T, how kgo.TransactionEndTry) {
	t.Helper()
	if w.inTxn == 0 {
		return
	}
	if err := w.cl.Flush(w.ctx); err != nil {
		t.Fatalf("flushing the changelog writer: %v", err)
	}
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		t.Fatalf("producing changelog records: %v", err)
	}
	if err := w.cl.EndTransaction(w.ctx, how); err != nil {
		t.Fatalf("ending the changelog writer's transaction: %v", err)
	}
	w.inTxn = 0
}

// waitReady waits until m has restored every task it owns.
func waitReady(t *testing.T, m *member, limit time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for deadline := began.Add(limit); ; time.Sleep(50 * time.Millisecond) {
		ready, why := m.p.Ready()
		if ready {
			return time.Since(began)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s: %s", m.name, limit, why)
		}
	}
}

// sameAsDirect compares every task of the restored member's state with the
// direct state, byte for byte, the checkpoint aside (the direct state has
// none), and checks that each task's checkpoint is the changelog's end.
func (h *harness) sameAsDirect(t *testing.T, restored, direct *state.DB) {
	t.Helper()
	ends := h.endOffsets(t, h.topo.Changelog)
	for part := int32(0); part < h.partitions; part++ {
		want, err := direct.Task(part, h.partitions).Dump()
		if err != nil {
			t.Fatal(err)
		}
		got, err := restored.Task(part, h.partitions).Dump()
		if err != nil {
			t.Fatal(err)
		}
		cp := state.CheckpointKey(part)
		got = withoutKey(got, cp)
		if err := sameKVs(want, got); err != nil {
			t.Errorf("task %d: restored state differs from the direct state: %v", part, err)
		}
		at, err := restored.Task(part, h.partitions).Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		if at != ends[part] {
			t.Errorf("task %d: checkpoint %d, want the changelog's end %d", part, at, ends[part])
		}
	}
}

func withoutKey(kvs []state.KV, key []byte) []state.KV {
	out := kvs[:0:0]
	for _, kv := range kvs {
		if !bytes.Equal(kv.Key, key) {
			out = append(out, kv)
		}
	}
	return out
}

// sameKVs compares two dumps byte for byte and says where they part.
func sameKVs(want, got []state.KV) error {
	if len(want) < 2 {
		return fmt.Errorf("the direct state has only %d keys: the load did not reach this task", len(want))
	}
	for i := 0; i < min(len(want), len(got)); i++ {
		if !bytes.Equal(want[i].Key, got[i].Key) {
			return fmt.Errorf("%d keys, want %d; first difference at key %d: %x, want %x", len(got), len(want), i, got[i].Key, want[i].Key)
		}
		if !bytes.Equal(want[i].Value, got[i].Value) {
			return fmt.Errorf("value of key %x is %x, want %x", want[i].Key, got[i].Value, want[i].Value)
		}
	}
	if len(want) != len(got) {
		return fmt.Errorf("%d keys, want %d", len(got), len(want))
	}
	return nil
}

// gauges returns the values of a gauge family by the value of one label.
func (m *member) gauges(t *testing.T, name, label string) map[string]float64 {
	t.Helper()
	mfs, err := m.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, x := range mf.GetMetric() {
			for _, l := range x.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] = x.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

func sum(m map[string]float64) (s float64) {
	for _, v := range m {
		s += v
	}
	return s
}

// restoreBrokerProps caps every fetch response at 64 KiB, so that a
// restore reads a test's changelog in many responses (one 32 MiB response
// would hold a whole partition, compressed, and a broker fault after it
// would be no fault for the restore). The changelog writer's batches are
// as small, since a response holds at least one whole batch.
var restoreBrokerProps = kafkatest.BrokerProps("fetch.max.bytes=65536")

// TestFaultRestoreBrokerPaused: a member restores its tasks from an empty
// state dir while its broker is stopped (SIGSTOP) for 20 s, longer than
// any poll or request timeout. The restore must wait, say so, and go on
// when the broker answers again: the restored state is byte for byte the
// direct state and the answers after it are the domain's.
func TestFaultRestoreBrokerPaused(t *testing.T) {
	skipShort(t)
	b := kafkatest.OwnBroker(t, restoreBrokerProps)
	h := newHarnessOn(t, &b.Cluster, 2)
	g := newGen(31, 40, h.partitions)
	src := h.writeChangelog(t, g, 120_000, 3000, false)

	m := h.startMember(t, "restorer", t.TempDir())
	defer m.stop(t)
	began := waitRestoring(t, m)
	b.Pause(t)
	paused := time.Now()
	left := m.gauges(t, "custream_restore_remaining", "task")
	t.Logf("paused the broker %s after the member started, offsets left %v", paused.Sub(began).Round(time.Millisecond), left)
	if sum(left) == 0 {
		t.Fatalf("the restore finished before the pause landed (offsets left %v): make the changelog larger", left)
	}
	waited := watchWaiting(t, m, func() bool { return time.Since(paused) < 20*time.Second })
	stillLeft := m.gauges(t, "custream_restore_remaining", "task")
	b.Resume(t)
	t.Logf("resumed the broker after %s; offsets left then %v; custream_restore_waiting was 1 for tasks %v",
		time.Since(paused).Round(time.Millisecond), stillLeft, waited)
	if sum(stillLeft) == 0 {
		t.Errorf("every restore ended while the broker answered nothing for 20 s")
	}
	if len(waited) == 0 {
		t.Errorf("custream_restore_waiting was never 1 while the broker was stopped")
	}
	h.checkRestored(t, m, src, g, began)
}

// TestFaultRestoreBrokerKilled: the broker is killed (SIGKILL) while a
// member restores from an empty state dir, stays down 15 s and restarts
// on the same address with the same data. The restore goes on from where
// it was and ends byte for byte the direct state.
func TestFaultRestoreBrokerKilled(t *testing.T) {
	skipShort(t)
	b := kafkatest.OwnBroker(t, restoreBrokerProps,
		// Restart waits out the killed broker's session: 3 s, not 9.
		kafkatest.BrokerProps("broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500"))
	h := newHarnessOn(t, &b.Cluster, 2)
	g := newGen(32, 40, h.partitions)
	src := h.writeChangelog(t, g, 120_000, 3000, false)

	m := h.startMember(t, "restorer", t.TempDir())
	defer m.stop(t)
	began := waitRestoring(t, m)
	b.Kill(t)
	killed := time.Now()
	left := m.gauges(t, "custream_restore_remaining", "task")
	t.Logf("killed the broker %s after the member started, offsets left %v", killed.Sub(began).Round(time.Millisecond), left)
	if sum(left) == 0 {
		t.Fatalf("the restore finished before the kill landed (offsets left %v): make the changelog larger", left)
	}
	// Down 15 s, as in the issue: longer than any retry of a client.
	waited := watchWaiting(t, m, func() bool { return time.Since(killed) < 15*time.Second })
	stillLeft := m.gauges(t, "custream_restore_remaining", "task")
	b.Restart(t)
	t.Logf("restarted the broker %s after the kill; offsets left at the restart %v; custream_restore_waiting was 1 for tasks %v",
		time.Since(killed).Round(time.Millisecond), stillLeft, waited)
	if sum(stillLeft) == 0 {
		t.Errorf("every restore ended while the broker was down")
	}
	if len(waited) == 0 {
		t.Errorf("custream_restore_waiting was never 1 while the broker was down")
	}
	h.checkRestored(t, m, src, g, began)
}

// waitRestoring waits until m, just started, reports restore progress (a
// changelog chunk applied, offsets left) and returns when it began
// waiting: about when m started.
func waitRestoring(t *testing.T, m *member) time.Time {
	t.Helper()
	began := time.Now()
	for deadline := began.Add(time.Minute); sum(m.gauges(t, "custream_restore_remaining", "task")) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the member did not start restoring within a minute")
		}
	}
	return began
}

// watchWaiting samples custream_restore_waiting while more says so and
// returns the tasks it saw at 1.
func watchWaiting(t *testing.T, m *member, more func() bool) map[string]bool {
	t.Helper()
	waited := map[string]bool{}
	for more() {
		for task, v := range m.gauges(t, "custream_restore_waiting", "task") {
			if v == 1 {
				waited[task] = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return waited
}

// checkRestored waits until m is ready, compares its state with the
// source's, byte for byte, and checks that the answers to more commands
// are the domain's applied directly on the source state.
func (h *harness) checkRestored(t *testing.T, m *member, src *source, g *gen, began time.Time) {
	t.Helper()
	took := waitReady(t, m, 2*time.Minute)
	t.Logf("ready %s later, %s after the member started; %v changelog records produced, %v applied by restores",
		took.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), src.records,
		m.counter(t, "custream_restore_records_total", nil))
	h.sameAsDirect(t, m.db, src.direct)
	if t.Failed() {
		t.FailNow()
	}
	more := g.batch(1000)
	h.produce(t, more)
	h.checkOn(t, src.direct, h.readTopic(t, h.topo.Results, len(more), 2*time.Minute), len(more))
}

// TestFaultRestoreAbortedTail: the changelog's last transaction was
// aborted. A restore from an empty state dir reaches the end (past the
// abort marker) and applies none of the aborted records.
func TestFaultRestoreAbortedTail(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 2)
	g := newGen(33, 40, h.partitions)
	src := h.writeChangelog(t, g, 20_000, 3000, true)
	w := src.writer
	w.takeOffsets()
	// The tail: new customers and changes of existing ones, produced in
	// a transaction that aborts; the direct state does not take them.
	tail := g.batch(500)
	for i := range 500 {
		tail = append(tail, bulkRegister(g.orgs[i%len(g.orgs)], 1_000_000+i))
	}
	scratch := map[string][]byte{}
	w.applyEach(t, src.direct, tail, false, func(kv state.KV) { scratch[string(kv.Key)] = kv.Value })
	w.abort(t)
	aborted := w.takeOffsets()
	// The coordinator writes the abort markers after EndTxn returns.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ends, marked := h.endOffsets(t, h.topo.Changelog), true
		for part, offs := range aborted {
			marked = marked && ends[part] == offs[len(offs)-1]+2
		}
		if marked {
			for part, offs := range aborted {
				t.Logf("partition %d: %d aborted records at offsets %d..%d, then the abort marker", part, len(offs), offs[0], offs[len(offs)-1])
			}
			break
		}
		if time.Now().After(deadline) {
			for part, offs := range aborted {
				t.Errorf("partition %d ends at %d, want the abort marker right after the last aborted record (%d)", part, ends[part], offs[len(offs)-1])
			}
			t.FailNow()
		}
	}

	m := h.startMember(t, "restorer", t.TempDir())
	defer m.stop(t)
	began := time.Now()
	waitReady(t, m, 2*time.Minute)
	// Not one aborted write is in the state, unless the direct state has
	// it too (an index-free value that the tail wrote again unchanged).
	leaked := 0
	for part := int32(0); part < h.partitions; part++ {
		kvs, err := m.db.Task(part, h.partitions).Dump()
		if err != nil {
			t.Fatal(err)
		}
		direct, err := src.direct.Task(part, h.partitions).Dump()
		if err != nil {
			t.Fatal(err)
		}
		had := map[string][]byte{}
		for _, kv := range direct {
			had[string(kv.Key)] = kv.Value
		}
		for _, kv := range kvs {
			if v, ok := scratch[string(kv.Key)]; ok && v != nil && bytes.Equal(v, kv.Value) && !bytes.Equal(had[string(kv.Key)], v) {
				leaked++
			}
		}
	}
	if leaked > 0 {
		t.Errorf("%d aborted writes are in the restored state", leaked)
	}
	h.checkRestored(t, m, src, g, began)
}

// TestFaultRestoreCompactedTail: the changelog's last data records, below
// its end, were removed by compaction: request ids forgotten by a prune,
// whose tombstones the cleaner then dropped too. A restore from an empty
// state dir crosses the gap to the end and is byte for byte the direct
// state, its checkpoint at the end.
//
// Kafka never cleans the active segment, and it drops a tombstone only at
// a cleaning after the one that first saw it (delete.retention.ms later),
// which needs new dirty bytes behind it. So the tail is: the tombstones'
// transaction, its commit marker in a new segment (sent more than
// segment.ms later), and last a transaction the test aborts, whose first
// record rolls the marker's segment and so makes it cleanable. Read
// committed, nothing of the tail is visible but the markers.
func TestFaultRestoreCompactedTail(t *testing.T) {
	skipShort(t)
	b := kafkatest.OwnBroker(t, kafkatest.BrokerProps("log.cleaner.backoff.ms=200"))
	h := newHarnessOn(t, &b.Cluster, 2, topicConfig{
		topic: func(tp processor.Topology) string { return tp.Changelog },
		configs: map[string]string{
			// A segment rolls on the first append a second after it
			// began, and is cleaned at most a second after it rolled;
			// tombstones go 100 ms after the first cleaning saw them.
			"segment.ms":                "1000",
			"max.compaction.lag.ms":     "1000",
			"min.cleanable.dirty.ratio": "0.01",
			"delete.retention.ms":       "100",
		},
	})
	g := newGen(34, 40, h.partitions)
	src := h.writeChangelog(t, g, 20_000, 3000, true)
	w := src.writer
	w.takeOffsets()

	// Forget every request id, as the processor's retention does: the
	// transaction's records are tombstones of keys written before.
	for part := int32(0); part < h.partitions; part++ {
		w.batch(t, src.direct, part, true, func(b *state.Batch) error {
			return b.PruneRequests(time.Now().Add(time.Hour))
		})
	}
	if err := w.cl.Flush(w.ctx); err != nil {
		t.Fatal(err)
	}
	tombstones := w.takeOffsets()
	time.Sleep(1500 * time.Millisecond) // the marker goes to a new segment
	w.commit(t)
	// The cleaner's first pass takes the request records the tombstones
	// delete; the tombstones stay until a later pass.
	waitCleaned(t, "the request records", func() int {
		n := 0
		for part, offs := range tombstones {
			n += h.presentRecords(t, part, 0, offs[0]-1, keysOf(h, part, offs))
		}
		return n
	})
	time.Sleep(1500 * time.Millisecond) // the aborted records go to a new segment
	w.apply(t, src.direct, g.batch(100), false)
	w.abort(t)
	ends := h.endOffsets(t, h.topo.Changelog)
	for part, offs := range tombstones {
		t.Logf("partition %d: %d tombstones at offsets %d..%d, end %d", part, len(offs), offs[0], offs[len(offs)-1], ends[part])
	}
	waitCleaned(t, "the tombstones", func() int {
		n := 0
		for part, offs := range tombstones {
			n += h.presentRecords(t, part, offs[0], offs[len(offs)-1], nil)
		}
		return n
	})

	m := h.startMember(t, "restorer", t.TempDir())
	defer m.stop(t)
	h.checkRestored(t, m, src, g, time.Now())
}

// waitCleaned waits, a minute at most, until left says no record of what
// is left in the changelog.
func waitCleaned(t *testing.T, what string, left func() int) {
	t.Helper()
	began := time.Now()
	for deadline := began.Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		n := left()
		if n == 0 {
			t.Logf("the cleaner removed %s within %s", what, time.Since(began).Round(100*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %s are still in the changelog after a minute: the cleaner did not run", n, what)
		}
	}
}

// keysOf reads the keys of the records at offs of changelog partition
// part.
func keysOf(h *harness, part int32, offs []int64) map[string]bool {
	keys := map[string]bool{}
	want := map[int64]bool{}
	for _, o := range offs {
		want[o] = true
	}
	h.eachRecord(h.t, part, offs[0], offs[len(offs)-1], func(r *kgo.Record) {
		if want[r.Offset] {
			keys[string(r.Key)] = true
		}
	})
	if len(keys) != len(offs) {
		h.t.Fatalf("partition %d: %d distinct keys at the %d offsets of the tail", part, len(keys), len(offs))
	}
	return keys
}

// presentRecords counts the data records of changelog partition part at
// offsets first..last (with a key in keys, unless nil), read_uncommitted,
// as the broker holds them now.
func (h *harness) presentRecords(t *testing.T, part int32, first, last int64, keys map[string]bool) int {
	t.Helper()
	n := 0
	h.eachRecord(t, part, first, last, func(r *kgo.Record) {
		if keys == nil || keys[string(r.Key)] {
			n++
		}
	})
	return n
}

// eachRecord calls fn with each data record of changelog partition part
// at offsets first..last, read_uncommitted.
func (h *harness) eachRecord(t *testing.T, part int32, first, last int64, fn func(*kgo.Record)) {
	t.Helper()
	cl := h.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.topo.Changelog: {part: kgo.NewOffset().At(first)}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return // nothing more up to last (markers, or the end)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				fn(r)
			}
			done = done || r.Offset >= last
		})
		if done {
			return
		}
	}
}

// TestFaultOwnershipAfterStop: two members (child processes of the real
// binary) share 4 tasks; the owner of tasks 0–1 is stopped (SIGSTOP) for
// 20 s while idle, twice its session timeout, so the group gives its
// tasks to the other; then it continues. Once the group is stable, each
// member's tasks (its /readyz) are exactly its assignment in
// DescribeGroups, every lookup through either member answers what the
// domain applied directly answers, and no member answers from its own
// state for a task it does not own.
func TestFaultOwnershipAfterStop(t *testing.T) {
	skipShort(t)
	const partitions = 4
	h := newHarness(t, partitions)
	g := newGen(35, 12, partitions)
	orgsOf := map[int32][]int64{}
	for _, org := range g.orgs {
		task := processor.TaskOfOrg(org, partitions)
		orgsOf[task] = append(orgsOf[task], org)
	}
	if len(orgsOf) != partitions {
		t.Fatalf("the orgs %v cover tasks %v only", g.orgs, orgsOf)
	}
	keys := filepath.Join(t.TempDir(), "api-keys")
	var lines strings.Builder
	for _, org := range g.orgs {
		fmt.Fprintf(&lines, "%s %d\n", apiKey(org), org)
	}
	if err := os.WriteFile(keys, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	a := h.startHTTPChild(t, "a", keys)
	b := h.startHTTPChild(t, "b", keys)
	members := []*httpMember{a, b}
	defer func() {
		for _, m := range members {
			m.terminate(t)
		}
	}()
	before := h.waitOwnership(t, members, 90*time.Second)
	t.Logf("assignment before the stop: %v", before)

	cmds := g.batch(2000)
	h.produce(t, cmds)
	h.check(t, h.readTopic(t, h.topo.Results, len(cmds), 2*time.Minute), len(cmds))

	owner, other := a, b
	if !slices.Contains(before["a"], 0) {
		owner, other = b, a
	}
	if err := owner.c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	tookOver := time.Duration(0)
	for time.Since(stopped) < 20*time.Second {
		if tasks, ok := other.readyTasks(); ok && len(tasks) == partitions && tookOver == 0 {
			tookOver = time.Since(stopped)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := owner.c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s stopped for %s; %s took all tasks after %s", owner.name, time.Since(stopped).Round(time.Millisecond), other.name, tookOver.Round(time.Millisecond))
	if tookOver == 0 {
		t.Errorf("%s did not take the stopped member's tasks within 20 s (session timeout 10 s)", other.name)
	}
	cont := time.Now()
	after := h.waitOwnership(t, members, 90*time.Second)
	t.Logf("assignment %s after the stop ended: %v", time.Since(cont).Round(time.Millisecond), after)

	// More input moves the owners' states on: a member still serving a
	// task it lost would answer from a state that no longer advances.
	more := g.batch(1000)
	h.produce(t, more)
	direct := h.check(t, h.readTopic(t, h.topo.Results, len(cmds)+len(more), 2*time.Minute), len(cmds)+len(more))
	h.checkLookups(t, members, after, direct, g.orgs)
}

// apiKey is the test's API key of org.
func apiKey(org int64) string { return fmt.Sprintf("key-%d", org) }

// clusterSecret is what every httpMember signs its forwards with.
const clusterSecret = "the faults tests' cluster secret, 32+ bytes"

// httpMember is `custream run` with its HTTP facade on 127.0.0.1.
type httpMember struct {
	name string
	addr string
	log  string
	c    *child
}

func (h *harness) startHTTPChild(t *testing.T, name, keys string) *httpMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := &httpMember{name: name, addr: addr, log: filepath.Join(t.TempDir(), name+".log")}
	secret := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secret, []byte(clusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.c = h.startChild(t, t.TempDir(), m.log, "--instance-id", name, "--http-addr", addr,
		"--session-timeout", "10s", "--api-keys-file", keys, "--cluster-secret-file", secret)
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(m.log); err == nil {
				t.Logf("custream %s log (last 4000 bytes):\n%s", name, tail(b, 4000))
			}
		}
	})
	return m
}

func (m *httpMember) terminate(t *testing.T) {
	t.Helper()
	_ = m.c.cmd.Process.Signal(syscall.SIGCONT)
	m.c.terminate(t)
}

var readyTasksRE = regexp.MustCompile(`^tasks \[([0-9 ]*)\] ready$`)

// readyTasks returns the tasks m's /readyz lists, if it is ready.
func (m *httpMember) readyTasks() ([]int32, bool) {
	status, body, err := m.get("/readyz", "", nil)
	if err != nil || status != http.StatusOK {
		return nil, false
	}
	var r struct{ Reason string }
	if json.Unmarshal(body, &r) != nil {
		return nil, false
	}
	sub := readyTasksRE.FindStringSubmatch(r.Reason)
	if sub == nil {
		return nil, false
	}
	tasks := []int32{}
	for _, f := range strings.Fields(sub[1]) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, false
		}
		tasks = append(tasks, int32(n))
	}
	return tasks, true
}

// get sends a GET to m with org's key (none if key is "") and headers.
func (m *httpMember) get(path, key string, header http.Header) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+m.addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// waitOwnership waits until the group is stable with every member in it,
// its assignment covers every task once, and each member is ready with
// exactly the tasks DescribeGroups assigns it. It returns the assignment
// by instance id. If the members do not agree with the group in time, the
// test fails and goes on with the group's last assignment, so that its
// later checks show what the disagreement costs.
func (h *harness) waitOwnership(t *testing.T, members []*httpMember, limit time.Duration) map[string][]int32 {
	t.Helper()
	adm := h.c.Admin(t)
	var last string
	var lastAssign map[string][]int32
	for deadline := time.Now().Add(limit); ; time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			if lastAssign == nil {
				t.Fatalf("membership not settled after %s: %s", limit, last)
			}
			t.Errorf("membership not settled after %s: %s", limit, last)
			return lastAssign
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		groups, err := adm.DescribeGroups(ctx, h.group)
		cancel()
		if err != nil {
			last = fmt.Sprintf("DescribeGroups: %v", err)
			continue
		}
		grp := groups[h.group]
		if grp.Err != nil || grp.State != "Stable" || len(grp.Members) != len(members) {
			last = fmt.Sprintf("group %s with %d members (err %v)", grp.State, len(grp.Members), grp.Err)
			continue
		}
		assign := map[string][]int32{}
		owned := map[int32]int{}
		for _, dm := range grp.Members {
			ca, ok := dm.Assigned.AsConsumer()
			if !ok || dm.InstanceID == nil {
				last = fmt.Sprintf("member %s has no consumer assignment or instance id", dm.MemberID)
				break
			}
			set := map[int32]bool{}
			for _, tp := range ca.Topics {
				for _, p := range tp.Partitions {
					set[p] = true
				}
			}
			tasks := []int32{}
			for p := range set {
				tasks = append(tasks, p)
				owned[p]++
			}
			slices.Sort(tasks)
			assign[*dm.InstanceID] = tasks
		}
		if len(assign) != len(members) {
			continue
		}
		covered := len(owned) == int(h.partitions)
		for _, n := range owned {
			covered = covered && n == 1
		}
		if !covered {
			last = fmt.Sprintf("the assignment %v does not cover every task once", assign)
			continue
		}
		lastAssign = assign
		agree := true
		var got []string
		for _, m := range members {
			tasks, ok := m.readyTasks()
			got = append(got, fmt.Sprintf("%s: %v (ready %v)", m.name, tasks, ok))
			agree = agree && ok && slices.Equal(tasks, assign[m.name])
		}
		if agree {
			return assign
		}
		last = fmt.Sprintf("DescribeGroups assigns %v; the members list %v", assign, got)
	}
}

// checkLookups looks identifiers up in every org through every member
// (which forwards to the owner) and compares each answer with the
// domain's on the direct state. Then it asks every member for every org
// as a forwarded request, which a member must serve only for its own
// tasks: any other answer than 503 from a member that does not own the
// org's task is served from a state that is not the owner's.
func (h *harness) checkLookups(t *testing.T, members []*httpMember, assign map[string][]int32, direct *state.DB, orgs []int64) {
	t.Helper()
	asked, found, wrong := 0, 0, 0
	for _, org := range orgs {
		task := processor.TaskOfOrg(org, h.partitions)
		rd := direct.Task(task, h.partitions).Reader()
		for n := 0; n < 60; n += 3 {
			for _, id := range []customer.Identifier{
				{Type: "mobile", Value: fmt.Sprintf("9190000%05d", n)},
				{Type: "email", Value: fmt.Sprintf("user%d@example.com", n)},
				{Type: "externalId", Value: fmt.Sprintf("ext-%d", n)},
			} {
				want, err := customer.Lookup(h.domain, rd, org, customer.SourceAll, "", id.Type, id.Value)
				if err != nil {
					t.Fatal(err)
				}
				path := "/v2/customers/lookup?" + url.Values{"identifierName": {id.Type}, "identifierValue": {id.Value}}.Encode()
				for _, m := range members {
					asked++
					if len(want.Errors) == 0 {
						found++
					}
					// A few tries: the owner writes a committed batch to
					// Pebble just after the commit, so the very last
					// results may be a moment ahead of its reads.
					tries := 10
					if wrong >= 5 {
						tries = 1
					}
					var msg string
					for try := 0; try < tries; try++ {
						status, body, err := m.get(path, apiKey(org), nil)
						if err != nil {
							t.Fatalf("lookup of %s %s in org %d through %s: %v", id.Type, id.Value, org, m.name, err)
						}
						if msg = sameAnswer(want, status, body); msg == "" {
							break
						}
						time.Sleep(300 * time.Millisecond)
					}
					if msg != "" {
						wrong++
						if wrong <= 5 {
							t.Errorf("lookup of %s %s in org %d (task %d) through %s: %s", id.Type, id.Value, org, task, m.name, msg)
						}
					}
				}
			}
		}
	}
	t.Logf("%d lookups through both members (%d of a customer), %d differ from the direct application", asked, found, wrong)
	if found == 0 {
		t.Error("no lookup found a customer: the load did not reach the state")
	}

	// A forwarded request (as another member would send it, signed) is
	// never forwarded again: only the owner serves it.
	auth, err := peerauth.New([][]byte{[]byte(clusterSecret)}, peerauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const path = "/v2/customers/lookup?identifierName=externalId&identifierValue=ext-1"
	for _, org := range orgs {
		task := processor.TaskOfOrg(org, h.partitions)
		for _, m := range members {
			assertion, err := auth.Sign(peerauth.Claim{Org: org, Audience: m.addr, Method: http.MethodGet, Route: path})
			if err != nil {
				t.Fatal(err)
			}
			forwarded := http.Header{"X-Custream-Forwarded": {"1"}, peerauth.Header: {assertion}}
			status, body, err := m.get(path, "", forwarded)
			if err != nil {
				t.Fatal(err)
			}
			owns := slices.Contains(assign[m.name], task)
			switch {
			case owns && status == http.StatusServiceUnavailable:
				t.Errorf("%s owns task %d but does not serve org %d: %s", m.name, task, org, body)
			case !owns && status != http.StatusServiceUnavailable:
				t.Errorf("%s answered %d for org %d of task %d, which %v owns: %s", m.name, status, org, task, assign, body)
			}
		}
	}
}

// sameAnswer compares a facade answer with the domain's view: the view
// itself with 200, or its errors with another status.
func sameAnswer(want customer.LookupView, status int, body []byte) string {
	var got, exp any
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Sprintf("status %d, body %q: %v", status, body, err)
	}
	if len(want.Errors) == 0 {
		if status != http.StatusOK {
			return fmt.Sprintf("status %d (%s), want 200", status, body)
		}
		b, _ := json.Marshal(want)
		_ = json.Unmarshal(b, &exp)
	} else {
		if status == http.StatusOK || status == http.StatusServiceUnavailable {
			return fmt.Sprintf("status %d (%s), want the domain's error %+v", status, body, want.Errors)
		}
		b, _ := json.Marshal(map[string]any{"errors": want.Errors, "warnings": []customer.Issue{}})
		_ = json.Unmarshal(b, &exp)
	}
	if !reflect.DeepEqual(got, exp) {
		return fmt.Sprintf("answered %s, the domain %v", body, exp)
	}
	return ""
}
