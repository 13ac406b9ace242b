package processor_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
	"github.com/custream/custream/state"
)

// bigRegister is a valid registration with many long e-mail addresses and
// 20 long custom fields: its stored document and its snapshot are each
// several times a generated customer's (whose snapshot, the fetch view of
// one to three profiles, reaches about 2 KB).
func bigRegister(org int64, requestID string, emails int) customer.Command {
	var ids []customer.Identifier
	for i := range emails {
		ids = append(ids, customer.Identifier{Type: "email", Value: fmt.Sprintf("%s.%03d@%s.example.com", strings.Repeat("x", 60), i, strings.Repeat("d", 170))})
	}
	fields := map[string]string{}
	for i := range 20 {
		fields[fmt.Sprintf("field%02d", i)] = strings.Repeat("y", 200)
	}
	return customer.Command{RequestID: requestID, Org: org, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Big", Identifiers: ids, Fields: fields}}}}
}

// directSizes applies cmd alone and returns the sizes of its stored
// document and of its Avro snapshot.
func directSizes(t *testing.T, cmd customer.Command, partitions int32) (doc, snapshot int) {
	t.Helper()
	db, err := state.Open("", state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	task := db.Task(processor.TaskOfOrg(cmd.Org, partitions), partitions)
	b := task.NewBatch()
	defer b.Close()
	out, err := customer.Apply(customer.DefaultConfig(), b, cmd)
	if err != nil || !out.Result.Success {
		t.Fatalf("applying the fixture directly: %v %+v", err, out.Result)
	}
	enc, _, err := b.Encoded(out.Result.CreatedID)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := b.Customer(out.Result.CreatedID)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := schemas.EncodeSnapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	return len(enc), len(snap)
}

// TestOutputTooLargeIsAnswered: a valid command whose snapshot (or whose
// state write, for the changelog) would not fit its topic is answered with
// an output-too-large result, changes nothing, goes to the DLQ, and the
// commands around it go on; a resend gets the same answer, and a restore
// from an empty state dir gives the same state.
func TestOutputTooLargeIsAnswered(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name  string
		topic func(processor.Topology) string
	}{
		{"snapshot", func(t processor.Topology) string { return t.Snapshots }},
		{"changelog", func(t processor.Topology) string { return t.Changelog }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const partitions, org = 2, 1000
			big := bigRegister(org, "big-1", 20)
			doc, snap := directSizes(t, big, partitions)
			// The limit sits below the big customer and far above the
			// generator's, which have a few short identifiers (a merged
			// one, a few profiles).
			limit := min(doc, snap) * 2 / 3
			if limit < 3000 {
				t.Fatalf("fixture too small: document %d, snapshot %d bytes", doc, snap)
			}
			h := newHarness(t, partitions, topicConfig{tc.topic, map[string]string{"max.message.bytes": strconv.Itoa(limit)}})
			dir := t.TempDir()
			m := h.startMember(t, "m1", dir)

			good := newGen(21, 1, partitions).batch(200)
			for i := range good {
				good[i].Org = org
			}
			h.produce(t, good[:100])
			h.produce(t, []customer.Command{big})
			h.produce(t, good[100:])
			results := h.readTopic(t, h.topo.Results, len(good)+1, 2*time.Minute)
			direct := h.check(t, results, len(good)+1)

			var answer schemas.ResultRecord
			for _, r := range results {
				if rr, _ := schemas.DecodeResult(r.Value); rr.RequestID == big.RequestID {
					answer = rr
				}
			}
			if !refused(answer) {
				t.Fatalf("the big command got %+v, want one %d error", answer.Result, schemas.ResultCodeOutputTooLarge)
			}
			t.Logf("answer: %s", answer.Errors[0].Message)
			dlq := h.readTopic(t, h.topo.DLQ, 1, time.Minute)
			if len(dlq) != 1 || header(dlq[0], sink.HeaderErrorCode) != schemas.ErrCodeOutputTooLarge ||
				header(dlq[0], sink.HeaderOriginOffset) != strconv.FormatInt(answer.Origin.Offset, 10) {
				for _, r := range dlq {
					t.Logf("DLQ record %d: %v", r.Offset, headers([]*kgo.Record{r}))
				}
				t.Fatalf("DLQ holds %d records, want the big command's as %s", len(dlq), schemas.ErrCodeOutputTooLarge)
			}
			// Nothing of it is in the state: its identifiers are free.
			if got := h.lookupOwner(t, m, org, big.Register.Profiles[0].Identifiers[0]); got != 0 {
				t.Fatalf("the refused command's e-mail is held by customer %d", got)
			}

			// A resend gets the same answer again.
			h.produce(t, []customer.Command{big})
			all := h.readTopic(t, h.topo.Results, len(good)+2, time.Minute)
			again, _ := schemas.DecodeResult(all[len(all)-1].Value)
			if !isDuplicate(all[len(all)-1]) || !refused(again) {
				t.Fatalf("resend got %+v (duplicate %v), want the first answer again", again.Result, isDuplicate(all[len(all)-1]))
			}
			checkSnapshots(t, h, direct)
			m.stop(t)
			h.checkRestore(t, dir)
		})
	}
}

