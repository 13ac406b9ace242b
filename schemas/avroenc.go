package schemas

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/custream/custream/processor/customer"
)

// Hand-written Avro binary encoders for the output records (result.avsc,
// merge.avsc, snapshot.avsc). They write what goavro writes from the same
// document, without building a map[string]any tree first; the tests hold them
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
//   - timestamp-millis: a long of ms since the Unix epoch, rounded down
//     (t.UnixMilli: goavro's formula);
//   - double: 8 bytes, the IEEE 754 bits little-endian.
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
	return slices.Index(resultOps, op)
}

// appendDouble writes an Avro double.
func appendDouble(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

// appendProgramBalance appends a ProgramBalance of merge.avsc.
func appendProgramBalance(b []byte, p *customer.Balance) []byte {
	b = appendLong(b, p.ProgramID)
	b = appendLong(b, p.Version)
	b = appendLong(b, p.LoyaltyID)
	for _, v := range balanceCounterFields(p) {
		b = appendDouble(b, *v)
	}
	b = appendString(b, p.CurrentSlab)
	b = appendLong(b, p.SlabSNo)
	b = appendString(b, p.SlabExpiryDate)
	b = appendString(b, p.NextSlab)
	b = appendLong(b, p.NextSlabSerialNumber)
	return appendString(b, p.NextSlabDescription)
}

// appendProgramDetails appends the snapshot's loyaltyProgramDetails: null
// without balances, else one ProgramDetails per balance, as the view
// renders it (customer.Snapshot).
func appendProgramDetails(b []byte, c *customer.Customer) []byte {
	if len(c.Points) == 0 {
		return append(b, unionNull)
	}
	b = append(b, unionValue)
	b = appendLong(b, int64(len(c.Points)))
	for i := range c.Points {
		p := &c.Points[i]
		b = appendDouble(b, p.Redeemed)
		b = appendDouble(b, p.Expired)
		b = appendDouble(b, p.Returned)
		b = appendDouble(b, p.Adjusted)
		b = appendDouble(b, p.LifetimePoints)
		b = appendDouble(b, p.LoyaltyPoints)
		b = appendDouble(b, p.CumulativePurchases)
		loyaltyID := p.LoyaltyID
		if loyaltyID == 0 {
			loyaltyID = c.ID // the view's rule (customer.balanceView)
		}
		b = appendLong(b, loyaltyID)
		b = appendString(b, p.CurrentSlab)
		b = appendString(b, p.NextSlab)
		b = appendLong(b, p.NextSlabSerialNumber)
		b = appendString(b, p.NextSlabDescription)
		b = appendLong(b, p.SlabSNo)
		b = appendString(b, p.SlabExpiryDate)
		b = appendLong(b, p.ProgramID)
	}
	return append(b, 0)
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
	b = appendLong(b, m.Time.UnixMilli())
	return appendArray(b, m.Balances, appendProgramBalance)
}

// appendSnapshot appends the Avro binary body of snapshot.avsc: the
// document customer.Snapshot renders (the fetch view with source ALL and
// subscriptions, plus org and mergedInto), written straight from the
// stored customer without building the view, as this runs for every
// changed customer of every batch. Each derived field follows the view's
// rule (processor/customer/view.go); TestSnapshotAvroIsTheJSONDocument
// holds the two to the same document.
func appendSnapshot(b []byte, c *customer.Customer) []byte {
	b = appendLong(b, c.ID)
	b = appendLong(b, c.Org)
	if c.MergedInto != 0 {
		b = appendLong(append(b, unionValue), c.MergedInto)
		// profiles, loyaltyInfo, segments, extendedFields,
		// subscriptionInfo, warnings, loyaltyProgramDetails: null.
		return append(b, unionNull, unionNull, unionNull, unionNull, unionNull, unionNull, unionNull)
	}
	var sc stampCache
	b = append(b, unionNull, unionValue) // mergedInto null; profiles
	b = appendProfileViews(b, &sc, c.ID, c.Profiles)
	b = append(b, unionValue) // loyaltyInfo
	b = appendString(b, c.LoyaltyType)
	b = sc.append(b, c.CreateDate) // attributionV2
	created, modified := customer.AttributionProfiles(c)
	b = appendActorRef(b, created)
	b = appendActorRef(b, modified)
	b = sc.append(b, c.ModifiedDate)
	b = appendDouble(b, customer.LifetimePurchases(c))
	b = append(b, unionValue, 0) // segments: {}
	b = appendMap(append(b, unionValue), c.ExtendedFields, appendString)
	b = appendSubscriptionViews(append(b, unionValue), c.Subscriptions) // subscriptionInfo
	b = append(b, unionValue, 0)                                        // warnings: []
	return appendProgramDetails(b, c)
}

// appendProfileViews appends an array of Profile (the view's profiles or
// conflictingProfileList), each with userId.
func appendProfileViews(b []byte, sc *stampCache, userID int64, ps []customer.Profile) []byte {
	for len(ps) > 0 {
		block := ps[:min(len(ps), maxBlockItems)]
		b = appendLong(b, int64(len(block)))
		for i := range block {
			b = appendProfileView(b, sc, userID, &block[i])
		}
		ps = ps[len(block):]
	}
	return append(b, 0)
}

// appendProfileView appends a Profile record: customer.profileView's
// fields, in the schema's order.
func appendProfileView(b []byte, sc *stampCache, userID int64, p *customer.Profile) []byte {
	b = appendString(b, p.FirstName)
	b = appendString(b, p.LastName)
	b = sc.append(b, p.CreateDate) // attribution
	b = appendActor(b, p.Source, p.AccountID)
	b = appendActor(b, p.Source, p.AccountID)
	b = sc.append(b, p.ModifiedDate)
	b = appendMap(b, p.Fields, appendString)
	b = appendArray(b, p.Identifiers, appendIdentifier)
	b = appendArray(b, p.CommChannels, appendCommChannel)
	b = appendString(b, p.Source)
	b = appendString(b, p.AccountID)
	b = appendLong(b, userID)
	b = appendProfileViews(b, sc, userID, p.Conflicting)
	return sc.append(b, p.ModifiedDate) // autoUpdateTime
}

// appendActorName appends the string SOURCE or SOURCE/ACCOUNT, the code
// and name of the actor of a change (customer.actor), without building it.
func appendActorName(b []byte, source, accountID string) []byte {
	n := len(source)
	if accountID != "" {
		n += 1 + len(accountID)
	}
	b = append(appendLong(b, int64(n)), source...)
	if accountID != "" {
		b = append(append(b, '/'), accountID...)
	}
	return b
}

// appendActor appends an Actor record: code and name the actor's name,
// description "", type "SOURCE".
func appendActor(b []byte, source, accountID string) []byte {
	b = appendActorName(b, source, accountID)
	b = append(b, 0) // description ""
	b = appendActorName(b, source, accountID)
	return appendString(b, "SOURCE")
}

// appendActorRef appends an ActorRef record of p's source, or of nobody
// ("", "") when p is nil.
func appendActorRef(b []byte, p *customer.Profile) []byte {
	if p == nil {
		return append(b, 0, 0)
	}
	b = appendActorName(b, p.Source, p.AccountID)
	return appendActorName(b, p.Source, p.AccountID)
}

// stampCache formats the times of one snapshot as the views render them
// (customer.StampLayout, in UTC; "" for the zero time) and remembers the
// last few: a customer's profiles mostly share their creation and
// modification times, and each profile's modification time is written
// twice (attribution.modifiedDate, autoUpdateTime). Formatting is a fifth
// of a snapshot's encoding without it. The zero value is ready to use.
type stampCache struct {
	secs [4]int64 // the instant, in Unix seconds: the layout has no fraction
	text [4][maxStampLen]byte
	n    [4]uint8 // 0: the entry is empty
	next int
}

// maxStampLen: RFC 3339 in UTC is 20 bytes for years 0–9999; longer
// ones (other years) are formatted every time.
const maxStampLen = 24

// append appends t as an Avro string.
func (sc *stampCache) append(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	secs := t.Unix()
	for i := range sc.n {
		if sc.n[i] != 0 && sc.secs[i] == secs {
			return append(append(b, sc.n[i]<<1), sc.text[i][:sc.n[i]]...)
		}
	}
	at := len(b)
	b = t.UTC().AppendFormat(append(b, 0), customer.StampLayout)
	n := len(b) - at - 1
	if n > maxStampLen { // not one byte of length; never cached
		s := string(b[at+1:])
		return appendString(b[:at], s)
	}
	b[at] = byte(n << 1)
	i := sc.next
	sc.next = (sc.next + 1) % len(sc.n)
	sc.secs[i], sc.n[i] = secs, uint8(n)
	copy(sc.text[i][:], b[at+1:])
	return b
}

// appendSubscriptionViews appends the SubscriptionInfo record: the
// subscriptions in the view's order (customer.CompareSubscriptionViews),
// an account only where there is one.
func appendSubscriptionViews(b []byte, subs []customer.Subscription) []byte {
	var idxBuf [16]int // on the stack for the usual few subscriptions
	idx := idxBuf[:0]
	for i := range subs {
		idx = append(idx, i)
	}
	cmp := func(i, j int) int { return customer.CompareSubscriptionViews(subs[i], subs[j]) }
	if !slices.IsSortedFunc(idx, cmp) {
		slices.SortStableFunc(idx, cmp)
	}
	for len(idx) > 0 {
		block := idx[:min(len(idx), maxBlockItems)]
		b = appendLong(b, int64(len(block)))
		for _, i := range block {
			s := &subs[i]
			b = appendString(b, s.Channel)
			b = appendOptString(b, s.AccountID)
			b = appendString(b, s.Priority)
			b = appendString(b, s.Type)
		}
		idx = idx[len(block):]
	}
	return append(b, 0)
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
