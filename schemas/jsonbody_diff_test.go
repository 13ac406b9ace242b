package schemas

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// Differential tests: DecodeJSONBody (jsontape.go) against decodeJSONBodyOld
// (encoding/json, jsonbody_old_test.go), which defines the behaviour. For
// every body both must give the same command, or both an error with the
// same code; errors other than invalid JSON must also say the same thing
// (the field's path), and invalid JSON must be called that by both.

var jsonOps = []customer.Op{customer.OpRegister, customer.OpUpdate, customer.OpChangeIdentifier, customer.OpSubscriptions, "delete"}

// diffJSONBody returns how the two decoders disagree on body, "" if they
// do not.
func diffJSONBody(op customer.Op, body []byte) string {
	got, gerr := DecodeJSONBody(op, body)
	want, werr := decodeJSONBodyOld(op, body)
	switch {
	case ErrorCode(gerr) == ErrCodeTooLarge && strings.Contains(gerr.Error(), "nested deeper") && nesting(body) > MaxDepth:
		// The one difference on purpose (jsonparse.go): past MaxDepth the
		// new parser stops, whatever the rest holds, where encoding/json
		// read on (and may have found the body truncated or invalid).
	case gerr == nil && werr == nil:
		if !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("commands differ\n new %+v\n old %+v", got, want)
		}
	case gerr == nil || werr == nil:
		return fmt.Sprintf("new: %+v, %v\nold: %+v, %v", got, gerr, want, werr)
	case ErrorCode(gerr) != ErrorCode(werr):
		return fmt.Sprintf("error codes differ\n new %s: %v\n old %s: %v", ErrorCode(gerr), gerr, ErrorCode(werr), werr)
	case strings.HasPrefix(werr.Error(), "invalid JSON"):
		if !strings.HasPrefix(gerr.Error(), "invalid JSON") {
			return fmt.Sprintf("errors differ\n new %v\n old %v", gerr, werr)
		}
	case gerr.Error() != werr.Error():
		return fmt.Sprintf("errors differ\n new %v\n old %v", gerr, werr)
	}
	return ""
}

