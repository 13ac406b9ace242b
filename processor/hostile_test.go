package processor_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
)

// TestHostileRecords sends every hostile record of issue 10 between good
// commands to the real binary: each gets its one documented outcome (a
// DLQ record with its code, or one small error result), the good records
// around them are all processed, the process's peak memory stays bounded,
// and a restore from an empty state dir gives the same state.
func TestHostileRecords(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 2, topicConfig{func(t processor.Topology) string { return t.Inputs[0].Topic },
		map[string]string{"message.timestamp.after.max.ms": "9223372036854775807"}})
	ctx := context.Background()

	// A registry whose schema 1 has an array of null items: 128 bytes
	// claiming 2^31 items took 877 MiB.
	reg := srfake.New()
	defer reg.Close()
	rcl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	nulls, err := rcl.CreateSchema(ctx, "x-value", sr.Schema{Schema: `{"type":"record","name":"X","fields":[{"name":"a","type":{"type":"array","items":"null"}}]}`})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "custream.log")
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("custream log (last 6000 bytes):\n%s", tail(b, 6000))
			}
		}
	}()
	c := h.startChild(t, dir, logPath, "--schema-registry", reg.URL())

	const org = 1000
	topic := h.inputTopic("INSTORE")
	part := processor.TaskOfOrg(org, h.partitions)
	key := []byte(strconv.Itoa(org))
	op := kgo.RecordHeader{Key: "op", Value: []byte("register")}
	body := func(firstName string, emails int, valid bool) []byte {
		var b strings.Builder
		name, _ := json.Marshal(firstName)
		b.WriteString(`{"profiles":[{"firstName":` + string(name) + `,"identifiers":[`)
		for i := range emails {
			if i > 0 {
				b.WriteByte(',')
			}
			if valid {
				fmt.Fprintf(&b, `{"type":"email","value":"hostile%06d@example.com"}`, i)
			} else {
				fmt.Fprintf(&b, `{"type":"email","value":"x%05d"}`, i)
			}
		}
		b.WriteString(`]}]}`)
		return []byte(b.String())
	}
	rec := func(requestID string, value []byte, extra ...kgo.RecordHeader) *kgo.Record {
		hs := append([]kgo.RecordHeader{op}, extra...)
		if requestID != "" {
			hs = append(hs, kgo.RecordHeader{Key: "requestId", Value: []byte(requestID)})
		}
		return &kgo.Record{Topic: topic, Partition: part, Key: key, Value: value, Headers: hs}
	}
	confluent := make([]byte, 5, 128)
	binary.BigEndian.PutUint32(confluent[1:], uint32(nulls.ID))
	confluent = binary.AppendUvarint(confluent, uint64(1<<31)<<1) // a zigzag block count of 2^31
	confluent = append(confluent, bytes.Repeat([]byte{0}, 128-len(confluent))...)

	type attack struct {
		name   string
		rec    *kgo.Record
		dlq    string        // DLQ code, or
		result customer.Code // the result's first error code
	}
	attacks := []attack{
		{"5 MB register of 110k e-mails", rec("a-5mb", body("Big", 110_000, true)), schemas.ErrCodeTooLarge, 0},
		{"register of 25k invalid e-mails (850 KB)", rec("a-25k", body("Bad", 25_000, false)), "", customer.CodeTooMany},
		{"1 MiB garbage value", rec("", bytes.Repeat([]byte{0xff, 0xfe}, 1<<19)), schemas.ErrCodeTooLarge, 0},
		{"600 KiB header", rec("", []byte("not json"), kgo.RecordHeader{Key: "trace", Value: bytes.Repeat([]byte("a"), 600<<10)}), schemas.ErrCodeUndecodable, 0},
		{"key 042", &kgo.Record{Topic: topic, Key: []byte("042"), Value: body("K", 1, true), Headers: []kgo.RecordHeader{op}}, schemas.ErrCodeBadKey, 0},
		{"key +42", &kgo.Record{Topic: topic, Key: []byte("+42"), Value: body("K", 1, true), Headers: []kgo.RecordHeader{op}}, schemas.ErrCodeBadKey, 0},
		{"key ' 42'", &kgo.Record{Topic: topic, Key: []byte(" 42"), Value: body("K", 1, true), Headers: []kgo.RecordHeader{op}}, schemas.ErrCodeBadKey, 0},
		{"Confluent value of a zero-size-item schema", rec("", confluent), schemas.ErrCodeUnknownSchema, 0},
		{"300,000-character first name", rec("a-name", body(strings.Repeat("n", 300_000), 1, true)), "", customer.CodeBadText},
		{"control characters in a name", rec("a-ctrl", body("Tom\x00\x1b\r\n", 1, true)), "", customer.CodeBadText},
		{"100 KB requestId", rec(strings.Repeat("r", 100_000), body("R", 1, true)), schemas.ErrCodeBadRequestID, 0},
	}
	// Where a default-partitioning producer sends the spelled-out keys.
	for _, a := range attacks {
		if a.dlq == schemas.ErrCodeBadKey {
			a.rec.Partition = int32(kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(a.rec, int(h.partitions)))
		}
	}
	// A careless producer: compressed, large batches, so every record
	// above reaches the topic.
	big := h.client(t, kgo.ProducerBatchMaxBytes(16<<20), kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))

	good := newGen(31, 6, h.partitions).batch(600)
	h.produce(t, good[:200])
	h.readTopic(t, h.topo.Results, 200, 2*time.Minute)
	before := peakRSS(t, c)

	// The far-future record between two sends of one requestId.
	first := customer.Command{RequestID: "a-twice", Org: org, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Twice",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919333333333"}}}}}}
	future := h.record(t, customer.Command{RequestID: "a-future", Org: org, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Future",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919444444444"}}}}}})
	future.Timestamp = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	future.Partition = part

	for i, a := range attacks {
		if err := big.ProduceSync(ctx, a.rec).FirstErr(); err != nil {
			t.Fatalf("producing %s: %v", a.name, err)
		}
		h.produce(t, good[200+i*20:200+(i+1)*20])
	}
	h.produce(t, []customer.Command{first})
	if err := big.ProduceSync(ctx, future).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.produce(t, append([]customer.Command{first}, good[200+len(attacks)*20:]...))

	wantResults := len(good) + 3 + 2 // good, the three results of attacks, the future one, and "a-twice" (its resend is a repeat)
	results := h.readTopic(t, h.topo.Results, wantResults+1, 3*time.Minute)
	after := peakRSS(t, c)
	direct := h.check(t, results, wantResults)

	byReq := map[string]schemas.ResultRecord{}
	dupOfTwice := false
	for _, r := range results {
		rr, _ := schemas.DecodeResult(r.Value)
		if isDuplicate(r) {
			dupOfTwice = dupOfTwice || rr.RequestID == "a-twice"
			continue
		}
		byReq[rr.RequestID] = rr
	}
	if !dupOfTwice {
		t.Error("the resend of a-twice after the far-future record did not get its first result again")
	}
	dlq := h.readTopic(t, h.topo.DLQ, 8, 2*time.Minute)
	dlqCodes := map[string]int{}
	for _, r := range dlq {
		dlqCodes[header(r, sink.HeaderErrorCode)]++
		if n := sink.RecordBatchBytes(r); n > 1<<20+512 {
			t.Errorf("DLQ record of %d bytes", n)
		}
	}
	wantDLQ := map[string]int{}
	for _, a := range attacks {
		if a.dlq != "" {
			wantDLQ[a.dlq]++
			continue
		}
		rr, ok := byReq[string(headerOf(a.rec, "requestId"))]
		switch {
		case !ok:
			t.Errorf("%s: no result", a.name)
		case rr.Success || len(rr.Errors) == 0 || rr.Errors[0].Code != a.result:
			t.Errorf("%s: result %+v, want error %d", a.name, rr.Result, a.result)
		default:
			b, _ := schemas.EncodeResult(rr)
			t.Logf("%s: %d, a %d-byte result: %s", a.name, rr.Errors[0].Code, len(b), rr.Errors[0].Message)
		}
	}
	for code, n := range wantDLQ {
		if dlqCodes[code] != n {
			t.Errorf("DLQ has %d records of %s, want %d (all: %v)", dlqCodes[code], code, n, dlqCodes)
		}
	}
	t.Logf("DLQ by code: %v", dlqCodes)
	t.Logf("peak RSS of custream: %d MiB before the hostile records, %d MiB after", before>>20, after>>20)
	// The 5 MB record alone is 5 MB (franz-go holds its decompressed batch);
	// decoding nothing of it must not multiply that.
	if after-before > 256<<20 {
		t.Errorf("peak RSS grew by %d MiB over the hostile records", (after-before)>>20)
	}
	checkSnapshots(t, h, direct)
	c.terminate(t)
	checkModes(t, dir)
	h.checkRestore(t, filepath.Join(dir, "pebble"))
}

// checkModes: custream's state dir holds personal data; every directory
// of it is 0700 and every file 0600.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, info.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files and directories of the state dir checked: 0700/0600", n)
}

func headerOf(r *kgo.Record, key string) []byte {
	for _, x := range r.Headers {
		if x.Key == key {
			return x.Value
		}
	}
	return nil
}

// peakRSS reads the child's peak resident set size (VmHWM) from /proc.
func peakRSS(t *testing.T, c *child) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading the child's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
