package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/custream/custream/processor/customer"
)

// The snapshot is one document: what customer.Snapshot renders as JSON
// (the JSON output) is what snapshot.avsc carries in Avro. The tests
// below decode both and compare them field by field, and hold the
// hand-written encoder to goavro's bytes for the JSON document.

// jsonDocument is the JSON output's snapshot of c, read back with
// encoding/json, numbers normalised (normNumbers).
func jsonDocument(t testing.TB, c *customer.Customer) map[string]any {
	t.Helper()
	doc, err := snapshotJSON(c)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func snapshotJSON(c *customer.Customer) (map[string]any, error) {
	b, err := json.Marshal(customer.Snapshot(c))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", b, err)
	}
	return normNumbers(doc).(map[string]any), nil
}

// normNumbers makes numbers comparable whatever decoded them: an integral
// value is an int64 (Avro long and int, a JSON integer, a double holding
// an integer), any other a float64.
func normNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normNumbers(e)
		}
		return out
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return normNumbers(f)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return int64(x)
		}
	case int32:
		return int64(x)
	}
	return v
}

// nativeOf turns a document (jsonDocument) into the goavro native of
// schema t: union values wrapped in their branch, an absent field null,
// numbers in the schema's type. It is the reference's input, built from
// the schema text and the JSON alone.
func nativeOf(t *avroType, doc any) any {
	switch t.kind {
	case avroRecord:
		m, _ := doc.(map[string]any)
		out := make(map[string]any, len(t.fields))
		for i, ft := range t.fields {
			out[t.names[i]] = nativeOf(ft, m[t.names[i]])
		}
		return out
	case avroUnion:
		if doc == nil {
			return nil
		}
		for _, bt := range t.branches {
			if bt.kind != avroNull {
				return goavro.Union(unionBranchName(bt), nativeOf(bt, doc))
			}
		}
	case avroArray:
		a, _ := doc.([]any)
		out := make([]any, len(a))
		for i, e := range a {
			out[i] = nativeOf(t.elem, e)
		}
		return out
	case avroMap:
		m, _ := doc.(map[string]any)
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = nativeOf(t.elem, e)
		}
		return out
	case avroInt:
		n, _ := doc.(int64)
		return int32(n)
	case avroDouble:
		switch n := doc.(type) {
		case int64:
			return float64(n)
		case float64:
			return n
		}
	}
	return doc
}

// goavroSnapshot is the reference encoding of c's snapshot: the JSON
// output's document, encoded by goavro with snapshot.avsc.
func goavroSnapshot(c *customer.Customer) ([]byte, error) {
	doc, err := snapshotJSON(c)
	if err != nil {
		return nil, err
	}
	return encodeSingle(nil, KindSnapshot, nativeOf(walkSchemas[KindSnapshot].root, doc))
}

// snapshotCustomers are the named cases: a customer as a register makes
// it, one of two sources with a conflicting profile, extended fields and
// subscriptions, a merged-away one, and the edges.
func snapshotCustomers() map[string]*customer.Customer {
	at := time.Date(2024, 5, 1, 9, 30, 0, 123_456_789, time.FixedZone("+05:30", 5*3600+1800))
	withSubs := sampleCustomer()
	withSubs.ID = 20
	withSubs.Subscriptions = []customer.Subscription{ // stored order, not the view's
		{Channel: "EMAIL", Priority: "BULK", Type: "OPTIN"},
		{Channel: "SMS", AccountID: "22232", Priority: "BULK", Type: "OPTOUT"},
		{Channel: "SMS", Priority: "BULK", Type: "OPTIN"},
		{Channel: "WECHAT", AccountID: "22232", Priority: "TRANS", Type: "OPTIN"},
		{Channel: "EMAIL", Priority: "TRANS", Type: "OPTOUT"},
	}
	return map[string]*customer.Customer{
		"fresh": {ID: 329, Org: 7, LoyaltyType: "non_loyalty",
			Profiles: []customer.Profile{{Source: "WECHAT", AccountID: "22232", FirstName: "Tom", LastName: "Sawyer",
				Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}},
				CreateDate:  at, ModifiedDate: at}},
			CreateDate: at, ModifiedDate: at},
		"multi-source with a conflicting profile": sampleCustomer(),
		"extended fields and subscriptions":       withSubs,
		"merged away":                             {ID: 418, Org: 7, MergedInto: 329},
		"no profiles, no times":                   {ID: 1, Org: 1},
		"extreme ids":                             {ID: math.MaxInt64, Org: math.MinInt64, Profiles: []customer.Profile{{Source: "INSTORE"}}},
	}
}

