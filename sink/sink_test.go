package sink

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/state"
)

var topics = Topics{Results: "r", Merges: "m", Snapshots: "s", DLQ: "d"}

func TestChangelogRoundTrip(t *testing.T) {
	for _, kv := range []state.KV{
		{Key: []byte("k1"), Value: []byte("v")},
		{Key: []byte("k2"), Value: []byte{}}, // set to empty is not a delete
		{Key: []byte("k3")},                  // delete
	} {
		r := Changelog("cl", 3, kv)
		if r.Partition != 3 || r.Topic != "cl" {
			t.Fatalf("record %+v", r)
		}
		if kv.Value == nil && r.Value != nil {
			t.Fatalf("a delete must be a null value (a tombstone), got %q", r.Value)
		}
		got, err := ChangelogKV(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Key, kv.Key) || (got.Value == nil) != (kv.Value == nil) || !bytes.Equal(got.Value, kv.Value) {
			t.Fatalf("round trip of %+v gave %+v", kv, got)
		}
	}
	if _, err := ChangelogKV(&kgo.Record{Key: []byte("k"), Value: []byte("Xjunk")}); err == nil {
		t.Fatal("a value without the set prefix must be refused")
	}
}

func TestResultFormats(t *testing.T) {
	res := customer.Result{RequestID: "r1", Org: 100, Source: "INSTORE", Op: customer.OpRegister, Success: true, CreatedID: 5,
		Warnings: []customer.Issue{customer.NewIssue(customer.CodeJoined, "")}}
	o := Origin{Topic: "customers.instore", Partition: 1, Offset: 7}

	avro := NewEncoder(Options{Format: Avro, Topics: topics, Domain: customer.DefaultConfig(), MaxDLQBytes: 0, Instance: "m1"})
	rec, stored, err := avro.ResultAndStored(res, o, o.Partition)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Value, stored) || rec.Topic != "r" || rec.Partition != 1 || string(rec.Key) != "100" {
		t.Fatalf("avro result record %+v", rec)
	}
	if rr, err := schemas.DecodeResult(rec.Value); err != nil || rr.CreatedID != 5 || rr.Origin != o {
		t.Fatalf("decoded %+v, %v", rr, err)
	}

	js := NewEncoder(Options{Format: JSON, Topics: topics, Domain: customer.DefaultConfig(), MaxDLQBytes: 0, Instance: "m1"})
	rec, stored, err = js.ResultAndStored(res, o, o.Partition)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Value, &m); err != nil {
		t.Fatalf("json result %s: %v", rec.Value, err)
	}
	for _, k := range []string{"requestId", "org", "op", "success", "createdId", "warnings", "errors"} {
		if _, ok := m[k]; !ok {
			t.Errorf("json result lacks %q: %s", k, rec.Value)
		}
	}
	if _, err := schemas.DecodeResult(stored); err != nil {
		t.Fatalf("the stored copy is Avro whatever the output format: %v", err)
	}

	// A repeat carries the first result, its own origin, and a marker.
	o2 := Origin{Topic: "customers.instore", Partition: 1, Offset: 9}
	dup, err := avro.StoredResult(stored, o2, o2.Partition)
	if err != nil {
		t.Fatal(err)
	}
	rr, _ := schemas.DecodeResult(dup.Value)
	if rr.Origin != o2 || rr.CreatedID != 5 || len(dup.Headers) != 1 || dup.Headers[0].Key != "custream.duplicate" {
		t.Fatalf("duplicate %+v headers %v", rr, dup.Headers)
	}
}

