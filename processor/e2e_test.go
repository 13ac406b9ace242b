package processor_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
	"github.com/custream/custream/state"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a broker (make test)")
	}
}

// TestEndToEnd runs every command type through one processor and checks the
// committed results and the final snapshots against the domain applied
// directly.
func TestEndToEnd(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 3)
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)

	g := newGen(1, 6, h.partitions)
	g.pointsPct = 20
	cmds := g.batch(3000)
	h.produce(t, cmds)
	results := h.readTopic(t, h.topo.Results, len(cmds), 3*time.Minute)
	direct := h.check(t, results, distinctRequests(cmds))

	ops := map[customer.Op]int{}
	for _, c := range cmds {
		ops[c.Op]++
	}
	for _, op := range []customer.Op{customer.OpRegister, customer.OpUpdate, customer.OpChangeIdentifier, customer.OpSubscriptions, customer.OpPoints} {
		if ops[op] == 0 {
			t.Errorf("the load had no %s command", op)
		}
	}
	codes := map[customer.Code]int{}
	for _, r := range results {
		rr, _ := schemas.DecodeResult(r.Value)
		for _, i := range append(rr.Errors, rr.Warnings...) {
			codes[i.Code]++
		}
	}
	t.Logf("ops %v; codes %v", ops, codes)
	for _, c := range []customer.Code{customer.CodeDuplicateInScope, customer.CodeJoined, customer.CodeMerged, customer.CodeStaleBalance, customer.CodePointsRedirected} {
		if codes[c] == 0 {
			t.Errorf("no result carried %d: the load does not exercise it", c)
		}
	}

	merges := h.readTopic(t, h.topo.Merges, codes[customer.CodeMerged], time.Minute)
	if len(merges) != codes[customer.CodeMerged] {
		t.Errorf("%d merge notices, want one per 8051 warning (%d)", len(merges), codes[customer.CodeMerged])
	}
	checkSnapshots(t, h, direct)
}

// checkSnapshots compares the last snapshot of every customer with the
// directly applied state, as documents: the record decoded (goavro, into
// the fetch view's fields) against the snapshot of the direct customer.
func checkSnapshots(t *testing.T, h *harness, direct *state.DB) {
	t.Helper()
	last := map[string]*kgo.Record{}
	for _, r := range h.readTopic(t, h.topo.Snapshots, -1, time.Minute) {
		last[string(r.Key)] = r
	}
	if len(last) == 0 {
		t.Fatal("no snapshots")
	}
	merged := 0
	for key, r := range last {
		got, err := schemas.DecodeSnapshot(r.Value)
		if err != nil {
			t.Fatalf("snapshot %s: %v", key, err)
		}
		id, _ := strconv.ParseInt(key, 10, 64)
		c, ok, err := direct.Task(r.Partition, h.partitions).Reader().Customer(id)
		if err != nil || !ok {
			t.Fatalf("snapshot of customer %s, which the direct application does not have (%v)", key, err)
		}
		b, err := schemas.EncodeSnapshot(c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := schemas.DecodeSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		if got["id"] != id || got["org"] != c.Org {
			t.Fatalf("snapshot under key %s says id %v, org %v; want %d, %d", key, got["id"], got["org"], id, c.Org)
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Fatalf("snapshot of customer %s:\n%s\nwant\n%s", key, g, w)
		}
		if _, ok := got["mergedInto"]; ok {
			merged++
		}
	}
	t.Logf("%d customers' snapshots match (%d merged away)", len(last), merged)
}

// TestRebalance: two members share the load, a third joins and the first
// leaves mid-stream; every requestId still has exactly one committed
// result, equal to the direct application's. Each step waits until the
// group has settled on the new members (waitOwners), so the test knows a
// rebalance happened rather than hoping a sleep was long enough.
func TestRebalance(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 4)
	g := newGen(2, 12, h.partitions)
	for p := int32(0); p < h.partitions; p++ {
		if !slices.ContainsFunc(g.orgs, func(org int64) bool { return processor.TaskOfOrg(org, h.partitions) == p }) {
			t.Fatalf("no org of the load is on task %d: every member would not get input", p)
		}
	}
	m1 := h.startMember(t, "m1", t.TempDir())
	m2 := h.startMember(t, "m2", t.TempDir())
	h.waitOwners(t, m1, m2)

	total := 0
	send := func(n int) {
		h.produce(t, g.batch(n))
		total += n
	}
	send(4000)
	m3 := h.startMember(t, "m3", t.TempDir())
	h.waitOwners(t, m1, m2, m3)
	send(4000)
	m1.stop(t)
	h.waitOwners(t, m2, m3)
	send(4000)

	results := h.readTopic(t, h.topo.Results, total, 4*time.Minute)
	h.check(t, results, total)
	m2.stop(t)
	m3.stop(t)
	for _, m := range []*member{m1, m2, m3} {
		if n := m.counter(t, "custream_records_in_total", nil); n == 0 {
			t.Errorf("member %s committed no input record", m.name)
		}
	}
}

