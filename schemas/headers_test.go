package schemas

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

func hdrs(kv ...string) []Header {
	var hs []Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		hs   []Header
		want RequestHeaders
		code string
	}{
		{"register", hdrs("op", "register", "accountId", "22232", "traceparent", "00-abc"), RequestHeaders{Op: customer.OpRegister, AccountID: "22232"}, ""},
		{"register ignores customerId", hdrs("op", "register", "customerId", "junk"), RequestHeaders{Op: customer.OpRegister}, ""},
		{"update", hdrs("Op", "Update", "CUSTOMERID", " 329 ", "requestId", "r-1"), RequestHeaders{Op: customer.OpUpdate, CustomerID: 329, RequestID: "r-1"}, ""},
		{"same value twice", hdrs("op", "subscriptions", "op", "subscriptions", "customerId", "1"), RequestHeaders{Op: customer.OpSubscriptions, CustomerID: 1}, ""},
		{"no headers", nil, RequestHeaders{}, ErrCodeMissingHeader},
		{"empty op", hdrs("op", ""), RequestHeaders{}, ErrCodeMissingHeader},
		{"unknown op", hdrs("op", "delete", "customerId", "1"), RequestHeaders{}, ErrCodeUnknownOp},
		{"missing customerId", hdrs("op", "changeIdentifier"), RequestHeaders{}, ErrCodeMissingHeader},
		{"bad customerId", hdrs("op", "update", "customerId", "3.29e2"), RequestHeaders{}, ErrCodeBadHeader},
		{"negative customerId", hdrs("op", "update", "customerId", "-1"), RequestHeaders{}, ErrCodeBadHeader},
		{"overflowing customerId", hdrs("op", "update", "customerId", "99999999999999999999"), RequestHeaders{}, ErrCodeBadHeader},
		{"conflicting op", hdrs("op", "update", "op", "register"), RequestHeaders{}, ErrCodeBadHeader},
	} {
		got, err := ParseHeaders(tc.hs)
		if tc.code != "" {
			if ErrorCode(err) != tc.code || err == nil {
				t.Errorf("%s: error %v (code %s), want code %s", tc.name, err, ErrorCode(err), tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

// TestParseOrg: the key encodings producers write, and what is refused
// with a message that lists them.
func TestParseOrg(t *testing.T) {
	long := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	org := func(v string) []Header { return []Header{{Key: "org", Value: []byte(v)}} }
	for _, tc := range []struct {
		key  []byte
		hs   []Header
		want int64
	}{
		{[]byte("7"), nil, 7},
		{[]byte("9223372036854775807"), nil, 9223372036854775807},
		{long(42), nil, 42},
		{long(1 << 40), nil, 1 << 40},
		{[]byte("12345678"), nil, 12345678}, // eight ASCII digits are decimal
		{nil, org("42"), 42},
		{[]byte{}, []Header{{Key: "Org", Value: []byte("43")}}, 43},
		{[]byte("7"), org("8"), 7}, // a key wins over the header
	} {
		if got, err := ParseOrg(tc.key, tc.hs); err != nil || got != tc.want {
			t.Errorf("ParseOrg(%q, %v) = %d, %v; want %d", tc.key, tc.hs, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		key []byte
		hs  []Header
	}{
		{nil, nil}, {[]byte("0"), nil}, {[]byte("-3"), nil}, {[]byte("x"), nil}, {[]byte("1e3"), nil},
		{[]byte("042"), nil}, {[]byte("+42"), nil}, {[]byte(" 42"), nil}, {[]byte("42 "), nil},
		{long(0), nil}, {long(-5), nil}, {[]byte("\x01\x02\x03"), nil},
		{nil, org("042")}, {nil, org("x")}, {nil, append(org("1"), org("2")...)},
	} {
		_, err := ParseOrg(tc.key, tc.hs)
		if ErrorCode(err) != ErrCodeBadKey || !strings.Contains(err.Error(), "LongSerializer") {
			t.Errorf("ParseOrg(%q, %v): %v, want a bad-key error listing the encodings", tc.key, tc.hs, err)
		}
	}
}

func TestDetectAndDecode(t *testing.T) {
	avro, _ := EncodeCommand(sampleCommands()[2])
	for _, tc := range []struct {
		value []byte
		want  Encoding
	}{
		{avro, EncodingSingleObject},
		{[]byte{0, 0, 0, 0, 1, 2}, EncodingConfluent},
		{[]byte(`{"add":[]}`), EncodingJSON},
		{[]byte(" {}"), EncodingJSON},
		{[]byte{0xC3}, EncodingJSON}, // not the whole marker: not Avro
		{nil, EncodingJSON},
	} {
		if got := Detect(tc.value); got != tc.want {
			t.Errorf("Detect(% x) = %s, want %s", tc.value, got, tc.want)
		}
	}

	ctx := context.Background()
	cmd, enc, err := Decode(ctx, nil, nil, avro)
	if err != nil || enc != EncodingSingleObject || cmd.RequestID != "req-3" {
		t.Errorf("Decode(avro) = %+v, %s, %v", cmd, enc, err)
	}
	cmd, enc, err = Decode(ctx, nil, hdrs("op", "changeIdentifier", "customerId", "418"), []byte(docChangeIdentifier))
	if err != nil || enc != EncodingJSON || cmd.CustomerID != 418 || len(cmd.ChangeIdentifier.Add) != 1 {
		t.Errorf("Decode(json) = %+v, %s, %v", cmd, enc, err)
	}
	if _, _, err = Decode(ctx, nil, nil, []byte{0, 0, 0, 0, 1, 2}); ErrorCode(err) != ErrCodeNoRegistry {
		t.Errorf("Decode(confluent) without registry: %v", err)
	}
	if _, _, err = Decode(ctx, nil, nil, []byte(docChangeIdentifier)); ErrorCode(err) != ErrCodeMissingHeader {
		t.Errorf("Decode(json) without headers: %v", err)
	}
}

func TestEncodeJSONCommandHeaders(t *testing.T) {
	cmd := sampleCommands()[1]
	value, hs, err := EncodeJSONCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	want := hdrs("op", "update", "customerId", "329", "accountId", "22232", "requestId", "req-2 ✓ 顧客")
	if len(hs) != len(want) {
		t.Fatalf("headers %v, want %v", hs, want)
	}
	for i := range hs {
		if hs[i].Key != want[i].Key || !bytes.Equal(hs[i].Value, want[i].Value) {
			t.Errorf("header %d = %s=%s, want %s=%s", i, hs[i].Key, hs[i].Value, want[i].Key, want[i].Value)
		}
	}
	if !strings.Contains(string(value), `"firstName":"Zoë"`) {
		t.Errorf("body %s", value)
	}
	if got := DefaultRequestID("customers.wechat", 3, 1042); got != "customers.wechat/3/1042" {
		t.Errorf("DefaultRequestID = %q", got)
	}
}
