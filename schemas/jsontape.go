package schemas

import (
	"fmt"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// A JSON parser of our own, for request bodies: strict RFC 8259 as
// encoding/json reads it (which jsonbody_diff_test.go holds it to), into a
// flat tape of nodes that point into the body. It replaced fastjson, whose
// parser allocates an 80-byte value for every JSON value and grows its
// value cache by copying (over 200 bytes allocated per byte of a body of
// small values). A node is 16 bytes, the tape is allocated once (sized by
// a first pass that counts, maxNodes) and pooled with its reader, strings are decoded only when read (into a
// reused buffer), and nothing is copied from the body but what goes into
// the command.

// jsonType is a node's JSON type.
type jsonType uint8

const (
	jsonNull jsonType = iota
	jsonFalse
	jsonTrue
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonNode is a value on the tape. The nodes of a container follow it:
// an array's elements, an object's keys and values alternating, each
// followed by its own nodes.
type jsonNode struct {
	typ jsonType
	raw bool // string: no escapes, so its content is data[start:end] as is (invalid UTF-8 included: jsonText replaces it)
	// string, number: where its text is in the body (a string's without
	// the quotes); array, object: start is the number of elements or
	// members.
	start, end uint32
	next       uint32 // index of the node after this one and its contents
}

// jsonTape is a parsed body.
type jsonTape struct {
	data  []byte
	nodes []jsonNode
	buf   []byte // a decoded string (stringBytes), reused
	kbuf  []byte // a decoded key (visit), reused
}

// jsonV is a value on the tape: a node index, or jsonAbsent.
type jsonV int32

const jsonAbsent jsonV = -1

// jsonParser fills a tape.
type jsonParser struct {
	t   *jsonTape
	s   []byte
	pos int
	err *Error
}

// parse parses data, exactly one JSON value with whitespace around it.
// Errors are *Error: "invalid JSON…" (ErrCodeUndecodable), or
// ErrCodeTooLarge for a value nested deeper than MaxDepth.
func (t *jsonTape) parse(data []byte) (jsonV, error) {
	t.data, t.nodes = data, slices.Grow(t.nodes[:0], maxNodes(data))
	p := jsonParser{t: t, s: data}
	p.ws()
	p.value(1)
	if p.err == nil {
		if p.ws(); p.pos < len(p.s) {
			return jsonAbsent, undecodable(nil, "invalid JSON: data after the body's closing brace")
		}
	}
	if p.err != nil {
		return jsonAbsent, p.err
	}
	return 0, nil
}

func (p *jsonParser) failf(format string, args ...any) {
	if p.err == nil {
		p.err = undecodable(nil, "invalid JSON: %s at byte %d", fmt.Sprintf(format, args...), p.pos)
	}
}

func (p *jsonParser) ws() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// maxNodes is how many nodes data can need at most, counted in one quick
// pass so that the tape is allocated once: every value or key but the
// first follows a comma, a colon, or the bracket of a container that is
// not empty (outside strings). Counting stops deeper than MaxDepth, where
// parsing stops too.
func maxNodes(data []byte) int {
	n, depth := 1, 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ',', ':':
			n++
		case ']', '}':
			depth--
		case '[', '{':
			if depth++; depth > MaxDepth {
				return n
			}
			j := i + 1
			for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
				j++
			}
			if j < len(data) && data[j] != ']' && data[j] != '}' {
				n++
			}
		}
	}
	return n
}

// push appends a node and returns its index. The tape is sized by
// maxNodes; should it ever fill, it doubles (append grows a large slice
// by a quarter, copying it over and over).
func (p *jsonParser) push(n jsonNode) int {
	nodes := p.t.nodes
	if len(nodes) == cap(nodes) {
		grown := make([]jsonNode, len(nodes), max(64, 2*cap(nodes)))
		copy(grown, nodes)
		nodes = grown
	}
	p.t.nodes = append(nodes, n)
	return len(nodes)
}

func (p *jsonParser) value(depth int) {
	if p.err != nil {
		return
	}
	if p.pos >= len(p.s) {
		p.failf("unexpected end")
		return
	}
	switch c := p.s[p.pos]; {
	case c == '{' || c == '[':
		if depth > MaxDepth {
			p.err = &Error{Code: ErrCodeTooLarge, Msg: fmt.Sprintf("JSON nested deeper than %d levels", MaxDepth)}
			return
		}
		p.container(c, depth)
	case c == '"':
		p.str()
	case c == '-' || '0' <= c && c <= '9':
		p.number()
	case c == 't':
		p.literal("true", jsonTrue)
	case c == 'f':
		p.literal("false", jsonFalse)
	case c == 'n':
		p.literal("null", jsonNull)
	default:
		p.failf("unexpected character %q", c)
	}
}

