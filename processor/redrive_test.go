package processor_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
)

// TestDLQRedrive is the DLQ redrive of issue 11 against the real binary.
// custream runs with --misrouted=dlq while commands arrive on the wrong
// partitions (half of them without a requestId, so their identity is
// their origin) and some garbage; it dead-letters both. Bad-key records
// of 8-byte integer keys, as custream wrote them before it accepted those
// keys, are put in the DLQ too, with one record cut to fit and one from
// another deployment's topic. Then custream restarts in the default
// repartition mode (the producers "fixed") and:
//
//   - dlq list counts the DLQ by code; dlq show prints one record whole;
//   - dlq replay --dry-run --code misrouted,bad-key sends nothing;
//   - dlq replay --code misrouted,bad-key: every replayed command gets
//     exactly one committed result, equal to applying the commands
//     directly, with its original default requestId and origin; the two
//     records that cannot be replayed faithfully are skipped with their
//     reasons; the garbage, filtered out, stays where it is;
//   - a second dlq replay, unfiltered, changes no state (no changelog,
//     snapshot or merge record): the replayed commands get their first
//     results again marked custream.duplicate, and the garbage, replayed
//     this time, is dead-lettered again with its origin unchanged; a
//     third replay would send each garbage record once, not twice.
func TestDLQRedrive(t *testing.T) {
	skipShort(t)
	const direct, misrouted, garbage, longKeys = 300, 60, 5, 10
	h := newHarness(t, 3)
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "custream.log")
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("custream log (last 6000 bytes):\n%s", tail(b, 6000))
			}
		}
	}()
	began := time.Now()
	lap := func(what string) { t.Logf("%s at %s", what, time.Since(began).Round(10*time.Millisecond)) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// 1. Strict mode: misrouted commands and garbage go to the DLQ.
	c := h.startChild(t, dir, logPath, "--misrouted", "dlq")
	cmds := newGen(21, 8, h.partitions).batch(direct + misrouted)
	var good []customer.Command
	manual := h.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// The coordinates each misrouted command without a requestId was put
	// at: its default requestId, whatever path it takes later.
	defaults := map[string]schemas.Origin{}
	for i, cmd := range cmds {
		if i%6 != 5 {
			good = append(good, cmd)
			continue
		}
		if i%12 == 11 {
			cmd.RequestID = ""
		}
		r := h.record(t, cmd)
		r.Partition = (processor.TaskOfOrg(cmd.Org, h.partitions) + 1) % h.partitions
		res := manual.ProduceSync(ctx, r)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		if cmd.RequestID == "" {
			rec := res[0].Record
			defaults[schemas.DefaultRequestID(rec.Topic, rec.Partition, rec.Offset)] = schemas.Origin{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
		}
	}
	if len(good) != direct || len(defaults) == 0 {
		t.Fatalf("%d direct commands, %d without requestId", len(good), len(defaults))
	}
	h.produce(t, good)
	instore := h.inputTopic("INSTORE")
	op := kgo.RecordHeader{Key: "op", Value: []byte("register")}
	for i := range garbage {
		org := int64(1000 + i)
		r := &kgo.Record{Topic: instore, Partition: processor.TaskOfOrg(org, h.partitions), Key: []byte(strconv.FormatInt(org, 10)),
			Value: []byte(fmt.Sprintf(`{"profiles":"not a list %d"}`, i)), Headers: []kgo.RecordHeader{op}}
		if err := manual.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	h.readTopic(t, h.topo.Results, direct, 2*time.Minute)
	if n := len(h.readTopic(t, h.topo.DLQ, misrouted+garbage, 2*time.Minute)); n != misrouted+garbage {
		t.Fatalf("%d DLQ records in --misrouted=dlq mode, want %d", n, misrouted+garbage)
	}
	c.terminate(t)
	lap("strict run dead-lettered its misrouted and garbage records")

	// 2. Bad-key records of 8-byte keys, as custream wrote them before it
	// accepted such keys (no error.time, no error.instance). Their
	// originals have long left the input topic: the DLQ record is all a
	// replay needs.
	var old []*kgo.Record
	for i := range longKeys {
		org := int64(1000 + i%8)
		key := binary.BigEndian.AppendUint64(nil, uint64(org))
		value, hs, err := schemas.EncodeJSONCommand(customer.Command{Op: customer.OpRegister, Org: org, Register: &customer.CustomerBody{
			Profiles: []customer.ProfileInput{{FirstName: "Long", Identifiers: []customer.Identifier{{Type: "email", Value: fmt.Sprintf("long%d@example.com", i)}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: h.topo.DLQ, Partition: int32(i) % h.partitions, Key: key, Value: value, Timestamp: time.Now().Add(-48 * time.Hour)}
		for _, x := range hs {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: x.Key, Value: x.Value})
		}
		r.Headers = append(r.Headers, dlqHeaders(schemas.ErrCodeBadKey, instore, 1, int64(500_000+i))...)
		old = append(old, r)
	}
	// Cut to fit the DLQ: not the producer's record any more.
	cutRec := &kgo.Record{Topic: h.topo.DLQ, Partition: 0, Key: []byte("1000"), Value: []byte(`{"profiles":[{"firstN`), Headers: append([]kgo.RecordHeader{op},
		append(dlqHeaders(schemas.ErrCodeMisrouted, instore, 2, 600_000), kgo.RecordHeader{Key: sink.HeaderTruncated, Value: []byte("value cut from 90000 to 21 bytes")})...)}
	// From a topic of another deployment.
	foreign := &kgo.Record{Topic: h.topo.DLQ, Partition: 0, Key: []byte("1000"), Value: []byte(`{"profiles":[]}`),
		Headers: append([]kgo.RecordHeader{op}, dlqHeaders(schemas.ErrCodeMisrouted, "other.instore", 0, 7)...)}
	old = append(old, cutRec, foreign)
	if err := manual.ProduceSync(ctx, old...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// 3. The producers are fixed: the default mode.
	c = h.startChild(t, dir, logPath)
	defer c.terminate(t)

	out := h.custream(t, "dlq", "list")
	wantList := fmt.Sprintf("%d records (bad-key: %d, misrouted: %d, undecodable: %d) selected (all)", misrouted+garbage+longKeys+2, longKeys, misrouted+2, garbage)
	if !strings.Contains(out, wantList) {
		t.Fatalf("dlq list does not say %q:\n%s", wantList, out)
	}
	if lines := strings.Count(out, "\n"); lines != misrouted+garbage+longKeys+2+2 {
		t.Errorf("dlq list printed %d lines, want a header, %d rows and a summary", lines, misrouted+garbage+longKeys+2)
	}
	out = h.custream(t, "dlq", "list", "--code", "bad-key", "--since", "72h", "--until", "24h", "--limit", "3")
	t.Logf("dlq list --code bad-key --since 72h --until 24h --limit 3:\n%s", out)
	if want := fmt.Sprintf("%d records (bad-key: %d) selected (code=bad-key", longKeys, longKeys); !strings.Contains(out, want) || strings.Count(out, "\n") != 5 {
		t.Errorf("dlq list --code bad-key --since 72h --until 24h --limit 3: want 3 rows and %q:\n%s", want, out)
	}
	out = h.custream(t, "dlq", "show", "--code", "bad-key", "--limit", "1")
	t.Logf("dlq show --code bad-key --limit 1:\n%s", out)
	for _, want := range []string{"code:      bad-key", "(int64 1000)", `"op": register`, "origin:    " + instore + "/1/500000 (requestId " + instore + "/1/500000)"} {
		if !strings.Contains(out, want) {
			t.Errorf("dlq show lacks %q:\n%s", want, out)
		}
	}

	ends := func() map[string]map[int32]int64 {
		m := map[string]map[int32]int64{}
		for _, topic := range h.topo.InputTopics() {
			m[topic] = h.endOffsets(t, topic)
		}
		return m
	}
	before := ends()
	out = h.custream(t, "dlq", "replay", "--dry-run", "--code", "misrouted,bad-key")
	if want := fmt.Sprintf("would replay: %d", misrouted+longKeys); !strings.Contains(out, want) || !strings.Contains(out, "skipped:   2 (not-an-input: 1, truncated: 1)") {
		t.Fatalf("dry run does not say %q and the two skips:\n%s", want, out)
	}
	if after := ends(); !reflect.DeepEqual(before, after) {
		t.Fatalf("a dry run produced: input end offsets %v, then %v", before, after)
	}

	// 4. The redrive.
	start := time.Now()
	out = h.custream(t, "dlq", "replay", "--code", "misrouted,bad-key", "--rate", "100")
	took := time.Since(start)
	t.Logf("dlq replay:\n%s", out)
	if want := fmt.Sprintf("replayed:  %d", misrouted+longKeys); !strings.Contains(out, want) || !strings.Contains(out, "skipped:   2 (not-an-input: 1, truncated: 1)") {
		t.Fatalf("replay report does not say %q and the two skips:\n%s", want, out)
	}
	// 70 records at 100/s with a burst of 10 take at least 0.6s.
	if minimum := time.Duration(float64(misrouted+longKeys-10) / 100 * float64(time.Second)); took < minimum {
		t.Errorf("replay of %d records at --rate 100 took %s, under %s", misrouted+longKeys, took, minimum)
	}
	lap("first replay")
	total := direct + misrouted + longKeys
	results := h.readTopic(t, h.topo.Results, total, 2*time.Minute)
	h.check(t, results, total)
	first := map[string]schemas.ResultRecord{}
	for _, r := range results {
		rr, err := schemas.DecodeResult(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		first[rr.RequestID] = rr
	}
	for id, o := range defaults {
		if rr, ok := first[id]; !ok || rr.Origin != o {
			t.Errorf("misrouted command without requestId put at %+v: result %+v, want requestId %s and that origin", o, rr, id)
		}
	}
	for i := range longKeys {
		id := schemas.DefaultRequestID(instore, 1, int64(500_000+i))
		if rr, ok := first[id]; !ok || !rr.Success {
			t.Errorf("the 8-byte-key register %s: result %+v (found %v), want a success", id, rr, ok)
		}
	}
	lap("every replayed command has one result, equal to applying it directly")
	state := func() map[string]int {
		m := map[string]int{}
		for _, topic := range []string{h.topo.Changelog, h.topo.Snapshots, h.topo.Merges, h.topo.Results, h.topo.DLQ} {
			m[topic] = h.committedRecords(t, topic)
		}
		return m
	}
	was := state()
	if was[h.topo.Results] != total || was[h.topo.DLQ] != misrouted+garbage+longKeys+2 {
		t.Fatalf("after the first replay: %v; want %d results and the DLQ unchanged (%d: the garbage was filtered out, nothing went back)",
			was, total, misrouted+garbage+longKeys+2)
	}

	// 5. Again, unfiltered.
	out = h.custream(t, "dlq", "replay", "--rate", "0")
	t.Logf("second dlq replay:\n%s", out)
	if want := fmt.Sprintf("replayed:  %d", misrouted+longKeys+garbage); !strings.Contains(out, want) {
		t.Fatalf("second replay report does not say %q:\n%s", want, out)
	}
	results = h.readTopic(t, h.topo.Results, total+misrouted+longKeys, 2*time.Minute)
	dlqRecs := h.readTopic(t, h.topo.DLQ, misrouted+garbage+longKeys+2+garbage, 2*time.Minute)
	lap("second replay answered")
	dups := 0
	for _, r := range results {
		if !isDuplicate(r) {
			continue
		}
		dups++
		rr, err := schemas.DecodeResult(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := first[rr.RequestID]; !ok || !reflect.DeepEqual(rr, want) {
			t.Errorf("duplicate result %+v, want the first one %+v", rr, want)
		}
	}
	if dups != misrouted+longKeys {
		t.Errorf("%d duplicate results, want %d (one per replayed command)", dups, misrouted+longKeys)
	}
	h.check(t, results, total)
	// The garbage is back in the DLQ, under its origin.
	origins := map[sink.Origin]int{}
	for _, r := range dlqRecs {
		if d := sink.ReadDLQ(r); d.Code == schemas.ErrCodeUndecodable {
			origins[d.Origin]++
		}
	}
	if len(origins) != garbage {
		t.Errorf("undecodable DLQ records name %d origins, want the %d garbage records': %v", len(origins), garbage, origins)
	}
	for o, n := range origins {
		if n != 2 || o.Topic != instore {
			t.Errorf("garbage from %+v is %d times in the DLQ, want twice (refused, replayed and refused again)", o, n)
		}
	}
	// Replayed again, each garbage record is sent once: its second DLQ
	// record has the origin of its first.
	out = h.custream(t, "dlq", "replay", "--dry-run", "--code", "undecodable")
	if want := fmt.Sprintf("would replay: %d", garbage); !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("skipped:   %d (duplicate-origin: %d)", garbage, garbage)) {
		t.Errorf("a dry run over the garbage dead-lettered twice does not say %q and %d duplicate-origin skips:\n%s", want, garbage, out)
	}
	now := state()
	for _, topic := range []string{h.topo.Changelog, h.topo.Snapshots, h.topo.Merges} {
		if now[topic] != was[topic] {
			t.Errorf("the second replay changed state: %s went from %d to %d committed records", topic, was[topic], now[topic])
		}
	}
	if now[h.topo.Results] != total+misrouted+longKeys || now[h.topo.DLQ] != was[h.topo.DLQ]+garbage {
		t.Errorf("after the second replay: %v, want %d results and %d DLQ records", now, total+misrouted+longKeys, was[h.topo.DLQ]+garbage)
	}
	t.Logf("commands %d direct + %d misrouted + %d 8-byte keys, garbage %d: one result each; second replay: %d duplicates, %d garbage dead-lettered again, state unchanged (%v)",
		direct, misrouted, longKeys, garbage, dups, garbage, now)
}

// dlqHeaders are the headers custream's DLQ added before error.time and
// error.instance existed.
func dlqHeaders(code, topic string, part int32, off int64) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: sink.HeaderErrorCode, Value: []byte(code)},
		{Key: sink.HeaderErrorMessage, Value: []byte("refused by an earlier custream")},
		{Key: sink.HeaderOriginTopic, Value: []byte(topic)},
		{Key: sink.HeaderOriginPartition, Value: []byte(strconv.Itoa(int(part)))},
		{Key: sink.HeaderOriginOffset, Value: []byte(strconv.FormatInt(off, 10))},
	}
}

// custream runs the binary with args against the harness's topics and
// returns its stdout; it fails the test unless it exits 0 within 2
// minutes.
func (h *harness) custream(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append(args, "--brokers", strings.Join(h.c.Brokers, ","), "--group", h.group, "--topic-prefix", h.group)
	cmd := exec.CommandContext(ctx, custreamBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if err := cmd.Run(); err != nil {
		t.Fatalf("custream %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// committedRecords counts the committed records of topic up to its end
// offsets now.
func (h *harness) committedRecords(t *testing.T, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := h.c.Admin(t)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl := h.client(t)
	n := 0
	ends.Each(func(e kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, e.Partition)
		if err := processor.ReadCommitted(ctx, cl, topic, e.Partition, s.Offset, e.Offset, nil, func(*kgo.Record) error { n++; return nil }); err != nil {
			t.Fatalf("counting %s[%d]: %v", topic, e.Partition, err)
		}
	})
	return n
}
