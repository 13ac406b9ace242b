package schemas

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The single-object header must carry the fingerprint any Avro
// implementation computes, or other languages' readers will not find our
// schemas. So the test recomputes it independently of goavro: the Parsing
// Canonical Form and CRC-64-AVRO exactly as the Avro specification
// describes them.

// testCRC64Avro is the specification's reference algorithm ("Schema
// Fingerprints"): Rabin fingerprint with EMPTY = 0xc15d213aa4d7a795.
func testCRC64Avro(buf []byte) uint64 {
	const empty = 0xc15d213aa4d7a795
	var table [256]uint64
	for i := range table {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (empty & -(fp & 1))
		}
		table[i] = fp
	}
	fp := uint64(empty)
	for _, b := range buf {
		fp = (fp >> 8) ^ table[byte(fp)^b]
	}
	return fp
}

// testCanonicalForm transforms a schema to Parsing Canonical Form: primitives
// as bare names, full names, only type/name/fields/symbols/items/values/size
// kept, in that order, no whitespace.
func testCanonicalForm(t *testing.T, schema string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(schema))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return canon(v, "")
}

var primitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func canon(v any, ns string) string {
	switch s := v.(type) {
	case string:
		if primitives[s] {
			return quote(s)
		}
		return quote(fullName(s, ns))
	case []any:
		parts := make([]string, len(s))
		for i, m := range s {
			parts[i] = canon(m, ns)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		typ := s["type"]
		name, _ := typ.(string)
		switch name {
		case "record", "enum", "fixed":
			n := s["name"].(string)
			if nsv, ok := s["namespace"].(string); ok && !strings.Contains(n, ".") {
				ns = nsv
			}
			full := fullName(n, ns)
			if i := strings.LastIndexByte(full, '.'); i >= 0 {
				ns = full[:i]
			}
			out := `{"name":` + quote(full) + `,"type":` + quote(name)
			switch name {
			case "record":
				var fs []string
				for _, f := range s["fields"].([]any) {
					fm := f.(map[string]any)
					fs = append(fs, `{"name":`+quote(fm["name"].(string))+`,"type":`+canon(fm["type"], ns)+`}`)
				}
				out += `,"fields":[` + strings.Join(fs, ",") + `]`
			case "enum":
				var ss []string
				for _, sym := range s["symbols"].([]any) {
					ss = append(ss, quote(sym.(string)))
				}
				out += `,"symbols":[` + strings.Join(ss, ",") + `]`
			case "fixed":
				out += `,"size":` + s["size"].(json.Number).String()
			}
			return out + "}"
		case "array":
			return `{"type":"array","items":` + canon(s["items"], ns) + `}`
		case "map":
			return `{"type":"map","values":` + canon(s["values"], ns) + `}`
		}
		return canon(typ, ns) // {"type":"long","logicalType":…} is just "long"
	}
	panic(fmt.Sprintf("unexpected schema node %T", v))
}

func TestCRC64AvroSpecVectors(t *testing.T) {
	// From the Avro project's share/test/data/schema-tests.txt (signed).
	for _, tc := range []struct {
		canonical string
		want      int64
	}{
		{`"null"`, 7195948357588979594},
		{`"boolean"`, -6970731678124411036},
		{`"int"`, 8247732601305521295},
		{`"long"`, -3434872931120570953},
		{`{"name":"foo","type":"fixed","size":15}`, 1756455273707447556},
		{`{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}`, 7843277075252814651},
		{`{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}`, -1759257747318642341},
	} {
		if got := int64(testCRC64Avro([]byte(tc.canonical))); got != tc.want {
			t.Errorf("crc64Avro(%s) = %d, want %d", tc.canonical, got, tc.want)
		}
	}
}

// TestLogicalTypeCanonical: goavro writes a logical type's primitive as
// {"type":"long"} in canonical form; the specification (and Java, Python)
// write "long". Our fingerprints follow the specification.
//
// The snapshot schema's recursive Profile reference is the other case
// where goavro is unreliable (short or full name, varying by run);
// TestFingerprintsIndependent checks ours against the test's own
// canonicalizer, and TestFingerprintStable that it never varies.
func TestLogicalTypeCanonical(t *testing.T) {
	const schema = `{"type":"long","logicalType":"timestamp-millis"}`
	if got, err := parsingCanonicalForm(schema); err != nil || got != `"long"` {
		t.Errorf("canonical form = %s, %v; want \"long\"", got, err)
	}
	if got, err := schemaFingerprint(schema); err != nil || int64(got) != -3434872931120570953 {
		t.Errorf("fingerprint = %d, %v; want the spec's for \"long\"", int64(got), err)
	}
}

func TestFingerprintsIndependent(t *testing.T) {
	one := sampleCommands()[0]
	encoded := map[Kind][]byte{}
	var err error
	if encoded[KindCommand], err = EncodeCommand(one); err != nil {
		t.Fatal(err)
	}
	if encoded[KindResult], err = EncodeResult(sampleResult()); err != nil {
		t.Fatal(err)
	}
	if encoded[KindMerge], err = EncodeMerge(sampleMerge()); err != nil {
		t.Fatal(err)
	}
	if encoded[KindSnapshot], err = EncodeSnapshot(sampleCustomer()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []Kind{KindCommand, KindResult, KindMerge, KindSnapshot} {
		pcf := testCanonicalForm(t, Schema(k))
		if pcf != CanonicalSchema(k) {
			t.Errorf("%s: canonical form differs:\ntest:    %s\nschemas: %s", k, pcf, CanonicalSchema(k))
		}
		want := testCRC64Avro([]byte(pcf))
		if Fingerprint(k) != want {
			t.Errorf("%s: Fingerprint = %016x, want %016x", k, Fingerprint(k), want)
		}
		hdr := append([]byte{0xC3, 0x01}, binary.LittleEndian.AppendUint64(nil, want)...)
		if !bytes.HasPrefix(encoded[k], hdr) {
			t.Errorf("%s: encoded header % x, want % x", k, encoded[k][:10], hdr)
		}
	}
}

func TestFingerprintStable(t *testing.T) {
	for range 50 {
		for _, k := range []Kind{KindCommand, KindResult, KindMerge, KindSnapshot} {
			if fp, err := schemaFingerprint(Schema(k)); err != nil || fp != Fingerprint(k) {
				t.Fatalf("%s: fingerprint %016x, %v; want %016x", k, fp, err, Fingerprint(k))
			}
		}
	}
}

func TestCanonicalFormErrors(t *testing.T) {
	for _, s := range []string{``, `{`, `{"type":"record"}`, `{"type":"record","name":"x","fields":3}`, `{"name":"x"}`, `3`} {
		if _, err := parsingCanonicalForm(s); err == nil {
			t.Errorf("parsingCanonicalForm(%s) succeeded", s)
		}
	}
}
