package schemas

import (
	"encoding/json"

	"github.com/custream/custream/processor/customer"
)

// The encoder EncodeJSONCommand used before jsonenc.go: encoding/json over
// the domain's body types, whose json tags (since removed from the domain)
// are copied here verbatim onto mirror types. It is the reference
// TestEncodeJSONBodyMatchesOld and FuzzDecodeJSONBody compare the bytes of
// EncodeJSONBody against. Do not "fix" it: it defines the bytes.

type oldCustomerBody struct {
	Profiles       []oldProfileInput    `json:"profiles"`
	LoyaltyInfo    *oldLoyaltyInput     `json:"loyaltyInfo,omitempty"`
	ExtendedFields map[string]string    `json:"extendedFields,omitempty"`
	AttributionV2  *oldAttributionInput `json:"attributionV2,omitempty"`
}

type oldProfileInput struct {
	FirstName    string            `json:"firstName,omitempty"`
	LastName     string            `json:"lastName,omitempty"`
	Fields       map[string]string `json:"fields,omitempty"`
	Identifiers  []oldIdentifier   `json:"identifiers,omitempty"`
	CommChannels []oldCommChannel  `json:"commChannels,omitempty"`
	Source       string            `json:"source,omitempty"`
	AccountID    string            `json:"accountId,omitempty"`
}

type oldLoyaltyInput struct {
	LoyaltyType string `json:"loyaltyType,omitempty"`
}

type oldAttributionInput struct {
	CreateDate string `json:"createDate,omitempty"`
}

type oldIdentifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type oldCommChannel struct {
	Type     string          `json:"type"`
	Value    string          `json:"value"`
	Primary  bool            `json:"primary"`
	Verified bool            `json:"verified"`
	Meta     map[string]bool `json:"meta,omitempty"`
}

type oldChangeIdentifierBody struct {
	Add    []oldIdentifier `json:"add,omitempty"`
	Remove []oldIdentifier `json:"remove,omitempty"`
}

type oldSubscriptionsBody struct {
	CommunicationID int64             `json:"communicationId"`
	CampaignID      int64             `json:"campaignId"`
	Reason          string            `json:"reason,omitempty"`
	Scope           *oldScope         `json:"scope,omitempty"`
	Subscriptions   []oldSubscription `json:"subscriptions"`
}

type oldScope struct {
	Scope    string `json:"scope"`
	SubScope string `json:"subScope"`
}

type oldSubscription struct {
	Channel   string `json:"channel"`
	AccountID string `json:"accountId"`
	Priority  string `json:"priority"`
	Type      string `json:"type"`
}

// encodeJSONBodyOld is the body EncodeJSONCommand wrote with json.Marshal.
// ok is false when cmd lacks its op's body.
func encodeJSONBodyOld(cmd customer.Command) (b []byte, ok bool, err error) {
	var body any
	switch {
	case cmd.Op == customer.OpRegister && cmd.Register != nil:
		body = oldCustomer(cmd.Register)
	case cmd.Op == customer.OpUpdate && cmd.Update != nil:
		body = oldCustomer(cmd.Update)
	case cmd.Op == customer.OpChangeIdentifier && cmd.ChangeIdentifier != nil:
		body = oldChangeIdentifierBody{Add: oldSlice(cmd.ChangeIdentifier.Add, oldIdent), Remove: oldSlice(cmd.ChangeIdentifier.Remove, oldIdent)}
	case cmd.Op == customer.OpSubscriptions && cmd.Subscriptions != nil:
		s := cmd.Subscriptions
		out := oldSubscriptionsBody{CommunicationID: s.CommunicationID, CampaignID: s.CampaignID, Reason: s.Reason,
			Subscriptions: oldSlice(s.Subscriptions, func(s customer.Subscription) oldSubscription { return oldSubscription(s) })}
		if s.Scope != nil {
			out.Scope = &oldScope{Scope: s.Scope.Scope, SubScope: s.Scope.SubScope}
		}
		body = out
	default:
		return nil, false, nil
	}
	b, err = json.Marshal(body)
	return b, true, err
}

func oldCustomer(b *customer.CustomerBody) oldCustomerBody {
	out := oldCustomerBody{ExtendedFields: b.ExtendedFields,
		Profiles: oldSlice(b.Profiles, func(p customer.ProfileInput) oldProfileInput {
			return oldProfileInput{FirstName: p.FirstName, LastName: p.LastName, Fields: p.Fields,
				Identifiers: oldSlice(p.Identifiers, oldIdent), Source: p.Source, AccountID: p.AccountID,
				CommChannels: oldSlice(p.CommChannels, func(c customer.CommChannel) oldCommChannel {
					return oldCommChannel{Type: c.Type, Value: c.Value, Primary: c.Primary, Verified: c.Verified, Meta: c.Meta}
				})}
		})}
	if b.LoyaltyInfo != nil {
		out.LoyaltyInfo = &oldLoyaltyInput{LoyaltyType: b.LoyaltyInfo.LoyaltyType}
	}
	if b.AttributionV2 != nil {
		out.AttributionV2 = &oldAttributionInput{CreateDate: b.AttributionV2.CreateDate}
	}
	return out
}

func oldIdent(id customer.Identifier) oldIdentifier {
	return oldIdentifier{Type: id.Type, Value: id.Value}
}

// oldSlice converts a slice item by item, nil staying nil (null) and empty
// empty ([]), as json.Marshal tells them apart.
func oldSlice[T, U any](s []T, f func(T) U) []U {
	if s == nil {
		return nil
	}
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}
