package dlq

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/sink"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2026-12-01T10:00:00Z", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{"2026-12-01T10:00:00.250+05:30", time.Date(2026, 12, 1, 4, 30, 0, 250e6, time.UTC)},
		{"2h", now.Add(-2 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"3d", now.Add(-72 * time.Hour)},
		{"1d12h", now.Add(-36 * time.Hour)},
		{" 0s ", now},
	} {
		got, err := ParseTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-2h", "2", "d", "1.5d", "2026-12-01", "2026-12-01 10:00:00", "3d-1h", "xd2h"} {
		if got, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParsePosition(t *testing.T) {
	if p, err := ParsePosition("3:120"); err != nil || p != (Position{3, 120}) || p.String() != "3:120" {
		t.Errorf("ParsePosition(3:120) = %v, %v", p, err)
	}
	for _, bad := range []string{"", "3", "3:", ":1", "-1:2", "1:-2", "a:b", "1:2:3", "99999999999:1"} {
		if p, err := ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) = %v, want an error", bad, p)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList([]string{"misrouted,bad-key", " undecodable ", "", "a,,b"})
	if want := []string{"misrouted", "bad-key", "undecodable", "a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SplitList = %q, want %q", got, want)
	}
	if got := SplitList(nil); got != nil {
		t.Errorf("SplitList(nil) = %q", got)
	}
}

// dead builds a DLQ record at partition:offset with the given headers
// (name, value pairs).
func dead(part int32, off int64, ts time.Time, kv ...string) sink.DeadLetter {
	r := &kgo.Record{Topic: "customers.dlq", Partition: part, Offset: off, Timestamp: ts, Key: []byte("7"), Value: []byte("{}")}
	for i := 0; i < len(kv); i += 2 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return sink.ReadDLQ(r)
}

func origin(topic string, p, o string) []string {
	return []string{"origin.topic", topic, "origin.partition", p, "origin.offset", o}
}

