package schemas

import (
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"

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
// The parser is our own (jsontape.go, jsonparse.go), made to read a body
// exactly as encoding/json did before; what it allocates is in proportion
// to the body (doc.go, "Limits").

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
	if d.t.typ(root) != jsonObject {
		return customer.Command{}, undecodable(nil, "%s body: want a JSON object, got %s", op, d.kind(root))
	}
	obj := root
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
// reader does for Avro natives). Strings it hands out point into the body
// or the tape's buffers, which the next body overwrites: whatever goes
// into a command is copied (jsonText).
type jsonReader struct {
	t     jsonTape
	path  []pathElem // where the walk is, for errors
	items int        // list elements and map entries read so far (MaxDatumItems)
	err   error
}

// jsonReaders pools readers: a tape is reusable but not safe for
// concurrent use, and decoding runs on several goroutines.
var jsonReaders = sync.Pool{New: func() any { return new(jsonReader) }}

// maxPooledBody is the largest body whose reader goes back to the pool:
// the tape keeps buffers the size of the last body, and one outlier
// should not pin them.
const maxPooledBody = MaxRecordBytes

func (d *jsonReader) release(bodyLen int) {
	d.err, d.path, d.items = nil, d.path[:0], 0
	d.t.data = nil // the record's memory is not ours to keep
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

// kind names a parsed JSON value's type for error messages.
func (d *jsonReader) kind(v jsonV) string {
	if v == jsonAbsent {
		return "null"
	}
	switch d.t.typ(v) {
	case jsonObject:
		return "an object"
	case jsonArray:
		return "an array"
	case jsonString:
		return "a string"
	case jsonNumber:
		return "a number"
	case jsonTrue, jsonFalse:
		return "a boolean"
	}
	return "null"
}

// isNull reports whether v is absent or null.
func (d *jsonReader) isNull(v jsonV) bool { return v == jsonAbsent || d.t.typ(v) == jsonNull }

// scalarText is a scalar's text: a string's content, a number's or a
// boolean's literal; "" for absent and null. ok is false for an object or
// an array.
func (d *jsonReader) scalarText(v jsonV) (s string, ok bool) {
	if v == jsonAbsent {
		return "", true
	}
	switch d.t.typ(v) {
	case jsonNull:
		return "", true
	case jsonString:
		return jsonText(d.t.stringBytes(v)), true
	case jsonNumber:
		return string(d.t.literal(v)), true // the literal the body has
	case jsonTrue:
		return "true", true
	case jsonFalse:
		return "false", true
	}
	return "", false
}

// scalar reads a scalar as its text (scalarText).
func (d *jsonReader) scalar(v jsonV) string {
	s, ok := d.scalarText(v)
	if !ok {
		d.failf("want a string, number or boolean, got %s", d.kind(v))
	}
	return s
}

// text reads o's key as text (scalarText).
func (d *jsonReader) text(o jsonV, key string) string {
	v := d.t.field(o, key)
	s, ok := d.scalarText(v)
	if !ok {
		d.failAtf(key, "want a string, number or boolean, got %s", d.kind(v))
	}
	return s
}

// flagOf reads a boolean given as true/false or as the string
// "true"/"false" (any case, spaces around); absent, null and "" are false.
// ok is false for anything else.
func (d *jsonReader) flagOf(v jsonV) (b, ok bool) {
	if v == jsonAbsent {
		return false, true
	}
	switch d.t.typ(v) {
	case jsonNull, jsonFalse:
		return false, true
	case jsonTrue:
		return true, true
	case jsonString:
		switch strings.ToLower(strings.TrimSpace(string(d.t.stringBytes(v)))) {
		case "true":
			return true, true
		case "false", "":
			return false, true
		}
	}
	return false, false
}

// flag reads a boolean (flagOf).
func (d *jsonReader) flag(v jsonV) bool {
	b, ok := d.flagOf(v)
	if !ok {
		if d.t.typ(v) == jsonString {
			d.failf("want true or false, got %q", jsonText(d.t.stringBytes(v)))
		} else {
			d.failf("want a boolean, got %s", d.kind(v))
		}
	}
	return b
}

// flagAt reads o's key as a boolean (flagOf).
func (d *jsonReader) flagAt(o jsonV, key string) bool {
	v := d.t.field(o, key)
	b, ok := d.flagOf(v)
	if !ok {
		d.push(key)
		d.flag(v)
		d.pop()
	}
	return b
}

// integer reads an int64 given as a JSON integer or its string.
func (d *jsonReader) integer(o jsonV, key string) int64 {
	v := d.t.field(o, key)
	if d.isNull(v) {
		return 0
	}
	switch d.t.typ(v) {
	case jsonNumber:
		lit := d.t.literal(v)
		n, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil {
			d.failAtf(key, "want an integer, got %s", lit)
		}
		return n
	case jsonString:
		s := jsonText(d.t.stringBytes(v))
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			d.failAtf(key, "want an integer, got %q", s)
		}
		return n
	}
	d.failAtf(key, "want an integer, got %s", d.kind(v))
	return 0
}

// object reads a nested object; absent and null are jsonAbsent.
func (d *jsonReader) object(o jsonV, key string) jsonV {
	v := d.t.field(o, key)
	if d.isNull(v) {
		return jsonAbsent
	}
	if d.t.typ(v) == jsonObject {
		return v
	}
	d.failAtf(key, "want an object, got %s", d.kind(v))
	return jsonAbsent
}

// objects calls fn for each element of the list of objects at key, with
// the walk's path at the element.
func (d *jsonReader) objects(o jsonV, key string, fn func(o jsonV)) {
	v := d.t.field(o, key)
	if d.isNull(v) {
		return
	}
	if d.t.typ(v) != jsonArray {
		d.failAtf(key, "want an array, got %s", d.kind(v))
		return
	}
	if !d.count(key, d.t.count(v)) {
		return
	}
	d.push(key)
	defer d.pop()
	e := v + 1
	for i := range d.t.count(v) {
		d.pushIndex(i)
		if d.t.typ(e) != jsonObject {
			d.failf("want an object, got %s", d.kind(e))
			d.pop()
			return
		}
		fn(e)
		d.pop()
		e = d.t.next(e)
	}
}

// count adds n list elements or map entries at key to the body's, and
// fails the body past MaxDatumItems, before anything is allocated for
// them.
func (d *jsonReader) count(key string, n int) bool {
	if d.items += n; d.items > MaxDatumItems {
		if d.err == nil {
			d.push(key)
			d.err = &Error{Code: ErrCodeTooLarge, Msg: fmt.Sprintf("%s: more than %d list elements and map entries in one body", d.pathString(), MaxDatumItems)}
			d.pop()
		}
		return false
	}
	return true
}

// listLen is the length of the list at key, for sizing (0 if it is not a
// list, or too long: objects refuses it).
func (d *jsonReader) listLen(o jsonV, key string) int {
	v := d.t.field(o, key)
	if v == jsonAbsent || d.t.typ(v) != jsonArray || d.items+d.t.count(v) > MaxDatumItems {
		return 0
	}
	return d.t.count(v)
}

// textMap reads an object of scalars (custom fields, extendedFields).
func (d *jsonReader) textMap(o jsonV, key string) map[string]string {
	return jsonMap(d, o, key, (*jsonReader).scalarText, func(d *jsonReader, v jsonV) { d.scalar(v) })
}

// flagMap reads an object of flags (a comm channel's meta).
func (d *jsonReader) flagMap(o jsonV, key string) map[string]bool {
	return jsonMap(d, o, key, (*jsonReader).flagOf, func(d *jsonReader, v jsonV) { d.flag(v) })
}

// jsonMap reads the object at key with read, one value at a time. When a
// value is bad, it goes over the entries again in key order with report,
// which records the error at each bad entry's path (see jsonEntries).
// Both take the reader as an argument, so the calls build no closures.
// The map is sized by the members, a repeated key counted once for each
// time (at most the body's size in entries).
func jsonMap[T any](d *jsonReader, o jsonV, key string,
	read func(*jsonReader, jsonV) (T, bool), report func(*jsonReader, jsonV)) map[string]T {
	m := d.object(o, key)
	if m == jsonAbsent || d.t.count(m) == 0 || !d.count(key, d.t.count(m)) {
		return nil
	}
	out := make(map[string]T, d.t.count(m))
	bad := false
	d.t.visit(m, func(k []byte, v jsonV) {
		x, ok := read(d, v)
		bad = bad || !ok
		// A repeated key is converted once: out[string(k)] does not
		// allocate when the key is there.
		if _, seen := out[string(k)]; seen {
			out[string(k)] = x
			return
		}
		out[jsonText(k)] = x
	})
	if bad {
		d.push(key)
		for k, v := range d.entries(m) {
			d.push(k)
			report(d, v)
			d.pop()
		}
		d.pop()
	}
	return out
}

// entries yields m's keys and values as a map holds them (a repeated key
// once, with its last value), in key order: of a map's bad values, the
// error names the first in key order, the same on every replay.
func (d *jsonReader) entries(m jsonV) iter.Seq2[string, jsonV] {
	type entry struct {
		k string
		v jsonV
	}
	var es []entry
	d.t.visit(m, func(k []byte, v jsonV) { es = append(es, entry{jsonText(k), v}) })
	slices.SortStableFunc(es, func(a, b entry) int { return strings.Compare(a.k, b.k) })
	return func(yield func(string, jsonV) bool) {
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

func (d *jsonReader) customerBody(obj jsonV) *customer.CustomerBody {
	b := &customer.CustomerBody{ExtendedFields: d.textMap(obj, "extendedFields")}
	if n := d.listLen(obj, "profiles"); n > 0 {
		b.Profiles = make([]customer.ProfileInput, 0, n)
	}
	d.objects(obj, "profiles", func(p jsonV) {
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
	if li := d.object(obj, "loyaltyInfo"); li != jsonAbsent {
		d.push("loyaltyInfo")
		b.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: d.text(li, "loyaltyType")}
		d.pop()
	}
	if at := d.object(obj, "attributionV2"); at != jsonAbsent {
		d.push("attributionV2")
		b.AttributionV2 = &customer.AttributionInput{CreateDate: d.text(at, "createDate")}
		d.pop()
	}
	return b
}

func (d *jsonReader) identifiers(obj jsonV, key string) []customer.Identifier {
	var out []customer.Identifier
	if n := d.listLen(obj, key); n > 0 {
		out = make([]customer.Identifier, 0, n)
	}
	d.objects(obj, key, func(o jsonV) {
		out = append(out, customer.Identifier{Type: d.text(o, "type"), Value: d.text(o, "value")})
	})
	return out
}

func (d *jsonReader) commChannels(obj jsonV) []customer.CommChannel {
	var out []customer.CommChannel
	if n := d.listLen(obj, "commChannels"); n > 0 {
		out = make([]customer.CommChannel, 0, n)
	}
	d.objects(obj, "commChannels", func(o jsonV) {
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

func (d *jsonReader) subscriptionsBody(obj jsonV) *customer.SubscriptionsBody {
	b := &customer.SubscriptionsBody{
		CommunicationID: d.integer(obj, "communicationId"),
		CampaignID:      d.integer(obj, "campaignId"),
		Reason:          d.text(obj, "reason"),
	}
	if sc := d.object(obj, "scope"); sc != jsonAbsent {
		d.push("scope")
		b.Scope = &customer.Scope{Scope: d.text(sc, "scope"), SubScope: d.text(sc, "subScope")}
		d.pop()
	}
	if n := d.listLen(obj, "subscriptions"); n > 0 {
		b.Subscriptions = make([]customer.Subscription, 0, n)
	}
	d.objects(obj, "subscriptions", func(o jsonV) {
		b.Subscriptions = append(b.Subscriptions, customer.Subscription{
			Channel:   d.text(o, "channel"),
			AccountID: d.text(o, "accountId"),
			Priority:  d.text(o, "priority"),
			Type:      d.text(o, "type"),
		})
	})
	return b
}
