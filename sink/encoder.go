package sink

import (
	"encoding/json"
	"fmt"
	"strconv"

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
)

// ParseFormat reads "avro" or "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "avro", "":
		return Avro, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("output format %q: want avro or json", s)
}

func (f Format) String() string {
	if f == JSON {
		return "json"
	}
	return "avro"
}

// Origin locates the input record a result answers.
type Origin = schemas.Origin

// Topics names the output topics.
type Topics struct {
	Results, Merges, Snapshots, DLQ string
}

// Encoder builds output records. Safe for concurrent use.
type Encoder struct {
	format Format
	topics Topics
	domain customer.Config // renders snapshots in the fetch shape
}

// NewEncoder returns an encoder writing format to topics.
func NewEncoder(format Format, topics Topics, domain customer.Config) *Encoder {
	return &Encoder{format: format, topics: topics, domain: domain}
}

func orgKey(org int64) []byte { return strconv.AppendInt(nil, org, 10) }

// Result is the customers.results record of one command.
func (e *Encoder) Result(r customer.Result, o Origin) (*kgo.Record, error) {
	rec, _, err := e.ResultAndStored(r, o)
	return rec, err
}

// ResultAndStored returns the customers.results record of one command and
// the bytes the request table keeps for it (Avro, whatever the output
// format: compact, and its schema is ours). With Avro output both are the
// same bytes, encoded once.
func (e *Encoder) ResultAndStored(r customer.Result, o Origin) (*kgo.Record, []byte, error) {
	rr := schemas.ResultRecord{Result: r, Origin: o}
	stored, err := schemas.EncodeResult(rr)
	if err != nil {
		return nil, nil, err
	}
	v := stored
	if e.format == JSON {
		if v, err = schemas.EncodeResultJSON(rr); err != nil {
			return nil, nil, err
		}
	}
	return &kgo.Record{Topic: e.topics.Results, Partition: o.Partition, Key: orgKey(r.Org), Value: v}, stored, nil
}

// StoredResult re-emits a remembered result for a repeated requestId; the
// origin is the repeat's, so a consumer can tell the two records apart.
func (e *Encoder) StoredResult(stored []byte, o Origin) (*kgo.Record, error) {
	rr, err := schemas.DecodeResult(stored)
	if err != nil {
		return nil, fmt.Errorf("decoding a stored result: %w", err)
	}
	rec, err := e.Result(rr.Result, o)
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
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: e.topics.Merges, Partition: partition, Key: orgKey(m.Org), Value: v}, nil
}

// Snapshot is the customers.snapshots record of a customer's current
// state; for a merged-away customer it says which customer it merged into.
func (e *Encoder) Snapshot(c *customer.Customer, partition int32) (*kgo.Record, error) {
	var v []byte
	var err error
	if e.format == JSON {
		v, err = json.Marshal(customer.Snapshot(e.domain, c))
	} else {
		v, err = schemas.EncodeSnapshot(c)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding the snapshot of customer %d: %w", c.ID, err)
	}
	return &kgo.Record{Topic: e.topics.Snapshots, Partition: partition, Key: strconv.AppendInt(nil, c.ID, 10), Value: v}, nil
}

// DLQ headers added to the original record's.
const (
	HeaderErrorCode       = "error.code"
	HeaderErrorMessage    = "error.message"
	HeaderOriginTopic     = "origin.topic"
	HeaderOriginPartition = "origin.partition"
	HeaderOriginOffset    = "origin.offset"
)

// DLQ is the customers.dlq record for an input record that could not
// become a command: its key, value and headers unchanged, plus why and
// where it came from.
func (e *Encoder) DLQ(r *kgo.Record, code, message string) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	hs = append(hs, r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderErrorCode, Value: []byte(code)},
		kgo.RecordHeader{Key: HeaderErrorMessage, Value: []byte(message)},
		kgo.RecordHeader{Key: HeaderOriginTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderOriginOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	return &kgo.Record{
		Topic:     e.topics.DLQ,
		Partition: r.Partition,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   hs,
		Timestamp: r.Timestamp,
	}
}