func TestFilterMatch(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	misrouted := dead(0, 5, t0.Add(-time.Hour), append([]string{"error.code", "misrouted", "error.time", "2026-12-01T10:00:00.000Z"}, origin("customers.instore", "2", "17")...)...)
	// Written before error.time: its time is the record's timestamp.
	oldBadKey := dead(1, 9, t0.Add(-48*time.Hour), append([]string{"error.code", "bad-key"}, origin("customers.wechat", "0", "3")...)...)
	noOrigin := dead(1, 10, t0, "error.code", "undecodable", "error.time", "2026-12-01T11:00:00.000Z")
	all := []sink.DeadLetter{misrouted, oldBadKey, noOrigin}
	for _, c := range []struct {
		f    Filter
		want []int
	}{
		{Filter{}, []int{0, 1, 2}},
		{Filter{Codes: []string{"misrouted", "bad-key"}}, []int{0, 1}},
		{Filter{Codes: []string{"too-large"}}, nil},
		{Filter{OriginTopics: []string{"customers.wechat"}}, []int{1}},
		{Filter{Since: t0}, []int{0, 2}},
		{Filter{Since: t0.Add(time.Millisecond)}, []int{2}},
		{Filter{Until: t0}, []int{1}}, // until is exclusive
		{Filter{Since: t0.Add(-72 * time.Hour), Until: t0.Add(-24 * time.Hour)}, []int{1}},
		{Filter{Positions: []Position{{1, 9}, {0, 6}}}, []int{1}},
		{Filter{Codes: []string{"misrouted"}, OriginTopics: []string{"customers.wechat"}}, nil},
	} {
		var got []int
		for i, d := range all {
			if c.f.Match(d) {
				got = append(got, i)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("filter %s selects %v, want %v", c.f, got, c.want)
		}
	}
	if s := (Filter{Codes: []string{"a", "b"}, Since: t0, Positions: []Position{{1, 2}}}).String(); s != "code=a,b since=2026-12-01T10:00:00Z offset=1:2" {
		t.Errorf("Filter.String() = %q", s)
	}
}

// TestSkipRules: a record is replayed only with a whole origin in an
// input topic, uncut, not already answered, and once per origin.
func TestSkipRules(t *testing.T) {
	inputs := []string{"customers.instore", "customers.wechat"}
	ok := append([]string{"error.code", "misrouted"}, origin("customers.instore", "2", "17")...)
	seen := map[sink.Origin]Position{{Topic: "customers.wechat", Partition: 1, Offset: 1}: {0, 3}}
	for _, c := range []struct {
		name string
		hs   []string
		want string
	}{
		{"replayable", ok, ""},
		{"bad-key from before 8-byte keys", append([]string{"error.code", "bad-key"}, origin("customers.wechat", "0", "4")...), ""},
		{"undecodable", append([]string{"error.code", "undecodable"}, origin("customers.wechat", "0", "5")...), ""},
		{"no origin headers", []string{"error.code", "misrouted"}, SkipNoOrigin},
		{"origin offset missing", []string{"error.code", "misrouted", "origin.topic", "customers.instore", "origin.partition", "1"}, SkipNoOrigin},
		{"origin partition malformed", append([]string{"error.code", "misrouted"}, origin("customers.instore", "x", "1")...), SkipNoOrigin},
		{"another deployment's topic", append([]string{"error.code", "misrouted"}, origin("other.instore", "0", "1")...), SkipNotAnInput},
		{"the repartition topic", append([]string{"error.code", "misrouted"}, origin("custream-repartition", "0", "1")...), SkipNotAnInput},
		{"truncated", append(append([]string{}, ok...), "error.truncated", "value cut from 9 to 3 bytes"), SkipTruncated},
		{"output-too-large", append([]string{"error.code", "output-too-large"}, origin("customers.instore", "0", "8")...), SkipAnswered},
		{"origin already replayed", append([]string{"error.code", "undecodable"}, origin("customers.wechat", "1", "1")...), SkipDuplicateOrigin},
	} {
		got, detail := skipReason(dead(0, 9, time.Time{}, c.hs...), inputs, seen)
		if got != c.want || (got != "" && detail == "") {
			t.Errorf("%s: skip reason %q (%s), want %q", c.name, got, detail, c.want)
		}
	}
}

func TestRanges(t *testing.T) {
	ext := Extent{Topic: "d", Partitions: []PartitionExtent{{0, 0, 10}, {1, 5, 5}, {2, 3, 8}}}
	if got, want := ranges(ext, nil), []PartitionExtent{{0, 0, 10}, {2, 3, 8}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ranges of every record: %v, want %v (empty partitions skipped)", got, want)
	}
	got := ranges(ext, []Position{{0, 7}, {0, 2}, {2, 1}, {2, 4}, {1, 5}, {3, 0}})
	if want := []PartitionExtent{{0, 2, 8}, {2, 4, 5}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ranges of positions: %v, want %v (positions outside the extent dropped)", got, want)
	}
	if ext.Offsets() != 15 || ext.String() != "0:10 1:5 2:8" {
		t.Errorf("extent %d offsets, %q", ext.Offsets(), ext.String())
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBucket(100, func() time.Time { return now })
	// A tenth of a second's burst, then one token every 10ms.
	for i := range 10 {
		if d := b.take(); d != 0 {
			t.Fatalf("token %d of the burst: wait %v", i, d)
		}
	}
	if d := b.take(); d != 10*time.Millisecond {
		t.Fatalf("after the burst: wait %v, want 10ms", d)
	}
	now = now.Add(10 * time.Millisecond)
	if d := b.take(); d != 0 {
		t.Fatalf("after 10ms: wait %v, want a token", d)
	}
	// Idle time saves at most the burst.
	now = now.Add(time.Hour)
	n := 0
	for b.take() == 0 {
		n++
	}
	if n != 10 {
		t.Fatalf("after an hour idle: %d tokens at once, want the burst of 10", n)
	}
	if newBucket(0, time.Now) != nil {
		t.Fatal("rate 0 must mean no bucket (no bound)")
	}
}

func TestPrinting(t *testing.T) {
	for _, c := range []struct {
		key  []byte
		want string
	}{
		{nil, "(none)"},
		{[]byte("1000"), "1000"},
		{[]byte{0, 0, 0, 0, 0, 0, 3, 232}, "0x00000000000003e8 (int64 1000)"},
		{[]byte{0xff, 0x01}, "0xff01"},
	} {
		if got := keyText(c.key, 24); got != c.want {
			t.Errorf("keyText(%q) = %q, want %q", c.key, got, c.want)
		}
	}
	if got := bytesText([]byte("héllo"), 2); got != "h … (5 more bytes)" {
		t.Errorf("bytesText cuts inside a rune: %q", got)
	}
	if got := bytesText([]byte{0xff, 0xfe, 0x01}, 0); got != "hex fffe01" {
		t.Errorf("bytesText of binary = %q", got)
	}
	if got := bytesText([]byte("a\x00b"), 0); got != "hex 610062" {
		t.Errorf("bytesText of text with NUL = %q", got)
	}

	d := dead(2, 41, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), append([]string{"op", "register",
		"error.code", "misrouted", "error.message", strings.Repeat("long message ", 10), "error.time", "2026-12-01T10:00:00.000Z", "error.instance", "m1"},
		origin("customers.instore", "2", "17")...)...)
	var b bytes.Buffer
	tb := NewTable(&b)
	tb.Add(d)
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "OFFSET") ||
		!strings.Contains(lines[1], "2:41") || !strings.Contains(lines[1], "2026-12-01T10:00:00.000Z") ||
		!strings.Contains(lines[1], "customers.instore/2/17") || !strings.Contains(lines[1], strings.TrimSpace(strings.Repeat("long message ", 5))[:59]) ||
		strings.Contains(lines[1], strings.Repeat("long message ", 6)) {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	WriteRecord(&b, "customers.dlq", d, 100)
	for _, want := range []string{"customers.dlq 2:41", "code:      misrouted", "instance:  m1",
		"origin:    customers.instore/2/17 (requestId customers.instore/2/17)", `"op": register`, `"error.code": misrouted`, "value:     2 bytes"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, b.String())
		}
	}
	c := Counts{}
	c.Add(d)
	c.Add(d)
	c.Add(dead(0, 0, time.Time{}, "error.code", "bad-key"))
	if c.String() != "3 records (bad-key: 1, misrouted: 2)" {
		t.Errorf("counts %q", c.String())
	}
}

