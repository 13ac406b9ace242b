package processor

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
)

// BadRecord says why an input record cannot become a command; it goes to
// the DLQ with Code as error.code.
type BadRecord struct {
	Code    string
	Message string
}

// Decoder turns input records into commands: the org from the key (or the
// org header), the source from the topic, the rest from the value (JSON
// with headers, Avro single-object, or the Confluent wire format when a
// registry is set).
type Decoder struct {
	topo Topology
	cf   *schemas.Confluent // nil without a schema registry
}

// NewDecoder returns a decoder for topo's input topics; cf may be nil.
func NewDecoder(topo Topology, cf *schemas.Confluent) *Decoder {
	return &Decoder{topo: topo, cf: cf}
}

// Route reads the org of r and returns the task it belongs to
// (TaskOfOrg), which is r's own partition unless a producer partitioned it
// otherwise. A record whose org cannot be read is bad (bad-key), and so is
// one too large to be worth forwarding (too-large).
func (d *Decoder) Route(r *kgo.Record, partitions int32) (org int64, task int32, bad *BadRecord) {
	if _, ok := d.inputOf(r); !ok {
		return 0, -1, &BadRecord{schemas.ErrCodeUndecodable, fmt.Sprintf("topic %s is not an input topic", r.Topic)}
	}
	// The budget of one record is set by its size after decompression,
	// which the broker's limit (on compressed batches) does not bound.
	if n := recordBytes(r); n > schemas.MaxRecordBytes {
		return 0, -1, &BadRecord{schemas.ErrCodeTooLarge, fmt.Sprintf(
			"record of %d bytes (value and headers, after decompression), over the limit of %d", n, schemas.MaxRecordBytes)}
	}
	org, err := schemas.ParseOrg(r.Key, headers(r))
	if err != nil {
		return 0, -1, &BadRecord{schemas.ErrorCode(err), err.Error()}
	}
	return org, TaskOfOrg(org, partitions), nil
}