// TestDLQRecordsAlwaysFit: input records that are undecodable and as large
// as the input topic takes (compressed), or carry a huge header, reach the
// DLQ, cut to fit where needed and saying so; the pipeline goes on.
func TestDLQRecordsAlwaysFit(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 2)
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)
	const org = 1000
	good := newGen(22, 1, h.partitions).batch(40)
	for i := range good {
		good[i].Org = org
	}
	h.produce(t, good[:20])

	// A producer that compresses and takes large batches, as a careless
	// upstream might: the broker checks only the compressed size.
	big := h.client(t, kgo.ProducerBatchMaxBytes(8<<20), kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	key := []byte(strconv.Itoa(org))
	part := processor.TaskOfOrg(org, h.partitions)
	garbage := &kgo.Record{Topic: h.inputTopic("INSTORE"), Partition: part, Key: key,
		Value: bytes.Repeat([]byte{0xff, 0xfe}, 1<<19), Headers: []kgo.RecordHeader{{Key: "op", Value: []byte("register")}}}
	bigHeader := &kgo.Record{Topic: h.inputTopic("INSTORE"), Partition: part, Key: key, Value: []byte("not json"),
		Headers: []kgo.RecordHeader{{Key: "op", Value: []byte("register")}, {Key: "trace", Value: bytes.Repeat([]byte("a"), 600<<10)}}}
	if err := big.ProduceSync(context.Background(), garbage, bigHeader).FirstErr(); err != nil {
		t.Fatalf("producing the large records: %v", err)
	}
	h.produce(t, good[20:])

	dlq := h.readTopic(t, h.topo.DLQ, 2, 2*time.Minute)
	if len(dlq) != 2 {
		t.Fatalf("%d DLQ records, want 2", len(dlq))
	}
	for _, r := range dlq {
		size := sink.RecordBatchBytes(r)
		t.Logf("DLQ %s at origin offset %s: %d bytes, value %d; truncated: %q", header(r, sink.HeaderErrorCode),
			header(r, sink.HeaderOriginOffset), size, len(r.Value), header(r, sink.HeaderTruncated))
	}
	if code := header(dlq[0], sink.HeaderErrorCode); code != schemas.ErrCodeTooLarge {
		t.Errorf("the 1 MiB record went to the DLQ as %s, want %s", code, schemas.ErrCodeTooLarge)
	}
	if header(dlq[0], sink.HeaderTruncated) == "" || len(dlq[0].Value) >= len(garbage.Value) {
		t.Errorf("the 1 MiB record was not cut to fit the DLQ: value %d bytes, %s=%q", len(dlq[0].Value), sink.HeaderTruncated, header(dlq[0], sink.HeaderTruncated))
	}
	if !bytes.HasPrefix(garbage.Value, dlq[0].Value) {
		t.Errorf("the cut value is not a prefix of the original")
	}
	if header(dlq[1], "trace") == "" || header(dlq[1], sink.HeaderTruncated) != "" {
		t.Errorf("the record with a 600 KiB header fits the DLQ whole, but its header trace is %d bytes and %s=%q",
			len(header(dlq[1], "trace")), sink.HeaderTruncated, header(dlq[1], sink.HeaderTruncated))
	}
	h.check(t, h.readTopic(t, h.topo.Results, len(good), 2*time.Minute), len(good))
}

