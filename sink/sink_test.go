package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

var topics = Topics{Results: "r", Merges: "m", Snapshots: "s", DLQ: "d"}

func TestResultFormats(t *testing.T) {
	res := customer.Result{RequestID: "r1", Org: 100, Source: "INSTORE", Op: customer.OpRegister, Success: true, CreatedID: 5,
		Warnings: []customer.Issue{customer.NewIssue(customer.CodeJoined, "")}}
	o := Origin{Topic: "customers.instore", Partition: 1, Offset: 7}

	avro := NewEncoder(Options{Format: Avro, Topics: topics, MaxDLQBytes: 0, Instance: "m1"})
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

	js := NewEncoder(Options{Format: JSON, Topics: topics, MaxDLQBytes: 0, Instance: "m1"})
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
	r := NewEncoder(Options{Format: Avro, Topics: topics, MaxDLQBytes: 0, Instance: "m1"}).DLQ(in, Origin{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}, "undecodable", "not JSON")
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
	enc := NewEncoder(Options{Format: Avro, Topics: topics, MaxDLQBytes: limit, Instance: "m1"})
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

// TestSnapshotFormats: the Avro and JSON snapshot records of one customer
// carry the same document, decoded field by field (Avro with goavro, JSON
// with encoding/json): a fresh customer, one of two sources with a
// conflicting profile from a merge, one with extended fields and
// subscriptions, and a merged-away one, which says only its id, org and
// whom it merged into.
func TestSnapshotFormats(t *testing.T) {
	at := time.Date(2016, 6, 23, 19, 11, 18, 0, time.FixedZone("+08:00", 8*3600))
	mobile := customer.Identifier{Type: "mobile", Value: "919111111111"}
	fresh := &customer.Customer{ID: 9, Org: 100, LoyaltyType: "loyalty", CreateDate: at, ModifiedDate: at,
		Profiles: []customer.Profile{{Source: "INSTORE", FirstName: "Tom", Identifiers: []customer.Identifier{mobile}, CreateDate: at, ModifiedDate: at}}}
	withSubs := benchCustomer()
	withSubs.Subscriptions = append(withSubs.Subscriptions, customer.Subscription{Channel: "WECHAT", AccountID: "22232", Priority: "TRANS", Type: "OPTIN"})
	victim := &customer.Customer{ID: 13, Org: 100, MergedInto: 9}
	snapshot := func(f Format, c *customer.Customer) []byte {
		t.Helper()
		r, err := NewEncoder(Options{Format: f, Topics: topics, MaxDLQBytes: 0, Instance: "m1"}).Snapshot(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.FormatInt(c.ID, 10); string(r.Key) != want || r.Topic != "s" || r.Partition != 1 {
			t.Fatalf("%s snapshot record of %d: key %q, %s[%d]", f, c.ID, r.Key, r.Topic, r.Partition)
		}
		return r.Value
	}
	docs := map[string]map[string]any{}
	for name, c := range map[string]*customer.Customer{"fresh": fresh, "multi-source": benchCustomer(), "subscriptions": withSubs, "merged away": victim} {
		avro, err := schemas.DecodeSnapshot(snapshot(Avro, c))
		if err != nil {
			t.Fatalf("%s: decoding the Avro snapshot: %v", name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(snapshot(JSON, c)))
		dec.UseNumber()
		var js map[string]any
		if err := dec.Decode(&js); err != nil {
			t.Fatalf("%s: decoding the JSON snapshot: %v", name, err)
		}
		if a, j := numbers(avro), numbers(js); !reflect.DeepEqual(a, j) {
			t.Fatalf("%s: the Avro and JSON snapshots differ\navro %v\njson %v", name, a, j)
		}
		docs[name] = numbers(js).(map[string]any)
	}

	if got := docs["merged away"]; !reflect.DeepEqual(got, map[string]any{"id": int64(13), "org": int64(100), "mergedInto": int64(9)}) {
		t.Errorf("snapshot of the victim %v, want only its id, org and mergedInto", got)
	}
	v := docs["fresh"]
	if _, merged := v["mergedInto"]; merged || v["id"] != int64(9) || v["org"] != int64(100) {
		t.Errorf("snapshot %v: want id 9, org 100, no mergedInto", v)
	}
	p := v["profiles"].([]any)[0].(map[string]any)
	if p["source"] != "INSTORE" || p["accountId"] != "" || p["firstName"] != "Tom" || p["userId"] != int64(9) ||
		p["autoUpdateTime"] != "2016-06-23T11:11:18Z" ||
		!reflect.DeepEqual(p["identifiers"], []any{map[string]any{"type": "mobile", "value": "919111111111"}}) {
		t.Errorf("snapshot profile %v", p)
	}
	subs := docs["subscriptions"]["subscriptionInfo"].(map[string]any)["subscriptions"].([]any)
	var order []string
	for _, s := range subs {
		m := s.(map[string]any)
		order = append(order, fmt.Sprint(m["priority"], "/", m["channel"], "/", m["accountId"]))
	}
	if want := "TRANS/SMS/<nil> TRANS/WECHAT/22232 BULK/EMAIL/<nil> BULK/SMS/<nil>"; strings.Join(order, " ") != want {
		t.Errorf("subscriptions in the order %q, want %q (TRANS first, an accountId only where there is one)", order, want)
	}
}

// numbers makes the numbers of a decoded document comparable: integral
// ones int64 (Avro long and int, a JSON integer, a double holding an
// integer), others float64.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = numbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = numbers(e)
		}
		return out
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return numbers(f)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return int64(x)
		}
	}
	return v
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
