package sink

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadLetter is a customers.dlq record read back: the inverse of
// Encoder.DLQ, for the tools that list, show and replay the DLQ.
//
// The DLQ appends its headers after the original record's, so when a
// producer sent a header of the same name (an "error.code" of its own),
// the DLQ's is the last one: DeadLetter reads, and Original strips, only
// the last of each name. Records written before error.time and
// error.instance existed read with those empty.
type DeadLetter struct {
	// Record is the DLQ record itself (topic, partition, offset, key,
	// value, headers, timestamp).
	Record *kgo.Record
	// Code is error.code, Message error.message, Instance error.instance.
	Code, Message, Instance string
	// Time is error.time; zero when the record has none (or it does not
	// parse).
	Time time.Time
	// Origin is where its producer put the record; OriginOK is false when
	// the origin headers are missing or malformed (ParseOrigin).
	Origin   Origin
	OriginOK bool
	// Truncated is error.truncated: what was cut to fit the DLQ topic, ""
	// when nothing was.
	Truncated string
}

// errorHeaders are the headers Encoder.DLQ adds beside the origin ones.
var errorHeaders = []string{HeaderErrorCode, HeaderErrorMessage, HeaderErrorTime, HeaderErrorInstance, HeaderTruncated}

// ReadDLQ reads the DLQ headers of r.
func ReadDLQ(r *kgo.Record) DeadLetter {
	d := DeadLetter{Record: r}
	d.Origin, d.OriginOK = ParseOrigin(r.Headers)
	for _, k := range errorHeaders {
		i := lastHeader(r.Headers, k)
		if i < 0 {
			continue
		}
		v := string(r.Headers[i].Value)
		switch k {
		case HeaderErrorCode:
			d.Code = v
		case HeaderErrorMessage:
			d.Message = v
		case HeaderErrorTime:
			d.Time, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderErrorInstance:
			d.Instance = v
		case HeaderTruncated:
			d.Truncated = v
		}
	}
	return d
}

// When is when the record was refused: error.time, or for a record
// without it the DLQ record's timestamp (the original's, which the DLQ
// keeps: when its producer sent it).
func (d DeadLetter) When() time.Time {
	if !d.Time.IsZero() {
		return d.Time
	}
	return d.Record.Timestamp
}

// Original is the record as its producer sent it, to be produced again to
// its origin topic: the original key, value and timestamp, and the
// headers without those the DLQ added (error.code, error.message,
// error.time, error.instance, error.truncated), keeping origin.topic,
// origin.partition and origin.offset. The processor reads those as the
// record's origin, so the replay keeps its default requestId
// (<topic>/<partition>/<offset> of where it first arrived) and its result
// names that origin: replaying a record twice applies it once. The
// partition is left to the producer's partitioner. Meaningful only when
// OriginOK.
func (d DeadLetter) Original() *kgo.Record {
	drop := make(map[int]bool, len(errorHeaders))
	for _, k := range errorHeaders {
		if i := lastHeader(d.Record.Headers, k); i >= 0 {
			drop[i] = true
		}
	}
	hs := make([]kgo.RecordHeader, 0, len(d.Record.Headers))
	for i, h := range d.Record.Headers {
		if !drop[i] {
			hs = append(hs, h)
		}
	}
	return &kgo.Record{Topic: d.Origin.Topic, Key: d.Record.Key, Value: d.Record.Value, Headers: hs, Timestamp: d.Record.Timestamp}
}

func lastHeader(hs []kgo.RecordHeader, key string) int {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return i
		}
	}
	return -1
}

// ParseOrigin reads the origin.topic, origin.partition and origin.offset
// headers that Forward, DLQ and DLQ replays carry; ok only if all three
// are there and well formed (a non-empty topic, a partition and an offset
// that are non-negative integers). A repeated header counts by its last
// value.
func ParseOrigin(hs []kgo.RecordHeader) (o Origin, ok bool) {
	var seen int
	for _, h := range hs {
		switch h.Key {
		case HeaderOriginTopic:
			o.Topic = string(h.Value)
			seen |= 1
		case HeaderOriginPartition:
			p, err := strconv.ParseInt(string(h.Value), 10, 32)
			if err != nil || p < 0 {
				return Origin{}, false
			}
			o.Partition = int32(p)
			seen |= 2
		case HeaderOriginOffset:
			off, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil || off < 0 {
				return Origin{}, false
			}
			o.Offset = off
			seen |= 4
		}
	}
	return o, seen == 7 && o.Topic != ""
}
