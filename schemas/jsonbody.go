package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/custream/custream/processor/customer"
)

// The JSON form of a command: the record value is the API doc's request
// body, unchanged, and the request line's parameters travel as headers
// (headers.go). Upstream systems send what the API accepted, so decoding is
// lenient where the API doc itself is:
//   - text fields (names, identifier and comm-channel values, accountId,
//     custom fields and extendedFields values, …) take a string, a number or
//     a boolean; numbers and booleans are kept as their literal text, so
//     the mobile 919111111111 becomes "919111111111" (never 9.19111111111e+11);
//   - primary, verified and meta values take a boolean or the strings
//     "true"/"false" (any case);
//   - communicationId and campaignId take an integer or its string;
//   - null reads as absent; keys we do not know (such as loyaltyInfo's
//     "_comment") are ignored, silently.
// A value of the wrong shape (an object where text is expected, a string
// where a list is) is an error naming the field's path, e.g.
// "profiles[0].identifiers[1].value: want a string, number or boolean, got
// an object". Empty lists and objects decode as nil, as in the Avro form.

// DecodeJSONBody decodes the JSON request body of op. The returned command
// has Op and the matching body set; the caller fills in the rest from the
// record (headers, key, topic, timestamp). Errors are *Error with
// ErrCodeUnknownOp or ErrCodeUndecodable.
func DecodeJSONBody(op customer.Op, data []byte) (customer.Command, error) {
	op, ok := ParseOp(string(op))
	if !ok {
		return customer.Command{}, &Error{Code: ErrCodeUnknownOp, Msg: fmt.Sprintf("unknown op %q", op)}
	}
	root, err := parseJSON(data)
	if err != nil {
		return customer.Command{}, err
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return customer.Command{}, undecodable(nil, "%s body: want a JSON object, got %s", op, jsonKind(root))
	}
	var d jsonReader
	cmd := customer.Command{Op: op}
	switch op {
	case customer.OpRegister:
		cmd.Register = d.customerBody(obj)
	case customer.OpUpdate:
		cmd.Update = d.customerBody(obj)
	case customer.OpChangeIdentifier:
		cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{
			Add:    d.identifiers(obj, "add", "add"),
			Remove: d.identifiers(obj, "remove", "remove"),
		}
	case customer.OpSubscriptions:
		cmd.Subscriptions = d.subscriptionsBody(obj)
	}
	if d.err != nil {
		return customer.Command{}, fmt.Errorf("%s body: %w", op, d.err)
	}
	return cmd, nil
}

// parseJSON parses exactly one JSON value, numbers as json.Number so no
// digit is lost to float64.
func parseJSON(data []byte) (any, error) {
	// Some Windows producers prefix a UTF-8 byte order mark, which
	// encoding/json refuses; it carries no meaning.
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, undecodable(nil, "empty JSON body")
		}
		return nil, undecodable(err, "invalid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, undecodable(nil, "invalid JSON: data after the body's closing brace")
	}
	return v, nil
}

// jsonKind names a parsed JSON value's type for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// jsonReader walks a parsed body, keeping the first error (as reader does
// for Avro natives).
type jsonReader struct{ err error }

func (d *jsonReader) failf(path, format string, args ...any) {
	if d.err == nil {
		d.err = undecodable(nil, "%s: %s", path, fmt.Sprintf(format, args...))
	}
}

// text reads a scalar as its text: a string's content, a number's or a
// boolean's literal. Absent and null are "".
func (d *jsonReader) text(obj map[string]any, key, path string) string {
	return d.scalar(obj[key], path)
}

func (d *jsonReader) scalar(v any, path string) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	case json.Number:
		return s.String()
	case bool:
		return strconv.FormatBool(s)
	}
	d.failf(path, "want a string, number or boolean, got %s", jsonKind(v))
	return ""
}

// flag reads a boolean given as true/false or as the string "true"/"false".
func (d *jsonReader) flag(v any, path string) bool {
	switch b := v.(type) {
	case nil:
		return false
	case bool:
		return b
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true":
			return true
		case "false", "":
			return false
		}
		d.failf(path, "want true or false, got %q", b)
		return false
	}
	d.failf(path, "want a boolean, got %s", jsonKind(v))
	return false
}

// integer reads an int64 given as a JSON integer or its string.
func (d *jsonReader) integer(obj map[string]any, key, path string) int64 {
	switch v := obj[key].(type) {
	case nil:
		return 0
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			d.failf(path, "want an integer, got %s", v)
		}
		return n
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			d.failf(path, "want an integer, got %q", v)
		}
		return n
	default:
		d.failf(path, "want an integer, got %s", jsonKind(v))
		return 0
	}
}

// object reads a nested object; absent and null are nil.
func (d *jsonReader) object(obj map[string]any, key, path string) map[string]any {
	switch v := obj[key].(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	default:
		d.failf(path, "want an object, got %s", jsonKind(v))
		return nil
	}
}

