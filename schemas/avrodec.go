package schemas

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/custream/custream/processor/customer"
)

// A hand-written Avro binary decoder for command.avsc, the writer schema
// of every single-object command and of Confluent commands registered
// with our schema. It reads the encoding avroenc.go describes and maps it
// as commandFromNative maps goavro's natives (empty lists and maps as nil,
// null as zero, times in UTC); the tests hold it to goavro on valid and
// damaged input. Commands written with another schema still go through
// goavro and commandFromNative.
//
// It refuses what goavro refuses (booleans other than 0 and 1, union and
// enum indexes out of range, negative lengths, duplicate map keys) and,
// unlike goavro, varints longer than ten bytes or beyond 64 bits.
//
// Its allocation is in proportion to the bytes read: the datum is walked
// first (avrowalk.go), which proves every block's items are really there,
// within MaxDatumItems and MaxDepth; only then is it decoded, and a block
// of n items gets n slots at once, the exact size. (Growing slices as
// items arrive instead would allocate about twice as much, 34 bytes per
// byte for a datum of empty profiles against 17.) blockCount checks each
// count against the bytes left over the item's smallest encoding (the
// min… constants, held to the walk's by a test) all the same, so the
// decoder is safe even on a datum the walk did not see.

// avroReader reads Avro binary from the front of b. The first error is
// kept and every later read returns a zero value, so decoding code reads
// top to bottom without an if after every field.
type avroReader struct {
	b    []byte
	size int // of the whole datum, for error offsets
	err  error
}

func newAvroReader(b []byte) *avroReader { return &avroReader{b: b, size: len(b)} }

func (r *avroReader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("byte %d: %s", r.size-len(r.b), fmt.Sprintf(format, args...))
		r.b = nil
	}
}

func (r *avroReader) long() int64 {
	if r.err != nil {
		return 0
	}
	u, n := binary.Uvarint(r.b)
	switch {
	case n == 0:
		r.failf("truncated")
		return 0
	case n < 0:
		r.failf("malformed varint: more than 64 bits")
		return 0
	}
	r.b = r.b[n:]
	return int64(u>>1) ^ -int64(u&1)
}

func (r *avroReader) boolean() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) == 0 {
		r.failf("truncated")
		return false
	}
	v := r.b[0]
	if v > 1 {
		r.failf("boolean byte %d, want 0 or 1", v)
		return false
	}
	r.b = r.b[1:]
	return v == 1
}

