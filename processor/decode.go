package processor

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// BadRecord says why an input record cannot become a command; it goes to
// the DLQ with Code as error.code.
type BadRecord struct {
	Code    string
	Message string
}

// Decoder turns input records into commands: the org from the key, the
// source from the topic, the rest from the value (JSON with headers, Avro
// single-object, or the Confluent wire format when a registry is set).
type Decoder struct {
	topo Topology
	cf   *schemas.Confluent // nil without a schema registry
}

// NewDecoder returns a decoder for topo's input topics; cf may be nil.
func NewDecoder(topo Topology, cf *schemas.Confluent) *Decoder {
	return &Decoder{topo: topo, cf: cf}
}

// Decode decodes r, which arrived on a topic with partitions partitions.
// A retryable error (the schema registry is down) is returned as err: the
// batch must be retried, the record is not at fault.
func (d *Decoder) Decode(ctx context.Context, r *kgo.Record, partitions int32) (customer.Command, *BadRecord, error) {
	src, ok := d.topo.SourceOf(r.Topic)
	if !ok {
		return customer.Command{}, &BadRecord{schemas.ErrCodeUndecodable, fmt.Sprintf("topic %s is not an input topic", r.Topic)}, nil
	}
	// The budget of one record is set by its size after decompression,
	// which the broker's limit (on compressed batches) does not bound.
	if n := recordBytes(r); n > schemas.MaxRecordBytes {
		return customer.Command{}, &BadRecord{schemas.ErrCodeTooLarge, fmt.Sprintf(
			"record of %d bytes (value and headers, after decompression), over the limit of %d", n, schemas.MaxRecordBytes)}, nil
	}
	org, err := schemas.ParseOrgKey(r.Key)
	if err != nil {
		return customer.Command{}, &BadRecord{schemas.ErrorCode(err), err.Error()}, nil
	}
	if want := TaskOfOrg(org, partitions); want != r.Partition {
		return customer.Command{}, &BadRecord{schemas.ErrCodeMisrouted, fmt.Sprintf(
			"org %d belongs to partition %d (murmur2 of the key, as Kafka's default partitioner), but arrived on partition %d; produce with the default partitioner",
			org, want, r.Partition)}, nil
	}
	hs := make([]schemas.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = schemas.Header{Key: h.Key, Value: h.Value}
	}
	cmd, enc, err := schemas.Decode(ctx, d.cf, hs, r.Value)
	if err != nil {
		if schemas.Retryable(err) {
			return customer.Command{}, nil, fmt.Errorf("decoding %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		return customer.Command{}, &BadRecord{schemas.ErrorCode(err), fmt.Sprintf("%s value: %v", enc, err)}, nil
	}
	if enc != schemas.EncodingJSON {
		// The Avro envelope repeats the org and source; a disagreement
		// with the key or topic means a confused producer.
		if cmd.Org != 0 && cmd.Org != org {
			return customer.Command{}, &BadRecord{schemas.ErrCodeBadKey, fmt.Sprintf("envelope org %d differs from the record key's org %d", cmd.Org, org)}, nil
		}
		if cmd.Source != "" && cmd.Source != src.Name {
			return customer.Command{}, &BadRecord{schemas.ErrCodeUndecodable, fmt.Sprintf("envelope source %q differs from the topic's source %s", cmd.Source, src.Name)}, nil
		}
	}
	cmd.Org = org
	cmd.Source = src.Name
	if cmd.Time.IsZero() {
		cmd.Time = r.Timestamp
	}
	if cmd.RequestID == "" {
		cmd.RequestID = schemas.DefaultRequestID(r.Topic, r.Partition, r.Offset)
	}
	if err := customer.CheckRequestID(cmd.RequestID); err != nil {
		return customer.Command{}, &BadRecord{schemas.ErrCodeBadRequestID, err.Error()}, nil
	}
	return cmd, nil, nil
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