// TestDLQOfAForwardedRecord: a record that came through the repartition
// topic (or a replay) is dead-lettered with its producer's origin, once.
func TestDLQOfAForwardedRecord(t *testing.T) {
	in := &kgo.Record{Topic: "customers.instore", Partition: 3, Offset: 9, Key: []byte("100"), Value: []byte("garbage")}
	fwd := Forward("g-repartition", in, 1)
	fwd.Offset = 77
	if fwd.Topic != "g-repartition" || fwd.Partition != 1 || len(fwd.Headers) != 3 {
		t.Fatalf("forwarded %+v", fwd)
	}
	if again := Forward("g-repartition", fwd, 1); len(again.Headers) != 3 {
		t.Fatalf("forwarding a forwarded record added origin headers again: %v", again.Headers)
	}
	r := NewEncoder(Options{Topics: topics}).DLQ(fwd, Origin{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}, "undecodable", "x")
	n := map[string]int{}
	got := map[string]string{}
	for _, h := range r.Headers {
		n[h.Key]++
		got[h.Key] = string(h.Value)
	}
	if n[HeaderOriginTopic] != 1 || got[HeaderOriginTopic] != "customers.instore" || got[HeaderOriginPartition] != "3" || got[HeaderOriginOffset] != "9" {
		t.Fatalf("DLQ headers %v (counts %v)", got, n)
	}
	if _, err := time.Parse(time.RFC3339, got[HeaderErrorTime]); err != nil {
		t.Errorf("error.time %q: %v", got[HeaderErrorTime], err)
	}
}

func TestDLQKeepsTheRecord(t *testing.T) {
	in := &kgo.Record{Topic: "customers.wechat", Partition: 2, Offset: 41, Key: []byte("100"), Value: []byte("garbage"),
		Headers: []kgo.RecordHeader{{Key: "op", Value: []byte("register")}}}
	r := NewEncoder(Options{Format: Avro, Topics: topics, Domain: customer.DefaultConfig(), MaxDLQBytes: 0, Instance: "m1"}).DLQ(in, Origin{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}, "undecodable", "not JSON")
	if r.Topic != "d" || r.Partition != 2 || string(r.Key) != "100" || string(r.Value) != "garbage" {
		t.Fatalf("dlq record %+v", r)
	}
	want := map[string]string{"op": "register", HeaderErrorCode: "undecodable", HeaderErrorMessage: "not JSON",
		HeaderOriginTopic: "customers.wechat", HeaderOriginPartition: "2", HeaderOriginOffset: "41", HeaderErrorInstance: "m1"}
	got := map[string]string{}
	for _, h := range r.Headers {
		got[h.Key] = string(h.Value)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q", k, got[k], v)
		}
	}
}

// TestDLQFitsItsTopic: a DLQ record over the DLQ topic's limit loses its
// large headers first, then the tail of its value, then its small headers,
// and says what it lost; it always fits.
func TestDLQFitsItsTopic(t *testing.T) {
	const limit = 4096
	enc := NewEncoder(Options{Format: Avro, Topics: topics, Domain: customer.DefaultConfig(), MaxDLQBytes: limit, Instance: "m1"})
	small := kgo.RecordHeader{Key: "op", Value: []byte("register")}
	large := kgo.RecordHeader{Key: "trace", Value: bytes.Repeat([]byte("t"), 3000)}
	for _, tc := range []struct {
		name              string
		value             int
		headers           []kgo.RecordHeader
		keepSmall, keepLg bool
		cut               bool
	}{
		{"fits", 100, []kgo.RecordHeader{small}, true, false, false},
		{"large header goes", 500, []kgo.RecordHeader{small, large}, true, false, false},
		{"value cut, small header kept", 10_000, []kgo.RecordHeader{small}, true, false, true},
		{"both", 10_000, []kgo.RecordHeader{large, small}, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &kgo.Record{Topic: "customers.instore", Partition: 1, Offset: 7, Key: []byte("100"),
				Value: bytes.Repeat([]byte("v"), tc.value), Headers: tc.headers}
			r := enc.DLQ(in, Origin{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}, "undecodable", strings.Repeat("m", 10_000))
			if n := RecordBatchBytes(r); n > limit {
				t.Fatalf("DLQ record is %d bytes, over %d", n, limit)
			}
			got := map[string]string{}
			for _, h := range r.Headers {
				got[h.Key] = string(h.Value)
			}
			if _, ok := got["op"]; ok != tc.keepSmall {
				t.Errorf("header op kept = %v, want %v", ok, tc.keepSmall)
			}
			if _, ok := got["trace"]; ok != tc.keepLg {
				t.Errorf("header trace kept = %v, want %v", ok, tc.keepLg)
			}
			if !bytes.HasPrefix(in.Value, r.Value) || (len(r.Value) < len(in.Value)) != tc.cut {
				t.Errorf("value %d of %d bytes, cut %v", len(r.Value), len(in.Value), tc.cut)
			}
			wantNote := tc.cut || len(tc.headers) > 1
			if (got[HeaderTruncated] != "") != wantNote {
				t.Errorf("%s = %q", HeaderTruncated, got[HeaderTruncated])
			}
			if got[HeaderOriginOffset] != "7" || got[HeaderErrorCode] != "undecodable" || len(got[HeaderErrorMessage]) > 2100 {
				t.Errorf("headers %v", got)
			}
		})
	}
}

