package schemas

import (
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/custream/custream/processor/customer"
)

// Hand-written Avro binary encoders for the output records (result.avsc,
// merge.avsc, snapshot.avsc). They write what goavro writes from the same
// value, without building a map[string]any tree first; the tests hold them
// to goavro byte for byte. The Avro binary encoding, as used here
// (specification, "Binary Encoding"):
//
//   - long and int: zig-zag, then a little-endian base-128 varint
//     (int fields are the long encoding of a value that fits in 32 bits);
//   - boolean: one byte, 0 or 1;
//   - string: its length in bytes as a long, then the UTF-8 bytes;
//   - enum: the symbol's index as a long;
//   - union: the branch's index as a long, then the value (null is
//     nothing), so ["null","long"] is 00 for null, 02 then the long;
//   - record: its fields in schema order, nothing between them;
//   - array and map: blocks of a count (long) then that many items (a map
//     item is its key as a string then the value), ended by a 0 count. We
//     write one block, or blocks of at most maxBlockItems, as goavro
//     does;
//   - timestamp-millis and timestamp-micros: a long of ms or µs since the
//     Unix epoch, rounded down (t.UnixMilli, t.UnixMicro: goavro's
//     formula).
//
// Map entries are written in byte-wise key order, so equal records encode
// to equal bytes (goavro writes them in Go's random map order).

// maxBlockItems bounds the items of one array or map block, both when we
// write and when goavro writes or reads (native.go sets
// goavro.MaxBlockCount to it): no datum may hold more (MaxDatumItems).
const maxBlockItems = MaxDatumItems

// appendSingleObjectHeader appends the single-object encoding marker and
// kind k's schema fingerprint.
func appendSingleObjectHeader(b []byte, k Kind) []byte {
	b = append(b, soeMarker...)
	return binary.LittleEndian.AppendUint64(b, fingerprints[k])
}

func appendLong(b []byte, n int64) []byte {
	return binary.AppendUvarint(b, uint64(n<<1)^uint64(n>>63))
}

// appendInt appends an Avro int: the long encoding of an int32.
func appendInt(b []byte, n int32) []byte { return appendLong(b, int64(n)) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

// Union branch indexes of ["null", T], as encoded longs (zig-zag of 0 and 1).
const (
	unionNull  = 0x00
	unionValue = 0x02
)

// appendOptString appends a ["null","string"]: null for "".
func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, unionNull)
	}
	return appendString(append(b, unionValue), s)
}

// appendOptLong appends a ["null","long"]: null for 0.
func appendOptLong(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, unionNull)
	}
	return appendLong(append(b, unionValue), n)
}

// appendOptMicros appends a ["null", timestamp-micros]: null for the zero
// time.
func appendOptMicros(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, unionNull)
	}
	return appendLong(append(b, unionValue), t.UnixMicro())
}

// appendArray appends items as an Avro array, each written by item.
func appendArray[T any](b []byte, items []T, item func([]byte, *T) []byte) []byte {
	for len(items) > 0 {
		block := items[:min(len(items), maxBlockItems)]
		b = appendLong(b, int64(len(block)))
		for i := range block {
			b = item(b, &block[i])
		}
		items = items[len(block):]
	}
	return append(b, 0)
}

// appendMap appends m as an Avro map, keys in byte-wise order, each value
// written by value.
func appendMap[V any](b []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	switch len(m) {
	case 0:
		return append(b, 0)
	case 1:
		for k, v := range m {
			b = append(b, 2) // a block of one
			b = value(appendString(b, k), v)
		}
		return append(b, 0)
	}
	keys := make([]string, 0, 16) // on the stack for the usual few keys
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for len(keys) > 0 {
		block := keys[:min(len(keys), maxBlockItems)]
		b = appendLong(b, int64(len(block)))
		for _, k := range block {
			b = value(appendString(b, k), m[k])
		}
		keys = keys[len(block):]
	}
	return append(b, 0)
}

// Records shared by several schemas.

func appendIdentifier(b []byte, id *customer.Identifier) []byte {
	return appendString(appendString(b, id.Type), id.Value)
}

func appendSubscription(b []byte, s *customer.Subscription) []byte {
	b = appendString(b, s.Channel)
	b = appendString(b, s.AccountID)
	b = appendString(b, s.Priority)
	return appendString(b, s.Type)
}

