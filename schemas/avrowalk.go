package schemas

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// The decoding budget of Avro (doc.go, "Limits"): before a datum is
// decoded, by our own decoder or by goavro, it is walked once with its
// writer schema. The walk allocates nothing; it checks every block count
// against the bytes left divided by the smallest encoding of one item,
// every string, bytes and fixed length against the bytes left, every
// union and enum index, booleans, varints, the items of the whole datum
// (MaxDatumItems) and its nesting (MaxDepth). A decoder then only ever
// preallocates for items that are really there, so what it allocates is
// in proportion to the bytes it reads.
//
// goavro builds a Go map for every record and union value it decodes
// (about 300 bytes, whatever the record's size), so for goavro the walk
// also adds up an estimate of what goavro will allocate (nativeCost), and
// a datum whose estimate is over goavroBudget is refused before goavro
// sees it.
//
// A writer schema whose array items or map values can be encoded in zero
// bytes (null, a record of no fields or of only such fields, fixed of
// size 0) is refused when it is parsed (parseWriterSchema): a few bytes
// could claim any number of such items, and no byte count bounds them.

// avroKind is the type of a writer schema node.
type avroKind uint8

const (
	avroNull avroKind = iota
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroString
	avroRecord
	avroEnum
	avroArray
	avroMap
	avroUnion
	avroFixed
)

var avroPrimitives = map[string]avroKind{
	"null": avroNull, "boolean": avroBoolean, "int": avroInt, "long": avroLong,
	"float": avroFloat, "double": avroDouble, "bytes": avroBytes, "string": avroString,
}

// avroType is a node of a parsed writer schema. Named types referred to
// more than once (and recursive ones) are one node.
type avroType struct {
	kind     avroKind
	name     string      // a named type's full name, else the type's kind, for messages
	fields   []*avroType // record: the field types in order
	names    []string    // record: the field names, in the same order
	elem     *avroType   // array items, map values
	branches []*avroType // union
	n        int         // enum: symbols; fixed: size
	logical  string      // logicalType, when set
	min      int         // the smallest encoding of a value, in bytes (minUnbounded: none is finite)
}

// minUnbounded is the minimum size of a type no finite datum has (a record
// that must contain itself); large enough to exceed any record, small
// enough that sums of a few cannot overflow.
const minUnbounded = 1 << 40

// walkSchema is a parsed writer schema, ready to walk datums with.
type walkSchema struct{ root *avroType }

// parseWriterSchema parses an Avro schema's JSON text for walking its
// datums and applies the zero-size rule. Names are resolved as the
// specification says (a name without a dot takes the enclosing
// namespace); a name that resolves to no type is an error.
func parseWriterSchema(text string) (*walkSchema, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	p := schemaParser{named: map[string]*avroType{}}
	root, err := p.parse(v, "")
	if err != nil {
		return nil, err
	}
	p.computeMin()
	if root.min >= minUnbounded {
		return nil, fmt.Errorf("no finite datum has this schema: %s must contain itself", root.name)
	}
	for _, t := range p.all {
		switch {
		case t.kind == avroArray && t.elem.min == 0:
			return nil, fmt.Errorf("array items of type %s can take zero bytes, so a few bytes could claim any number of them", t.elem.name)
		case t.kind == avroMap && t.elem.min == 0:
			return nil, fmt.Errorf("map values of type %s can take zero bytes, so a few bytes could claim any number of them", t.elem.name)
		}
	}
	return &walkSchema{root: root}, nil
}

// mustWalkSchema parses one of our embedded schemas.
func mustWalkSchema(file, text string) *walkSchema {
	s, err := parseWriterSchema(text)
	if err != nil {
		panic(fmt.Sprintf("schemas: %s: %v", file, err)) // embedded: a build defect
	}
	return s
}

type schemaParser struct {
	named map[string]*avroType
	all   []*avroType
}

