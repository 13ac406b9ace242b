package schemas

import (
	"time"

	"github.com/custream/custream/processor/customer"
)

// Fixtures shared by the tests, fuzz seeds and benchmarks. They hold only
// what survives a round trip by design: nil (not empty) lists and maps, UTC
// times at the wire's precision (ms for commands and merges, µs for
// snapshots).

var t0 = time.Date(2016, 6, 23, 11, 11, 18, 123_000_000, time.UTC)

func sampleCommands() []customer.Command {
	return []customer.Command{
		{
			RequestID: "req-1", Org: 7, Op: customer.OpRegister, Source: "WECHAT", AccountID: "22232", Time: t0,
			Register: &customer.CustomerBody{
				Profiles: []customer.ProfileInput{{
					FirstName: "Tom", LastName: "Sawyer",
					Fields:      map[string]string{"Favorite Color": "Green", "Favorite Sport": "Cricket"},
					Identifiers: []customer.Identifier{{Type: "email", Value: "tom.sayer@example.com"}},
					CommChannels: []customer.CommChannel{{
						Type: "wechat", Value: "ojOPTwFOX-aBmdRlE9MHptPjt2w19", Primary: true, Verified: true,
					}},
				}},
				LoyaltyInfo:    &customer.LoyaltyInput{LoyaltyType: "loyalty"},
				ExtendedFields: map[string]string{"gender": "Male", "city": "Bangalore"},
				AttributionV2:  &customer.AttributionInput{CreateDate: "2016-06-23T19:11:18+08:00"},
			},
		},
		{
			RequestID: "req-2 ✓ 顧客", Org: 7, Op: customer.OpUpdate, Source: "WECHAT", AccountID: "22232", CustomerID: 329, Time: t0,
			Update: &customer.CustomerBody{
				Profiles: []customer.ProfileInput{{
					FirstName: "Zoë", LastName: "王小明 🚀",
					Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}, {Type: "wechat", Value: "wc_2"}},
					CommChannels: []customer.CommChannel{{
						Type: "email", Value: "tom.sawyer@example.com", Primary: true,
						Meta: map[string]bool{"residence": true, "office": false},
					}},
					Source: "WECHAT", AccountID: "1234",
				}},
				LoyaltyInfo: &customer.LoyaltyInput{}, // present but empty: kept apart from nil
			},
		},
		{
			RequestID: "req-3", Org: 9_000_000_000, Op: customer.OpChangeIdentifier, Source: "INSTORE", CustomerID: 418,
			ChangeIdentifier: &customer.ChangeIdentifierBody{
				Add:    []customer.Identifier{{Type: "wechat", Value: "ray11"}},
				Remove: []customer.Identifier{{Type: "email", Value: "tom.sawyer@example.com"}},
			},
		},
		{
			RequestID: "req-4", Org: 7, Op: customer.OpSubscriptions, Source: "INSTORE", CustomerID: 17742, Time: t0,
			Subscriptions: &customer.SubscriptionsBody{
				CommunicationID: -1, CampaignID: -1, Reason: "Example reason",
				Scope: &customer.Scope{Scope: "USER", SubScope: "NONE"},
				Subscriptions: []customer.Subscription{
					{Channel: "EMAIL", Priority: "BULK", Type: "OPTOUT"},
					{Channel: "SMS", AccountID: "123", Priority: "TRANS", Type: "OPTIN"},
				},
			},
		},
		// Everything empty: nil lists and maps, no pointers.
		{Op: customer.OpRegister, Register: &customer.CustomerBody{}},
		{Op: customer.OpUpdate, CustomerID: 1, Update: &customer.CustomerBody{Profiles: []customer.ProfileInput{{}}}},
		{Op: customer.OpChangeIdentifier, CustomerID: 1, ChangeIdentifier: &customer.ChangeIdentifierBody{}},
		{Op: customer.OpSubscriptions, CustomerID: 1, Subscriptions: &customer.SubscriptionsBody{}},
	}
}

func sampleResult() ResultRecord {
	return ResultRecord{
		Result: customer.Result{
			RequestID: "req-1", Org: 7, Source: "WECHAT", AccountID: "22232", Op: customer.OpChangeIdentifier,
			Success: true, CreatedID: 329,
			Subscriptions: []customer.Subscription{{Channel: "SMS", AccountID: "123", Priority: "TRANS", Type: "OPTIN"}},
			Warnings:      []customer.Issue{customer.Issuef(customer.CodeMerged, "Same identifier found in other source. Merging into the account with user id %d", 329)},
		},
		Origin: Origin{Topic: "customers.wechat", Partition: 3, Offset: 1042},
	}
}

func sampleMerge() customer.Merge {
	return customer.Merge{
		Org: 7, SurvivorID: 329, VictimID: 418, Identifier: customer.Identifier{Type: "wechat", Value: "ray11"},
		Source: "WECHAT", AccountID: "22232", RequestID: "req-3", Time: t0,
	}
}

func sampleCustomer() *customer.Customer {
	created := time.Date(2016, 6, 23, 11, 11, 18, 0, time.UTC)
	modified := time.Date(2016, 8, 12, 10, 50, 23, 456_789_000, time.UTC)
	victim := customer.Profile{
		Source: "WECHAT", AccountID: "22232", FirstName: "Thomas",
		Identifiers: []customer.Identifier{{Type: "wechat", Value: "ray11"}},
		CreateDate:  created,
	}
	return &customer.Customer{
		ID: 17742, Org: 7, LoyaltyType: "loyalty",
		Profiles: []customer.Profile{
			{
				Source: "INSTORE", FirstName: "Tom", LastName: "Sawyer",
				Fields:      map[string]string{"Gender": "Male", "Favorite Color": "Green"},
				Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}},
				CreateDate:  created, ModifiedDate: modified,
			},
			{
				Source: "WECHAT", AccountID: "22232", FirstName: "Tom", LastName: "Sawyer",
				Identifiers: []customer.Identifier{{Type: "email", Value: "Tom.Sawyer@Example.com"}},
				CommChannels: []customer.CommChannel{{
					Type: "wechat", Value: "ojOPTwFOX-aBmdRlE9MHptPjt2w19", Primary: true, Verified: true,
					Meta: map[string]bool{"residence": false, "office": false},
				}},
				CreateDate: created, ModifiedDate: modified,
				Conflicting: []customer.Profile{victim},
			},
		},
		ExtendedFields: map[string]string{"city": "Bangalore", "gender": "Male", "名前": "トム"},
		Subscriptions: []customer.Subscription{
			{Channel: "EMAIL", Priority: "BULK", Type: "OPTIN"},
			{Channel: "SMS", Priority: "TRANS", Type: "OPTOUT"},
		},
		CreateDate: created, ModifiedDate: modified,
	}
}
