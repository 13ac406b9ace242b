package sink

import (
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// go test -run '^$' -bench Snapshot -benchmem ./sink/

// benchCustomer is a customer of two sources, one with a conflicting
// profile from a merge, with custom and extended fields and subscriptions:
// the snapshot every batch writes for each customer it changed.
func benchCustomer() *customer.Customer {
	created := time.Date(2016, 6, 23, 11, 11, 18, 0, time.UTC)
	modified := time.Date(2016, 8, 12, 10, 50, 23, 456_789_000, time.UTC)
	return &customer.Customer{
		ID: 17742, Org: 7, LoyaltyType: "loyalty",
		Profiles: []customer.Profile{
			{
				Source: "INSTORE", FirstName: "Tom", LastName: "Sawyer",
				Fields:      map[string]string{"Gender": "Male", "Favorite Color": "Green"},
				Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}, {Type: "email", Value: "tom.sawyer@example.com"}},
				CommChannels: []customer.CommChannel{{Type: "email", Value: "tom.sawyer@example.com", Primary: true,
					Meta: map[string]bool{"residence": true, "office": false}}},
				CreateDate: created, ModifiedDate: modified,
			},
			{
				Source: "WECHAT", AccountID: "22232", FirstName: "Tom", LastName: "Sawyer",
				Identifiers:  []customer.Identifier{{Type: "wechat", Value: "ojOPTwFOX-aBmdRlE9MHptPjt2w19"}},
				CommChannels: []customer.CommChannel{{Type: "wechat", Value: "ojOPTwFOX-aBmdRlE9MHptPjt2w19", Primary: true, Verified: true}},
				CreateDate:   created, ModifiedDate: modified,
				Conflicting: []customer.Profile{{Source: "WECHAT", AccountID: "22232", FirstName: "Thomas",
					Identifiers: []customer.Identifier{{Type: "wechat", Value: "ray11"}}, CreateDate: created, ModifiedDate: created}},
			},
		},
		ExtendedFields: map[string]string{"city": "Bangalore", "gender": "Male"},
		Subscriptions: []customer.Subscription{
			{Channel: "EMAIL", Priority: "BULK", Type: "OPTIN"},
			{Channel: "SMS", Priority: "BULK", Type: "OPTOUT"},
			{Channel: "SMS", Priority: "TRANS", Type: "OPTIN"},
		},
		CreateDate: created, ModifiedDate: modified,
	}
}

// BenchmarkSnapshot is the whole encoding of one snapshot record, as
// processor.encodeSnapshots runs it on every core after decoding the
// stored document: rendering the fetch view and encoding it.
func BenchmarkSnapshot(b *testing.B) {
	c := benchCustomer()
	for _, f := range []Format{Avro, JSON} {
		b.Run(f.String(), func(b *testing.B) {
			enc := NewEncoder(Options{Format: f, Topics: topics})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.Snapshot(c, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
