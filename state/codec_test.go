package state

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// full is a customer with every field set, including nesting, a zone
// offset, sub-second times and maps.
func full() *customer.Customer {
	created, err := time.Parse(time.RFC3339, "2016-06-23T19:11:18+08:00")
	if err != nil {
		panic(err)
	}
	mod := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC)
	neg := time.Date(1901, 1, 1, 0, 0, 0, 1, time.FixedZone("", -(3*3600+30*60)))
	prof := func(src, acct string) customer.Profile {
		return customer.Profile{
			Source: src, AccountID: acct, FirstName: "Zoë", LastName: "O'Neil",
			Fields:      map[string]string{"gender": "F", "dob": "1990-01-01", "": "empty key"},
			Identifiers: []customer.Identifier{{Type: "email", Value: "Zoe@Example.com"}, {Type: "mobile", Value: "919111111111"}},
			CommChannels: []customer.CommChannel{
				{Type: "email", Value: "zoe@example.com", Primary: true, Verified: false, Meta: map[string]bool{"lastViewed": true, "residence": false}},
				{Type: "mobile", Value: "919111111111", Verified: true},
			},
			CreateDate: created, ModifiedDate: neg,
		}
	}
	p := prof("WECHAT", "acc\x00ount")
	p.Conflicting = []customer.Profile{prof("WECHAT", "acc\x00ount")}
	return &customer.Customer{
		ID: 1<<62 + 3, Org: -1, LoyaltyType: "loyalty",
		Profiles:       []customer.Profile{prof("INSTORE", ""), p},
		ExtendedFields: map[string]string{"city": "Pune", "zip": "411001"},
		Subscriptions:  []customer.Subscription{{Channel: "EMAIL", Priority: "BULK", Type: "OPTIN"}, {Channel: "WECHAT", AccountID: "a", Priority: "TRANS", Type: "OPTOUT"}},
		CreateDate:     created,
		ModifiedDate:   mod,
		Points: []customer.Balance{
			{ProgramID: 1219, Version: 12, LoyaltyID: 52350728, LoyaltyPoints: 350, LifetimePoints: 500, Redeemed: 200, Returned: 1100.2139892578125,
				Adjusted: -50.5, CumulativePurchases: 8500, CurrentSlab: "Gold", SlabSNo: 2, SlabExpiryDate: "2117-12-29T23:59:59+05:30",
				NextSlab: "Platinum", NextSlabSerialNumber: 3, NextSlabDescription: "Platinum tier"},
			{ProgramID: 1223, NextSlabSerialNumber: -1, Expired: 1e15},
		},
	}
}

func TestCustomerRoundTrip(t *testing.T) {
	for name, c := range map[string]*customer.Customer{
		"full":                    full(),
		"zero":                    {},
		"tombstone":               {ID: 11, Org: 7, MergedInto: 10},
		"tombstone with balances": {ID: 11, Org: 7, MergedInto: 10, Points: []customer.Balance{{ProgramID: 1, Version: 3, LoyaltyPoints: 7}}},
	} {
		t.Run(name, func(t *testing.T) {
			enc := encodeCustomer(nil, c)
			got, err := decodeCustomer(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, c)
			}
			if again := encodeCustomer(nil, got); !bytes.Equal(again, enc) {
				t.Fatalf("re-encoding differs")
			}
		})
	}
	// A customer without balances keeps the version-1 bytes it had
	// before balances existed.
	plain := full()
	plain.Points = nil
	if enc := encodeCustomer(nil, plain); enc[0] != docVersion {
		t.Errorf("a customer without balances encodes as version %d", enc[0])
	}
	if enc := encodeCustomer(nil, full()); enc[0] != docVersionPoints {
		t.Errorf("a customer with balances encodes as version %d", enc[0])
	}
	// The offset survives, so the API shows the date as it was given.
	c := full()
	got, _ := decodeCustomer(encodeCustomer(nil, c))
	if s := got.CreateDate.Format(time.RFC3339); s != "2016-06-23T19:11:18+08:00" {
		t.Errorf("createDate formats as %s", s)
	}
}

