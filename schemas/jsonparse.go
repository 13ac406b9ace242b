package schemas

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Reading JSON bodies (jsontape.go) exactly as encoding/json read them
// before: jsonbody_diff_test.go holds the two to that, and
// jsonbody_old_test.go keeps the encoding/json decoder as the reference.
//   - the grammar is RFC 8259's, strictly: no 01, 1.e5, NaN, raw control
//     characters or unknown escapes;
//   - a key given twice: the last one wins (jsonTape.field);
//   - invalid UTF-8 in a string or key becomes U+FFFD byte by byte
//     (jsonText), and so does a \u escape of a lone UTF-16 surrogate
//     (jsonTape.unquote).
// One difference remains, on purpose: a body nested deeper than MaxDepth
// (64) levels is refused (ErrCodeTooLarge), where encoding/json took up to
// 10,000. A request body is four levels deep.

var utf8BOM = []byte("\xEF\xBB\xBF")

// parse parses exactly one JSON value onto the reader's tape.
func (d *jsonReader) parse(data []byte) (jsonV, error) {
	// Some Windows producers prefix a UTF-8 byte order mark; it carries no
	// meaning.
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.Trim(data, " \t\r\n")) == 0 {
		return jsonAbsent, undecodable(nil, "empty JSON body")
	}
	return d.t.parse(data)
}

// jsonText copies a JSON string's content (a key, or a value after
// stringBytes) out of the body or the tape, each byte of invalid UTF-8
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
