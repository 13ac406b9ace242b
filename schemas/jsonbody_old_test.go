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

// The encoding/json implementation of DecodeJSONBody that a fastjson one
// (since replaced by jsontape.go) replaced, kept verbatim (names suffixed Old) as the reference the
// differential tests (jsonbody_diff_test.go) compare against. Do not
// "fix" it: it defines the behaviour.

// decodeJSONBodyOld decodes the JSON request body of op. The returned command
// has Op and the matching body set; the caller fills in the rest from the
// record (headers, key, topic, timestamp). Errors are *Error with
// ErrCodeUnknownOp or ErrCodeUndecodable.
func decodeJSONBodyOld(op customer.Op, data []byte) (customer.Command, error) {
	op, ok := ParseOp(string(op))
	if !ok {
		return customer.Command{}, &Error{Code: ErrCodeUnknownOp, Msg: fmt.Sprintf("unknown op %q", op)}
	}
	root, err := parseJSONOld(data)
	if err != nil {
		return customer.Command{}, err
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return customer.Command{}, undecodable(nil, "%s body: want a JSON object, got %s", op, jsonKindOld(root))
	}
	var d oldJSONReader
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

// parseJSONOld parses exactly one JSON value, numbers as json.Number so no
// digit is lost to float64.
func parseJSONOld(data []byte) (any, error) {
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

// jsonKindOld names a parsed JSON value's type for error messages.
func jsonKindOld(v any) string {
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

// oldJSONReader walks a parsed body, keeping the first error (as reader does
// for Avro natives).
type oldJSONReader struct{ err error }

func (d *oldJSONReader) failf(path, format string, args ...any) {
	if d.err == nil {
		d.err = undecodable(nil, "%s: %s", path, fmt.Sprintf(format, args...))
	}
}

// text reads a scalar as its text: a string's content, a number's or a
// boolean's literal. Absent and null are "".
func (d *oldJSONReader) text(obj map[string]any, key, path string) string {
	return d.scalar(obj[key], path)
}

func (d *oldJSONReader) scalar(v any, path string) string {
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
	d.failf(path, "want a string, number or boolean, got %s", jsonKindOld(v))
	return ""
}

// flag reads a boolean given as true/false or as the string "true"/"false".
func (d *oldJSONReader) flag(v any, path string) bool {
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
	d.failf(path, "want a boolean, got %s", jsonKindOld(v))
	return false
}

// integer reads an int64 given as a JSON integer or its string.
func (d *oldJSONReader) integer(obj map[string]any, key, path string) int64 {
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
		d.failf(path, "want an integer, got %s", jsonKindOld(v))
		return 0
	}
}

// object reads a nested object; absent and null are nil.
func (d *oldJSONReader) object(obj map[string]any, key, path string) map[string]any {
	switch v := obj[key].(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	default:
		d.failf(path, "want an object, got %s", jsonKindOld(v))
		return nil
	}
}

// objects calls fn for each element of the list of objects at key.
func (d *oldJSONReader) objects(obj map[string]any, key, path string, fn func(o map[string]any, path string)) {
	switch v := obj[key].(type) {
	case nil:
	case []any:
		for i, item := range v {
			p := fmt.Sprintf("%s[%d]", path, i)
			o, ok := item.(map[string]any)
			if !ok {
				d.failf(p, "want an object, got %s", jsonKindOld(item))
				return
			}
			fn(o, p)
		}
	default:
		d.failf(path, "want an array, got %s", jsonKindOld(v))
	}
}

// textMap reads an object of scalars (custom fields, extendedFields).
func (d *oldJSONReader) textMap(obj map[string]any, key, path string) map[string]string {
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
func (d *oldJSONReader) flagMap(obj map[string]any, key, path string) map[string]bool {
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

func (d *oldJSONReader) customerBody(obj map[string]any) *customer.CustomerBody {
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

func (d *oldJSONReader) identifiers(obj map[string]any, key, path string) []customer.Identifier {
	var out []customer.Identifier
	d.objects(obj, key, path, func(o map[string]any, path string) {
		out = append(out, customer.Identifier{Type: d.text(o, "type", path+".type"), Value: d.text(o, "value", path+".value")})
	})
	return out
}

func (d *oldJSONReader) commChannels(obj map[string]any, path string) []customer.CommChannel {
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

func (d *oldJSONReader) subscriptionsBody(obj map[string]any) *customer.SubscriptionsBody {
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