// objects calls fn for each element of the list of objects at key.
func (d *jsonReader) objects(obj map[string]any, key, path string, fn func(o map[string]any, path string)) {
	switch v := obj[key].(type) {
	case nil:
	case []any:
		for i, item := range v {
			p := fmt.Sprintf("%s[%d]", path, i)
			o, ok := item.(map[string]any)
			if !ok {
				d.failf(p, "want an object, got %s", jsonKind(item))
				return
			}
			fn(o, p)
		}
	default:
		d.failf(path, "want an array, got %s", jsonKind(v))
	}
}

// textMap reads an object of scalars (custom fields, extendedFields).
func (d *jsonReader) textMap(obj map[string]any, key, path string) map[string]string {
	o := d.object(obj, key, path)
	if len(o) == 0 {
		return nil
	}
	out := make(map[string]string, len(o))
	for _, k := range slices.Sorted(maps.Keys(o)) { // sorted: the same error on every replay
		out[k] = d.scalar(o[k], path+"."+k)
	}
	return out
}

// flagMap reads an object of flags (a comm channel's meta).
func (d *jsonReader) flagMap(obj map[string]any, key, path string) map[string]bool {
	o := d.object(obj, key, path)
	if len(o) == 0 {
		return nil
	}
	out := make(map[string]bool, len(o))
	for _, k := range slices.Sorted(maps.Keys(o)) {
		out[k] = d.flag(o[k], path+"."+k)
	}
	return out
}

func (d *jsonReader) customerBody(obj map[string]any) *customer.CustomerBody {
	b := &customer.CustomerBody{ExtendedFields: d.textMap(obj, "extendedFields", "extendedFields")}
	d.objects(obj, "profiles", "profiles", func(p map[string]any, path string) {
		b.Profiles = append(b.Profiles, customer.ProfileInput{
			FirstName:    d.text(p, "firstName", path+".firstName"),
			LastName:     d.text(p, "lastName", path+".lastName"),
			Fields:       d.textMap(p, "fields", path+".fields"),
			Identifiers:  d.identifiers(p, "identifiers", path+".identifiers"),
			CommChannels: d.commChannels(p, path+".commChannels"),
			Source:       d.text(p, "source", path+".source"),
			AccountID:    d.text(p, "accountId", path+".accountId"),
		})
	})
	if li := d.object(obj, "loyaltyInfo", "loyaltyInfo"); li != nil {
		b.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: d.text(li, "loyaltyType", "loyaltyInfo.loyaltyType")}
	}
	if at := d.object(obj, "attributionV2", "attributionV2"); at != nil {
		b.AttributionV2 = &customer.AttributionInput{CreateDate: d.text(at, "createDate", "attributionV2.createDate")}
	}
	return b
}

func (d *jsonReader) identifiers(obj map[string]any, key, path string) []customer.Identifier {
	var out []customer.Identifier
	d.objects(obj, key, path, func(o map[string]any, path string) {
		out = append(out, customer.Identifier{Type: d.text(o, "type", path+".type"), Value: d.text(o, "value", path+".value")})
	})
	return out
}

func (d *jsonReader) commChannels(obj map[string]any, path string) []customer.CommChannel {
	var out []customer.CommChannel
	d.objects(obj, "commChannels", path, func(o map[string]any, path string) {
		out = append(out, customer.CommChannel{
			Type:     d.text(o, "type", path+".type"),
			Value:    d.text(o, "value", path+".value"),
			Primary:  d.flag(o["primary"], path+".primary"),
			Verified: d.flag(o["verified"], path+".verified"),
			Meta:     d.flagMap(o, "meta", path+".meta"),
		})
	})
	return out
}

func (d *jsonReader) subscriptionsBody(obj map[string]any) *customer.SubscriptionsBody {
	b := &customer.SubscriptionsBody{
		CommunicationID: d.integer(obj, "communicationId", "communicationId"),
		CampaignID:      d.integer(obj, "campaignId", "campaignId"),
		Reason:          d.text(obj, "reason", "reason"),
	}
	if sc := d.object(obj, "scope", "scope"); sc != nil {
		b.Scope = &customer.Scope{Scope: d.text(sc, "scope", "scope.scope"), SubScope: d.text(sc, "subScope", "scope.subScope")}
	}
	d.objects(obj, "subscriptions", "subscriptions", func(o map[string]any, path string) {
		b.Subscriptions = append(b.Subscriptions, customer.Subscription{
			Channel:   d.text(o, "channel", path+".channel"),
			AccountID: d.text(o, "accountId", path+".accountId"),
			Priority:  d.text(o, "priority", path+".priority"),
			Type:      d.text(o, "type", path+".type"),
		})
	})
	return b
}
