package schemas

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Reading JSON bodies with fastjson (jsonReader's pooled Parser: no
// reflection, no map per object) exactly as encoding/json read them before:
// jsonbody_diff_test.go holds the two to that, and jsonbody_old_test.go
// keeps the encoding/json decoder as the reference. Where fastjson alone
// would differ, this file closes the gap:
//   - fastjson's parser accepts more than JSON (01, 1.e5, NaN, raw control
//     characters and unknown escapes in strings): a parsed body is also
//     checked with fastjson.Validate, which is strict;
//   - a key given twice: the last one wins (Object.Get returns the first;
//     jsonField looks for the last);
//   - invalid UTF-8 in a string or key becomes U+FFFD byte by byte
//     (jsonText), and so does a \u escape of a lone UTF-16 surrogate
//     (checkStrings); fastjson would keep both as they are;
//   - Validate misses a control character before an escape in a string
//     (checkStrings).
// One difference remains, on purpose: fastjson refuses a body nested deeper
// than fastjson.MaxDepth (300) levels, encoding/json 10,000. A request body
// is four levels deep.

var utf8BOM = []byte("\xEF\xBB\xBF")

// parse parses exactly one JSON value.
func (d *jsonReader) parse(data []byte) (*fastjson.Value, error) {
	// Some Windows producers prefix a UTF-8 byte order mark; it carries no
	// meaning.
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.Trim(data, " \t\r\n")) == 0 {
		return nil, undecodable(nil, "empty JSON body")
	}
	data, ok := d.checkStrings(data)
	if !ok {
		return nil, undecodable(nil, "invalid JSON: control character in a string")
	}
	v, err := d.p.ParseBytes(data) // copies data: v does not point into the record
	if err != nil {
		// The first value parsed and something follows it: fastjson says
		// so only in words.
		if strings.HasPrefix(err.Error(), "unexpected tail") {
			return nil, undecodable(nil, "invalid JSON: data after the body's closing brace")
		}
		return nil, undecodable(err, "invalid JSON")
	}
	// After Parse, so that its depth limit keeps Validate's recursion short.
	if err := fastjson.ValidateBytes(data); err != nil {
		return nil, undecodable(err, "invalid JSON")
	}
	return v, nil
}

// checkStrings makes up for where fastjson falls short of encoding/json on
// strings, in the rare bodies concerned:
//   - a \u escape of a lone UTF-16 surrogate (one not in a high-low pair)
//     decodes to U+FFFD: it is rewritten as \ufffd (same length, still
//     JSON), where fastjson would keep the escape's text or swallow the
//     next escape with it;
//   - a control character in a string is not JSON: fastjson.Validate looks
//     for one only after the string's last escape.
//
// It returns data, or the rewritten copy, and false for a control
// character in a string.
func (d *jsonReader) checkStrings(data []byte) ([]byte, bool) {
	surrogates := hasSurrogateEscape(data)
	if !surrogates && (bytes.IndexByte(data, '\\') < 0 || !hasControl(data)) {
		return data, true
	}
	b := data
	if surrogates {
		b = append(d.body[:0], data...)
		d.body = b
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c < 0x20:
			return data, false
		case c == '\\':
			r := jsonHex4(b[i:])
			if r < 0 {
				i++ // a one-character escape (or invalid JSON: Validate says so)
				continue
			}
			if utf16.IsSurrogate(r) {
				if r2 := jsonHex4(b[i+6:]); r < 0xDC00 && 0xDC00 <= r2 && r2 < 0xE000 {
					i += 6 // a pair: fastjson decodes it as encoding/json does
				} else {
					copy(b[i+2:], "fffd")
				}
			}
			i += 5
		}
	}
	return b, true
}

func hasControl(data []byte) bool {
	for _, c := range data {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// hasSurrogateEscape reports whether data may hold a \u escape of a UTF-16
// surrogate (\uD800 to \uDFFF).
func hasSurrogateEscape(data []byte) bool {
	for {
		i := bytes.Index(data, []byte(`\u`))
		if i < 0 || i+3 >= len(data) {
			return false
		}
		if c := data[i+2] | 0x20; c == 'd' && strings.IndexByte("89abcdefABCDEF", data[i+3]) >= 0 {
			return true
		}
		data = data[i+2:]
	}
}

// jsonHex4 returns the code unit of the \uXXXX escape b starts with, or
// -1.
func jsonHex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	if err != nil {
		return -1
	}
	return rune(n)
}

// jsonField returns the value of o's key, nil if absent. Where a key is given
// twice the last one wins, as with encoding/json; fastjson's Object.Get
// would return the first.
func jsonField(o *fastjson.Object, key string) *fastjson.Value {
	var v *fastjson.Value
	o.Visit(func(k []byte, kv *fastjson.Value) {
		if string(k) == key {
			v = kv
		}
	})
	return v
}

// jsonText copies a JSON string's content (a key, or a value after
// StringBytes) out of the parser's memory, each byte of invalid UTF-8
// replaced by U+FFFD, as encoding/json does.
func jsonText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for _, r := range string(b) { // an invalid byte reads as one U+FFFD
		sb.WriteRune(r)
	}
	return sb.String()
}
