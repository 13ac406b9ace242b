package schemas

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

func TestCommandRoundTrip(t *testing.T) {
	for _, cmd := range sampleCommands() {
		b, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("%s %q: encode: %v", cmd.Op, cmd.RequestID, err)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%s %q: decode: %v", cmd.Op, cmd.RequestID, err)
		}
		if !reflect.DeepEqual(got, cmd) {
			t.Errorf("%s %q: round trip\n got %+v\nwant %+v", cmd.Op, cmd.RequestID, got, cmd)
		}
	}
}

func TestEmptyDecodesAsNil(t *testing.T) {
	// Documented choice: on the wire an empty list or map is the same as an
	// absent one, and both decode as nil.
	cmd := customer.Command{Op: customer.OpRegister, Register: &customer.CustomerBody{
		Profiles:       []customer.ProfileInput{{Fields: map[string]string{}, Identifiers: []customer.Identifier{}}},
		ExtendedFields: map[string]string{},
	}}
	b, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Register.Profiles[0]
	if p.Fields != nil || p.Identifiers != nil || got.Register.ExtendedFields != nil {
		t.Errorf("empty lists and maps should decode as nil: %+v", got.Register)
	}
}

func TestTimes(t *testing.T) {
	// An offset is not kept (decoded times are UTC) but the instant is, to
	// the wire's precision; attributionV2.createDate is a string and keeps
	// its offset exactly.
	plus8 := time.FixedZone("+08:00", 8*3600)
	at := time.Date(2016, 6, 23, 19, 11, 18, 987_654_321, plus8)
	cmd := sampleCommands()[0]
	cmd.Time = at
	b, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Truncate(time.Millisecond); !got.Time.Equal(want) || got.Time.Location() != time.UTC {
		t.Errorf("command time = %v, want the instant %v in UTC", got.Time, want)
	}
	if got.Register.AttributionV2.CreateDate != "2016-06-23T19:11:18+08:00" {
		t.Errorf("createDate = %q, want its offset kept", got.Register.AttributionV2.CreateDate)
	}

	// A snapshot renders times as the fetch API does: RFC 3339 in UTC, to
	// the second; the zero time is "".
	c := sampleCustomer()
	c.CreateDate, c.ModifiedDate = at, time.Time{}
	b, err = EncodeSnapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	attr := doc["loyaltyInfo"].(map[string]any)["attributionV2"].(map[string]any)
	if attr["createDate"] != "2016-06-23T11:11:18Z" || attr["modifiedDate"] != "" {
		t.Errorf("snapshot attributionV2 %v, want createDate 2016-06-23T11:11:18Z and modifiedDate \"\"", attr)
	}
}

func TestResultMergeRoundTrip(t *testing.T) {
	roundTrip(t, "result", sampleResult(), EncodeResult, DecodeResult)
	// A failed command: errors, no createdId, no account.
	failed := ResultRecord{Result: customer.Result{RequestID: "x", Org: 1, Source: "INSTORE", Op: customer.OpRegister,
		Errors: []customer.Issue{customer.NewIssue(customer.CodeDuplicateInScope, "")}}}
	roundTrip(t, "failed result", failed, EncodeResult, DecodeResult)
	roundTrip(t, "merge", sampleMerge(), EncodeMerge, DecodeMerge)
	// A snapshot decodes to its document, not to a customer: see
	// TestSnapshotAvroIsTheJSONDocument.
}