func (r *avroReader) str() string {
	n := r.long()
	if r.err != nil {
		return ""
	}
	if n < 0 || n > int64(len(r.b)) {
		r.failf("string of %d bytes, %d left", n, len(r.b))
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// index reads a union branch or enum symbol index below n.
func (r *avroReader) index(n int, what string) int {
	i := r.long()
	if r.err != nil {
		return 0
	}
	if i < 0 || i >= int64(n) {
		r.failf("%s index %d, want 0 to %d", what, i, n-1)
		return 0
	}
	return int(i)
}

// present reads a ["null", T] union's branch: whether T follows.
func (r *avroReader) present() bool { return r.index(2, "union") == 1 }

// The smallest encodings of command.avsc's array items and map entries,
// in bytes (a string or an array at least its one-byte length or count).
const (
	minProfileInput = 7 // 2 strings, a map, 2 arrays, 2 strings
	minIdentifier   = 2
	minCommChannel  = 5 // 2 strings, 2 booleans, a map
	minSubscription = 4
	minStringEntry  = 2 // key and value
	minBooleanEntry = 2 // key and value
)

// blockCount reads the item count of the next array or map block (0: the
// end), each item at least itemMin bytes. A negative count is followed by
// the block's size in bytes, which is skipped.
func (r *avroReader) blockCount(itemMin int) int {
	n := r.long()
	if n < 0 {
		n = -n // MinInt64 stays negative: refused below
		r.long()
	}
	if r.err != nil {
		return 0
	}
	if n < 0 || n > MaxDatumItems || n > int64(len(r.b)/itemMin) {
		r.failf("block of %d items of at least %d bytes, %d bytes left", n, itemMin, len(r.b))
		return 0
	}
	return int(n)
}

// readArray reads an array of item; empty reads as nil. After an error
// what it returns is partial, and dropped by the caller.
func readArray[T any](r *avroReader, itemMin int, item func(*avroReader) T) []T {
	var out []T
	for n := r.blockCount(itemMin); n > 0; n = r.blockCount(itemMin) {
		out = slices.Grow(out, n)
		for range n {
			out = append(out, item(r))
		}
	}
	return out
}

// readMap reads a map of value; empty reads as nil.
func readMap[V any](r *avroReader, entryMin int, value func(*avroReader) V) map[string]V {
	var out map[string]V
	for n := r.blockCount(entryMin); n > 0; n = r.blockCount(entryMin) {
		if out == nil {
			out = make(map[string]V, n)
		}
		for range n {
			k := r.str()
			if _, dup := out[k]; dup && r.err == nil {
				r.failf("map key %q twice", k)
			}
			out[k] = value(r)
		}
	}
	return out
}

func readString(r *avroReader) string { return r.str() }
func readBool(r *avroReader) bool     { return r.boolean() }

func readIdentifier(r *avroReader) customer.Identifier {
	return customer.Identifier{Type: r.str(), Value: r.str()}
}

func readSubscription(r *avroReader) customer.Subscription {
	return customer.Subscription{Channel: r.str(), AccountID: r.str(), Priority: r.str(), Type: r.str()}
}

func readCommChannel(r *avroReader) customer.CommChannel {
	return customer.CommChannel{
		Type:     r.str(),
		Value:    r.str(),
		Primary:  r.boolean(),
		Verified: r.boolean(),
		Meta:     readMap(r, minBooleanEntry, readBool),
	}
}

func readProfileInput(r *avroReader) customer.ProfileInput {
	return customer.ProfileInput{
		FirstName:    r.str(),
		LastName:     r.str(),
		Fields:       readMap(r, minStringEntry, readString),
		Identifiers:  readArray(r, minIdentifier, readIdentifier),
		CommChannels: readArray(r, minCommChannel, readCommChannel),
		Source:       r.str(),
		AccountID:    r.str(),
	}
}

func readCustomerBody(r *avroReader) *customer.CustomerBody {
	b := &customer.CustomerBody{Profiles: readArray(r, minProfileInput, readProfileInput)}
	if r.present() {
		b.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: r.str()}
	}
	b.ExtendedFields = readMap(r, minStringEntry, readString)
	if r.present() {
		b.AttributionV2 = &customer.AttributionInput{CreateDate: r.str()}
	}
	return b
}

func readSubscriptionsBody(r *avroReader) *customer.SubscriptionsBody {
	b := &customer.SubscriptionsBody{
		CommunicationID: r.long(),
		CampaignID:      r.long(),
		Reason:          r.str(),
	}
	if r.present() {
		b.Scope = &customer.Scope{Scope: r.str(), SubScope: r.str()}
	}
	b.Subscriptions = readArray(r, minSubscription, readSubscription)
	return b
}

// bodyBranches are the body union's branches, in command.avsc's order.
var bodyBranches = []string{branchCustomerBody, branchChangeIdentifier, branchSubscriptions}

// decodeCommandBinary decodes one command.avsc datum, the whole of data.
func decodeCommandBinary(data []byte) (customer.Command, error) {
	if _, err := walkSchemas[KindCommand].walk(data); err != nil {
		return customer.Command{}, fmt.Errorf("avro-decode %s: %w", KindCommand, err)
	}
	r := newAvroReader(data)
	cmd := customer.Command{
		RequestID: r.str(),
		Org:       r.long(),
		Op:        ops[r.index(len(ops), "op enum")],
		Source:    r.str(),
	}
	if r.present() {
		cmd.AccountID = r.str()
	}
	if r.present() {
		cmd.CustomerID = r.long()
	}
	if r.present() {
		cmd.Time = time.UnixMilli(r.long()).UTC()
	}
	branch := bodyBranches[r.index(len(bodyBranches), "body union")]
	var cb *customer.CustomerBody
	var ci *customer.ChangeIdentifierBody
	var sb *customer.SubscriptionsBody
	switch branch {
	case branchCustomerBody:
		cb = readCustomerBody(r)
	case branchChangeIdentifier:
		ci = &customer.ChangeIdentifierBody{Add: readArray(r, minIdentifier, readIdentifier), Remove: readArray(r, minIdentifier, readIdentifier)}
	case branchSubscriptions:
		sb = readSubscriptionsBody(r)
	}
	if r.err != nil {
		return customer.Command{}, undecodable(r.err, "avro-decode %s", KindCommand)
	}
	if len(r.b) != 0 {
		return customer.Command{}, undecodable(nil, "avro-decode %s: %d trailing bytes after the datum", KindCommand, len(r.b))
	}
	if want := bodyBranch[cmd.Op]; branch != want {
		return customer.Command{}, undecodable(nil, "command %q: op %s carries a %s body, want %s", cmd.RequestID, cmd.Op, branch, want)
	}
	switch cmd.Op {
	case customer.OpRegister:
		cmd.Register = cb
	case customer.OpUpdate:
		cmd.Update = cb
	case customer.OpChangeIdentifier:
		cmd.ChangeIdentifier = ci
	case customer.OpSubscriptions:
		cmd.Subscriptions = sb
	}
	return cmd, nil
}