// TestSnapshotFormats decodes the snapshot records of a customer and of a
// merged-away one in both output formats and checks what they say: Avro
// carries the customer itself, JSON the fetch view with source ALL.
func TestSnapshotFormats(t *testing.T) {
	mobile := customer.Identifier{Type: "mobile", Value: "919111111111"}
	c := &customer.Customer{ID: 9, Org: 100, LoyaltyType: "loyalty", Profiles: []customer.Profile{{Source: "INSTORE", FirstName: "Tom",
		Identifiers: []customer.Identifier{mobile}}}}
	victim := &customer.Customer{ID: 13, Org: 100, MergedInto: 9}
	snapshot := func(f Format, c *customer.Customer) []byte {
		t.Helper()
		r, err := NewEncoder(Options{Format: f, Topics: topics, Domain: customer.DefaultConfig(), MaxDLQBytes: 0, Instance: "m1"}).Snapshot(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.FormatInt(c.ID, 10); string(r.Key) != want || r.Topic != "s" || r.Partition != 1 {
			t.Fatalf("%s snapshot record of %d: key %q, %s[%d]", f, c.ID, r.Key, r.Topic, r.Partition)
		}
		return r.Value
	}

	for _, want := range []*customer.Customer{c, victim} {
		got, err := schemas.DecodeSnapshot(snapshot(Avro, want))
		if err != nil {
			t.Fatalf("decoding the Avro snapshot of %d: %v", want.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Avro snapshot decodes to\n%+v\nwant\n%+v", got, want)
		}
	}

	var v customer.FetchView
	if err := json.Unmarshal(snapshot(JSON, c), &v); err != nil {
		t.Fatalf("decoding the JSON snapshot: %v", err)
	}
	if v.ID != 9 || v.MergedInto != 0 || v.LoyaltyInfo.LoyaltyType != "loyalty" || len(v.Profiles) != 1 || v.SubscriptionInfo == nil {
		t.Fatalf("JSON snapshot %+v", v)
	}
	if p := v.Profiles[0]; p.Source != "INSTORE" || p.AccountID != "" || p.FirstName != "Tom" || p.UserID != 9 ||
		!reflect.DeepEqual(p.Identifiers, []customer.Identifier{mobile}) {
		t.Errorf("JSON snapshot profile %+v", p)
	}

	var tomb customer.FetchView
	if err := json.Unmarshal(snapshot(JSON, victim), &tomb); err != nil {
		t.Fatalf("decoding the JSON snapshot of the victim: %v", err)
	}
	if tomb.ID != 13 || tomb.MergedInto != 9 || len(tomb.Profiles) != 0 {
		t.Errorf("JSON snapshot of the victim %+v, want id 13 merged into 9 without profiles", tomb)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"avro": Avro, "": Avro, "json": JSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
}
