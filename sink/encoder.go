package sink

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// Format is the encoding of the output topics.
type Format int

const (
	// Avro is Avro single-object encoding (schemas/*.avsc): compact, and
	// self-describing through the schema fingerprint.
	Avro Format = iota
	// JSON uses the API doc's field names, for consumers without Avro.
	JSON
	// Confluent is the Confluent wire format: 00, the 4-byte big-endian
	// schema-registry id of the record's schema (Options.SchemaIDs), then
	// the same Avro binary as Avro's, for the Kafka ecosystem's registry
	// clients (AvroConverter, ksqlDB, Flink's avro-confluent, …).
	Confluent
)

// DefaultFormat is the output format when none is chosen: Format's zero
// value, so an unset Options.Format is Avro too.
const DefaultFormat = Avro

// ParseFormat reads "avro", "json" or "confluent"; "" is DefaultFormat.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "":
		return DefaultFormat, nil
	case "avro":
		return Avro, nil
	case "json":
		return JSON, nil
	case "confluent":
		return Confluent, nil
	}
	return 0, fmt.Errorf("output format %q: want avro, json or confluent", s)
}

func (f Format) String() string {
	switch f {
	case JSON:
		return "json"
	case Confluent:
		return "confluent"
	}
	return "avro"
}

// Origin locates the input record a result answers.
type Origin = schemas.Origin

// Topics names the output topics.
type Topics struct {
	Results, Merges, Snapshots, DLQ string
}

// Options configure an Encoder.
type Options struct {
	// Format is the encoding of results, merges and snapshots.
	Format Format
	// SchemaIDs are the registry ids of the output schemas, for the
	// Confluent format (schemas.RegisterOutputs); unused by the others.
	SchemaIDs schemas.OutputIDs
	// Topics names the output topics.
	Topics Topics
	// MaxDLQBytes is the DLQ topic's max.message.bytes: DLQ records are
	// cut to fit it (see DLQ). 0: no bound.
	MaxDLQBytes int
	// Instance names this member in the error.instance header of DLQ
	// records, so an operator can find the log of the member that
	// refused a record.
	Instance string
	// Now stamps error.time; default time.Now.
	Now func() time.Time
}

// Encoder builds output records. Safe for concurrent use.
type Encoder struct {
	format   Format
	ids      schemas.OutputIDs
	topics   Topics
	maxDLQ   int
	instance string
	now      func() time.Time
}

// NewEncoder returns an encoder configured by o.
func NewEncoder(o Options) *Encoder {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Encoder{format: o.Format, ids: o.SchemaIDs, topics: o.Topics, maxDLQ: o.MaxDLQBytes, instance: o.Instance, now: o.Now}
}

// RecordBatchBytes bounds from above the bytes of a record batch holding r
// alone, uncompressed: what the producer checks against its batch limit and
// the broker against max.message.bytes. The batch header is 61 bytes; every
// length and delta of the record is a varint of at most 10 bytes.
func RecordBatchBytes(r *kgo.Record) int {
	n := 61 + 6*10 + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += 2*10 + len(h.Key) + len(h.Value)
	}
	return n
}

func orgKey(org int64) []byte { return strconv.AppendInt(nil, org, 10) }

// Result is the customers.results record of one command of task: it goes
// to partition task (which is o's partition unless the command was
// forwarded from another partition).
func (e *Encoder) Result(r customer.Result, o Origin, task int32) (*kgo.Record, error) {
	rec, _, err := e.ResultAndStored(r, o, task)
	return rec, err
}

// ResultAndStored returns the customers.results record of one command and
// the bytes the request table keeps for it (Avro, whatever the output
// format: compact, and its schema is ours). With Avro output both are the
// same bytes, encoded once; the Confluent form is a copy with the other
// header.
func (e *Encoder) ResultAndStored(r customer.Result, o Origin, task int32) (*kgo.Record, []byte, error) {
	rr := schemas.ResultRecord{Result: r, Origin: o}
	stored, err := schemas.EncodeResult(rr)
	if err != nil {
		return nil, nil, err
	}
	v := stored
	switch e.format {
	case JSON:
		if v, err = schemas.EncodeResultJSON(rr); err != nil {
			return nil, nil, err
		}
	case Confluent:
		if v, err = schemas.ToConfluent(slices.Clone(stored), schemas.KindResult, e.ids.Result); err != nil {
			return nil, nil, err
		}
	}
	return &kgo.Record{Topic: e.topics.Results, Partition: task, Key: orgKey(r.Org), Value: v}, stored, nil
}