// roundTrip checks that v encodes and decodes back to itself.
func roundTrip[T any](t *testing.T, name string, v T, enc func(T) ([]byte, error), dec func([]byte) (T, error)) {
	t.Helper()
	b, err := enc(v)
	if err != nil {
		t.Fatalf("%s: encoding: %v", name, err)
	}
	got, err := dec(b)
	if err != nil {
		t.Fatalf("%s: decoding: %v", name, err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("%s round trip\n got %+v\nwant %+v", name, got, v)
	}
}

func TestEncodeRefusesMismatchedCommand(t *testing.T) {
	for _, cmd := range []customer.Command{
		{Op: customer.OpRegister},
		{Op: customer.OpUpdate, Register: &customer.CustomerBody{}},
		{Op: "delete", Register: &customer.CustomerBody{}},
	} {
		if _, err := EncodeCommand(cmd); err == nil {
			t.Errorf("EncodeCommand(%+v) succeeded", cmd)
		}
	}
	if _, err := EncodeResult(ResultRecord{Result: customer.Result{Op: "delete"}}); err == nil {
		t.Error("EncodeResult with an unknown op succeeded")
	}
}

func TestDecodeSingleObjectErrors(t *testing.T) {
	good, err := EncodeCommand(sampleCommands()[0])
	if err != nil {
		t.Fatal(err)
	}
	res, _ := EncodeResult(sampleResult())
	unknown := append([]byte{}, good...)
	unknown[5] ^= 0xFF
	trailing := append(append([]byte{}, good...), 0)
	for _, tc := range []struct {
		name, code, msg string
		data            []byte
	}{
		{"empty", ErrCodeUndecodable, "no C3 01 marker", nil},
		{"json", ErrCodeUndecodable, "no C3 01 marker", []byte(`{"profiles":[]}`)},
		{"short header", ErrCodeUndecodable, "truncated Avro single-object header", good[:6]},
		{"unknown fingerprint", ErrCodeUnknownSchema, "matches none of custream's schemas", unknown},
		{"truncated body", ErrCodeUndecodable, "avro-decode command", good[:len(good)-3]},
		{"trailing bytes", ErrCodeUndecodable, "1 trailing bytes", trailing},
		{"a result", ErrCodeUndecodable, "is a result, want a command", res},
	} {
		_, err := DecodeCommand(tc.data)
		if err == nil {
			t.Errorf("%s: decoded", tc.name)
			continue
		}
		if ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %q (code %s), want code %s containing %q", tc.name, err, ErrorCode(err), tc.code, tc.msg)
		}
	}
}

func TestSingleObjectKind(t *testing.T) {
	b, _ := EncodeMerge(sampleMerge())
	if k, err := SingleObjectKind(b); err != nil || k != KindMerge {
		t.Errorf("SingleObjectKind = %v, %v; want merge", k, err)
	}
}

// TestSharedTypesIdentical: each .avsc is self-contained, so named types
// used by several (Identifier, Subscription, …) are spelled out in each;
// they must stay identical or the same name would mean two things.
func TestSharedTypesIdentical(t *testing.T) {
	seen := map[string]string{} // full name → canonical JSON
	from := map[string]Kind{}
	for _, k := range []Kind{KindCommand, KindResult, KindMerge, KindSnapshot, KindBalance} {
		var v any
		if err := json.Unmarshal([]byte(CanonicalSchema(k)), &v); err != nil {
			t.Fatal(err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch n := v.(type) {
			case []any:
				for _, x := range n {
					walk(x)
				}
			case map[string]any:
				if name, ok := n["name"].(string); ok && n["type"] != nil {
					if typ, _ := n["type"].(string); typ == "record" || typ == "enum" {
						b, _ := json.Marshal(n)
						if prev, ok := seen[name]; ok && prev != string(b) {
							t.Errorf("%s differs between %s and %s:\n%s\n%s", name, from[name], k, prev, b)
						}
						seen[name], from[name] = string(b), k
					}
				}
				for _, x := range n {
					walk(x)
				}
			}
		}
		walk(v)
	}
	if len(seen) < 10 {
		t.Errorf("found only %d named types: %v", len(seen), seen)
	}
}

func TestErrorCodeDefault(t *testing.T) {
	if ErrorCode(errors.New("x")) != ErrCodeUndecodable {
		t.Error("a plain error should map to undecodable")
	}
}
