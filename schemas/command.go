package schemas

import (
	"fmt"
	"slices"
	"strings"

	"github.com/custream/custream/processor/customer"
)

// The command envelope (command.avsc) and its mapping to customer.Command.
//
// Mapping choices, the same for every record in this package:
//   - Empty and absent lists and maps decode as nil: on the wire an empty
//     array and a missing one are the same thing, and no rule tells them
//     apart. Pointers (loyaltyInfo, attributionV2, scope) are nullable
//     records, so nil and &T{} both survive a round trip.
//   - accountId, customerId and time are null when zero ("" / 0 / zero
//     time); decoded times are UTC (the instant is kept, not the offset;
//     attributionV2.createDate is a string and keeps its offset as sent).
//     Command.Time travels as timestamp-millis, Kafka's precision.

// ops are the op names the wire accepts, in command.avsc's enum order.
var ops = []customer.Op{customer.OpRegister, customer.OpUpdate, customer.OpChangeIdentifier, customer.OpSubscriptions}

// resultOps are the ops a result names, in result.avsc's enum order: the
// commands' and points, the balances of the points topic (which no
// command envelope carries, so ParseOp does not accept it).
var resultOps = append(slices.Clip(ops), customer.OpPoints)

// parseResultOp returns the op of a result named s, exactly spelled.
func parseResultOp(s string) (customer.Op, bool) {
	if i := slices.Index(resultOps, customer.Op(s)); i >= 0 {
		return resultOps[i], true
	}
	return "", false
}

// ParseOp returns the op named s (case-insensitively: "Register" is
// register), or false.
func ParseOp(s string) (customer.Op, bool) {
	for _, op := range ops {
		if strings.EqualFold(s, string(op)) {
			return op, true
		}
	}
	return "", false
}

// Union branch names of the envelope's body.
const (
	branchCustomerBody     = "CustomerBody"
	branchChangeIdentifier = "ChangeIdentifierBody"
	branchSubscriptions    = "SubscriptionsBody"
	namespace              = "io.custream.v1."
)

// bodyBranch is the body record each op carries.
var bodyBranch = map[customer.Op]string{
	customer.OpRegister:         branchCustomerBody,
	customer.OpUpdate:           branchCustomerBody,
	customer.OpChangeIdentifier: branchChangeIdentifier,
	customer.OpSubscriptions:    branchSubscriptions,
}

// EncodeCommand returns cmd as Avro single-object encoding of command.avsc.
// cmd must carry the body its Op names.
func EncodeCommand(cmd customer.Command) ([]byte, error) {
	native, err := commandNative(cmd)
	if err != nil {
		return nil, err
	}
	return encodeSingle(nil, KindCommand, native)
}

// DecodeCommand decodes an Avro single-object encoded command. Errors are
// *Error with a DLQ code: ErrCodeUnknownSchema for a fingerprint that is
// not command.avsc's, ErrCodeUnknownOp, ErrCodeUndecodable otherwise.
func DecodeCommand(data []byte) (customer.Command, error) {
	body, err := singleObjectBody(data, KindCommand)
	if err != nil {
		return customer.Command{}, err
	}
	return decodeCommandBinary(body)
}

func commandNative(cmd customer.Command) (map[string]any, error) {
	var branch string
	var body map[string]any
	switch {
	case cmd.Op == customer.OpRegister && cmd.Register != nil:
		branch, body = branchCustomerBody, customerBodyNative(cmd.Register)
	case cmd.Op == customer.OpUpdate && cmd.Update != nil:
		branch, body = branchCustomerBody, customerBodyNative(cmd.Update)
	case cmd.Op == customer.OpChangeIdentifier && cmd.ChangeIdentifier != nil:
		branch, body = branchChangeIdentifier, changeIdentifierNative(cmd.ChangeIdentifier)
	case cmd.Op == customer.OpSubscriptions && cmd.Subscriptions != nil:
		branch, body = branchSubscriptions, subscriptionsBodyNative(cmd.Subscriptions)
	default:
		return nil, fmt.Errorf("encode command %q: op %q without its body", cmd.RequestID, cmd.Op)
	}
	return map[string]any{
		"requestId":  cmd.RequestID,
		"org":        cmd.Org,
		"op":         string(cmd.Op),
		"source":     cmd.Source,
		"accountId":  optString(cmd.AccountID),
		"customerId": optLong(cmd.CustomerID),
		"time":       optTime(cmd.Time, "long.timestamp-millis"),
		"body":       map[string]any{namespace + branch: body},
	}, nil
}

