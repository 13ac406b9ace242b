package schemas

import (
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fastjson"

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
//
// The parser is fastjson (jsonparse.go), made to read a body exactly as
// encoding/json did before.

// DecodeJSONBody decodes the JSON request body of op. The returned command
// has Op and the matching body set; the caller fills in the rest from the
// record (headers, key, topic, timestamp). Errors are *Error with
// ErrCodeUnknownOp or ErrCodeUndecodable. The command shares no memory with
// data. Safe for concurrent use.
func DecodeJSONBody(op customer.Op, data []byte) (customer.Command, error) {
	op, ok := ParseOp(string(op))
	if !ok {
		return customer.Command{}, &Error{Code: ErrCodeUnknownOp, Msg: fmt.Sprintf("unknown op %q", op)}
	}
	d := jsonReaders.Get().(*jsonReader)
	defer d.release(len(data))
	root, err := d.parse(data)
	if err != nil {
		return customer.Command{}, err
	}
	obj := root.GetObject()
	if obj == nil {
		return customer.Command{}, undecodable(nil, "%s body: want a JSON object, got %s", op, jsonKind(root))
	}
	cmd := customer.Command{Op: op}
	switch op {
	case customer.OpRegister:
		cmd.Register = d.customerBody(obj)
	case customer.OpUpdate:
		cmd.Update = d.customerBody(obj)
	case customer.OpChangeIdentifier:
		cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{
			Add:    d.identifiers(obj, "add"),
			Remove: d.identifiers(obj, "remove"),
		}
	case customer.OpSubscriptions:
		cmd.Subscriptions = d.subscriptionsBody(obj)
	}
	if d.err != nil {
		return customer.Command{}, fmt.Errorf("%s body: %w", op, d.err)
	}
	return cmd, nil
}

// jsonReader parses a body and walks it, keeping the first error (as
// reader does for Avro natives). Values and strings it hands out point into
// the parser's memory, which the next body overwrites: whatever goes into a
// command is copied (jsonText).
type jsonReader struct {
	p       fastjson.Parser
	literal []byte     // a number's literal text, copied out of the parser
	body    []byte     // a body with lone surrogate escapes rewritten
	path    []pathElem // where the walk is, for errors
	err     error
}

// jsonReaders pools readers: a fastjson.Parser is reusable but not safe
// for concurrent use, and decoding runs on several goroutines.
var jsonReaders = sync.Pool{New: func() any { return new(jsonReader) }}

// maxPooledBody is the largest body whose reader goes back to the pool:
// the parser keeps buffers the size of the last body, and one outlier
// should not pin them.
const maxPooledBody = 1 << 20

func (d *jsonReader) release(bodyLen int) {
	d.err, d.path = nil, d.path[:0]
	if bodyLen > maxPooledBody {
		return
	}
	jsonReaders.Put(d)
}

// failf records the first error, at the path the walk is on.
func (d *jsonReader) failf(format string, args ...any) {
	if d.err == nil {
		d.err = undecodable(nil, "%s: %s", d.pathString(), fmt.Sprintf(format, args...))
	}
}

// pathElem is a step of the walk: a field's name, or with index >= 0 a
// list element.
type pathElem struct {
	key   string
	index int
}

// push and pop track the walk's path (profiles[0].identifiers[1].value),
// spelled out only for an error.
func (d *jsonReader) push(key string) { d.path = append(d.path, pathElem{key: key, index: -1}) }
func (d *jsonReader) pushIndex(i int) { d.path = append(d.path, pathElem{index: i}) }
func (d *jsonReader) pop()            { d.path = d.path[:len(d.path)-1] }

// failAtf is failf at key, a field of the object the walk is on.
func (d *jsonReader) failAtf(key, format string, args ...any) {
	d.push(key)
	d.failf(format, args...)
	d.pop()
}

func (d *jsonReader) pathString() string {
	var b []byte
	for i, e := range d.path {
		if e.index >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(e.index), 10)
			b = append(b, ']')
			continue
		}
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, e.key...)
	}
	return string(b)
}

// jsonKind names a parsed JSON value's type for error messages.
func jsonKind(v *fastjson.Value) string {
	if v == nil {
		return "null"
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "an array"
	case fastjson.TypeString:
		return "a string"
	case fastjson.TypeNumber:
		return "a number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a boolean"
	}
	return v.Type().String()
}

// isJSONNull reports whether v is absent or null.
func isJSONNull(v *fastjson.Value) bool { return v == nil || v.Type() == fastjson.TypeNull }

// scalarText is a scalar's text: a string's content, a number's or a
// boolean's literal; "" for absent and null. ok is false for an object or
// an array.
func (d *jsonReader) scalarText(v *fastjson.Value) (s string, ok bool) {
	if v == nil {
		return "", true
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return "", true
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return jsonText(b), true
	case fastjson.TypeNumber:
		// MarshalTo writes a number as the literal the body had.
		d.literal = v.MarshalTo(d.literal[:0])
		return string(d.literal), true
	case fastjson.TypeTrue:
		return "true", true
	case fastjson.TypeFalse:
		return "false", true
	}
	return "", false
}