func appendCommChannel(b []byte, c *customer.CommChannel) []byte {
	b = appendString(b, c.Type)
	b = appendString(b, c.Value)
	b = appendBool(b, c.Primary)
	b = appendBool(b, c.Verified)
	return appendMap(b, c.Meta, appendBool)
}

// opIndex is op's index in the Op enum, or -1. Exact spelling: ParseOp's
// case folding is for input, and goavro refused anything else here too.
func opIndex(op customer.Op) int {
	return slices.Index(ops, op)
}

// appendResult appends the Avro binary body of result.avsc. r.Op must be
// one of ops (opIndex(r.Op) >= 0).
func appendResult(b []byte, r *ResultRecord) []byte {
	b = appendString(b, r.RequestID)
	b = appendLong(b, r.Org)
	b = appendString(b, r.Source)
	b = appendOptString(b, r.AccountID)
	b = appendLong(b, int64(opIndex(r.Op)))
	b = appendBool(b, r.Success)
	b = appendOptLong(b, r.CreatedID)
	b = appendArray(b, r.Subscriptions, appendSubscription)
	b = appendArray(b, r.Warnings, appendIssue)
	b = appendArray(b, r.Errors, appendIssue)
	b = appendString(b, r.Origin.Topic)
	b = appendInt(b, r.Origin.Partition)
	return appendLong(b, r.Origin.Offset)
}

// appendIssue writes code as an Avro int: a code beyond 32 bits is
// truncated, as goavro did with the int32 it was given.
func appendIssue(b []byte, is *customer.Issue) []byte {
	return appendString(appendInt(b, int32(is.Code)), is.Message)
}

// appendMerge appends the Avro binary body of merge.avsc.
func appendMerge(b []byte, m *customer.Merge) []byte {
	b = appendLong(b, m.Org)
	b = appendLong(b, m.SurvivorID)
	b = appendLong(b, m.VictimID)
	b = appendIdentifier(b, &m.Identifier)
	b = appendString(b, m.Source)
	b = appendOptString(b, m.AccountID)
	b = appendString(b, m.RequestID)
	return appendLong(b, m.Time.UnixMilli())
}

// appendSnapshot appends the Avro binary body of snapshot.avsc.
func appendSnapshot(b []byte, c *customer.Customer) []byte {
	b = appendLong(b, c.ID)
	b = appendLong(b, c.Org)
	b = appendOptLong(b, c.MergedInto)
	b = appendString(b, c.LoyaltyType)
	b = appendArray(b, c.Profiles, appendProfile)
	b = appendMap(b, c.ExtendedFields, appendString)
	b = appendArray(b, c.Subscriptions, appendSubscription)
	b = appendOptMicros(b, c.CreateDate)
	return appendOptMicros(b, c.ModifiedDate)
}

// appendProfile appends a Profile record, its conflicting profiles
// recursively.
func appendProfile(b []byte, p *customer.Profile) []byte {
	b = appendString(b, p.Source)
	b = appendString(b, p.AccountID)
	b = appendString(b, p.FirstName)
	b = appendString(b, p.LastName)
	b = appendMap(b, p.Fields, appendString)
	b = appendArray(b, p.Identifiers, appendIdentifier)
	b = appendArray(b, p.CommChannels, appendCommChannel)
	b = appendOptMicros(b, p.CreateDate)
	b = appendOptMicros(b, p.ModifiedDate)
	return appendArray(b, p.Conflicting, appendProfile)
}

// encodeBufs holds scratch buffers: a record is encoded into one, then
// copied out at its exact size, so an encode costs one allocation however
// far the buffer had to grow.
var encodeBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf: a buffer grown past this by an unusually large record is
// dropped rather than kept for ever by the pool.
const maxPooledBuf = 64 << 10

// startRecord takes a scratch buffer from the pool and writes kind k's
// single-object header into it; the caller appends the body, and
// finishRecord returns a copy of the whole record and gives the buffer
// back.
func startRecord(k Kind) (*[]byte, []byte) {
	bp := encodeBufs.Get().(*[]byte)
	return bp, appendSingleObjectHeader((*bp)[:0], k)
}

func finishRecord(bp *[]byte, b []byte) []byte {
	out := slices.Clone(b)
	if cap(b) <= maxPooledBuf {
		*bp = b
		encodeBufs.Put(bp)
	}
	return out
}
