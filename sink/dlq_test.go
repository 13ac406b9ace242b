package sink

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDLQReadBack: what Encoder.DLQ writes, ReadDLQ reads, and Original
// gives back the producer's record — key, value, timestamp and headers,
// its own "error.code" header included — with the origin headers and
// without the DLQ's error.* headers.
func TestDLQReadBack(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 123e6, time.UTC)
	in := &kgo.Record{Topic: "customers.instore", Partition: 2, Offset: 17, Key: []byte("7"), Value: []byte(`{"profiles":[]}`),
		Timestamp: at.Add(-time.Hour),
		Headers: []kgo.RecordHeader{
			{Key: "op", Value: []byte("register")},
			{Key: HeaderErrorCode, Value: []byte("the producer's own")},
			{Key: "requestId", Value: []byte("r1")},
		}}
	enc := NewEncoder(Options{Topics: topics, Instance: "m1", Now: func() time.Time { return at }})
	dl := enc.DLQ(in, Origin{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}, "misrouted", "org 7 belongs to partition 1")
	dl.Partition, dl.Offset = 2, 40

	d := ReadDLQ(dl)
	want := DeadLetter{Record: dl, Code: "misrouted", Message: "org 7 belongs to partition 1", Instance: "m1", Time: at,
		Origin: Origin{Topic: "customers.instore", Partition: 2, Offset: 17}, OriginOK: true}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("ReadDLQ\n%+v\nwant\n%+v", d, want)
	}
	if !d.When().Equal(at) {
		t.Errorf("When() = %v, want error.time %v", d.When(), at)
	}

	orig := d.Original()
	if orig.Topic != in.Topic || !bytes.Equal(orig.Key, in.Key) || !bytes.Equal(orig.Value, in.Value) || !orig.Timestamp.Equal(in.Timestamp) {
		t.Fatalf("Original() = %+v, want the input record", orig)
	}
	wantHs := append(append([]kgo.RecordHeader{}, in.Headers...),
		kgo.RecordHeader{Key: HeaderOriginTopic, Value: []byte("customers.instore")},
		kgo.RecordHeader{Key: HeaderOriginPartition, Value: []byte("2")},
		kgo.RecordHeader{Key: HeaderOriginOffset, Value: []byte("17")})
	if !reflect.DeepEqual(orig.Headers, wantHs) {
		t.Fatalf("Original() headers\n%s\nwant\n%s", headerList(orig.Headers), headerList(wantHs))
	}
	if o, ok := ParseOrigin(orig.Headers); !ok || o != d.Origin {
		t.Fatalf("the replayed record's origin is %+v (%v), want %+v", o, ok, d.Origin)
	}
	// Dead-lettered again after a replay, it says the same.
	again := ReadDLQ(enc.DLQ(orig, d.Origin, "misrouted", "again"))
	if again.Origin != d.Origin || !reflect.DeepEqual(again.Original().Headers, wantHs) {
		t.Fatalf("a replayed record dead-lettered again reads back as %+v with headers %s", again, headerList(again.Original().Headers))
	}
}

// TestDLQReadOld: a record of the DLQ from before error.time and
// error.instance reads with those empty, and its time is the record's.
func TestDLQReadOld(t *testing.T) {
	ts := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := &kgo.Record{Timestamp: ts, Key: []byte{0, 0, 0, 0, 0, 0, 3, 232}, Headers: []kgo.RecordHeader{
		{Key: "op", Value: []byte("register")},
		{Key: HeaderErrorCode, Value: []byte("bad-key")},
		{Key: HeaderErrorMessage, Value: []byte(`record key "\x00..." is not a positive decimal integer`)},
		{Key: HeaderOriginTopic, Value: []byte("customers.instore")},
		{Key: HeaderOriginPartition, Value: []byte("0")},
		{Key: HeaderOriginOffset, Value: []byte("5")},
	}}
	d := ReadDLQ(r)
	if d.Code != "bad-key" || !d.Time.IsZero() || d.Instance != "" || !d.OriginOK || !d.When().Equal(ts) {
		t.Fatalf("old DLQ record reads as %+v", d)
	}
	if got := headerList(d.Original().Headers); got != "op=register origin.topic=customers.instore origin.partition=0 origin.offset=5" {
		t.Fatalf("Original() headers %s", got)
	}
}

func TestParseOrigin(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	for _, c := range []struct {
		hs   []kgo.RecordHeader
		want Origin
		ok   bool
	}{
		{h("origin.topic", "t", "origin.partition", "1", "origin.offset", "2"), Origin{Topic: "t", Partition: 1, Offset: 2}, true},
		{h("origin.topic", "t", "origin.partition", "1"), Origin{}, false},
		{h("origin.topic", "", "origin.partition", "1", "origin.offset", "2"), Origin{}, false},
		{h("origin.topic", "t", "origin.partition", "-1", "origin.offset", "2"), Origin{}, false},
		{h("origin.topic", "t", "origin.partition", "1", "origin.offset", "x"), Origin{}, false},
		{h("origin.topic", "t", "origin.partition", "99999999999", "origin.offset", "2"), Origin{}, false},
		{h("origin.topic", "a", "origin.partition", "1", "origin.offset", "2", "origin.topic", "b"), Origin{Topic: "b", Partition: 1, Offset: 2}, true},
		{nil, Origin{}, false},
	} {
		got, ok := ParseOrigin(c.hs)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("ParseOrigin(%s) = %+v, %v; want %+v, %v", headerList(c.hs), got, ok, c.want, c.ok)
		}
	}
}

func headerList(hs []kgo.RecordHeader) string {
	var b strings.Builder
	for i, h := range hs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h.Key + "=" + string(h.Value))
	}
	return b.String()
}

// TestDLQReadTruncated: a record cut to fit the DLQ says so when read.
func TestDLQReadTruncated(t *testing.T) {
	in := &kgo.Record{Topic: "customers.instore", Key: []byte("7"), Value: bytes.Repeat([]byte("x"), 8<<10)}
	d := ReadDLQ(NewEncoder(Options{Topics: topics, MaxDLQBytes: 4 << 10}).DLQ(in, Origin{Topic: in.Topic}, "too-large", "big"))
	if d.Truncated == "" || !strings.Contains(d.Truncated, "value cut") {
		t.Fatalf("a cut DLQ record reads with error.truncated %q", d.Truncated)
	}
	for _, h := range d.Original().Headers {
		if h.Key == HeaderTruncated {
			t.Fatal("Original() keeps error.truncated")
		}
	}
}