// waitOwners waits until members, and only they, own the tasks: each
// holds at least one in the current generation, together they hold every
// task exactly once, and every member has restored all of its own, in
// Processor.Tasks and in its custream_tasks gauges alike.
func (h *harness) waitOwners(t *testing.T, members ...*member) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		why := h.owners(t, members)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group did not settle on %d members within 2 minutes: %s", len(members), why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// owners says why members do not own the tasks as waitOwners wants, or "".
func (h *harness) owners(t *testing.T, members []*member) string {
	t.Helper()
	owner := map[int32]string{}
	for _, m := range members {
		gen, ready := m.p.Tasks()
		switch {
		case len(gen) == 0:
			return fmt.Sprintf("member %s has no tasks", m.name)
		case !slices.Equal(gen, ready):
			return fmt.Sprintf("member %s owns tasks %v and has restored %v", m.name, gen, ready)
		case m.gauge(t, "custream_tasks", map[string]string{"state": "ready"}) != float64(len(ready)) ||
			m.gauge(t, "custream_tasks", map[string]string{"state": "restoring"}) != 0:
			return fmt.Sprintf("member %s's custream_tasks gauges do not show its %d ready tasks yet", m.name, len(ready))
		}
		for _, task := range gen {
			if other, ok := owner[task]; ok {
				return fmt.Sprintf("task %d is owned by %s and %s", task, other, m.name)
			}
			owner[task] = m.name
		}
	}
	if len(owner) != int(h.partitions) {
		return fmt.Sprintf("the members own %d of %d tasks: %v", len(owner), h.partitions, owner)
	}
	return ""
}