// TestCloneAgreesWithCodec: customer.Clone, the copy the batch cache hands
// out and the rules change, keeps what the codec stores: a clone encodes
// to the original's bytes, nil or empty maps and lists alike, and the clone
// of a decoded document equals the document (what a reader gets from the
// cache is what it would get from Pebble).
func TestCloneAgreesWithCodec(t *testing.T) {
	empties := full()
	empties.ExtendedFields, empties.Subscriptions = map[string]string{}, []customer.Subscription{}
	empties.Profiles[0].Fields, empties.Profiles[0].Identifiers = map[string]string{}, []customer.Identifier{}
	empties.Profiles[0].CommChannels, empties.Profiles[0].Conflicting = []customer.CommChannel{}, []customer.Profile{}
	empties.Profiles[1].CommChannels[1].Meta = map[string]bool{}
	for name, c := range map[string]*customer.Customer{
		"full":      full(),
		"empties":   empties,
		"zero":      {},
		"tombstone": {ID: 11, Org: 7, MergedInto: 10},
	} {
		enc := encodeCustomer(nil, c)
		if !bytes.Equal(encodeCustomer(nil, c.Clone()), enc) {
			t.Errorf("%s: the clone encodes differently", name)
		}
		doc, err := decodeCustomer(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(doc.Clone(), doc) {
			t.Errorf("%s: the clone of the decoded document differs from it", name)
		}
	}
}

// Maps are written in key order, so equal customers encode equally however
// Go iterates their maps.
func TestCustomerEncodingDeterministic(t *testing.T) {
	first := encodeCustomer(nil, full())
	for range 50 {
		if !bytes.Equal(encodeCustomer(nil, full()), first) {
			t.Fatal("encoding varies between runs")
		}
	}
}

func TestDecodeCustomerRejects(t *testing.T) {
	good := encodeCustomer(nil, full())
	for name, b := range map[string][]byte{
		"empty":                      nil,
		"version":                    append([]byte{3}, good[1:]...),
		"balances under version 1":   append([]byte{docVersion}, good[1:]...),
		"version 2 without balances": append([]byte{docVersionPoints}, encodeCustomer(nil, &customer.Customer{ID: 1})[1:]...),
		"balances out of order": func() []byte {
			c := full()
			c.Points[0], c.Points[1] = c.Points[1], c.Points[0]
			return encodeCustomer(nil, c)
		}(),
		"trailing": append(bytes.Clone(good), 0),
		"huge count": {docVersion, 2, 2, 0, 0,
			0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeCustomer(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	for i := range len(good) {
		if _, err := decodeCustomer(good[:i]); err == nil {
			t.Errorf("truncated at %d of %d: decoded", i, len(good))
		}
	}
}

// FuzzDecodeCustomer: decoding never panics, and whatever decodes encodes
// to bytes that decode to the same customer and re-encode identically.
func FuzzDecodeCustomer(f *testing.F) {
	f.Add(encodeCustomer(nil, full()))
	f.Add(encodeCustomer(nil, &customer.Customer{}))
	f.Add(encodeCustomer(nil, &customer.Customer{ID: 11, Org: 7, MergedInto: 10}))
	f.Add([]byte{docVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCustomer(data)
		if err != nil {
			return
		}
		enc := encodeCustomer(nil, c)
		c2, err := decodeCustomer(enc)
		if err != nil {
			t.Fatalf("re-encoded document does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("decode→encode→decode changed the customer\n%#v\n%#v", c, c2)
		}
		if !bytes.Equal(encodeCustomer(nil, c2), enc) {
			t.Fatal("encoding is not stable")
		}
		if !reflect.DeepEqual(c.Clone(), c) {
			t.Fatal("the clone of a decoded document differs from it")
		}
	})
}

func BenchmarkEncodeCustomer(b *testing.B) {
	c := full()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = encodeCustomer(buf[:0], c)
	}
	b.ReportMetric(float64(len(buf)), "bytes/doc")
}

func BenchmarkDecodeCustomer(b *testing.B) {
	enc := encodeCustomer(nil, full())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeCustomer(enc); err != nil {
			b.Fatal(err)
		}
	}
}