// scalar reads a scalar as its text (scalarText).
func (d *jsonReader) scalar(v *fastjson.Value) string {
	s, ok := d.scalarText(v)
	if !ok {
		d.failf("want a string, number or boolean, got %s", jsonKind(v))
	}
	return s
}

// text reads o's key as text (scalarText).
func (d *jsonReader) text(o *fastjson.Object, key string) string {
	v := jsonField(o, key)
	s, ok := d.scalarText(v)
	if !ok {
		d.failAtf(key, "want a string, number or boolean, got %s", jsonKind(v))
	}
	return s
}

// jsonFlag reads a boolean given as true/false or as the string
// "true"/"false" (any case, spaces around); absent, null and "" are false.
// ok is false for anything else.
func jsonFlag(v *fastjson.Value) (b, ok bool) {
	if v == nil {
		return false, true
	}
	switch v.Type() {
	case fastjson.TypeNull, fastjson.TypeFalse:
		return false, true
	case fastjson.TypeTrue:
		return true, true
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		switch strings.ToLower(strings.TrimSpace(string(s))) {
		case "true":
			return true, true
		case "false", "":
			return false, true
		}
	}
	return false, false
}

// flag reads a boolean (jsonFlag).
func (d *jsonReader) flag(v *fastjson.Value) bool {
	b, ok := jsonFlag(v)
	if !ok {
		if v.Type() == fastjson.TypeString {
			s, _ := v.StringBytes()
			d.failf("want true or false, got %q", jsonText(s))
		} else {
			d.failf("want a boolean, got %s", jsonKind(v))
		}
	}
	return b
}

// flagAt reads o's key as a boolean (jsonFlag).
func (d *jsonReader) flagAt(o *fastjson.Object, key string) bool {
	v := jsonField(o, key)
	b, ok := jsonFlag(v)
	if !ok {
		d.push(key)
		d.flag(v)
		d.pop()
	}
	return b
}

// integer reads an int64 given as a JSON integer or its string.
func (d *jsonReader) integer(o *fastjson.Object, key string) int64 {
	v := jsonField(o, key)
	if isJSONNull(v) {
		return 0
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		d.literal = v.MarshalTo(d.literal[:0])
		n, err := strconv.ParseInt(string(d.literal), 10, 64)
		if err != nil {
			d.failAtf(key, "want an integer, got %s", d.literal)
		}
		return n
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		s := jsonText(b)
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			d.failAtf(key, "want an integer, got %q", s)
		}
		return n
	}
	d.failAtf(key, "want an integer, got %s", jsonKind(v))
	return 0
}

// object reads a nested object; absent and null are nil.
func (d *jsonReader) object(o *fastjson.Object, key string) *fastjson.Object {
	v := jsonField(o, key)
	if isJSONNull(v) {
		return nil
	}
	if obj := v.GetObject(); obj != nil {
		return obj
	}
	d.failAtf(key, "want an object, got %s", jsonKind(v))
	return nil
}

// objects calls fn for each element of the list of objects at key, with
// the walk's path at the element.
func (d *jsonReader) objects(o *fastjson.Object, key string, fn func(o *fastjson.Object)) {
	v := jsonField(o, key)
	if isJSONNull(v) {
		return
	}
	if v.Type() != fastjson.TypeArray {
		d.failAtf(key, "want an array, got %s", jsonKind(v))
		return
	}
	d.push(key)
	defer d.pop()
	for i, item := range v.GetArray() {
		d.pushIndex(i)
		obj := item.GetObject()
		if obj == nil {
			d.failf("want an object, got %s", jsonKind(item))
			d.pop()
			return
		}
		fn(obj)
		d.pop()
	}
}

// jsonListLen is the length of the list at key, for sizing.
func jsonListLen(o *fastjson.Object, key string) int { return len(jsonField(o, key).GetArray()) }

// textMap reads an object of scalars (custom fields, extendedFields).
func (d *jsonReader) textMap(o *fastjson.Object, key string) map[string]string {
	return jsonMap(d, o, key, (*jsonReader).scalarText, func(d *jsonReader, v *fastjson.Value) { d.scalar(v) })
}

// flagMap reads an object of flags (a comm channel's meta).
func (d *jsonReader) flagMap(o *fastjson.Object, key string) map[string]bool {
	return jsonMap(d, o, key, func(_ *jsonReader, v *fastjson.Value) (bool, bool) { return jsonFlag(v) },
		func(d *jsonReader, v *fastjson.Value) { d.flag(v) })
}