// Decode decodes r into a command, whatever partition it is on (Route
// says where it belongs). Its origin — the input record the command's
// default requestId and its result name — is where the producer put it:
// the origin headers of a record forwarded through the repartition topic
// or replayed from the DLQ, else r's own coordinates. A retryable error
// (the schema registry is down) is returned as err: the batch must be
// retried, the record is not at fault.
func (d *Decoder) Decode(ctx context.Context, r *kgo.Record) (customer.Command, sink.Origin, *BadRecord, error) {
	origin := originOf(r)
	in, ok := d.inputOf(r)
	src := in.Source
	if !ok {
		return customer.Command{}, origin, &BadRecord{schemas.ErrCodeUndecodable, fmt.Sprintf("topic %s is not an input topic", r.Topic)}, nil
	}
	if n := recordBytes(r); n > schemas.MaxRecordBytes {
		return customer.Command{}, origin, &BadRecord{schemas.ErrCodeTooLarge, fmt.Sprintf(
			"record of %d bytes (value and headers, after decompression), over the limit of %d", n, schemas.MaxRecordBytes)}, nil
	}
	hs := headers(r)
	org, err := schemas.ParseOrg(r.Key, hs)
	if err != nil {
		return customer.Command{}, origin, &BadRecord{schemas.ErrorCode(err), err.Error()}, nil
	}
	if in.Balances {
		return d.decodeBalance(ctx, r, org, origin)
	}
	cmd, enc, err := schemas.Decode(ctx, d.cf, hs, r.Value)
	if err != nil {
		if schemas.Retryable(err) {
			return customer.Command{}, origin, nil, fmt.Errorf("decoding %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		return customer.Command{}, origin, &BadRecord{schemas.ErrorCode(err), fmt.Sprintf("%s value: %v", enc, err)}, nil
	}
	if enc != schemas.EncodingJSON {
		// The Avro envelope repeats the org and source; a disagreement
		// with the key or topic means a confused producer.
		if cmd.Org != 0 && cmd.Org != org {
			return customer.Command{}, origin, &BadRecord{schemas.ErrCodeBadKey, fmt.Sprintf("envelope org %d differs from the record key's org %d", cmd.Org, org)}, nil
		}
		if cmd.Source != "" && cmd.Source != src.Name {
			return customer.Command{}, origin, &BadRecord{schemas.ErrCodeUndecodable, fmt.Sprintf("envelope source %q differs from the topic's source %s", cmd.Source, src.Name)}, nil
		}
	}
	cmd.Org = org
	cmd.Source = src.Name
	if cmd.Time.IsZero() {
		cmd.Time = r.Timestamp
	}
	if cmd.RequestID == "" {
		cmd.RequestID = schemas.DefaultRequestID(origin.Topic, origin.Partition, origin.Offset)
	}
	if err := customer.CheckRequestID(cmd.RequestID); err != nil {
		return customer.Command{}, origin, &BadRecord{schemas.ErrCodeBadRequestID, err.Error()}, nil
	}
	return cmd, origin, nil, nil
}

// decodeBalance decodes a points-topic record into an OpPoints command.
// Its time is the record's timestamp, like a command's; a balance needs no
// headers.
func (d *Decoder) decodeBalance(ctx context.Context, r *kgo.Record, org int64, origin sink.Origin) (customer.Command, sink.Origin, *BadRecord, error) {
	cmd, enc, err := schemas.DecodeBalance(ctx, d.cf, r.Value)
	if err != nil {
		if schemas.Retryable(err) {
			return customer.Command{}, origin, nil, fmt.Errorf("decoding %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		return customer.Command{}, origin, &BadRecord{schemas.ErrorCode(err), fmt.Sprintf("%s value: %v", enc, err)}, nil
	}
	if cmd.Org != 0 && cmd.Org != org {
		return customer.Command{}, origin, &BadRecord{schemas.ErrCodeBadKey, fmt.Sprintf("balance org %d differs from the record key's org %d", cmd.Org, org)}, nil
	}
	cmd.Org = org
	cmd.Time = r.Timestamp
	if err := customer.CheckRequestID(cmd.RequestID); err != nil {
		return customer.Command{}, origin, &BadRecord{schemas.ErrCodeBadRequestID, err.Error()}, nil
	}
	return cmd, origin, nil, nil
}

// inputOf is the input topic r's producer wrote: r's own, or for a record
// forwarded through the repartition topic (which only custream writes),
// the origin topic it carries. A record on an input topic is its topic's,
// whatever origin headers it carries (a DLQ replay's), so a producer of one
// source cannot pass its records off as another's.
func (d *Decoder) inputOf(r *kgo.Record) (Input, bool) {
	topic := r.Topic
	if topic == d.topo.Repartition {
		o, ok := originHeaders(r)
		if !ok {
			return Input{}, false
		}
		topic = o.Topic
	}
	for _, in := range d.topo.Inputs {
		if in.Topic == topic {
			return in, true
		}
	}
	return Input{}, false
}

// originOf is where the producer put r: its origin headers when it carries
// them whole, else its own coordinates.
func originOf(r *kgo.Record) sink.Origin {
	if o, ok := originHeaders(r); ok {
		return o
	}
	return sink.Origin{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

// originHeaders reads the origin headers that sink.Forward and DLQ
// replays set (sink.ParseOrigin); ok only if all three are there and well
// formed.
func originHeaders(r *kgo.Record) (sink.Origin, bool) {
	return sink.ParseOrigin(r.Headers)
}

func headers(r *kgo.Record) []schemas.Header {
	hs := make([]schemas.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = schemas.Header{Key: h.Key, Value: h.Value}
	}
	return hs
}

// recordBytes is what schemas.MaxRecordBytes counts of r: its value and its
// headers' keys and values.
func recordBytes(r *kgo.Record) int {
	n := len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
