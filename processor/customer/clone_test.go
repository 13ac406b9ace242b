package customer_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// cloneCases are customers with every map and slice nil, empty, and full
// (conflicting profiles two deep). Each call builds them afresh, so a test
// can compare a customer with an untouched twin.
func cloneCases() map[string]*customer.Customer {
	at := time.Date(2016, 6, 23, 19, 11, 18, 0, time.FixedZone("", 8*3600))
	prof := func(src string) customer.Profile {
		return customer.Profile{
			Source: src, FirstName: "Tom", LastName: "Sawyer",
			Fields:      map[string]string{"Favorite Color": "Green"},
			Identifiers: []customer.Identifier{{Type: "email", Value: "tom@example.com"}},
			CommChannels: []customer.CommChannel{
				{Type: "email", Value: "tom@example.com", Primary: true, Meta: map[string]bool{"residence": true}},
				{Type: "mobile", Value: "919111111111", Meta: map[string]bool{}},
			},
			CreateDate: at, ModifiedDate: at,
		}
	}
	deep := prof("WECHAT")
	conflict := prof("WECHAT")
	conflict.Conflicting = []customer.Profile{prof("WECHAT")}
	deep.Conflicting = []customer.Profile{conflict}
	return map[string]*customer.Customer{
		"nil": {ID: 1, Org: 7, Profiles: []customer.Profile{{Source: "INSTORE"}}},
		"empty": {ID: 2, Org: 7, ExtendedFields: map[string]string{}, Subscriptions: []customer.Subscription{},
			Profiles: []customer.Profile{{Source: "INSTORE", Fields: map[string]string{}, Identifiers: []customer.Identifier{},
				CommChannels: []customer.CommChannel{}, Conflicting: []customer.Profile{}}}},
		"full": {ID: 3, Org: 7, LoyaltyType: "loyalty",
			Profiles:       []customer.Profile{prof("INSTORE"), deep},
			ExtendedFields: map[string]string{"gender": "Male"},
			Subscriptions:  []customer.Subscription{{Channel: "SMS", Priority: "BULK", Type: "OPTIN"}},
			CreateDate:     at, ModifiedDate: at},
		"tombstone": {ID: 4, Org: 7, MergedInto: 3},
	}
}

// TestClone: Clone is the one deep copy of a customer, exact (nil stays
// nil, empty stays empty: reflect.DeepEqual to the original) and sharing
// nothing with it: changing every map and slice of the copy, at every
// depth, leaves the original as it was.
func TestClone(t *testing.T) {
	if (*customer.Customer)(nil).Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
	twins := cloneCases()
	for name, c := range cloneCases() {
		cp := c.Clone()
		if !reflect.DeepEqual(cp, c) {
			t.Errorf("%s: clone differs\n got %#v\nwant %#v", name, cp, c)
			continue
		}
		scribble(cp)
		if !reflect.DeepEqual(c, twins[name]) {
			t.Errorf("%s: changing the clone changed the original:\n%#v", name, c)
		}
	}
}

// scribble changes every element of every map and slice of c in place.
func scribble(c *customer.Customer) {
	if c.ExtendedFields != nil {
		c.ExtendedFields["x"] = "y"
	}
	for i := range c.Subscriptions {
		c.Subscriptions[i].Type = "changed"
	}
	scribbleProfiles(c.Profiles)
}

func scribbleProfiles(ps []customer.Profile) {
	for i := range ps {
		p := &ps[i]
		p.FirstName = "changed"
		if p.Fields != nil {
			p.Fields["x"] = "y"
		}
		for j := range p.Identifiers {
			p.Identifiers[j].Value = "changed"
		}
		for j := range p.CommChannels {
			p.CommChannels[j].Value = "changed"
			if p.CommChannels[j].Meta != nil {
				p.CommChannels[j].Meta["x"] = true
			}
		}
		scribbleProfiles(p.Conflicting)
	}
}
