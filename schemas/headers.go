package schemas

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/custream/custream/processor/customer"
)

// Header is one Kafka record header. Defined here so this package needs no
// Kafka client; kgo.RecordHeader converts field by field.
type Header struct {
	Key   string
	Value []byte
}

// Header keys of the JSON form: the request line's parameters. Matched
// case-insensitively; other headers (tracing, …) are ignored.
const (
	HeaderOp         = "op"
	HeaderCustomerID = "customerId"
	HeaderAccountID  = "accountId"
	HeaderRequestID  = "requestId"
)

// RequestHeaders are the parameters a JSON-form command carries in headers.
type RequestHeaders struct {
	Op         customer.Op
	CustomerID int64  // 0 for register
	AccountID  string // "" when not sent
	RequestID  string // "" when not sent: use DefaultRequestID
}

// ParseHeaders reads the JSON form's headers. op is required; customerId is
// required (a positive decimal integer) for every op but register, and
// ignored for register, whose API call has no id. A header sent twice with
// different values is refused: which one the producer meant is unknowable.
// Errors are *Error with ErrCodeMissingHeader, ErrCodeUnknownOp or
// ErrCodeBadHeader.
func ParseHeaders(hs []Header) (RequestHeaders, error) {
	var vals [4]string
	var seen [4]bool
	keys := [4]string{HeaderOp, HeaderCustomerID, HeaderAccountID, HeaderRequestID}
	for _, h := range hs {
		for i, k := range keys {
			if !strings.EqualFold(h.Key, k) {
				continue
			}
			v := strings.TrimSpace(string(h.Value))
			if seen[i] && v != vals[i] {
				return RequestHeaders{}, &Error{Code: ErrCodeBadHeader, Msg: fmt.Sprintf("header %s sent twice with different values (%q, %q)", k, vals[i], v)}
			}
			vals[i], seen[i] = v, true
		}
	}
	opName, idText := vals[0], vals[1]
	out := RequestHeaders{AccountID: vals[2], RequestID: vals[3]}
	if opName == "" {
		return out, &Error{Code: ErrCodeMissingHeader, Msg: "missing header op (register, update, changeIdentifier or subscriptions)"}
	}
	op, ok := ParseOp(opName)
	if !ok {
		return out, &Error{Code: ErrCodeUnknownOp, Msg: fmt.Sprintf("header op: unknown op %q (want register, update, changeIdentifier or subscriptions)", opName)}
	}
	out.Op = op
	if op == customer.OpRegister {
		return out, nil
	}
	if idText == "" {
		return out, &Error{Code: ErrCodeMissingHeader, Msg: fmt.Sprintf("missing header customerId (required by %s)", op)}
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return out, &Error{Code: ErrCodeBadHeader, Msg: fmt.Sprintf("header customerId: want a positive integer, got %q", idText)}
	}
	out.CustomerID = id
	return out, nil
}

// DefaultRequestID is the request id of a command that carries none: its
// input record's coordinates, unique and stable across replays.
func DefaultRequestID(topic string, partition int32, offset int64) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10) + "/" + strconv.FormatInt(offset, 10)
}

// HeaderOrg carries the org of a record produced without a key.
const HeaderOrg = "org"

// keyEncodings says what ParseOrg accepts, for its error messages.
const keyEncodings = "the org id as its canonical decimal string (\"42\"), as an 8-byte big-endian integer (Java's LongSerializer), or an empty key with an org header holding the decimal string"

// ParseOrg reads a command's org from its record key, in one of the forms
// producers write it:
//
//   - the canonical decimal string, the only spelling of an org
//     (strconv.FormatInt(org) == key): no sign, no leading zeros, no
//     spaces, so "042" and "42" cannot name one org twice;
//   - 8 bytes, not all ASCII digits: a big-endian int64, as Java's
//     LongSerializer writes it (8 ASCII digits read as decimal: an org
//     whose binary form is eight digits would be above 3.4e18);
//   - an empty key, with the org in an org header (canonical decimal).
//
// Routing never hashes these bytes: it hashes the canonical form of the
// org parsed here (processor.TaskOfOrg).
func ParseOrg(key []byte, hs []Header) (int64, error) {
	switch {
	case len(key) == 0:
		var vals [][]byte
		for _, h := range hs {
			if strings.EqualFold(h.Key, HeaderOrg) {
				vals = append(vals, h.Value)
			}
		}
		switch {
		case len(vals) == 0:
			return 0, &Error{Code: ErrCodeBadKey, Msg: "the record has no key and no org header; send " + keyEncodings}
		case len(vals) > 1:
			return 0, &Error{Code: ErrCodeBadKey, Msg: "the record has no key and more than one org header; send " + keyEncodings}
		}
		org, err := parseDecimalOrg(vals[0])
		if err != nil {
			return 0, &Error{Code: ErrCodeBadKey, Msg: fmt.Sprintf("org header: %v; send %s", err, keyEncodings)}
		}
		return org, nil
	case len(key) == 8 && !allDigits(key):
		org := int64(binary.BigEndian.Uint64(key))
		if org <= 0 {
			return 0, &Error{Code: ErrCodeBadKey, Msg: fmt.Sprintf("record key: an 8-byte integer key holds %d, not a positive org id; send %s", org, keyEncodings)}
		}
		return org, nil
	}
	org, err := parseDecimalOrg(key)
	if err != nil {
		return 0, &Error{Code: ErrCodeBadKey, Msg: fmt.Sprintf("record key: %v; send %s", err, keyEncodings)}
	}
	return org, nil
}