func (p *jsonParser) container(open byte, depth int) {
	typ, closing := jsonArray, byte(']')
	if open == '{' {
		typ, closing = jsonObject, '}'
	}
	i := p.push(jsonNode{typ: typ})
	p.pos++
	p.ws()
	count := 0
	if p.pos < len(p.s) && p.s[p.pos] == closing {
		p.pos++
	} else {
		for p.err == nil {
			if typ == jsonObject {
				if p.pos >= len(p.s) || p.s[p.pos] != '"' {
					p.failf("want a key")
					return
				}
				p.str()
				p.ws()
				if p.pos >= len(p.s) || p.s[p.pos] != ':' {
					p.failf("want a colon")
					return
				}
				p.pos++
				p.ws()
			}
			p.value(depth + 1)
			count++
			p.ws()
			if p.err != nil {
				return
			}
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				p.ws()
				continue
			}
			if p.pos < len(p.s) && p.s[p.pos] == closing {
				p.pos++
				break
			}
			p.failf("want a comma or %q", closing)
			return
		}
	}
	n := &p.t.nodes[i]
	n.start, n.next = uint32(count), uint32(len(p.t.nodes))
}

func (p *jsonParser) str() {
	p.pos++ // the opening quote
	start, raw := p.pos, true
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			i := p.push(jsonNode{typ: jsonString, raw: raw, start: uint32(start), end: uint32(p.pos)})
			p.t.nodes[i].next = uint32(i + 1)
			p.pos++
			return
		case c < 0x20:
			p.failf("control character in a string")
			return
		case c == '\\':
			raw = false
			if p.pos+1 >= len(p.s) {
				p.failf("unexpected end")
				return
			}
			switch p.s[p.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos += 2
			case 'u':
				if hex4(p.s[p.pos+2:]) < 0 {
					p.failf("invalid \\u escape")
					return
				}
				p.pos += 6
			default:
				p.failf("invalid escape")
				return
			}
		default:
			p.pos++
		}
	}
	p.failf("unexpected end in a string")
}

func (p *jsonParser) number() {
	s, start := p.s, p.pos
	i := p.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		p.failf("invalid number")
		return
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			p.pos = i
			p.failf("invalid number")
			return
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			p.pos = i
			p.failf("invalid number")
			return
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	p.pos = i
	n := p.push(jsonNode{typ: jsonNumber, start: uint32(start), end: uint32(i)})
	p.t.nodes[n].next = uint32(n + 1)
}

func (p *jsonParser) literal(word string, typ jsonType) {
	if len(p.s)-p.pos < len(word) || string(p.s[p.pos:p.pos+len(word)]) != word {
		p.failf("invalid literal")
		return
	}
	p.pos += len(word)
	n := p.push(jsonNode{typ: typ})
	p.t.nodes[n].next = uint32(n + 1)
}

// hex4 is the code unit of the four hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// Reading the tape.

func (t *jsonTape) typ(v jsonV) jsonType { return t.nodes[v].typ }

// next is the value after v and its contents.
func (t *jsonTape) next(v jsonV) jsonV { return jsonV(t.nodes[v].next) }

// count is the number of elements of an array or members of an object.
func (t *jsonTape) count(v jsonV) int { return int(t.nodes[v].start) }

// literal is a number's text as the body has it.
func (t *jsonTape) literal(v jsonV) []byte {
	n := t.nodes[v]
	return t.data[n.start:n.end]
}

// stringBytes is a string's content, its escapes decoded as encoding/json
// decodes them (a \u escape of a lone UTF-16 surrogate as U+FFFD). It is
// valid until the next call; invalid UTF-8 is left as it is, for jsonText.
func (t *jsonTape) stringBytes(v jsonV) []byte {
	b, buf := t.unquote(v, t.buf[:0])
	t.buf = buf
	return b
}

// unquote returns string v's content, decoded into buf when it has
// escapes.
func (t *jsonTape) unquote(v jsonV, buf []byte) (content, grown []byte) {
	n := t.nodes[v]
	s := t.data[n.start:n.end]
	if n.raw {
		return s, buf
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			buf = append(buf, c)
			i++
			continue
		}
		switch e := s[i+1]; e {
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				var r2 rune = -1
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					buf = utf8.AppendRune(buf, dec)
					i += 6
					continue
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default: // " \ /
			buf = append(buf, e)
		}
		i += 2
	}
	return buf, buf
}

// visit calls fn with each member of object v, in order: its key (decoded,
// valid until fn returns) and value.
func (t *jsonTape) visit(v jsonV, fn func(k []byte, val jsonV)) {
	k := v + 1
	for range t.count(v) {
		var key []byte
		key, t.kbuf = t.unquote(k, t.kbuf[:0])
		val := k + 1
		fn(key, val)
		k = t.next(val)
	}
}

// field is the value of object o's key, jsonAbsent if it has none. Where
// a key is given twice the last one wins, as with encoding/json.
func (t *jsonTape) field(o jsonV, key string) jsonV {
	found := jsonAbsent
	k := o + 1
	for range t.count(o) {
		n := t.nodes[k]
		var match bool
		if n.raw {
			match = string(t.data[n.start:n.end]) == key
		} else {
			var kb []byte
			kb, t.kbuf = t.unquote(k, t.kbuf[:0])
			match = string(kb) == key
		}
		if match {
			found = k + 1
		}
		k = t.next(k + 1)
	}
	return found
}