func header(r *kgo.Record, key string) string {
	for _, x := range r.Headers {
		if x.Key == key {
			return string(x.Value)
		}
	}
	return ""
}

func headers(rs []*kgo.Record) map[string]string {
	out := map[string]string{}
	if len(rs) > 0 {
		for _, x := range rs[0].Headers {
			out[x.Key] = string(x.Value)
		}
	}
	return out
}

// lookupOwner asks member m's committed state who holds id in org's
// INSTORE scope (0: nobody).
func (h *harness) lookupOwner(t *testing.T, m *member, org int64, id customer.Identifier) int64 {
	t.Helper()
	loc := m.p.Locate(processor.TaskOfOrg(org, h.partitions))
	if loc.Reader == nil {
		t.Fatalf("task of org %d not readable on %s: %s", org, m.name, loc.Reason)
	}
	cid, ok, err := loc.Reader.OwnerInScope(org, "INSTORE", "", id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0
	}
	return cid
}

// checkRestore starts a member with an empty state dir, lets it restore
// every task, and compares its state with dir's, byte for byte.
func (h *harness) checkRestore(t *testing.T, dir string) {
	t.Helper()
	fresh := t.TempDir()
	m := h.startMember(t, "restorer", fresh)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if ready, why := m.p.Ready(); ready {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("restorer not ready after 2 minutes: %s", why)
		}
	}
	m.stop(t)
	a, b := dumps(t, dir, h.partitions), dumps(t, fresh, h.partitions)
	compared := 0
	for task := int32(0); task < h.partitions; task++ {
		if len(a[task]) == 0 && len(b[task]) == 0 {
			continue // no org of the test in this task
		}
		compared++
		if err := sameState(a[task], b[task], state.CheckpointKey(task)); err != nil {
			t.Errorf("task %d: restored state differs: %v", task, err)
		}
	}
	if compared == 0 {
		t.Fatal("no task has state to compare")
	}
}

// TestDiskFullPausesProcessing: when every write to the state disk fails
// with ENOSPC the member neither panics nor loses anything: it stops taking
// input (at most the transaction in flight commits), says so in Ready, and
// once space is back every command gets exactly one result and a restore
// from an empty state dir gives the same state.
func TestDiskFullPausesProcessing(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 2)
	dir := t.TempDir()
	var full atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if full.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpRemove && op.Kind != errorfs.OpRemoveAll {
			return syscall.ENOSPC
		}
		return nil
	}))
	m := h.startMemberOn(t, "m1", dir, state.Options{FS: fs, CacheBytes: 16 << 20})
	cmds := newGen(23, 4, h.partitions).batch(3000)
	h.produce(t, cmds[:500])
	h.readTopic(t, h.topo.Results, 500, 2*time.Minute)

	full.Store(true)
	h.produce(t, cmds[500:])
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if f, _, _ := m.db.DiskFull(); f {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member never saw the full disk")
		}
	}
	ready, why := m.p.Ready()
	if ready || !strings.Contains(why, "disk is full") {
		t.Fatalf("Ready() = %v, %q while the disk is full", ready, why)
	}
	t.Logf("while full: %s", why)
	// Stopped, not slowed: beyond the transaction in flight nothing
	// commits however long the disk stays full.
	count := func() int { return len(h.readTopic(t, h.topo.Results, len(cmds), 3*time.Second)) }
	at := count()
	time.Sleep(3 * time.Second)
	if later := count(); later > at+500 {
		t.Fatalf("%d results committed while the disk was full (%d when it was seen full): input was not stopped", later, at)
	} else {
		t.Logf("results committed: %d when the disk was seen full, %d three seconds later (of %d)", at, later, len(cmds))
	}
	select {
	case err := <-m.done:
		t.Fatalf("the member stopped on a full disk: %v", err)
	default:
	}

	full.Store(false)
	results := h.readTopic(t, h.topo.Results, len(cmds), 3*time.Minute)
	h.check(t, results, len(cmds))
	if ready, why := m.p.Ready(); !ready {
		t.Errorf("not ready once space is back: %s", why)
	}
	m.stop(t)
	h.checkRestore(t, dir)
}