// jsonMap reads the object at key with read, one value at a time. When a
// value is bad, it goes over the entries again in key order with report,
// which records the error at each bad entry's path (see jsonEntries).
// Both take the reader as an argument, so the calls build no closures.
func jsonMap[T any](d *jsonReader, o *fastjson.Object, key string,
	read func(*jsonReader, *fastjson.Value) (T, bool), report func(*jsonReader, *fastjson.Value)) map[string]T {
	m := d.object(o, key)
	if m == nil || m.Len() == 0 {
		return nil
	}
	out := make(map[string]T, m.Len())
	bad := false
	m.Visit(func(k []byte, v *fastjson.Value) {
		x, ok := read(d, v)
		bad = bad || !ok
		out[jsonText(k)] = x
	})
	if bad {
		d.push(key)
		for k, v := range jsonEntries(m) {
			d.push(k)
			report(d, v)
			d.pop()
		}
		d.pop()
	}
	return out
}

// jsonEntries yields m's keys and values as a map holds them (a repeated
// key once, with its last value), in key order: of a map's bad values,
// the error names the first in key order, the same on every replay.
func jsonEntries(m *fastjson.Object) iter.Seq2[string, *fastjson.Value] {
	type entry struct {
		k string
		v *fastjson.Value
	}
	var es []entry
	m.Visit(func(k []byte, v *fastjson.Value) { es = append(es, entry{jsonText(k), v}) })
	slices.SortStableFunc(es, func(a, b entry) int { return strings.Compare(a.k, b.k) })
	return func(yield func(string, *fastjson.Value) bool) {
		for i, e := range es {
			if i+1 < len(es) && es[i+1].k == e.k {
				continue // a later value for the same key wins
			}
			if !yield(e.k, e.v) {
				return
			}
		}
	}
}

func (d *jsonReader) customerBody(obj *fastjson.Object) *customer.CustomerBody {
	b := &customer.CustomerBody{ExtendedFields: d.textMap(obj, "extendedFields")}
	if n := jsonListLen(obj, "profiles"); n > 0 {
		b.Profiles = make([]customer.ProfileInput, 0, n)
	}
	d.objects(obj, "profiles", func(p *fastjson.Object) {
		b.Profiles = append(b.Profiles, customer.ProfileInput{
			FirstName:    d.text(p, "firstName"),
			LastName:     d.text(p, "lastName"),
			Fields:       d.textMap(p, "fields"),
			Identifiers:  d.identifiers(p, "identifiers"),
			CommChannels: d.commChannels(p),
			Source:       d.text(p, "source"),
			AccountID:    d.text(p, "accountId"),
		})
	})
	if li := d.object(obj, "loyaltyInfo"); li != nil {
		d.push("loyaltyInfo")
		b.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: d.text(li, "loyaltyType")}
		d.pop()
	}
	if at := d.object(obj, "attributionV2"); at != nil {
		d.push("attributionV2")
		b.AttributionV2 = &customer.AttributionInput{CreateDate: d.text(at, "createDate")}
		d.pop()
	}
	return b
}

func (d *jsonReader) identifiers(obj *fastjson.Object, key string) []customer.Identifier {
	var out []customer.Identifier
	if n := jsonListLen(obj, key); n > 0 {
		out = make([]customer.Identifier, 0, n)
	}
	d.objects(obj, key, func(o *fastjson.Object) {
		out = append(out, customer.Identifier{Type: d.text(o, "type"), Value: d.text(o, "value")})
	})
	return out
}

func (d *jsonReader) commChannels(obj *fastjson.Object) []customer.CommChannel {
	var out []customer.CommChannel
	if n := jsonListLen(obj, "commChannels"); n > 0 {
		out = make([]customer.CommChannel, 0, n)
	}
	d.objects(obj, "commChannels", func(o *fastjson.Object) {
		out = append(out, customer.CommChannel{
			Type:     d.text(o, "type"),
			Value:    d.text(o, "value"),
			Primary:  d.flagAt(o, "primary"),
			Verified: d.flagAt(o, "verified"),
			Meta:     d.flagMap(o, "meta"),
		})
	})
	return out
}

func (d *jsonReader) subscriptionsBody(obj *fastjson.Object) *customer.SubscriptionsBody {
	b := &customer.SubscriptionsBody{
		CommunicationID: d.integer(obj, "communicationId"),
		CampaignID:      d.integer(obj, "campaignId"),
		Reason:          d.text(obj, "reason"),
	}
	if sc := d.object(obj, "scope"); sc != nil {
		d.push("scope")
		b.Scope = &customer.Scope{Scope: d.text(sc, "scope"), SubScope: d.text(sc, "subScope")}
		d.pop()
	}
	if n := jsonListLen(obj, "subscriptions"); n > 0 {
		b.Subscriptions = make([]customer.Subscription, 0, n)
	}
	d.objects(obj, "subscriptions", func(o *fastjson.Object) {
		b.Subscriptions = append(b.Subscriptions, customer.Subscription{
			Channel:   d.text(o, "channel"),
			AccountID: d.text(o, "accountId"),
			Priority:  d.text(o, "priority"),
			Type:      d.text(o, "type"),
		})
	})
	return b
}