// nesting is how deep body's arrays and objects go, strings skipped.
func nesting(body []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func checkJSONBody(t *testing.T, op customer.Op, body []byte) {
	t.Helper()
	if d := diffJSONBody(op, body); d != "" {
		t.Errorf("%s %q:\n%s", op, body, d)
	}
}

// jsonSeedBodies are the bodies of the JSON tests and fuzz seeds, and the
// cases where a lenient parser (fastjson, which we used before) would
// differ from encoding/json.
func jsonSeedBodies() []string {
	var bodies []string
	for _, tc := range apiDocBodies() {
		bodies = append(bodies, tc.body)
	}
	return append(bodies,
		// TestJSONLenient, TestJSONErrorsNameTheField, FuzzDecodeJSONBody.
		"\xEF\xBB\xBF"+`{"profiles":[{"firstName":"Ann","lastName":null,"fields":{"age":42,"vip":true,"score":1.50,"none":null},
		"identifiers":[{"type":"mobile","value":919111111111},{"type":"externalId","value":12345678901234567890123}],
		"commChannels":[{"type":"mobile","value":919111111111,"primary":"TRUE","verified":false,"meta":{"residence":"false","office":true}}],
		"accountId":22232,"unknown":{"deep":[1,2]}}],
		"extendedFields":{"gender":"Female","dob":19900101},"attributionV2":{"createDate":"2016-06-23T19:11:18+08:00","createdBy":{"code":"x"}},
		"somethingElse":[{"x":1}]}`,
		`{"communicationId":"17","campaignId":-1,"subscriptions":[]}`,
		`{"profiles":"Tom"}`,
		`{"profiles":["Tom"]}`,
		`{"profiles":[{"identifiers":[{"type":"email","value":"a@b.c"},{"type":"mobile","value":{"n":1}}]}]}`,
		`{"profiles":[{"identifiers":{"type":"email"}}]}`,
		`{"profiles":[{"commChannels":[{"type":"email","primary":"yes"}]}]}`,
		`{"profiles":[{"commChannels":[{"meta":{"a":true,"b":3}}]}]}`,
		`{"profiles":[{"fields":{"x":[1]}}]}`,
		`{"extendedFields":["a"]}`,
		`{"loyaltyInfo":"loyalty"}`,
		`{"add":[{"type":"wechat","value":["x"]}]}`,
		`{"campaignId":1.5}`,
		`{"scope":"USER"}`,
		`{"subscriptions":{"channel":"SMS"}}`,
		`[]`, `null`, ``, `{"profiles":[]`, `{} {}`, `{}`,
		// Deeper than MaxDepth: valid, and truncated (encoding/json
		// reads on and finds the end missing; we stop at the depth).
		`{"x":`+strings.Repeat("[", MaxDepth+2)+strings.Repeat("]", MaxDepth+2)+`}`,
		`{"":`+strings.Repeat("[", MaxDepth+2),
		`{"profiles":[{"fields":{"a":1e999,"b":-0,"c":true,"d":null},"commChannels":[{"primary":"TRUE","meta":{"x":"false"}}]}]}`,
		`{"communicationId":"9223372036854775807","scope":{}}`,

		// Numbers keep their literal; fastjson's parser alone takes these
		// non-JSON numbers.
		`{"reason":1e3,"extendedFields":{"a":1E+2,"b":-0.0,"c":0.5e-7}}`,
		`{"reason":01}`, `{"reason":1.}`, `{"reason":.5}`, `{"reason":+1}`, `{"reason":-}`,
		`{"reason":1e}`, `{"reason":NaN}`, `{"reason":nan}`, `{"reason":Inf}`, `{"reason":-inf}`,
		`{"reason":1.2.3}`, `{"reason":1-2}`, `{"reason":0x10}`, `nan`, `-Inf`,
		`{"communicationId":9223372036854775808}`, `{"communicationId":" 42 "}`, `{"communicationId":"4 2"}`,
		`{"campaignId":1e2}`, `{"campaignId":-0}`, `{"campaignId":true}`, `{"campaignId":[]}`,
		// Strings: escapes, surrogates, invalid UTF-8, control characters.
		`{"reason":"caf\u00e9 \u00E9 \ud83d\ude80 \/ \"q\" \\ \b\f\n\r\t"}`,
		`{"reason":"lone \ud800 high"}`, `{"reason":"lone \udc00 low"}`,
		`{"reason":"\ud800\u0041"}`, `{"reason":"\ud800\ud800\udc00"}`, `{"reason":"\udc00\ud800"}`,
		`{"reason":"\ud800"}`, `{"reason":"x\uD83D\uDE80\uDBFF\uDFFF\uD800\uDC00"}`,
		`{"reason":"\\ud800"}`, `{"reason":"\\\ud800"}`, `{"reason":"\u0000"}`,
		`{"reason":"\u12"}`, `{"reason":"\u12G4"}`, `{"reason":"\x41"}`, `{"reason":"\'"}`,
		"{\"reason\":\"bad \xff\xfe byte\"}", "{\"reason\":\"cut \xc3\"}", "{\"reason\":\"surrogate \xed\xa0\x80 in UTF-8\"}",
		"{\"reason\":\"\xc3\\u00a9\"}", "{\"extendedFields\":{\"k\xff\":1,\"k\xfe\":2}}",
		"{\"reason\":\"tab\there\"}", "{\"reason\":\"nul\x00\"}", "{\"reason\":\"del\x7f\"}",
		// fastjson.Validate looks for control characters only after a
		// string's last escape.
		"{\"reason\":\"a\x01\\n\"}", "{\"reason\":\"a\tb\\u00e9\"}", "{\"a\nb\\u00e9\":1}", "{\"x\":\"\\n\"}\n",
		// Keys: escaped, repeated (the last wins), empty.
		`{"\u0072eason":"escaped key"}`, `{"reason":"first","reason":"second"}`,
		`{"reason":{},"reason":"shape fixed by the last"}`, `{"reason":"x","reason":{}}`,
		`{"reason":"x","reason":null}`,
		`{"extendedFields":{"a":1,"a":2,"b":{}},"extendedFields":{"a":3}}`,
		`{"extendedFields":{"a":{},"a":"ok","":"empty key","\ud800":"lone"}}`,
		`{"extendedFields":{"b":[],"a":{}}}`, `{"extendedFields":{"b":[],"a":{},"b":1}}`,
		`{"profiles":[{"commChannels":[{"meta":{"z":"maybe","a":3,"a":true}}]}]}`,
		`{"profiles":[{"firstName":"A"}],"profiles":[{"firstName":"B"},{"lastName":"C"}]}`,
		`{"profiles":[{"commChannels":[{"primary":"yes","primary":true,"verified":" FALSE "}]}]}`,
		`{"profiles":[{"commChannels":[{"primary":"falſe"}]}]}`, `{"profiles":[{"commChannels":[{"primary":"\u0054rue"}]}]}`,
		// Whitespace, BOM, trailing data.
		" \t\r\n{}\n\t ", " ", "\xEF\xBB\xBF", "\xEF\xBB\xBF ", "\xEF\xBB\xBF\xEF\xBB\xBF{}", "\v{}", "\f{}", "\u00a0{}",
		`{}}`, `{}]`, `{} x`, `{}0`, `{} null`, `{"a":1}{"b":2}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`,
		`"text"`, `12`, `true`, `[{}]`, `{"profiles":[{}],"profiles":null}`, `{"profiles":[null,{}]}`,
		`{"profiles":[{},"x",{"firstName":{}}]}`, `{"profiles":[{"firstName":{}},"x"]}`,
	)
}

func TestJSONBodyMatchesOld(t *testing.T) {
	t.Run("seeds", func(t *testing.T) {
		for _, body := range jsonSeedBodies() {
			for _, op := range jsonOps {
				checkJSONBody(t, op, []byte(body))
			}
		}
	})
	t.Run("random", func(t *testing.T) {
		g := jsonGen{r: rand.New(rand.NewPCG(20261127, 1))}
		n := 5000
		if testing.Short() {
			n = 500
		}
		var failed, decoded int
		for range n {
			op, body := g.command()
			if d := diffJSONBody(op, body); d != "" {
				t.Errorf("%s %q:\n%s", op, body, d)
				if failed++; failed == 10 {
					t.Fatal("too many differences")
				}
			}
			if _, err := DecodeJSONBody(op, body); err == nil {
				decoded++
			}
		}
		t.Logf("%d of %d random bodies decode", decoded, n)
		// The generator must exercise both sides.
		if decoded < n/4 || decoded > n*3/4 {
			t.Errorf("%d of %d random bodies decode: the generator is off balance", decoded, n)
		}
	})
	t.Run("fuzz corpus", func(t *testing.T) {
		n := 0
		for _, dir := range jsonCorpusDirs() {
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				op, body, err := readJSONCorpusEntry(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Errorf("%s: %v", e.Name(), err)
					continue
				}
				for _, o := range append([]customer.Op{op}, jsonOps...) {
					checkJSONBody(t, o, body)
				}
				n++
			}
		}
		t.Logf("%d corpus entries", n)
	})
}

