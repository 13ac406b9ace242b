package schemas

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// TestDomainFieldsMapped fails when a domain type gains (or loses) a field,
// so the wire mapping cannot silently drop it: map the new field in the
// schemas and codecs, then add it here.
func TestDomainFieldsMapped(t *testing.T) {
	for _, tc := range []struct {
		v      any
		fields string
	}{
		{customer.Command{}, "RequestID Org Op Source AccountID CustomerID Time Register Update ChangeIdentifier Subscriptions Balance"},
		{customer.CustomerBody{}, "Profiles LoyaltyInfo ExtendedFields AttributionV2"},
		{customer.ProfileInput{}, "FirstName LastName Fields Identifiers CommChannels Source AccountID"},
		{customer.LoyaltyInput{}, "LoyaltyType"},
		{customer.AttributionInput{}, "CreateDate"},
		{customer.Identifier{}, "Type Value"},
		{customer.CommChannel{}, "Type Value Primary Verified Meta"},
		{customer.ChangeIdentifierBody{}, "Add Remove"},
		{customer.SubscriptionsBody{}, "CommunicationID CampaignID Reason Scope Subscriptions"},
		{customer.Scope{}, "Scope SubScope"},
		{customer.Subscription{}, "Channel AccountID Priority Type"},
		{customer.Customer{}, "ID Org MergedInto LoyaltyType Profiles ExtendedFields Subscriptions CreateDate ModifiedDate Points"},
		{customer.Profile{}, "Source AccountID FirstName LastName Fields Identifiers CommChannels CreateDate ModifiedDate Conflicting"},
		{customer.Result{}, "RequestID Org Source AccountID Op Success CreatedID Subscriptions Warnings Errors"},
		{customer.Merge{}, "Org SurvivorID VictimID Identifier Source AccountID RequestID Time Balances"},
		{customer.Balance{}, "ProgramID Version LoyaltyID LoyaltyPoints LifetimePoints Redeemed Expired Returned Adjusted CumulativePurchases CurrentSlab SlabSNo SlabExpiryDate NextSlab NextSlabSerialNumber NextSlabDescription"},
		{customer.Issue{}, "Code Message"},
	} {
		typ := reflect.TypeOf(tc.v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if strings.Join(got, " ") != tc.fields {
			t.Errorf("customer.%s has fields %q; the wire maps %q", typ.Name(), strings.Join(got, " "), tc.fields)
		}
	}
}

// TestWireDocFingerprints keeps docs/wire.md's fingerprint table current.
func TestWireDocFingerprints(t *testing.T) {
	doc, err := os.ReadFile("../docs/wire.md")
	if err != nil {
		t.Skip("docs/wire.md not found:", err)
	}
	for _, k := range []Kind{KindCommand, KindResult, KindMerge, KindSnapshot, KindBalance} {
		if want := fmt.Sprintf("%016x", Fingerprint(k)); !strings.Contains(string(doc), want) {
			t.Errorf("docs/wire.md lacks the %s fingerprint %s", k, want)
		}
	}
}
