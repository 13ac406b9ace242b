package schemas

import (
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/custream/custream/processor/customer"
)

// Writing the JSON form of a command (the reading is jsonbody.go's): the
// API doc's request body, every shape spelled out here field by field, so
// this package owns the form both ways and the domain's types carry no
// json tags for it. The bytes are those encoding/json wrote from the
// domain's tagged types before (jsonenc_old_test.go keeps that encoder as
// the reference):
//
//   - register, update: {"profiles":[…]} (null when there are none), then
//     loyaltyInfo {"loyaltyType"}, extendedFields and attributionV2
//     {"createDate"} when present; a profile's fields (firstName,
//     lastName, fields, identifiers, commChannels, source, accountId) and
//     loyaltyType and createDate only when not empty;
//   - an identifier {"type","value"}; a comm channel
//     {"type","value","primary","verified"}, and "meta" when it has entries;
//   - changeIdentifier: "add" and "remove", when not empty;
//   - subscriptions: communicationId and campaignId (integers), reason
//     when not empty, scope {"scope","subScope"} when present,
//     "subscriptions" (null when there are none), each
//     {"channel","accountId","priority","type"}.
//
// Map entries are written in key order and strings escaped as
// encoding/json escapes them (", \ and control characters; <, >, &,
// U+2028 and U+2029 as \u escapes; invalid UTF-8 as U+FFFD), so equal
// commands give equal bytes. DecodeJSONBody reads a body written here back
// to the command it came from, for a command as decoding gives it: empty
// lists and maps nil, strings valid UTF-8 (TestJSONCommandRoundTrip,
// FuzzDecodeJSONBody).

// EncodeJSONBody returns the JSON request body of cmd's op: the value of a
// JSON-form record (EncodeJSONCommand adds the headers), or a line of a
// JSONL load file. It fails only when cmd lacks the body its op names.
func EncodeJSONBody(cmd customer.Command) ([]byte, error) {
	b, err := appendJSONBody(nil, cmd)
	if err != nil {
		return nil, fmt.Errorf("encode JSON body: %w", err)
	}
	return b, nil
}

// appendJSONBody appends the body of cmd's op to dst.
func appendJSONBody(dst []byte, cmd customer.Command) ([]byte, error) {
	switch {
	case cmd.Op == customer.OpRegister && cmd.Register != nil:
		return appendJSONCustomerBody(dst, cmd.Register), nil
	case cmd.Op == customer.OpUpdate && cmd.Update != nil:
		return appendJSONCustomerBody(dst, cmd.Update), nil
	case cmd.Op == customer.OpChangeIdentifier && cmd.ChangeIdentifier != nil:
		return appendJSONChangeIdentifierBody(dst, cmd.ChangeIdentifier), nil
	case cmd.Op == customer.OpSubscriptions && cmd.Subscriptions != nil:
		return appendJSONSubscriptionsBody(dst, cmd.Subscriptions), nil
	}
	return dst, fmt.Errorf("op %q without its body", cmd.Op)
}

// jsonObj writes one object's members, a comma before all but the first.
type jsonObj struct {
	b    []byte
	some bool
}

func openObj(dst []byte) jsonObj { return jsonObj{b: append(dst, '{')} }

func (o *jsonObj) close() []byte { return append(o.b, '}') }

// key writes a member's name, which is one of ours: plain ASCII, no
// escapes needed.
func (o *jsonObj) key(name string) {
	if o.some {
		o.b = append(o.b, ',')
	}
	o.some = true
	o.b = append(o.b, '"')
	o.b = append(o.b, name...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObj) str(name, v string) {
	o.key(name)
	o.b = appendJSONString(o.b, v)
}

// optStr writes a string member only when it is not empty.
func (o *jsonObj) optStr(name, v string) {
	if v != "" {
		o.str(name, v)
	}
}

func (o *jsonObj) boolean(name string, v bool) {
	o.key(name)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *jsonObj) integer(name string, v int64) {
	o.key(name)
	o.b = strconv.AppendInt(o.b, v, 10)
}

// jsonList writes a list member, null when nil.
func jsonList[T any](o *jsonObj, name string, items []T, item func([]byte, *T) []byte) {
	o.key(name)
	if items == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '[')
	for i := range items {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = item(o.b, &items[i])
	}
	o.b = append(o.b, ']')
}