// jsonCorpusDirs are where the JSON fuzz targets' corpora live: checked-in
// testdata and the go command's cache.
func jsonCorpusDirs() []string {
	cache := os.Getenv("GOCACHE")
	if cache == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(dir, "go-build")
		}
	}
	var dirs []string
	for _, name := range []string{"FuzzDecodeJSONBody", "FuzzJSONBodyMatchesOld"} {
		dirs = append(dirs, filepath.Join("testdata", "fuzz", name))
		if cache != "" {
			dirs = append(dirs, filepath.Join(cache, "fuzz", "github.com", "custream", "custream", "schemas", name))
		}
	}
	return dirs
}

// readJSONCorpusEntry reads a corpus file of either JSON fuzz target:
// (op string, body []byte) or (op uint8, body []byte).
func readJSONCorpusEntry(path string) (customer.Op, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var op customer.Op
	var body []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		inner := func(prefix string) (string, bool) {
			s, ok := strings.CutPrefix(line, prefix)
			return strings.TrimSuffix(s, ")"), ok
		}
		if s, ok := inner("string("); ok {
			u, err := strconv.Unquote(s)
			if err != nil {
				return "", nil, err
			}
			op = customer.Op(u)
		} else if s, ok := inner("byte("); ok {
			n, err := corpusByte(s)
			if err != nil {
				return "", nil, fmt.Errorf("op byte %s: %w", s, err)
			}
			op = jsonOps[int(n)%len(jsonOps)]
		} else if s, ok := inner("[]byte("); ok {
			u, err := strconv.Unquote(s)
			if err != nil {
				return "", nil, err
			}
			body = []byte(u)
		}
	}
	return op, body, sc.Err()
}