// commandFromNative maps a decoded envelope written with a writer schema
// compatible with command.avsc (fields and union branches matched by
// name). Values written with command.avsc itself are read by
// decodeCommandBinary instead, to the same result.
func commandFromNative(native any) (customer.Command, error) {
	m, ok := native.(map[string]any)
	if !ok {
		return customer.Command{}, undecodable(nil, "command: want a record, got %T", native)
	}
	var r reader
	cmd := customer.Command{
		RequestID:  r.str(m, "requestId", "requestId"),
		Org:        r.long(m, "org", "org"),
		Source:     r.str(m, "source", "source"),
		AccountID:  r.str(m, "accountId", "accountId"),
		CustomerID: r.long(m, "customerId", "customerId"),
		Time:       r.timestamp(m, "time", "time"),
	}
	opName := r.str(m, "op", "op")
	if r.err != nil {
		return customer.Command{}, r.err
	}
	op, ok := ParseOp(opName)
	if !ok {
		return customer.Command{}, &Error{Code: ErrCodeUnknownOp, Msg: fmt.Sprintf("command %q: unknown op %q", cmd.RequestID, opName)}
	}
	cmd.Op = op

	bodyUnion, ok := m["body"].(map[string]any)
	if !ok || len(bodyUnion) != 1 {
		return customer.Command{}, undecodable(nil, "command %q: body: want one union branch, got %T", cmd.RequestID, m["body"])
	}
	var branch string
	var body map[string]any
	for k, v := range bodyUnion {
		branch = shortName(k)
		if body, ok = v.(map[string]any); !ok {
			return customer.Command{}, undecodable(nil, "command %q: body: want a record, got %T", cmd.RequestID, v)
		}
	}
	if want := bodyBranch[op]; branch != want {
		return customer.Command{}, undecodable(nil, "command %q: op %s carries a %s body, want %s", cmd.RequestID, op, branch, want)
	}
	switch op {
	case customer.OpRegister:
		cmd.Register = r.customerBody(body, "body")
	case customer.OpUpdate:
		cmd.Update = r.customerBody(body, "body")
	case customer.OpChangeIdentifier:
		cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{
			Add:    r.identifiers(body, "add", "body.add"),
			Remove: r.identifiers(body, "remove", "body.remove"),
		}
	case customer.OpSubscriptions:
		cmd.Subscriptions = r.subscriptionsBody(body, "body")
	}
	if r.err != nil {
		return customer.Command{}, fmt.Errorf("command %q: %w", cmd.RequestID, r.err)
	}
	return cmd, nil
}

func customerBodyNative(b *customer.CustomerBody) map[string]any {
	profiles := make([]any, len(b.Profiles))
	for i, p := range b.Profiles {
		profiles[i] = map[string]any{
			"firstName":    p.FirstName,
			"lastName":     p.LastName,
			"fields":       stringMapNative(p.Fields),
			"identifiers":  identifiersNative(p.Identifiers),
			"commChannels": commChannelsNative(p.CommChannels),
			"source":       p.Source,
			"accountId":    p.AccountID,
		}
	}
	var loyalty, attribution any
	if b.LoyaltyInfo != nil {
		loyalty = map[string]any{namespace + "LoyaltyInfo": map[string]any{"loyaltyType": b.LoyaltyInfo.LoyaltyType}}
	}
	if b.AttributionV2 != nil {
		attribution = map[string]any{namespace + "AttributionV2": map[string]any{"createDate": b.AttributionV2.CreateDate}}
	}
	return map[string]any{
		"profiles":       profiles,
		"loyaltyInfo":    loyalty,
		"extendedFields": stringMapNative(b.ExtendedFields),
		"attributionV2":  attribution,
	}
}