// parseDecimalOrg reads the canonical decimal form of an org id.
func parseDecimalOrg(b []byte) (int64, error) {
	org, err := strconv.ParseInt(string(b), 10, 64)
	switch {
	case err != nil || org <= 0:
		return 0, fmt.Errorf("%q is not a positive decimal integer", clip(b))
	case strconv.FormatInt(org, 10) != string(b):
		return 0, fmt.Errorf("%q is not in canonical form: write %q (no sign, leading zeros or spaces), so that one org has one key", clip(b), strconv.FormatInt(org, 10))
	}
	return org, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// clip shortens a value quoted in an error message.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// DecodeJSONCommand decodes a JSON-form command: the body from value, op,
// customerId, accountId and requestId from the headers. Org, Source and
// Time are the caller's to set (record key, topic, record timestamp), and
// RequestID when the headers carry none.
func DecodeJSONCommand(hs []Header, value []byte) (customer.Command, error) {
	rh, err := ParseHeaders(hs)
	if err != nil {
		return customer.Command{}, err
	}
	cmd, err := DecodeJSONBody(rh.Op, value)
	if err != nil {
		return customer.Command{}, err
	}
	cmd.CustomerID, cmd.AccountID, cmd.RequestID = rh.CustomerID, rh.AccountID, rh.RequestID
	return cmd, nil
}

// EncodeJSONCommand returns cmd in the JSON form: the API doc's request
// body (EncodeJSONBody) and the headers that carry its parameters (empty
// ones left out). For tools that produce input (load, gen, bench) and for
// tests; Org travels as the record key, Source as the topic.
func EncodeJSONCommand(cmd customer.Command) ([]byte, []Header, error) {
	value, err := appendJSONBody(nil, cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("encode JSON command %q: %w", cmd.RequestID, err)
	}
	hs := []Header{{HeaderOp, []byte(cmd.Op)}}
	if cmd.Op != customer.OpRegister {
		hs = append(hs, Header{HeaderCustomerID, strconv.AppendInt(nil, cmd.CustomerID, 10)})
	}
	if cmd.AccountID != "" {
		hs = append(hs, Header{HeaderAccountID, []byte(cmd.AccountID)})
	}
	if cmd.RequestID != "" {
		hs = append(hs, Header{HeaderRequestID, []byte(cmd.RequestID)})
	}
	return value, hs, nil
}

// Encoding is how a record value is encoded.
type Encoding int

const (
	EncodingJSON         Encoding = iota // the API doc's body, parameters in headers
	EncodingSingleObject                 // Avro single-object: C3 01 + fingerprint
	EncodingConfluent                    // Confluent wire format: 00 + schema id
)

func (e Encoding) String() string {
	switch e {
	case EncodingSingleObject:
		return "avro-single-object"
	case EncodingConfluent:
		return "confluent"
	}
	return "json"
}

// Detect tells a value's encoding from its first bytes. No JSON text starts
// with C3 (not valid UTF-8 as a first byte) or 00, so the three cannot be
// confused. A Confluent value with no registry configured is still
// reported as EncodingConfluent; Decode refuses it with ErrCodeNoRegistry.
func Detect(value []byte) Encoding {
	switch {
	case len(value) >= 2 && value[0] == 0xC3 && value[1] == 0x01:
		return EncodingSingleObject
	case len(value) >= 1 && value[0] == 0x00:
		return EncodingConfluent
	}
	return EncodingJSON
}

// Decode decodes a command value in whichever encoding it has. cf may be
// nil when no schema registry is configured. Headers are read only in the
// JSON form; the Avro forms carry everything in the envelope. The caller
// then sets what the record supplies: Org from the key and Source from the
// topic in the JSON form (and checks the envelope's against them in the
// Avro forms), Time from the record timestamp when zero, RequestID from
// DefaultRequestID when empty.
func Decode(ctx context.Context, cf *Confluent, hs []Header, value []byte) (customer.Command, Encoding, error) {
	enc := Detect(value)
	var cmd customer.Command
	var err error
	switch enc {
	case EncodingSingleObject:
		cmd, err = DecodeCommand(value)
	case EncodingConfluent:
		if cf == nil {
			return customer.Command{}, enc, &Error{Code: ErrCodeNoRegistry, Msg: "value is in Confluent wire format (starts with 00) but no schema registry is configured"}
		}
		cmd, err = cf.DecodeCommand(ctx, value)
	default:
		cmd, err = DecodeJSONCommand(hs, value)
	}
	return cmd, enc, err
}