// TestSnapshotAvroIsTheJSONDocument: the Avro snapshot, decoded with
// goavro, and the JSON snapshot, decoded with encoding/json, are the same
// document field by field, for the named customers and random ones.
func TestSnapshotAvroIsTheJSONDocument(t *testing.T) {
	cases := snapshotCustomers()
	g := newRecordGen(20260501)
	for i := range 500 {
		g.maxMap = 1 + 3*(i%2)
		cases[fmt.Sprintf("random %d", i)] = g.customer()
	}
	for name, c := range cases {
		b, err := EncodeSnapshot(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := DecodeSnapshot(b)
		if err != nil {
			t.Fatalf("%s: goavro cannot decode it: %v", name, err)
		}
		want := jsonDocument(t, c)
		if diff := docDiff("", normNumbers(got), want); diff != "" {
			t.Fatalf("%s: the Avro and JSON snapshots differ: %s\navro %v\njson %v", name, diff, got, want)
		}
	}
	merged := jsonDocument(t, cases["merged away"])
	if !reflect.DeepEqual(merged, map[string]any{"id": int64(418), "org": int64(7), "mergedInto": int64(329)}) {
		t.Errorf("merged-away snapshot %v, want only id, org and mergedInto", merged)
	}
	fresh := jsonDocument(t, cases["fresh"])
	if _, ok := fresh["mergedInto"]; ok || fresh["org"] != int64(7) {
		t.Errorf("live snapshot %v: want org 7 and no mergedInto", fresh)
	}
}

// docDiff names the first path where two documents differ, or "".
func docDiff(path string, a, b any) string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %T vs %T", path, a, b)
		}
		for k := range x {
			if _, ok := y[k]; !ok {
				return fmt.Sprintf("%s.%s: only in the first", path, k)
			}
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				return fmt.Sprintf("%s.%s: only in the second", path, k)
			}
			if d := docDiff(path+"."+k, x[k], y[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: %v vs %v", path, a, b)
		}
		for i := range x {
			if d := docDiff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%s: %#v vs %#v", path, a, b)
	}
	return ""
}

// TestSnapshotFieldsAreTheAPIDocs: the fields of a snapshot are the API
// doc's fetch response's (its sample, "Fetch Customer Details"), plus org
// and mergedInto; nothing renamed, nothing left over.
func TestSnapshotFieldsAreTheAPIDocs(t *testing.T) {
	doc := jsonDocument(t, sampleCustomer())
	keys := func(v any) string {
		m, _ := v.(map[string]any)
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, " ")
	}
	profile := doc["profiles"].([]any)[1].(map[string]any)
	for _, tc := range []struct {
		what string
		v    any
		want string
	}{
		{"snapshot", doc, "extendedFields id loyaltyInfo org profiles segments subscriptionInfo warnings"},
		{"profile", profile, "accountId attribution autoUpdateTime commChannels conflictingProfileList fields firstName identifiers lastName source userId"},
		{"attribution", profile["attribution"], "createDate createdBy modifiedBy modifiedDate"},
		{"actor", profile["attribution"].(map[string]any)["createdBy"], "code description name type"},
		{"commChannel", profile["commChannels"].([]any)[0], "meta primary type value verified"},
		{"loyaltyInfo", doc["loyaltyInfo"], "attributionV2 lifetimePurchases loyaltyType"},
		{"attributionV2", doc["loyaltyInfo"].(map[string]any)["attributionV2"], "createDate createdBy modifiedBy modifiedDate"},
		{"subscriptionInfo", doc["subscriptionInfo"], "subscriptions"},
	} {
		if got := keys(tc.v); got != tc.want {
			t.Errorf("%s fields %q, want %q", tc.what, got, tc.want)
		}
	}
	if got := profile["attribution"].(map[string]any)["createdBy"]; !reflect.DeepEqual(got,
		map[string]any{"code": "WECHAT/22232", "description": "", "name": "WECHAT/22232", "type": "SOURCE"}) {
		t.Errorf("createdBy %v", got)
	}
}