func TestReportWrite(t *testing.T) {
	r := Report{
		Extent:   Extent{Topic: "customers.dlq", Partitions: []PartitionExtent{{0, 0, 40}, {1, 0, 3}}},
		Filter:   Filter{Codes: []string{"misrouted"}},
		Scanned:  43,
		Selected: 30,
		Replayed: map[string]int{"customers.instore": 4, "customers.wechat": 2},
		Elapsed:  2 * time.Second,
	}
	for i := range 24 {
		r.Skipped = append(r.Skipped, Skip{Position{0, int64(i)}, []string{SkipTruncated, SkipNoOrigin}[i%2], "why"})
	}
	var b bytes.Buffer
	r.Write(&b)
	for _, want := range []string{
		"replay of customers.dlq (filter: code=misrouted; end offsets at start: 0:40 1:3)\n",
		"  read:      43 DLQ records\n",
		"  selected:  30\n",
		"  replayed:  6 (customers.instore: 4, customers.wechat: 2)\n",
		"  skipped:   24 (no-origin: 12, truncated: 12)\n",
		"    0:19       no-origin        why\n",
		"    … and 4 more\n",
		"  took 2s, 3 records/s\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "0:20 ") || strings.Contains(b.String(), "failed") {
		t.Errorf("report lists more than 20 skips, or failures it has not:\n%s", b.String())
	}
	r.DryRun = true
	b.Reset()
	r.Write(&b)
	if !strings.Contains(b.String(), "would replay: 6") || !strings.Contains(b.String(), "dry run, nothing sent") {
		t.Errorf("dry-run report:\n%s", b.String())
	}
}