// TestBadInputGoesToDLQ: malformed records of every kind land in the DLQ
// with their reason, and the good records around them are processed.
func TestBadInputGoesToDLQ(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 2)
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)

	good := newGen(3, 2, h.partitions).batch(40)
	h.produce(t, good[:20])

	org := int64(1000)
	key := []byte(strconv.FormatInt(org, 10))
	right := processor.TaskOfOrg(org, h.partitions)
	topic := h.inputTopic("INSTORE")
	validBody := []byte(`{"profiles":[{"identifiers":[{"type":"mobile","value":919111111111}]}]}`)
	op := func(v string) kgo.RecordHeader { return kgo.RecordHeader{Key: "op", Value: []byte(v)} }
	avro, err := schemas.EncodeCommand(customer.Command{RequestID: "a1", Org: org, Op: customer.OpRegister, Source: "INSTORE",
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{Identifiers: []customer.Identifier{{Type: "email", Value: "a@b.co"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		code string
		rec  *kgo.Record
	}{
		{schemas.ErrCodeUndecodable, &kgo.Record{Key: key, Value: []byte{0xff, 0xfe, 0x01, 0x02}, Headers: []kgo.RecordHeader{op("register")}}},
		{schemas.ErrCodeUndecodable, &kgo.Record{Key: key, Value: avro[:len(avro)-3]}},
		{schemas.ErrCodeUndecodable, &kgo.Record{Key: key, Value: []byte(`{"profiles":"not a list"}`), Headers: []kgo.RecordHeader{op("register")}}},
		{schemas.ErrCodeUnknownOp, &kgo.Record{Key: key, Value: validBody, Headers: []kgo.RecordHeader{op("delete")}}},
		{schemas.ErrCodeMissingHeader, &kgo.Record{Key: key, Value: validBody}},
		{schemas.ErrCodeBadKey, &kgo.Record{Key: []byte("not-an-org"), Value: validBody, Headers: []kgo.RecordHeader{op("register")}}},
		// One org, one spelling: these would hash to other tasks than "42".
		{schemas.ErrCodeBadKey, &kgo.Record{Key: []byte("042"), Value: validBody, Headers: []kgo.RecordHeader{op("register")}}},
		{schemas.ErrCodeBadKey, &kgo.Record{Key: []byte("+42"), Value: validBody, Headers: []kgo.RecordHeader{op("register")}}},
		{schemas.ErrCodeBadKey, &kgo.Record{Key: []byte(" 42"), Value: validBody, Headers: []kgo.RecordHeader{op("register")}}},
	}
	manual := h.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, b := range bad {
		b.rec.Topic = topic
		// Where a default-partitioning producer sends the raw key.
		b.rec.Partition = int32(kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(b.rec, int(h.partitions)))
		if err := manual.ProduceSync(context.Background(), b.rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A good command on the wrong partition is not bad input: it is
	// forwarded to its task and gets its result like any other. So are
	// the other key forms: Java's LongSerializer (8 bytes, big-endian),
	// and an empty key with an org header, wherever their producers put
	// them.
	body := func(mobile string) []byte {
		return []byte(`{"profiles":[{"identifiers":[{"type":"mobile","value":` + mobile + `}]}]}`)
	}
	others := []*kgo.Record{
		{Topic: topic, Key: key, Partition: 1 - right, Value: validBody, Headers: []kgo.RecordHeader{op("register")}},
		{Topic: topic, Key: binary.BigEndian.AppendUint64(nil, uint64(org)), Partition: 0, Value: body("919111111112"), Headers: []kgo.RecordHeader{op("register")}},
		{Topic: topic, Key: binary.BigEndian.AppendUint64(nil, uint64(org)), Partition: 1, Value: body("919111111113"), Headers: []kgo.RecordHeader{op("register")}},
		{Topic: topic, Partition: 0, Value: body("919111111114"), Headers: []kgo.RecordHeader{op("register"), {Key: "org", Value: key}}},
		{Topic: topic, Partition: 1, Value: body("919111111115"), Headers: []kgo.RecordHeader{op("register"), {Key: "org", Value: key}}},
	}
	if err := manual.ProduceSync(context.Background(), others...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.produce(t, good[20:])

	dlq := h.readTopic(t, h.topo.DLQ, len(bad), 2*time.Minute)
	if len(dlq) != len(bad) {
		t.Fatalf("%d DLQ records, want %d", len(dlq), len(bad))
	}
	gotCodes := map[string]int{}
	for _, r := range dlq {
		hs := map[string]string{}
		for _, x := range r.Headers {
			hs[x.Key] = string(x.Value)
		}
		for _, k := range []string{sink.HeaderErrorCode, sink.HeaderErrorMessage, sink.HeaderOriginTopic, sink.HeaderOriginPartition, sink.HeaderOriginOffset} {
			if hs[k] == "" {
				t.Errorf("DLQ record at %d lacks header %s: %v", r.Offset, k, hs)
			}
		}
		if hs[sink.HeaderOriginTopic] != topic {
			t.Errorf("DLQ origin.topic = %q, want %q", hs[sink.HeaderOriginTopic], topic)
		}
		gotCodes[hs[sink.HeaderErrorCode]]++
		t.Logf("DLQ %s: %s", hs[sink.HeaderErrorCode], hs[sink.HeaderErrorMessage])
	}
	wantCodes := map[string]int{}
	for _, b := range bad {
		wantCodes[b.code]++
	}
	if !reflect.DeepEqual(gotCodes, wantCodes) {
		t.Errorf("DLQ codes %v, want %v", gotCodes, wantCodes)
	}
	results := h.readTopic(t, h.topo.Results, len(good)+len(others), 2*time.Minute)
	h.check(t, results, len(good)+len(others))
	for _, r := range results {
		// The others carry no requestId: theirs is their origin.
		if rr, _ := schemas.DecodeResult(r.Value); strings.HasPrefix(rr.RequestID, topic+"/") && !rr.Success {
			t.Errorf("org %d's register %s failed: %+v", org, rr.RequestID, rr.Result)
		}
	}
	// Half of the other key forms' records were on the wrong partition.
	if got := m.counter(t, "custream_repartitioned_records_total", map[string]string{"topic": topic}); got != 3 {
		t.Errorf("custream_repartitioned_records_total{topic=%q} = %v, want 3", topic, got)
	}
	for reason, n := range wantCodes {
		if got := m.counter(t, "custream_dlq_total", map[string]string{"reason": reason}); got != float64(n) {
			t.Errorf("custream_dlq_total{reason=%q} = %v, want %d", reason, got, n)
		}
	}
	if got := m.counter(t, "custream_results_total", nil); got != float64(len(good)+len(others)) {
		t.Errorf("custream_results_total = %v, want %d", got, len(good)+len(others))
	}
}
