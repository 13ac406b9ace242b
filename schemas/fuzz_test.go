package schemas

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// Fuzz targets: whatever the input, decoding must not panic, must stay
// within its allocation bound (budget_test.go: bytes allocated per input
// byte, checkAlloc), and whatever decodes must re-encode to the same
// meaning (decode(encode(v)) == v).

// checkAlloc runs f, a decode of an n-byte input, and fails t if it
// allocated more than bound(n).
func checkAlloc(t *testing.T, n int, bound func(int) uint64, f func()) {
	t.Helper()
	if got := allocatedNoGC(f); got > bound(n) {
		t.Fatalf("decoding %d bytes allocated %d, over the bound of %d", n, got, bound(n))
	}
}

func FuzzDecodeJSONBody(f *testing.F) {
	for _, tc := range apiDocBodies() {
		f.Add(string(tc.op), []byte(tc.body))
	}
	f.Add("register", []byte(`{"profiles":[{"fields":{"a":1e999,"b":-0,"c":true,"d":null},"commChannels":[{"primary":"TRUE","meta":{"x":"false"}}]}]}`))
	f.Add("subscriptions", []byte(`{"communicationId":"9223372036854775807","scope":{}}`))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		var cmd customer.Command
		var err error
		checkAlloc(t, len(body), jsonAllocBound, func() { cmd, err = DecodeJSONBody(customer.Op(op), body) })
		if err != nil {
			return
		}
		if cmd.Op != customer.OpRegister {
			cmd.CustomerID = 1
		}
		// The JSON form again.
		value, hs, err := EncodeJSONCommand(cmd)
		if err != nil {
			t.Fatalf("re-encode JSON: %v", err)
		}
		back, err := DecodeJSONCommand(hs, value)
		if err != nil {
			t.Fatalf("decode re-encoded JSON %s: %v", value, err)
		}
		if !reflect.DeepEqual(back, cmd) {
			t.Fatalf("JSON round trip changed the command\n got %+v\nwant %+v", back, cmd)
		}
		// In the bytes encoding/json wrote before (jsonenc_old_test.go).
		if old, _, err := encodeJSONBodyOld(cmd); err != nil || !bytes.Equal(value, old) {
			t.Fatalf("JSON body differs from encoding/json's\n got %s\nwant %s (%v)", value, old, err)
		}
		// And the Avro form carries the same meaning.
		b, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("encode Avro: %v", err)
		}
		if back, err = DecodeCommand(b); err != nil || !reflect.DeepEqual(back, cmd) {
			t.Fatalf("Avro round trip: %+v, %v; want %+v", back, err, cmd)
		}
	})
}

// decodeAny decodes a single-object value of any of our kinds and returns a
// function re-encoding the decoded value.
func decodeAny(data []byte) (any, func() ([]byte, error), error) {
	k, err := SingleObjectKind(data)
	if err != nil {
		return nil, nil, err
	}
	switch k {
	case KindCommand:
		v, err := DecodeCommand(data)
		return v, func() ([]byte, error) { return EncodeCommand(v) }, err
	case KindResult:
		v, err := DecodeResult(data)
		return v, func() ([]byte, error) { return EncodeResult(v) }, err
	case KindMerge:
		v, err := DecodeMerge(data)
		return v, func() ([]byte, error) { return EncodeMerge(v) }, err
	case KindSnapshot:
		// A snapshot decodes to a document; goavro re-encodes it.
		v, err := DecodeSnapshot(data)
		return v, func() ([]byte, error) {
			return encodeSingle(nil, KindSnapshot, nativeOf(walkSchemas[KindSnapshot].root, normNumbers(v)))
		}, err
	}
	return nil, nil, fmt.Errorf("kind %s", k)
}