// jsonOptList writes a list member only when it has items.
func jsonOptList[T any](o *jsonObj, name string, items []T, item func([]byte, *T) []byte) {
	if len(items) > 0 {
		jsonList(o, name, items, item)
	}
}

// jsonOptMap writes a map member, entries in key order, only when it has
// entries.
func jsonOptMap[V any](o *jsonObj, name string, m map[string]V, value func([]byte, V) []byte) {
	if len(m) == 0 {
		return
	}
	o.key(name)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o.b = append(o.b, '{')
	for i, k := range keys {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendJSONString(o.b, k)
		o.b = append(o.b, ':')
		o.b = value(o.b, m[k])
	}
	o.b = append(o.b, '}')
}

func appendJSONCustomerBody(dst []byte, b *customer.CustomerBody) []byte {
	o := openObj(dst)
	jsonList(&o, "profiles", b.Profiles, appendJSONProfile)
	if li := b.LoyaltyInfo; li != nil {
		o.key("loyaltyInfo")
		lo := openObj(o.b)
		lo.optStr("loyaltyType", li.LoyaltyType)
		o.b = lo.close()
	}
	jsonOptMap(&o, "extendedFields", b.ExtendedFields, appendJSONString)
	if at := b.AttributionV2; at != nil {
		o.key("attributionV2")
		ao := openObj(o.b)
		ao.optStr("createDate", at.CreateDate)
		o.b = ao.close()
	}
	return o.close()
}

func appendJSONProfile(dst []byte, p *customer.ProfileInput) []byte {
	o := openObj(dst)
	o.optStr("firstName", p.FirstName)
	o.optStr("lastName", p.LastName)
	jsonOptMap(&o, "fields", p.Fields, appendJSONString)
	jsonOptList(&o, "identifiers", p.Identifiers, appendJSONIdentifier)
	jsonOptList(&o, "commChannels", p.CommChannels, appendJSONCommChannel)
	o.optStr("source", p.Source)
	o.optStr("accountId", p.AccountID)
	return o.close()
}

func appendJSONIdentifier(dst []byte, id *customer.Identifier) []byte {
	o := openObj(dst)
	o.str("type", id.Type)
	o.str("value", id.Value)
	return o.close()
}

func appendJSONCommChannel(dst []byte, ch *customer.CommChannel) []byte {
	o := openObj(dst)
	o.str("type", ch.Type)
	o.str("value", ch.Value)
	o.boolean("primary", ch.Primary)
	o.boolean("verified", ch.Verified)
	jsonOptMap(&o, "meta", ch.Meta, strconv.AppendBool)
	return o.close()
}

func appendJSONChangeIdentifierBody(dst []byte, b *customer.ChangeIdentifierBody) []byte {
	o := openObj(dst)
	jsonOptList(&o, "add", b.Add, appendJSONIdentifier)
	jsonOptList(&o, "remove", b.Remove, appendJSONIdentifier)
	return o.close()
}

func appendJSONSubscriptionsBody(dst []byte, b *customer.SubscriptionsBody) []byte {
	o := openObj(dst)
	o.integer("communicationId", b.CommunicationID)
	o.integer("campaignId", b.CampaignID)
	o.optStr("reason", b.Reason)
	if sc := b.Scope; sc != nil {
		o.key("scope")
		so := openObj(o.b)
		so.str("scope", sc.Scope)
		so.str("subScope", sc.SubScope)
		o.b = so.close()
	}
	jsonList(&o, "subscriptions", b.Subscriptions, appendJSONSubscription)
	return o.close()
}

func appendJSONSubscription(dst []byte, s *customer.Subscription) []byte {
	o := openObj(dst)
	o.str("channel", s.Channel)
	o.str("accountId", s.AccountID)
	o.str("priority", s.Priority)
	o.str("type", s.Type)
	return o.close()
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (FuzzAppendJSONString holds the two to the same bytes).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, and <, > and &
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
