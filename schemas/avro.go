package schemas

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"

	"github.com/linkedin/goavro/v2"
)

// The Avro schemas of every record custream reads or writes. Each file is
// self-contained (no references between files), so it can be registered in
// a schema registry as is; named types shared between files (Identifier,
// Subscription, …) are spelled identically in each (a test checks it).
// Read them with Schema.
var (
	//go:embed command.avsc
	commandSchema string
	//go:embed result.avsc
	resultSchema string
	//go:embed merge.avsc
	mergeSchema string
	//go:embed snapshot.avsc
	snapshotSchema string
	//go:embed balance.avsc
	balanceSchema string
)

// Kind names a record type with an Avro schema.
type Kind int

const (
	KindUnknown Kind = iota
	KindCommand
	KindResult
	KindMerge
	KindSnapshot
	KindBalance
)

func (k Kind) String() string {
	switch k {
	case KindCommand:
		return "command"
	case KindResult:
		return "result"
	case KindMerge:
		return "merge"
	case KindSnapshot:
		return "snapshot"
	case KindBalance:
		return "balance"
	}
	return "unknown"
}

// codecs are built once at package init: goavro.NewCodec parses JSON and
// builds closures (tens of microseconds), and a Codec is immutable and safe
// for concurrent use, so every encoder and decoder shares these.
var codecs = map[Kind]*goavro.Codec{
	KindCommand:  mustCodec("command.avsc", commandSchema),
	KindResult:   mustCodec("result.avsc", resultSchema),
	KindMerge:    mustCodec("merge.avsc", mergeSchema),
	KindSnapshot: mustCodec("snapshot.avsc", snapshotSchema),
	KindBalance:  mustCodec("balance.avsc", balanceSchema),
}

// walkSchemas are the same schemas parsed for the walk every datum gets
// before it is decoded (avrowalk.go).
var walkSchemas = map[Kind]*walkSchema{
	KindCommand:  mustWalkSchema("command.avsc", commandSchema),
	KindResult:   mustWalkSchema("result.avsc", resultSchema),
	KindMerge:    mustWalkSchema("merge.avsc", mergeSchema),
	KindSnapshot: mustWalkSchema("snapshot.avsc", snapshotSchema),
	KindBalance:  mustWalkSchema("balance.avsc", balanceSchema),
}

// fingerprints are the schemas' CRC-64-AVRO fingerprints (canonical.go),
// and byFingerprint finds a schema from the fingerprint of a single-object
// encoded record.
var (
	fingerprints  = map[Kind]uint64{}
	canonicals    = map[Kind]string{}
	byFingerprint = map[uint64]Kind{}
)

func init() {
	for k, c := range codecs {
		pcf, err := parsingCanonicalForm(c.Schema())
		if err != nil {
			panic(fmt.Sprintf("schemas: %s: %v", k, err)) // embedded: a build defect
		}
		fp := crc64Avro([]byte(pcf))
		canonicals[k], fingerprints[k], byFingerprint[fp] = pcf, fp, k
	}
}

func mustCodec(file, schema string) *goavro.Codec {
	c, err := goavro.NewCodec(schema)
	if err != nil {
		// The schemas are embedded: a bad one is a build defect, caught by
		// any test of this package.
		panic(fmt.Sprintf("schemas: %s: %v", file, err))
	}
	return c
}

// Schema is the text of k's .avsc file, as embedded (and as registered in a
// schema registry).
func Schema(k Kind) string {
	if c, ok := codecs[k]; ok {
		return c.Schema()
	}
	return ""
}

// Fingerprint is the CRC-64-AVRO (Rabin) fingerprint of k's schema in
// Parsing Canonical Form, as carried in single-object encoding.
func Fingerprint(k Kind) uint64 { return fingerprints[k] }

// CanonicalSchema is k's schema in Parsing Canonical Form.
func CanonicalSchema(k Kind) string { return canonicals[k] }