func FuzzDecodeSingleObject(f *testing.F) {
	for _, cmd := range sampleCommands() {
		b, err := EncodeCommand(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return EncodeResult(sampleResult()) },
		func() ([]byte, error) { return EncodeMerge(sampleMerge()) },
		func() ([]byte, error) { return EncodeSnapshot(sampleCustomer()) },
	} {
		b, err := enc()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xC3, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		bound := goavroAllocBound // outputs: goavro
		if k, _ := SingleObjectKind(data); k == KindCommand {
			bound = avroAllocBound
		}
		var v any
		var reencode func() ([]byte, error)
		var err error
		checkAlloc(t, len(data), bound, func() { v, reencode, err = decodeAny(data) })
		if err != nil {
			return
		}
		b, err := reencode()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", v, err)
		}
		back, _, err := decodeAny(b)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip changed the value\n got %+v\nwant %+v", back, v)
		}
	})
}

// mapRegistry is an in-memory Registry for fuzzing (no HTTP per input).
type mapRegistry map[int]string

func (m mapRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	if s, ok := m[id]; ok {
		return s, nil
	}
	return "", fmt.Errorf("id %d: %w", id, ErrSchemaNotFound)
}

func (m mapRegistry) Register(_ context.Context, _, schema string) (int, error) {
	for id, s := range m {
		if s == schema {
			return id, nil
		}
	}
	m[len(m)+1] = schema
	return len(m), nil
}

func FuzzDecodeConfluent(f *testing.F) {
	ctx := context.Background()
	reg := mapRegistry{}
	cf := NewConfluent(reg)
	if _, err := cf.RegisterCommand(ctx, "commands"); err != nil { // id 1
		f.Fatal(err)
	}
	reg[2] = foreignSchema
	reg[3] = schemaRecursive
	reg[4] = schemaManyNulls
	for _, cmd := range sampleCommands() {
		b, err := cf.EncodeCommand(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 0, 2, 12, 'a', 'c', 'm', 'e', '-', '1'})
	f.Add([]byte{0, 0, 0, 0, 3, 2, 2, 2, 0})
	f.Add([]byte{0, 0, 0, 0, 4, 4, 0, 1, 0})
	// Fetch and parse the writer schemas before measuring: that is done
	// once per id, not per record.
	for id := range reg {
		cf.DecodeCommand(ctx, confluentValue(id, nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cmd customer.Command
		var err error
		checkAlloc(t, len(data), goavroAllocBound, func() { cmd, err = cf.DecodeCommand(ctx, data) })
		if err != nil {
			return
		}
		b, err := cf.EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", cmd, err)
		}
		back, err := cf.DecodeCommand(ctx, b)
		if err != nil || !reflect.DeepEqual(back, cmd) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, cmd)
		}
	})
}

// FuzzParseHeaders reads its input as lines of key=value headers.
func FuzzParseHeaders(f *testing.F) {
	f.Add([]byte("op=register\naccountId=22232"))
	f.Add([]byte("op=update\ncustomerId=329\nrequestId=r-1\ntraceparent=00-ab"))
	f.Add([]byte("Op=changeIdentifier\nCUSTOMERID= 418 \nop=changeIdentifier"))
	f.Add([]byte("op=subscriptions\ncustomerId=-1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var hs []Header
		for _, line := range bytes.Split(data, []byte("\n")) {
			k, v, _ := bytes.Cut(line, []byte("="))
			hs = append(hs, Header{Key: string(k), Value: v})
		}
		var rh RequestHeaders
		var err error
		checkAlloc(t, len(data), avroAllocBound, func() { rh, err = ParseHeaders(hs) })
		if err != nil {
			if ErrorCode(err) == ErrCodeUndecodable {
				t.Fatalf("header errors carry a header code: %v", err)
			}
			return
		}
		again := []Header{{HeaderOp, []byte(rh.Op)}, {HeaderAccountID, []byte(rh.AccountID)}, {HeaderRequestID, []byte(rh.RequestID)}}
		if rh.Op != customer.OpRegister {
			again = append(again, Header{HeaderCustomerID, []byte(strconv.FormatInt(rh.CustomerID, 10))})
		}
		back, err := ParseHeaders(again)
		if err != nil || back != rh {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, rh)
		}
	})
}