func (p *schemaParser) node(t *avroType) *avroType {
	t.min = minUnbounded
	p.all = append(p.all, t)
	return t
}

func (p *schemaParser) parse(v any, ns string) (*avroType, error) {
	switch s := v.(type) {
	case string:
		if k, ok := avroPrimitives[s]; ok {
			return p.node(&avroType{kind: k, name: s}), nil
		}
		if t, ok := p.named[qualify(s, ns)]; ok {
			return t, nil
		}
		if t, ok := p.named[s]; ok { // a full name without a dot: the null namespace
			return t, nil
		}
		return nil, fmt.Errorf("unknown type name %q", s)
	case []any:
		u := p.node(&avroType{kind: avroUnion, name: "union"})
		for _, b := range s {
			t, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, t)
		}
		return u, nil
	case map[string]any:
		return p.parseObject(s, ns)
	}
	return nil, fmt.Errorf("unexpected %T in schema", v)
}

func (p *schemaParser) parseObject(s map[string]any, ns string) (*avroType, error) {
	typ, ok := s["type"].(string)
	if !ok {
		if s["type"] == nil {
			return nil, fmt.Errorf("schema object without a type")
		}
		return p.parse(s["type"], ns) // {"type":{…}} or {"type":[…]}
	}
	logical, _ := s["logicalType"].(string)
	switch typ {
	case "record", "error", "enum", "fixed":
		name, _ := s["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s without a name", typ)
		}
		if nsv, ok := s["namespace"].(string); ok && !strings.Contains(name, ".") {
			ns = nsv
		}
		full := qualify(name, ns)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i]
		} else {
			ns = ""
		}
		if _, dup := p.named[full]; dup {
			return nil, fmt.Errorf("type %s defined twice", full)
		}
		t := p.node(&avroType{name: full, logical: logical})
		p.named[full] = t // before the fields: a record may refer to itself
		switch typ {
		case "enum":
			syms, _ := s["symbols"].([]any)
			if len(syms) == 0 {
				return nil, fmt.Errorf("enum %s has no symbols", full)
			}
			t.kind, t.n = avroEnum, len(syms)
		case "fixed":
			size, _ := s["size"].(json.Number)
			n, err := size.Int64()
			if err != nil || n < 0 || n > 1<<30 {
				return nil, fmt.Errorf("fixed %s: size %q", full, size)
			}
			t.kind, t.n = avroFixed, int(n)
		default:
			t.kind = avroRecord
			fields, ok := s["fields"].([]any)
			if !ok {
				return nil, fmt.Errorf("record %s: fields is not a list", full)
			}
			for i, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("record %s: field %d is not an object", full, i)
				}
				ft, err := p.parse(fm["type"], ns)
				if err != nil {
					return nil, fmt.Errorf("record %s field %v: %w", full, fm["name"], err)
				}
				t.fields = append(t.fields, ft)
				name, _ := fm["name"].(string)
				t.names = append(t.names, name)
			}
		}
		return t, nil
	case "array", "map":
		key, kind := "items", avroArray
		if typ == "map" {
			key, kind = "values", avroMap
		}
		elem, err := p.parse(s[key], ns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
		return p.node(&avroType{kind: kind, name: typ + " of " + elem.name, elem: elem}), nil
	}
	k, ok := avroPrimitives[typ]
	if !ok {
		if t, ok := p.named[qualify(typ, ns)]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("unknown type %q", typ)
	}
	return p.node(&avroType{kind: k, name: typ, logical: logical}), nil
}

// computeMin sets every node's min to the smallest encoding of a value of
// it: the least fixed point, as records may refer to themselves.
func (p *schemaParser) computeMin() {
	for changed := true; changed; {
		changed = false
		for _, t := range p.all {
			if m := t.minOnce(); m < t.min {
				t.min, changed = m, true
			}
		}
	}
}