// Single-object encoding (Avro specification, "Single-object encoding"):
// the two marker bytes C3 01, the schema's 8-byte little-endian
// CRC-64-AVRO fingerprint, then the Avro binary encoding of the datum.
const soeHeaderLen = 10

var soeMarker = []byte{0xC3, 0x01}

// encodeSingle appends the single-object encoding of native (a goavro
// native value of kind k's schema) to dst.
func encodeSingle(dst []byte, k Kind, native any) ([]byte, error) {
	dst = append(dst, soeMarker...)
	dst = binary.LittleEndian.AppendUint64(dst, fingerprints[k])
	out, err := codecs[k].BinaryFromNative(dst, native)
	if err != nil {
		return nil, fmt.Errorf("avro-encode %s: %w", k, err)
	}
	return out, nil
}

// SingleObjectKind reports which of our schemas a single-object encoded
// value was written with, without decoding it.
func SingleObjectKind(data []byte) (Kind, error) {
	if len(data) < len(soeMarker) || !bytes.Equal(data[:len(soeMarker)], soeMarker) {
		return KindUnknown, undecodable(nil, "not Avro single-object encoded: no C3 01 marker")
	}
	if len(data) < soeHeaderLen {
		return KindUnknown, undecodable(nil, "truncated Avro single-object header: %d of %d bytes", len(data), soeHeaderLen)
	}
	fp := binary.LittleEndian.Uint64(data[2:soeHeaderLen])
	k, ok := byFingerprint[fp]
	if !ok {
		return KindUnknown, &Error{Code: ErrCodeUnknownSchema,
			Msg: fmt.Sprintf("Avro single-object fingerprint %016x matches none of custream's schemas (command %016x, result %016x, merge %016x, snapshot %016x, balance %016x)",
				fp, Fingerprint(KindCommand), Fingerprint(KindResult), Fingerprint(KindMerge), Fingerprint(KindSnapshot), Fingerprint(KindBalance))}
	}
	return k, nil
}

// decodeSingle checks the header of a single-object encoded value against
// kind want's schema and returns the decoded goavro native value.
func decodeSingle(data []byte, want Kind) (any, error) {
	body, err := singleObjectBody(data, want)
	if err != nil {
		return nil, err
	}
	return decodeBinary(codecs[want], walkSchemas[want], body, want)
}

// singleObjectBody checks the header of a single-object encoded value
// against kind want's schema and returns the Avro binary after it.
func singleObjectBody(data []byte, want Kind) ([]byte, error) {
	k, err := SingleObjectKind(data)
	if err != nil {
		return nil, err
	}
	if k != want {
		return nil, undecodable(nil, "Avro single-object value is a %s, want a %s", k, want)
	}
	return data[soeHeaderLen:], nil
}

// decodeBinary decodes one datum of Avro binary written with schema ws
// (c is its codec) and refuses trailing bytes: a value is exactly one
// datum, so anything left over means the writer schema is not the one we
// think. The datum is walked first (avrowalk.go), and refused when goavro
// would allocate more for it than goavroBudget.
func decodeBinary(c *goavro.Codec, ws *walkSchema, data []byte, k Kind) (any, error) {
	cost, err := ws.walk(data)
	if err != nil {
		return nil, fmt.Errorf("avro-decode %s: %w", k, err)
	}
	if budget := goavroBudget(len(data)); cost > budget {
		return nil, &Error{Code: ErrCodeTooLarge, Msg: fmt.Sprintf(
			"avro-decode %s: decoding this %d-byte datum would allocate about %d bytes, over the budget of %d (small records in large numbers)",
			k, len(data), cost, budget)}
	}
	native, rest, err := c.NativeFromBinary(data)
	if err != nil {
		return nil, undecodable(err, "avro-decode %s", k)
	}
	if len(rest) != 0 {
		return nil, undecodable(nil, "avro-decode %s: %d trailing bytes after the datum", k, len(rest))
	}
	return native, nil
}