// StoredResult re-emits a remembered result for a repeated requestId; the
// origin is the repeat's, so a consumer can tell the two records apart.
func (e *Encoder) StoredResult(stored []byte, o Origin, task int32) (*kgo.Record, error) {
	rr, err := schemas.DecodeResult(stored)
	if err != nil {
		return nil, fmt.Errorf("decoding a stored result: %w", err)
	}
	rec, err := e.Result(rr.Result, o, task)
	if err != nil {
		return nil, err
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "custream.duplicate", Value: []byte("true")})
	return rec, nil
}

// Merge is the customers.merges record of one merge.
func (e *Encoder) Merge(m customer.Merge, partition int32) (*kgo.Record, error) {
	var v []byte
	var err error
	if e.format == JSON {
		v, err = schemas.EncodeMergeJSON(m)
	} else {
		v, err = schemas.EncodeMerge(m)
	}
	if err == nil && e.format == Confluent {
		v, err = schemas.ToConfluent(v, schemas.KindMerge, e.ids.Merge)
	}
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: e.topics.Merges, Partition: partition, Key: orgKey(m.Org), Value: v}, nil
}

// Snapshot is the customers.snapshots record of a customer's current
// state: the customer as GET /v2/customers/{id}?source=ALL&embed=subscriptions
// returns it, plus its org (customer.SnapshotView); for a merged-away
// customer only its id, org and whom it merged into. Both formats carry
// that one document: JSON as customer.Snapshot renders it, Avro
// (snapshot.avsc) encoded from c directly, without building the view.
func (e *Encoder) Snapshot(c *customer.Customer, partition int32) (*kgo.Record, error) {
	var v []byte
	var err error
	if e.format == JSON {
		v, err = json.Marshal(customer.Snapshot(c))
	} else {
		v, err = schemas.EncodeSnapshot(c)
	}
	if err == nil && e.format == Confluent {
		// The Avro form's bytes under the other header: whatever document
		// the Avro snapshot carries, the Confluent one carries too.
		v, err = schemas.ToConfluent(v, schemas.KindSnapshot, e.ids.Snapshot)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding the snapshot of customer %d: %w", c.ID, err)
	}
	return &kgo.Record{Topic: e.topics.Snapshots, Partition: partition, Key: strconv.AppendInt(nil, c.ID, 10), Value: v}, nil
}

// DLQ headers added to the original record's. The origin headers are also
// what a forwarded record carries (Forward) and what a DLQ replay keeps.
const (
	HeaderErrorCode       = "error.code"
	HeaderErrorMessage    = "error.message"
	HeaderErrorTime       = "error.time"     // when it was refused, RFC 3339 in UTC, milliseconds
	HeaderErrorInstance   = "error.instance" // the member that refused it
	HeaderOriginTopic     = "origin.topic"
	HeaderOriginPartition = "origin.partition"
	HeaderOriginOffset    = "origin.offset"
)

// isOriginHeader tells the headers DLQ sets afresh from the record's origin.
func isOriginHeader(k string) bool {
	return k == HeaderOriginTopic || k == HeaderOriginPartition || k == HeaderOriginOffset
}

