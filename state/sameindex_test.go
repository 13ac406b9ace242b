package state

import (
	"bytes"
	"slices"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// TestSameIndexesAgreesWithIndexKeys: where sameIndexes lets PutCustomer
// skip the index work, the index keys really are equal; and every change
// that moves an index entry is seen.
func TestSameIndexesAgreesWithIndexKeys(t *testing.T) {
	task := &Task{id: 3}
	base := full()
	same := map[string]func(c *customer.Customer){
		"balances":        func(c *customer.Customer) { c.Points = nil },
		"extended fields": func(c *customer.Customer) { c.ExtendedFields = map[string]string{"x": "y"} },
		"subscriptions":   func(c *customer.Customer) { c.Subscriptions = nil },
		"custom fields":   func(c *customer.Customer) { c.Profiles[0].Fields = nil },
		"comm channels":   func(c *customer.Customer) { c.Profiles[1].CommChannels = nil },
		"times":           func(c *customer.Customer) { c.ModifiedDate = c.CreateDate; c.Profiles[0].ModifiedDate = c.CreateDate },
		"loyalty type":    func(c *customer.Customer) { c.LoyaltyType = "non_loyalty" },
	}
	differ := map[string]func(c *customer.Customer){
		"org":              func(c *customer.Customer) { c.Org++ },
		"merged away":      func(c *customer.Customer) { c.MergedInto = 5 },
		"first name":       func(c *customer.Customer) { c.Profiles[0].FirstName = "Becky" },
		"last name":        func(c *customer.Customer) { c.Profiles[1].LastName = "Thatcher" },
		"identifier value": func(c *customer.Customer) { c.Profiles[0].Identifiers[1].Value = "919222222222" },
		"identifier type":  func(c *customer.Customer) { c.Profiles[0].Identifiers[0].Type = "externalId" },
		"identifier added": func(c *customer.Customer) {
			c.Profiles[0].Identifiers = append(c.Profiles[0].Identifiers, customer.Identifier{Type: "wechat", Value: "w"})
		},
		"scope":                    func(c *customer.Customer) { c.Profiles[0].Source = "MARTJACK" },
		"account":                  func(c *customer.Customer) { c.Profiles[1].AccountID = "other" },
		"profile gone":             func(c *customer.Customer) { c.Profiles = c.Profiles[:1] },
		"conflicting name":         func(c *customer.Customer) { c.Profiles[1].Conflicting[0].FirstName = "Huck" },
		"conflicting identifier":   func(c *customer.Customer) { c.Profiles[1].Conflicting[0].Identifiers = nil },
		"conflicting profile gone": func(c *customer.Customer) { c.Profiles[1].Conflicting = nil },
	}
	keysEqual := func(a, b *customer.Customer) bool {
		return slices.EqualFunc(task.indexKeys(a), task.indexKeys(b), bytes.Equal)
	}
	for name, change := range same {
		c := base.Clone()
		change(c)
		if !sameIndexes(base, c) {
			t.Errorf("%s: sameIndexes = false; the index work would run for nothing", name)
		}
		if !keysEqual(base, c) {
			t.Errorf("%s: the index keys differ, so it must not be skipped", name)
		}
	}
	for name, change := range differ {
		c := base.Clone()
		change(c)
		if sameIndexes(base, c) {
			t.Errorf("%s: sameIndexes = true, so its index entries would go stale", name)
		}
	}
	if !sameIndexes(nil, nil) || sameIndexes(nil, base) || sameIndexes(base, nil) {
		t.Error("a new or absent customer is never the same as an existing one")
	}
	tomb := &customer.Customer{ID: 1, Org: 7, MergedInto: 2}
	if !sameIndexes(tomb, &customer.Customer{ID: 1, Org: 7, MergedInto: 2, Points: base.Points}) {
		t.Error("a tombstone with balances has no index entries either")
	}
}
