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
	op, ok := parseResultOp(opName)
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
	for i, v := range r.array(m, "balances", "balances") {
		rec, _ := v.(map[string]any)
		path := fmt.Sprintf("balances[%d]", i)
		b := customer.Balance{
			ProgramID:            r.long(rec, "programId", path),
			Version:              r.long(rec, "version", path),
			LoyaltyID:            r.long(rec, "loyaltyId", path),
			CurrentSlab:          r.str(rec, "currentSlab", path),
			SlabSNo:              r.long(rec, "slabSNo", path),
			SlabExpiryDate:       r.str(rec, "slabExpiryDate", path),
			NextSlab:             r.str(rec, "nextSlab", path),
			NextSlabSerialNumber: r.long(rec, "nextSlabSerialNumber", path),
			NextSlabDescription:  r.str(rec, "nextSlabDescription", path),
		}
		counters := balanceCounterFields(&b)
		for j, name := range balanceCounters {
			*counters[j] = r.double(rec, name, path)
		}
		out.Balances = append(out.Balances, b)
	}
	if r.err != nil {
		return customer.Merge{}, fmt.Errorf("decode merge: %w", r.err)
	}
	return out, nil
}

// EncodeSnapshot returns the customers.snapshots record of c as Avro
// single-object encoding of snapshot.avsc: the document customer.Snapshot
// renders (the JSON output's), nothing else.
func EncodeSnapshot(c *customer.Customer) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("encode snapshot: nil customer")
	}
	bp, b := startRecord(KindSnapshot)
	return finishRecord(bp, appendSnapshot(b, c)), nil
}

// DecodeSnapshot decodes an Avro single-object encoded snapshot into its
// document, the values encoding/json reads from the JSON output: records
// and maps as map[string]any (a null field left out), arrays as []any,
// unions as their value, long and int as int64, double as float64.
func DecodeSnapshot(data []byte) (map[string]any, error) {
	native, err := decodeSingle(data, KindSnapshot)
	if err != nil {
		return nil, err
	}
	doc, _ := document(walkSchemas[KindSnapshot].root, native).(map[string]any)
	if doc == nil {
		return nil, undecodable(nil, "decode snapshot: not a record")
	}
	return doc, nil
}

// document turns goavro's native value of schema t into a plain document:
// union wrappers removed, null record fields left out, numbers widened.
// goavro built native from t, so its shape is t's.
func document(t *avroType, native any) any {
	switch t.kind {
	case avroRecord:
		m, _ := native.(map[string]any)
		out := make(map[string]any, len(t.fields))
		for i, ft := range t.fields {
			if v := document(ft, m[t.names[i]]); v != nil {
				out[t.names[i]] = v
			}
		}
		return out
	case avroUnion:
		w, ok := native.(map[string]any)
		if !ok || len(w) != 1 {
			return nil // null
		}
		for name, v := range w {
			for _, bt := range t.branches {
				if unionBranchName(bt) == name {
					return document(bt, v)
				}
			}
		}
		return nil
	case avroArray:
		a, _ := native.([]any)
		out := make([]any, len(a))
		for i, v := range a {
			out[i] = document(t.elem, v)
		}
		return out
	case avroMap:
		m, _ := native.(map[string]any)
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = document(t.elem, v)
		}
		return out
	case avroInt:
		n, _ := native.(int32)
		return int64(n)
	case avroNull:
		return nil
	}
	return native // long, double, string, boolean as goavro gives them
}

// unionBranchName is the key goavro gives a union value of branch t: a
// named type's full name, else the type's name.
func unionBranchName(t *avroType) string {
	switch t.kind {
	case avroArray:
		return "array"
	case avroMap:
		return "map"
	}
	return t.name
}