func (r *reader) customerBody(m map[string]any, path string) *customer.CustomerBody {
	b := &customer.CustomerBody{ExtendedFields: r.stringMap(m, "extendedFields", path+".extendedFields")}
	r.records(m, "profiles", path+".profiles", func(p map[string]any, path string) {
		b.Profiles = append(b.Profiles, customer.ProfileInput{
			FirstName:    r.str(p, "firstName", path+".firstName"),
			LastName:     r.str(p, "lastName", path+".lastName"),
			Fields:       r.stringMap(p, "fields", path+".fields"),
			Identifiers:  r.identifiers(p, "identifiers", path+".identifiers"),
			CommChannels: r.commChannels(p, "commChannels", path+".commChannels"),
			Source:       r.str(p, "source", path+".source"),
			AccountID:    r.str(p, "accountId", path+".accountId"),
		})
	})
	if li := r.record(m, "loyaltyInfo", path+".loyaltyInfo"); li != nil {
		b.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: r.str(li, "loyaltyType", path+".loyaltyInfo.loyaltyType")}
	}
	if at := r.record(m, "attributionV2", path+".attributionV2"); at != nil {
		b.AttributionV2 = &customer.AttributionInput{CreateDate: r.str(at, "createDate", path+".attributionV2.createDate")}
	}
	return b
}

func changeIdentifierNative(b *customer.ChangeIdentifierBody) map[string]any {
	return map[string]any{"add": identifiersNative(b.Add), "remove": identifiersNative(b.Remove)}
}

func subscriptionsBodyNative(b *customer.SubscriptionsBody) map[string]any {
	var scope any
	if b.Scope != nil {
		scope = map[string]any{namespace + "Scope": map[string]any{"scope": b.Scope.Scope, "subScope": b.Scope.SubScope}}
	}
	return map[string]any{
		"communicationId": b.CommunicationID,
		"campaignId":      b.CampaignID,
		"reason":          b.Reason,
		"scope":           scope,
		"subscriptions":   subscriptionsNative(b.Subscriptions),
	}
}

func (r *reader) subscriptionsBody(m map[string]any, path string) *customer.SubscriptionsBody {
	b := &customer.SubscriptionsBody{
		CommunicationID: r.long(m, "communicationId", path+".communicationId"),
		CampaignID:      r.long(m, "campaignId", path+".campaignId"),
		Reason:          r.str(m, "reason", path+".reason"),
		Subscriptions:   r.subscriptions(m, "subscriptions", path+".subscriptions"),
	}
	if sc := r.record(m, "scope", path+".scope"); sc != nil {
		b.Scope = &customer.Scope{Scope: r.str(sc, "scope", path+".scope.scope"), SubScope: r.str(sc, "subScope", path+".scope.subScope")}
	}
	return b
}

// Records shared by several schemas.

func identifiersNative(ids []customer.Identifier) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = identifierNative(id)
	}
	return out
}

func identifierNative(id customer.Identifier) map[string]any {
	return map[string]any{"type": id.Type, "value": id.Value}
}

func (r *reader) identifier(m map[string]any, path string) customer.Identifier {
	return customer.Identifier{Type: r.str(m, "type", path+".type"), Value: r.str(m, "value", path+".value")}
}

func (r *reader) identifiers(m map[string]any, key, path string) []customer.Identifier {
	var out []customer.Identifier
	r.records(m, key, path, func(rec map[string]any, path string) {
		out = append(out, r.identifier(rec, path))
	})
	return out
}

func commChannelsNative(cs []customer.CommChannel) []any {
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = map[string]any{
			"type":     c.Type,
			"value":    c.Value,
			"primary":  c.Primary,
			"verified": c.Verified,
			"meta":     boolMapNative(c.Meta),
		}
	}
	return out
}

func (r *reader) commChannels(m map[string]any, key, path string) []customer.CommChannel {
	var out []customer.CommChannel
	r.records(m, key, path, func(rec map[string]any, path string) {
		out = append(out, customer.CommChannel{
			Type:     r.str(rec, "type", path+".type"),
			Value:    r.str(rec, "value", path+".value"),
			Primary:  r.boolean(rec, "primary", path+".primary"),
			Verified: r.boolean(rec, "verified", path+".verified"),
			Meta:     r.boolMap(rec, "meta", path+".meta"),
		})
	})
	return out
}

func subscriptionsNative(ss []customer.Subscription) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = map[string]any{"channel": s.Channel, "accountId": s.AccountID, "priority": s.Priority, "type": s.Type}
	}
	return out
}

func (r *reader) subscriptions(m map[string]any, key, path string) []customer.Subscription {
	var out []customer.Subscription
	r.records(m, key, path, func(rec map[string]any, path string) {
		out = append(out, customer.Subscription{
			Channel:   r.str(rec, "channel", path+".channel"),
			AccountID: r.str(rec, "accountId", path+".accountId"),
			Priority:  r.str(rec, "priority", path+".priority"),
			Type:      r.str(rec, "type", path+".type"),
		})
	})
	return out
}
