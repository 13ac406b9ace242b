package schemas

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// docBalance is the API doc's first loyaltyDetails entry as the loyalty
// engine sends it.
const docBalance = `{"customerId":17742,"programId":1219,"version":12,"redeemed":200,"expired":0,"returned":1100.2139892578125,"adjusted":50,
 "lifetimePoints":500,"loyaltyPoints":350,"cumulativePurchases":8500,"loyaltyId":52350728,"currentSlab":"Gold","nextSlab":"Platinum",
 "nextSlabSerialNumber":3,"nextSlabDescription":"Platinum tier","slabSNo":2,"slabExpiryDate":"2117-12-29T23:59:59+05:30"}`

func docBalanceCommand() customer.Command {
	return customer.Command{Op: customer.OpPoints, RequestID: "points-17742-1219-12", CustomerID: 17742, Balance: &customer.Balance{
		ProgramID: 1219, Version: 12, LoyaltyID: 52350728, LoyaltyPoints: 350, LifetimePoints: 500, Redeemed: 200, Returned: 1100.2139892578125,
		Adjusted: 50, CumulativePurchases: 8500, CurrentSlab: "Gold", SlabSNo: 2, SlabExpiryDate: "2117-12-29T23:59:59+05:30",
		NextSlab: "Platinum", NextSlabSerialNumber: 3, NextSlabDescription: "Platinum tier"}}
}

func TestDecodeBalanceJSON(t *testing.T) {
	ctx := context.Background()
	cmd, enc, err := DecodeBalance(ctx, nil, []byte(docBalance))
	if err != nil || enc != EncodingJSON {
		t.Fatalf("decode: %v (%v)", err, enc)
	}
	if want := docBalanceCommand(); !reflect.DeepEqual(cmd, want) {
		t.Fatalf("got %+v %+v\nwant %+v %+v", cmd, cmd.Balance, want, want.Balance)
	}
	// Numbers as strings, asOf for version, absent fields, unknown keys.
	cmd, _, err = DecodeBalance(ctx, nil, []byte(`{"customerId":"5","programId":"1","asOf":"2024-05-01T10:00:00.5+05:30","loyaltyPoints":"12.5","requestId":"r-9","_comment":{"x":1},"currentSlab":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := customer.Balance{ProgramID: 1, Version: 1714537800500, LoyaltyPoints: 12.5, NextSlabSerialNumber: -1}
	if cmd.CustomerID != 5 || cmd.RequestID != "r-9" || !reflect.DeepEqual(*cmd.Balance, want) {
		t.Fatalf("lenient form: %+v %+v", cmd, cmd.Balance)
	}
	for _, tc := range []struct{ value, code, msg string }{
		{`[1]`, ErrCodeUndecodable, "want a JSON object"},
		{`{"customerId":5,"programId":1,"version":1,"loyaltyPoints":{}}`, ErrCodeUndecodable, "loyaltyPoints: want a number"},
		{`{"customerId":5,"programId":1,"version":1.5}`, ErrCodeUndecodable, "version: want an integer"},
		{`{"customerId":5,"programId":1,"asOf":"yesterday"}`, ErrCodeUndecodable, "asOf: want an RFC 3339 time"},
		{`{"customerId":5,"programId":1}`, ErrCodeBadBalance, "version 0"},
		{`{"customerId":0,"programId":1,"version":1}`, ErrCodeBadBalance, "customerId 0"},
		{`{"customerId":5,"version":1}`, ErrCodeBadBalance, "programId 0"},
		{`{"customerId":5,"programId":1,"version":1,"redeemed":"1e300"}`, ErrCodeBadBalance, "redeemed"},
		{`{"customerId":5,"programId":1,"version":1,"redeemed":"NaN"}`, ErrCodeUndecodable, "redeemed: want a number"},
		{`{"customerId":5,"programId":1,"version":1,"currentSlab":"` + strings.Repeat("x", 200) + `"}`, ErrCodeBadBalance, "currentSlab"},
	} {
		_, _, err := DecodeBalance(ctx, nil, []byte(tc.value))
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%.60s: got %v, want %s containing %q", tc.value, err, tc.code, tc.msg)
		}
	}
}

func TestBalanceRoundTrips(t *testing.T) {
	ctx := context.Background()
	want := docBalanceCommand()
	j, err := EncodeBalanceJSON(want)
	if err != nil {
		t.Fatal(err)
	}
	a, err := EncodeBalance(want)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := SingleObjectKind(a); err != nil || k != KindBalance {
		t.Fatalf("single-object kind %v, %v", k, err)
	}
	reg := mapRegistry{}
	cf := NewConfluent(reg)
	id, _ := reg.Register(ctx, "customers.points-value", Schema(KindBalance))
	conf, err := ToConfluent(append([]byte(nil), a...), KindBalance, id) // it reframes in place
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]byte{"json": j, "single-object": a, "confluent": conf} {
		got, _, err := DecodeBalance(ctx, cf, v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v %+v", name, got, got.Balance)
		}
	}
	// A command on the points topic is not a balance.
	cmdID, _ := cf.RegisterCommand(ctx, "customers.instore-value")
	cmd, _ := EncodeCommand(sampleCommands()[0])
	asCmd, _ := ToConfluent(append([]byte(nil), cmd...), KindCommand, cmdID)
	if _, _, err := DecodeBalance(ctx, cf, asCmd); ErrorCode(err) != ErrCodeUndecodable {
		t.Errorf("a command in Confluent form on the points topic: %v", err)
	}
	if _, _, err := DecodeBalance(ctx, nil, cmd); ErrorCode(err) != ErrCodeUndecodable {
		t.Errorf("a single-object command on the points topic: %v", err)
	}
}

// FuzzDecodeBalance: any value decodes within the JSON allocation bound
// or fails with a DLQ code, and what decodes survives both encodings.
func FuzzDecodeBalance(f *testing.F) {
	f.Add([]byte(docBalance))
	f.Add([]byte(`{"customerId":"5","programId":"1","asOf":"2024-05-01T10:00:00Z","loyaltyPoints":"-0"}`))
	if b, err := EncodeBalance(docBalanceCommand()); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cmd customer.Command
		var err error
		checkAlloc(t, len(data), goavroAllocBound, func() { cmd, _, err = DecodeBalance(context.Background(), nil, data) })
		if err != nil {
			if ErrorCode(err) == "" {
				t.Fatalf("error without a DLQ code: %v", err)
			}
			return
		}
		for name, enc := range map[string]func(customer.Command) ([]byte, error){"json": EncodeBalanceJSON, "avro": EncodeBalance} {
			b, err := enc(cmd)
			if err != nil {
				t.Fatalf("%s re-encode: %v", name, err)
			}
			back, _, err := DecodeBalance(context.Background(), nil, b)
			if err != nil {
				t.Fatalf("%s decode of re-encoded %q: %v", name, b, err)
			}
			if !reflect.DeepEqual(back, cmd) {
				t.Fatalf("%s round trip\n got %+v %+v\nwant %+v %+v", name, back, back.Balance, cmd, cmd.Balance)
			}
		}
	})
}
