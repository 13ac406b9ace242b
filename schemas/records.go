package schemas

import (
	"fmt"

	"github.com/custream/custream/processor/customer"
)

// Output records: results (result.avsc), merge notices (merge.avsc) and
// customer snapshots (snapshot.avsc), all Avro single-object encoded by
// the hand-written encoders of avroenc.go and decoded with goavro.

// ResultRecord is a customers.results record: the domain's Result plus the
// input record it answers. The origin is wire-level (Kafka coordinates), so
// it lives here rather than in the domain.
type ResultRecord struct {
	customer.Result
	Origin Origin
}

// Origin locates an input record. Also the origin.* headers of a DLQ record.
type Origin struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// EncodeResult returns r as Avro single-object encoding of result.avsc.
func EncodeResult(r ResultRecord) ([]byte, error) {
	if opIndex(r.Op) < 0 {
		return nil, fmt.Errorf("encode result %q: unknown op %q", r.RequestID, r.Op)
	}
	bp, b := startRecord(KindResult)
	return finishRecord(bp, appendResult(b, &r)), nil
}

// DecodeResult decodes an Avro single-object encoded result.
func DecodeResult(data []byte) (ResultRecord, error) {
	native, err := decodeSingle(data, KindResult)
	if err != nil {
		return ResultRecord{}, err
	}
	m, _ := native.(map[string]any)
	var r reader
	opName := r.str(m, "op", "op")
	op, ok := ParseOp(opName)
	if !ok && r.err == nil {
		r.failf("op", "unknown op %q", opName)
	}
	origin := r.record(m, "origin", "origin")
	out := ResultRecord{
		Result: customer.Result{
			RequestID:     r.str(m, "requestId", "requestId"),
			Org:           r.long(m, "org", "org"),
			Source:        r.str(m, "source", "source"),
			AccountID:     r.str(m, "accountId", "accountId"),
			Op:            op,
			Success:       r.boolean(m, "success", "success"),
			CreatedID:     r.long(m, "createdId", "createdId"),
			Subscriptions: r.subscriptions(m, "subscriptions", "subscriptions"),
			Warnings:      r.issues(m, "warnings", "warnings"),
			Errors:        r.issues(m, "errors", "errors"),
		},
		Origin: Origin{
			Topic:     r.str(origin, "topic", "origin.topic"),
			Partition: int32(r.long(origin, "partition", "origin.partition")),
			Offset:    r.long(origin, "offset", "origin.offset"),
		},
	}
	if r.err != nil {
		return ResultRecord{}, fmt.Errorf("decode result: %w", r.err)
	}
	return out, nil
}

func (r *reader) issues(m map[string]any, key, path string) []customer.Issue {
	var out []customer.Issue
	r.records(m, key, path, func(rec map[string]any, path string) {
		out = append(out, customer.Issue{
			Code:    customer.Code(r.long(rec, "code", path+".code")),
			Message: r.str(rec, "message", path+".message"),
		})
	})
	return out
}

// EncodeMerge returns m as Avro single-object encoding of merge.avsc.
func EncodeMerge(m customer.Merge) ([]byte, error) {
	bp, b := startRecord(KindMerge)
	return finishRecord(bp, appendMerge(b, &m)), nil
}

// DecodeMerge decodes an Avro single-object encoded merge notice.
func DecodeMerge(data []byte) (customer.Merge, error) {
	native, err := decodeSingle(data, KindMerge)
	if err != nil {
		return customer.Merge{}, err
	}
	m, _ := native.(map[string]any)
	var r reader
	out := customer.Merge{
		Org:        r.long(m, "org", "org"),
		SurvivorID: r.long(m, "survivorId", "survivorId"),
		VictimID:   r.long(m, "victimId", "victimId"),
		Identifier: r.identifier(r.record(m, "identifier", "identifier"), "identifier"),
		Source:     r.str(m, "source", "source"),
		AccountID:  r.str(m, "accountId", "accountId"),
		RequestID:  r.str(m, "requestId", "requestId"),
		Time:       r.timestamp(m, "time", "time"),
	}
	if r.err != nil {
		return customer.Merge{}, fmt.Errorf("decode merge: %w", r.err)
	}
	return out, nil
}

// maxProfileDepth bounds nested conflicting profiles when decoding, so a
// hostile record cannot recurse without limit. Each merge of a customer
// that already had conflicts nests one level; 32 is far beyond that.
const maxProfileDepth = 32

// EncodeSnapshot returns c as Avro single-object encoding of
// snapshot.avsc. Customer times travel as timestamp-micros (a client's
// createDate may carry sub-millisecond digits); the zero time is null.
func EncodeSnapshot(c *customer.Customer) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("encode snapshot: nil customer")
	}
	bp, b := startRecord(KindSnapshot)
	return finishRecord(bp, appendSnapshot(b, c)), nil
}

// DecodeSnapshot decodes an Avro single-object encoded customer snapshot.
func DecodeSnapshot(data []byte) (*customer.Customer, error) {
	native, err := decodeSingle(data, KindSnapshot)
	if err != nil {
		return nil, err
	}
	m, _ := native.(map[string]any)
	var r reader
	c := &customer.Customer{
		ID:             r.long(m, "id", "id"),
		Org:            r.long(m, "org", "org"),
		MergedInto:     r.long(m, "mergedInto", "mergedInto"),
		LoyaltyType:    r.str(m, "loyaltyType", "loyaltyType"),
		Profiles:       r.profiles(m, "profiles", "profiles", 0),
		ExtendedFields: r.stringMap(m, "extendedFields", "extendedFields"),
		Subscriptions:  r.subscriptions(m, "subscriptions", "subscriptions"),
		CreateDate:     r.timestamp(m, "createDate", "createDate"),
		ModifiedDate:   r.timestamp(m, "modifiedDate", "modifiedDate"),
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", r.err)
	}
	return c, nil
}

func (r *reader) profiles(m map[string]any, key, path string, depth int) []customer.Profile {
	if depth > maxProfileDepth {
		r.failf(path, "conflicting profiles nested deeper than %d", maxProfileDepth)
		return nil
	}
	var out []customer.Profile
	r.records(m, key, path, func(p map[string]any, path string) {
		out = append(out, customer.Profile{
			Source:       r.str(p, "source", path+".source"),
			AccountID:    r.str(p, "accountId", path+".accountId"),
			FirstName:    r.str(p, "firstName", path+".firstName"),
			LastName:     r.str(p, "lastName", path+".lastName"),
			Fields:       r.stringMap(p, "fields", path+".fields"),
			Identifiers:  r.identifiers(p, "identifiers", path+".identifiers"),
			CommChannels: r.commChannels(p, "commChannels", path+".commChannels"),
			CreateDate:   r.timestamp(p, "createDate", path+".createDate"),
			ModifiedDate: r.timestamp(p, "modifiedDate", path+".modifiedDate"),
			Conflicting:  r.profiles(p, "conflictingProfiles", path+".conflictingProfiles", depth+1),
		})
	})
	return out
}