func (t *avroType) minOnce() int {
	switch t.kind {
	case avroNull:
		return 0
	case avroFloat:
		return 4
	case avroDouble:
		return 8
	case avroFixed:
		return t.n
	case avroRecord:
		sum := 0
		for _, f := range t.fields {
			sum = min(sum+f.min, minUnbounded)
		}
		return sum
	case avroUnion:
		m := minUnbounded
		for _, b := range t.branches {
			m = min(m, 1+b.min)
		}
		return m
	}
	// boolean, int, long, bytes, string, enum: one byte at least; array
	// and map: the 0 count that ends them.
	return 1
}

// Costs of goavro's native values, in bytes, rounded up: a map of up to 8
// entries (a record, a union value's wrapper) is a header and one group of
// 8 slots of 32 bytes; a larger one about 80 bytes an entry at worst
// (slots of 32 bytes, load factor 7/8, doubled on growth); an interface
// holding a string, a long or a time boxes it; an array slot is an
// interface (16 bytes), doubled for append's growth across blocks.
const (
	costSmallMap   = 320
	costMapEntry   = 80
	costBox        = 32 // a boxed string or slice header, or a time.Time
	costArraySlot  = 32
	costDecimal    = 256 // a *big.Rat
	costBlockFixed = 64  // a slice header per block, rounding
)

// costContent is a string's or bytes' n bytes, rounded up to the
// allocator's size class (at most an eighth more, or 16 bytes for small
// ones), and boxed.
func costContent(n int64) int {
	n = max(n, 0)
	return int(n+n/8) + 16 + costBox
}

func costMap(entries int) int {
	if entries <= 8 {
		return costSmallMap
	}
	return costSmallMap + costMapEntry*entries
}

// avroWalk walks one datum. The first error is kept; every later read is
// a no-op.
type avroWalk struct {
	b     []byte
	size  int
	items int // array items and map entries so far
	cost  int // estimate of goavro's natives (nativeCost)
	err   error
}

// walk checks data, one datum of s and nothing after it, and returns the
// estimate of what goavro allocates to decode it. Errors are *Error:
// ErrCodeTooLarge for a datum over MaxDatumItems or MaxDepth,
// ErrCodeUndecodable otherwise.
func (s *walkSchema) walk(data []byte) (cost int, err error) {
	w := avroWalk{b: data, size: len(data)}
	w.value(s.root, 1)
	if w.err != nil {
		return 0, w.err
	}
	if len(w.b) != 0 {
		return 0, undecodable(nil, "%d trailing bytes after the datum", len(w.b))
	}
	return w.cost, nil
}

func (w *avroWalk) failf(code, format string, args ...any) {
	if w.err == nil {
		w.err = &Error{Code: code, Msg: fmt.Sprintf("byte %d: %s", w.size-len(w.b), fmt.Sprintf(format, args...))}
		w.b = nil
	}
}

func (w *avroWalk) long() int64 {
	if w.err != nil {
		return 0
	}
	u, n := binary.Uvarint(w.b)
	switch {
	case n == 0:
		w.failf(ErrCodeUndecodable, "truncated")
		return 0
	case n < 0:
		w.failf(ErrCodeUndecodable, "malformed varint: more than 64 bits")
		return 0
	}
	w.b = w.b[n:]
	return int64(u>>1) ^ -int64(u&1)
}

// skip consumes n bytes of content (a string, bytes, fixed, float).
func (w *avroWalk) skip(n int64, what string) {
	if w.err != nil {
		return
	}
	if n < 0 || n > int64(len(w.b)) {
		w.failf(ErrCodeUndecodable, "%s of %d bytes, %d left", what, n, len(w.b))
		return
	}
	w.b = w.b[n:]
}