// Forward is the repartition-topic copy of an input record that arrived on
// a partition other than its org's task: its key, value, headers and
// timestamp unchanged, to partition task of topic, plus the origin headers
// (origin.topic, origin.partition, origin.offset) of where its producer put
// it, unless it carries them already (a replayed DLQ record). They keep
// its default requestId, its source and its result's origin those of the
// original record.
func Forward(topic string, r *kgo.Record, task int32) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+3)
	hs = append(hs, r.Headers...)
	has := false
	for _, h := range r.Headers {
		has = has || h.Key == HeaderOriginTopic
	}
	if !has {
		hs = append(hs,
			kgo.RecordHeader{Key: HeaderOriginTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
			kgo.RecordHeader{Key: HeaderOriginOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
		)
	}
	return &kgo.Record{Topic: topic, Partition: task, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp}
}

// HeaderTruncated is set on a DLQ record that had to be cut to fit the DLQ
// topic: it says what was cut. The whole original stays readable at its
// origin coordinates for as long as the input topic retains it.
const HeaderTruncated = "error.truncated"

// maxErrorMessage bounds error.message: messages quote the offending
// values, which a hostile record can make as long as it likes.
const maxErrorMessage = 2048

// DLQ is the customers.dlq record for an input record that could not
// become a command: its key, value and headers unchanged, plus why, when,
// by whom, and where its producer put it (origin: the record's own
// coordinates, or those a forwarded or replayed record carries). A record
// that would not fit the DLQ topic (the input was compressed, or the added
// headers tip it over) loses first its largest headers, then the tail of
// its value, and says so in error.truncated, so the record always reaches
// the DLQ.
func (e *Encoder) DLQ(r *kgo.Record, origin Origin, code, message string) *kgo.Record {
	if len(message) > maxErrorMessage {
		message = strings.ToValidUTF8(message[:maxErrorMessage], "") + "…"
	}
	added := []kgo.RecordHeader{
		{Key: HeaderErrorCode, Value: []byte(code)},
		{Key: HeaderErrorMessage, Value: []byte(message)},
		{Key: HeaderErrorTime, Value: []byte(e.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))},
		{Key: HeaderErrorInstance, Value: []byte(e.instance)},
		{Key: HeaderOriginTopic, Value: []byte(origin.Topic)},
		{Key: HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(origin.Partition), 10)},
		{Key: HeaderOriginOffset, Value: strconv.AppendInt(nil, origin.Offset, 10)},
	}
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+len(added)+1)
	for _, h := range r.Headers {
		if !isOriginHeader(h.Key) {
			hs = append(hs, h)
		}
	}
	out := &kgo.Record{
		Topic:     e.topics.DLQ,
		Partition: r.Partition,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   append(hs, added...),
		Timestamp: r.Timestamp,
	}
	if e.maxDLQ <= 0 || RecordBatchBytes(out) <= e.maxDLQ {
		return out
	}
	return e.cutDLQ(out, hs, added)
}

// cutDLQ makes a DLQ record fit maxDLQ: large original headers (1 KiB and
// more) go first, largest first, then the tail of the value, then the
// remaining original headers.
func (e *Encoder) cutDLQ(out *kgo.Record, original, added []kgo.RecordHeader) *kgo.Record {
	// Room for error.truncated's own header and text.
	budget := e.maxDLQ - 256
	kept := slices.Clone(original)
	slices.SortStableFunc(kept, func(a, b kgo.RecordHeader) int { return (len(b.Key) + len(b.Value)) - (len(a.Key) + len(a.Value)) })
	var notes []string
	size := func() int {
		out.Headers = append(append(out.Headers[:0], kept...), added...)
		return RecordBatchBytes(out)
	}
	dropped, droppedBytes := 0, 0
	drop := func(large bool) {
		for len(kept) > 0 && size() > budget && (!large || len(kept[0].Key)+len(kept[0].Value) >= 1024) {
			dropped++
			droppedBytes += len(kept[0].Key) + len(kept[0].Value)
			kept = kept[1:]
		}
	}
	drop(true)
	if over := size() - budget; over > 0 {
		keep := max(len(out.Value)-over, 0)
		notes = append(notes, fmt.Sprintf("value cut from %d to %d bytes", len(out.Value), keep))
		out.Value = out.Value[:keep]
	}
	drop(false)
	if dropped > 0 {
		notes = append([]string{fmt.Sprintf("%d of its headers (%d bytes, largest first) dropped", dropped, droppedBytes)}, notes...)
	}
	if over := size() - budget; over > 0 {
		// Only the key is left to blame: a key that large could not have
		// been produced to the input topic of the same broker.
		notes = append(notes, fmt.Sprintf("key cut from %d bytes", len(out.Key)))
		out.Key = out.Key[:max(len(out.Key)-over, 0)]
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: HeaderTruncated, Value: []byte(strings.Join(notes, "; ") +
		"; the original is at its origin.topic/partition/offset")})
	return out
}
