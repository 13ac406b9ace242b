package schemas_test

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// TestBalanceFieldsAreRead checks that BalanceFields is exactly the set of
// names the JSON decoder reads: each one, set on a minimal balance,
// changes what decodes, and the encoder writes no other.
func TestBalanceFieldsAreRead(t *testing.T) {
	decode := func(t *testing.T, s string) customer.Command {
		t.Helper()
		cmd, _, err := schemas.DecodeBalance(context.Background(), nil, []byte(s))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return cmd
	}
	const base = `{"customerId":7,"programId":3,"version":5`
	plain := decode(t, base+`}`)
	values := map[string]string{"requestId": `"r-1"`, "customerId": `8`, "programId": `4`, "version": `6`,
		"currentSlab": `"Gold"`, "slabExpiryDate": `"2117-12-29T23:59:59+05:30"`, "nextSlab": `"Platinum"`, "nextSlabDescription": `"top"`}
	for _, name := range schemas.BalanceFields() {
		if name == "asOf" {
			// asOf stands for version when version is absent.
			got := decode(t, `{"customerId":7,"programId":3,"asOf":"2024-01-02T03:04:05.5Z"}`)
			if got.Balance.Version != 1704164645500 {
				t.Errorf("asOf: version %d, want 1704164645500", got.Balance.Version)
			}
			continue
		}
		v, ok := values[name]
		if !ok {
			v = `9` // the counters, loyaltyId and the slab numbers
		}
		// customerId, programId and version repeat a key of base: the
		// later one wins.
		s := base + `,"` + name + `":` + v + `}`
		if got := decode(t, s); reflect.DeepEqual(got, plain) {
			t.Errorf("%s: setting it to %s changes nothing: the decoder does not read it", name, v)
		}
	}
	enc, err := schemas.EncodeBalanceJSON(plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range jsonKeys(t, enc) {
		if !slices.Contains(schemas.BalanceFields(), k) {
			t.Errorf("EncodeBalanceJSON writes %q, which BalanceFields lacks", k)
		}
	}
}

// TestBalanceJSONRoundTrip: the JSON form re-decodes to the same command,
// every field set, so a tool may send the canonical form of what it
// checked.
func TestBalanceJSONRoundTrip(t *testing.T) {
	cmd := customer.Command{Op: customer.OpPoints, RequestID: "points-7-3-5", CustomerID: 7, Balance: &customer.Balance{
		ProgramID: 3, Version: 5, LoyaltyID: 11, LoyaltyPoints: 350.25, LifetimePoints: 1e12, Redeemed: -3, Expired: 0.1,
		Returned: 4, Adjusted: -0.5, CumulativePurchases: 123456.789, CurrentSlab: "Gold \"1\"", SlabSNo: 2,
		SlabExpiryDate: "2117-12-29T23:59:59+05:30", NextSlab: "Platinum", NextSlabSerialNumber: 3, NextSlabDescription: "é<&>"}}
	enc, err := schemas.EncodeBalanceJSON(cmd)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := schemas.DecodeBalance(context.Background(), nil, enc)
	if err != nil {
		t.Fatalf("%s: %v", enc, err)
	}
	if !reflect.DeepEqual(got, cmd) {
		t.Errorf("round trip of %s\n got %+v %+v\nwant %+v %+v", enc, got, *got.Balance, cmd, *cmd.Balance)
	}
}

func jsonKeys(t *testing.T, obj []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatalf("%s: %v", obj, err)
	}
	return slices.Sorted(maps.Keys(m))
}