// blockCount reads the item count of the next array or map block, each
// item at least itemMin bytes (0: the end).
func (w *avroWalk) blockCount(itemMin int, what string) int {
	n := w.long()
	if n < 0 {
		n = -n // MinInt64 stays negative: refused below
		if size := w.long(); size < 0 && w.err == nil {
			w.failf(ErrCodeUndecodable, "%s block of %d bytes", what, size)
		}
	}
	if w.err != nil {
		return 0
	}
	if n < 0 || n > int64(len(w.b)/itemMin) {
		w.failf(ErrCodeUndecodable, "%s block of %d items of at least %d bytes, %d bytes left", what, n, itemMin, len(w.b))
		return 0
	}
	if w.items += int(n); w.items > MaxDatumItems {
		w.failf(ErrCodeTooLarge, "more than %d array items and map entries in one datum", MaxDatumItems)
		return 0
	}
	return int(n)
}

func (w *avroWalk) value(t *avroType, depth int) {
	if w.err != nil {
		return
	}
	switch t.kind {
	case avroNull:
	case avroBoolean:
		switch {
		case len(w.b) == 0:
			w.failf(ErrCodeUndecodable, "truncated")
		case w.b[0] > 1:
			w.failf(ErrCodeUndecodable, "boolean byte %d, want 0 or 1", w.b[0])
		default:
			w.b = w.b[1:]
		}
	case avroInt, avroLong:
		w.long()
		w.cost += costBox
	case avroFloat:
		w.skip(4, t.name)
		w.cost += costBox
	case avroDouble:
		w.skip(8, t.name)
		w.cost += costBox
	case avroBytes, avroString:
		n := w.long()
		w.skip(n, t.name)
		w.cost += costContent(n)
	case avroFixed:
		w.skip(int64(t.n), t.name)
		w.cost += costContent(int64(t.n))
	case avroEnum:
		if i := w.long(); w.err == nil && (i < 0 || i >= int64(t.n)) {
			w.failf(ErrCodeUndecodable, "enum %s index %d, want 0 to %d", t.name, i, t.n-1)
		}
		w.cost += costBox
	case avroUnion:
		i := w.long()
		if w.err == nil && (i < 0 || i >= int64(len(t.branches))) {
			w.failf(ErrCodeUndecodable, "union index %d, want 0 to %d", i, len(t.branches)-1)
			return
		}
		if w.err != nil {
			return
		}
		b := t.branches[i]
		if b.kind != avroNull {
			w.cost += costSmallMap
		}
		w.nested(b, depth)
	case avroRecord:
		w.cost += costMap(len(t.fields))
		for _, f := range t.fields {
			w.nested(f, depth)
		}
	case avroArray:
		w.cost += costBlockFixed
		for n := w.blockCount(t.elem.min, t.name); n > 0; n = w.blockCount(t.elem.min, t.name) {
			w.cost += costBlockFixed + n*costArraySlot
			for range n {
				w.nested(t.elem, depth)
			}
		}
	case avroMap:
		w.cost += costSmallMap
		for n := w.blockCount(1+t.elem.min, t.name); n > 0; n = w.blockCount(1+t.elem.min, t.name) {
			w.cost += n * costMapEntry
			for range n {
				k := w.long()
				w.skip(k, "map key")
				w.cost += costContent(k)
				w.nested(t.elem, depth)
			}
		}
	}
	switch t.logical {
	case "decimal":
		w.cost += costDecimal
	}
}

// nested walks a value inside a record, array, map or union, one level
// deeper.
func (w *avroWalk) nested(t *avroType, depth int) {
	if depth >= MaxDepth && w.err == nil {
		w.failf(ErrCodeTooLarge, "nested deeper than %d levels", MaxDepth)
		return
	}
	w.value(t, depth+1)
}

// goavroBudget is the most goavro may be expected to allocate for a datum
// of n bytes (nativeCost estimates it during the walk): 64 bytes a byte
// plus 64 KiB. Twice our own decoders' budget, because goavro spends a
// map on every record, however small; the datums of real producers come
// to well under 32 bytes a byte.
func goavroBudget(n int) int { return 64*n + 64<<10 }