// corpusByte reads a byte as the fuzzing engine writes it: a character
// literal ('\x01') or an integer.
func corpusByte(s string) (uint64, error) {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		r, _, _, err := strconv.UnquoteChar(s[1:len(s)-1], '\'')
		return uint64(r), err
	}
	return strconv.ParseUint(s, 0, 8)
}

// FuzzJSONBodyMatchesOld: our decoder and the encoding/json one
// agree on every input. The op is an index into jsonOps, so that the fuzzer
// spends its time on bodies rather than on op names.
func FuzzJSONBodyMatchesOld(f *testing.F) {
	for _, body := range jsonSeedBodies() {
		for i := range jsonOps[:4] {
			f.Add(uint8(i), []byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		o := jsonOps[int(op)%len(jsonOps)]
		checkAlloc(t, len(body), jsonAllocBound, func() { DecodeJSONBody(o, body) })
		if d := diffJSONBody(o, body); d != "" {
			t.Fatalf("%s %q:\n%s", o, body, d)
		}
	})
}

// TestDecodeJSONBodyOwnsItsMemory: a decoded command shares nothing with
// the record nor with the pooled parser, which the next body overwrites.
func TestDecodeJSONBodyOwnsItsMemory(t *testing.T) {
	body := `{"profiles":[{"firstName":"Zo\u00eb","lastName":"O\"Neil","fields":{"k\u00e9y":"v\/1","n":919111111111},
		"identifiers":[{"type":"mobile","value":919111111111},{"type":"email","value":"a@b.c"}],
		"commChannels":[{"type":"email","value":"a@b.c","primary":"TRUE","meta":{"residence":true}}],"accountId":-1.5e3}],
		"loyaltyInfo":{"loyaltyType":"loyalty"},"extendedFields":{"city":"Bangalore"}}`
	want := customer.Command{Op: customer.OpUpdate, Update: &customer.CustomerBody{
		Profiles: []customer.ProfileInput{{
			FirstName: "Zoë", LastName: `O"Neil`,
			Fields:       map[string]string{"kéy": "v/1", "n": "919111111111"},
			Identifiers:  []customer.Identifier{{Type: "mobile", Value: "919111111111"}, {Type: "email", Value: "a@b.c"}},
			CommChannels: []customer.CommChannel{{Type: "email", Value: "a@b.c", Primary: true, Meta: map[string]bool{"residence": true}}},
			AccountID:    "-1.5e3",
		}},
		LoyaltyInfo:    &customer.LoyaltyInput{LoyaltyType: "loyalty"},
		ExtendedFields: map[string]string{"city": "Bangalore"},
	}}
	record := []byte(body)
	got, err := DecodeJSONBody(customer.OpUpdate, record)
	if err != nil {
		t.Fatal(err)
	}
	// Scribble over the record, and over the parsers' memory by decoding
	// other bodies of the same size.
	for i := range record {
		record[i] = 'x'
	}
	other := strings.NewReplacer("Zo", "Xy", "a@b.c", "c@d.e", "9191", "8080", "loyalty", "nonloyal").Replace(body)
	for range 100 {
		if _, err := DecodeJSONBody(customer.OpUpdate, []byte(other)); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the command changed under the parser\n got %+v\nwant %+v", got, want)
	}
}

// TestDecodeJSONBodyConcurrent runs the decoder on several goroutines (go
// test -race catches a parser shared between them).
func TestDecodeJSONBodyConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for _, tc := range apiDocBodies() {
					got, err := DecodeJSONBody(tc.op, []byte(tc.body))
					if err != nil || !reflect.DeepEqual(got, tc.want) {
						t.Errorf("%s: %+v, %v", tc.name, got, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestJSONBodyDepth pins the one known difference: a body nested deeper
// than MaxDepth levels is refused as too large; encoding/json took up to
// 10,000. Real bodies are four deep.
func TestJSONBodyDepth(t *testing.T) {
	nested := func(arrays int) []byte {
		return []byte(`{"unknown":` + strings.Repeat("[", arrays) + strings.Repeat("]", arrays) + `}`)
	}
	checkJSONBody(t, customer.OpRegister, nested(MaxDepth-1)) // MaxDepth levels with the body
	if _, err := DecodeJSONBody(customer.OpRegister, nested(MaxDepth)); ErrorCode(err) != ErrCodeTooLarge {
		t.Errorf("%d levels: %v, want %s", MaxDepth+1, err, ErrCodeTooLarge)
	}
	if _, err := decodeJSONBodyOld(customer.OpRegister, nested(MaxDepth)); err != nil {
		t.Errorf("old decoder, %d levels: %v", MaxDepth+1, err)
	}
}

// jsonGen writes random command bodies as JSON text, so that it can write
// what encoding/json's encoder never would: repeated keys, escapes, number
// literals, wrong shapes, broken syntax.
type jsonGen struct {
	r *rand.Rand
	b bytes.Buffer
}

func (g *jsonGen) pick(options ...string) string { return options[g.r.IntN(len(options))] }

// chance is true with probability p.
func (g *jsonGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *jsonGen) ws() string {
	if g.chance(0.8) {
		return ""
	}
	return g.pick(" ", "\n", "\t", "\r\n  ", "  ")
}

// command returns an op and a body, usually for that op.
func (g *jsonGen) command() (customer.Op, []byte) {
	op := jsonOps[g.r.IntN(4)]
	if g.chance(0.02) {
		op = jsonOps[4]
	}
	bodyOp := op
	if g.chance(0.1) {
		bodyOp = jsonOps[g.r.IntN(4)]
	}
	g.b.Reset()
	switch {
	case g.chance(0.02):
		g.b.WriteString(g.pick("", " ", "\n", "null", "[]", "[{}]", "1", `"x"`, "true", "{}", "\xEF\xBB\xBF{}"))
	case bodyOp == customer.OpRegister || bodyOp == customer.OpUpdate:
		g.customerBody()
	case bodyOp == customer.OpChangeIdentifier:
		g.object(map[string]func(){"add": g.identifiers, "remove": g.identifiers})
	default:
		g.object(map[string]func(){
			"communicationId": g.integer, "campaignId": g.integer, "reason": g.textValue,
			"scope":         func() { g.object(map[string]func(){"scope": g.textValue, "subScope": g.textValue}) },
			"subscriptions": func() { g.list(g.subscription) },
		})
	}
	body := bytes.Clone(g.b.Bytes())
	if g.chance(0.15) {
		body = g.corrupt(body)
	}
	if g.chance(0.05) {
		body = append([]byte("\xEF\xBB\xBF"), body...)
	}
	return op, body
}

// corrupt breaks body's syntax, or at times only seems to.
func (g *jsonGen) corrupt(body []byte) []byte {
	i := g.r.IntN(len(body) + 1)
	switch g.r.IntN(4) {
	case 0:
		return body[:i]
	case 1:
		return append(body, g.pick(" x", "}", "]", " {}", "\n", "  ", ",", "0", " null")...)
	case 2:
		tok := g.pick("01", "+1", "NaN", "\x01", `\x`, ",", "]", "}", ":", `"`, "1.", "-", "tru", "\\u12", " ", "\xff")
		return append(body[:i:i], append([]byte(tok), body[i:]...)...)
	default:
		if i < len(body) {
			body[i] = g.pick("{", "}", "[", "]", ",", ":", `"`, "\\", "0", "e", " ")[0]
		}
		return body
	}
}

func (g *jsonGen) customerBody() {
	g.object(map[string]func(){
		"profiles":       func() { g.list(g.profile) },
		"loyaltyInfo":    func() { g.object(map[string]func(){"loyaltyType": g.textValue, "_comment": g.textValue}) },
		"extendedFields": func() { g.textMap(g.textValue) },
		"attributionV2":  func() { g.object(map[string]func(){"createDate": g.textValue, "createdBy": g.anyValue}) },
	})
}

func (g *jsonGen) profile() {
	g.object(map[string]func(){
		"firstName": g.textValue, "lastName": g.textValue, "source": g.textValue, "accountId": g.textValue,
		"fields":       func() { g.textMap(g.textValue) },
		"identifiers":  g.identifiers,
		"commChannels": func() { g.list(g.commChannel) },
	})
}

func (g *jsonGen) identifiers() {
	g.list(func() { g.object(map[string]func(){"type": g.textValue, "value": g.textValue}) })
}

func (g *jsonGen) commChannel() {
	g.object(map[string]func(){
		"type": g.textValue, "value": g.textValue, "primary": g.flag, "verified": g.flag,
		"meta": func() { g.textMap(g.flag) },
	})
}

func (g *jsonGen) subscription() {
	g.object(map[string]func(){"channel": g.textValue, "accountId": g.textValue, "priority": g.textValue, "type": g.textValue})
}

// object writes an object with some of fields (in random order), at times
// a field twice, an unknown key or an escaped key. At times it writes a
// wrong shape instead.
func (g *jsonGen) object(fields map[string]func()) {
	if g.chance(0.03) {
		g.wrongShape()
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	g.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	g.b.WriteString("{" + g.ws())
	n := 0
	member := func(key string, value func()) {
		if n > 0 {
			g.b.WriteString(g.ws() + "," + g.ws())
		}
		n++
		g.b.WriteString(key + g.ws() + ":" + g.ws())
		value()
	}
	for _, k := range keys {
		if g.chance(0.25) {
			continue
		}
		key := strconv.Quote(k)
		if g.chance(0.03) { // the same key, escaped
			key = `"\u` + fmt.Sprintf("%04x", k[0]) + k[1:] + `"`
		}
		member(key, fields[k])
		if g.chance(0.04) { // given twice: the last wins
			member(key, fields[k])
		}
		if g.chance(0.05) {
			member(g.pick(`"_comment"`, `"unknown"`, `"createdBy"`, `""`, `"x\u00e9"`), g.anyValue)
		}
	}
	g.b.WriteString(g.ws() + "}")
}

// list writes a list of elem, at times empty, null, not a list, or with an
// element that is not an object.
func (g *jsonGen) list(elem func()) {
	switch {
	case g.chance(0.03):
		g.wrongShape()
		return
	case g.chance(0.03):
		g.b.WriteString("null")
		return
	}
	g.b.WriteString("[" + g.ws())
	for i := range g.r.IntN(4) {
		if i > 0 {
			g.b.WriteString("," + g.ws())
		}
		if g.chance(0.02) {
			g.scalar()
		} else {
			elem()
		}
	}
	g.b.WriteString(g.ws() + "]")
}

// textMap writes an object of values: custom fields or meta.
func (g *jsonGen) textMap(value func()) {
	if g.chance(0.03) {
		g.wrongShape()
		return
	}
	g.b.WriteString("{")
	for i := range g.r.IntN(5) {
		if i > 0 {
			g.b.WriteString("," + g.ws())
		}
		if g.chance(0.1) { // a repeated key
			g.b.WriteString(g.pick(`"a"`, `"b"`, `"\u0061"`))
		} else {
			g.str()
		}
		g.b.WriteString(":")
		value()
	}
	g.b.WriteString("}")
}

func (g *jsonGen) wrongShape() {
	g.b.WriteString(g.pick(`{}`, `{"n":1}`, `[]`, `["x"]`, `"text"`, `42`, `true`, `[{}]`))
}

// textValue is a string, a number, a boolean or null, now and then an
// object or an array.
func (g *jsonGen) textValue() {
	if g.chance(0.03) {
		g.wrongShape()
		return
	}
	g.scalar()
}

func (g *jsonGen) scalar() {
	switch g.r.IntN(10) {
	case 0, 1:
		g.number()
	case 2:
		g.b.WriteString(g.pick("true", "false"))
	case 3:
		g.b.WriteString("null")
	default:
		g.str()
	}
}

func (g *jsonGen) number() {
	g.b.WriteString(g.pick("0", "-0", "7", "-1", "42", "919111111111", "12345678901234567890123",
		"1.50", "0.0", "1e3", "1E+2", "-1.5e-7", "2.5E10", "1e999", "9223372036854775807", "-9223372036854775808", "9223372036854775808"))
}

func (g *jsonGen) flag() {
	if g.chance(0.9) {
		g.b.WriteString(g.pick("true", "false", `"true"`, `"false"`, `"TRUE"`, `"False"`, `" true "`, `""`, "null", `"\u0074rue"`))
		return
	}
	g.b.WriteString(g.pick(`"yes"`, "1", "0", `{}`, `[]`, `"truee"`, `"falſe"`))
}

func (g *jsonGen) integer() {
	if g.chance(0.85) {
		g.b.WriteString(g.pick("-1", "0", "17", "-0", `"17"`, `" 42 "`, `"-1"`, "null", "9223372036854775807", `"9223372036854775807"`, `"-9223372036854775808"`))
		return
	}
	g.b.WriteString(g.pick("1.5", "1e3", `"x"`, `""`, "9223372036854775808", `"9223372036854775808"`, "true", "[]", "{}", `"1_000"`, `"+5"`))
}

// anyValue is any JSON value, nested a little: the value of an unknown key.
func (g *jsonGen) anyValue() { g.anyDepth(3) }

func (g *jsonGen) anyDepth(depth int) {
	if depth == 0 || g.chance(0.5) {
		g.scalar()
		return
	}
	if g.chance(0.5) {
		g.b.WriteString("[")
		for i := range g.r.IntN(3) {
			if i > 0 {
				g.b.WriteString(",")
			}
			g.anyDepth(depth - 1)
		}
		g.b.WriteString("]")
		return
	}
	g.b.WriteString("{")
	for i := range g.r.IntN(3) {
		if i > 0 {
			g.b.WriteString(",")
		}
		g.str()
		g.b.WriteString(":")
		g.anyDepth(depth - 1)
	}
	g.b.WriteString("}")
}

// jsonStringPieces make up generated strings: plain text, every escape,
// surrogate pairs and lone surrogates, raw UTF-8 and invalid bytes.
var jsonStringPieces = []string{
	"Tom", "a@b.c", " ", "919111111111", "true", "FALSE", "é", "王小明", "🚀", "\x7f",
	`\n`, `\"`, `\\`, `\/`, `\t`, `\b`, `\f`, `\r`, `\u00e9`, `\u00E9`, `\u0000`, `\u0041`, `\u2028`,
	`\ud83d\ude80`, `\uD83D\uDE80`, `\ud800`, `\udc00`, `\ud800\u0041`, `\ud800\ud800\udc00`, `\udbff\udfff`, `\\ud800`,
	"\xff", "\xc3", "\xed\xa0\x80", "\xf0\x9f\x9a",
}

func (g *jsonGen) str() {
	g.b.WriteByte('"')
	for range g.r.IntN(4) {
		g.b.WriteString(jsonStringPieces[g.r.IntN(len(jsonStringPieces))])
	}
	if g.chance(0.01) { // a raw control character: not JSON
		g.b.WriteString(g.pick("\t", "\x01", "\n"))
	}
	g.b.WriteByte('"')
}
