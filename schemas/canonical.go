package schemas

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Parsing Canonical Form and CRC-64-AVRO fingerprints, per the Avro
// specification ("Parsing Canonical Form for Schemas", "Schema
// Fingerprints"). Written here rather than taken from goavro because
// goavro's (Codec.CanonicalSchema, Codec.Rabin) disagrees with the
// specification twice: it keeps a logical type's primitive as
// {"type":"long"} where the spec has "long", and it writes a recursive
// reference (Profile inside Profile) sometimes by full name, sometimes by
// short name, so its fingerprint of snapshot.avsc changes from one process
// to the next. Fingerprints must match other languages' and be stable.

var primitiveTypes = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true}

// parsingCanonicalForm returns schema in Parsing Canonical Form: primitives
// as bare names, named types by full name, only the attributes type, name,
// fields, symbols, items, values and size kept, in that order, no
// whitespace.
func parsingCanonicalForm(schema string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(schema))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("canonical form: %w", err)
	}
	var b strings.Builder
	if err := writeCanonical(&b, v, ""); err != nil {
		return "", fmt.Errorf("canonical form: %w", err)
	}
	return b.String(), nil
}

func writeCanonical(b *strings.Builder, v any, ns string) error {
	switch s := v.(type) {
	case string:
		if primitiveTypes[s] {
			writeQuoted(b, s)
		} else {
			writeQuoted(b, qualify(s, ns))
		}
		return nil
	case []any: // a union
		b.WriteByte('[')
		for i, m := range s {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, m, ns); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case map[string]any:
		return writeCanonicalObject(b, s, ns)
	}
	return fmt.Errorf("unexpected %T in schema", v)
}

func writeCanonicalObject(b *strings.Builder, s map[string]any, ns string) error {
	typ, _ := s["type"].(string)
	switch typ {
	case "record", "error", "enum", "fixed":
		name, _ := s["name"].(string)
		if name == "" {
			return fmt.Errorf("%s without a name", typ)
		}
		if nsv, ok := s["namespace"].(string); ok && !strings.Contains(name, ".") {
			ns = nsv
		}
		full := qualify(name, ns)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i] // the namespace of everything nested
		} else {
			ns = ""
		}
		if typ == "error" {
			typ = "record"
		}
		b.WriteString(`{"name":`)
		writeQuoted(b, full)
		b.WriteString(`,"type":`)
		writeQuoted(b, typ)
		switch typ {
		case "record":
			fields, ok := s["fields"].([]any)
			if !ok {
				return fmt.Errorf("record %s: fields is not a list", full)
			}
			b.WriteString(`,"fields":[`)
			for i, f := range fields {
				fm, ok := f.(map[string]any)
				fname, _ := fm["name"].(string)
				if !ok || fname == "" {
					return fmt.Errorf("record %s: field %d has no name", full, i)
				}
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"name":`)
				writeQuoted(b, fname)
				b.WriteString(`,"type":`)
				if err := writeCanonical(b, fm["type"], ns); err != nil {
					return err
				}
				b.WriteByte('}')
			}
			b.WriteByte(']')
		case "enum":
			syms, _ := s["symbols"].([]any)
			b.WriteString(`,"symbols":[`)
			for i, sym := range syms {
				str, ok := sym.(string)
				if !ok {
					return fmt.Errorf("enum %s: symbol %d is not a string", full, i)
				}
				if i > 0 {
					b.WriteByte(',')
				}
				writeQuoted(b, str)
			}
			b.WriteByte(']')
		case "fixed":
			size, ok := s["size"].(json.Number)
			if !ok {
				return fmt.Errorf("fixed %s: size is not a number", full)
			}
			b.WriteString(`,"size":` + size.String())
		}
		b.WriteByte('}')
		return nil
	case "array":
		b.WriteString(`{"type":"array","items":`)
		if err := writeCanonical(b, s["items"], ns); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	case "map":
		b.WriteString(`{"type":"map","values":`)
		if err := writeCanonical(b, s["values"], ns); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	}
	if s["type"] == nil {
		return fmt.Errorf("schema object without a type")
	}
	// {"type":"long","logicalType":…}, {"type":"string"}, {"type":{…}}: the
	// type alone.
	return writeCanonical(b, s["type"], ns)
}

func qualify(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func writeQuoted(b *strings.Builder, s string) {
	q, _ := json.Marshal(s) // cannot fail for a string
	b.Write(q)
}

const crc64Empty = 0xc15d213aa4d7a795

// crc64Table is the table of the specification's reference algorithm.
var crc64Table = func() (t [256]uint64) {
	for i := range t {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (crc64Empty & -(fp & 1))
		}
		t[i] = fp
	}
	return t
}()

// crc64Avro is the CRC-64-AVRO (Rabin) fingerprint of buf.
func crc64Avro(buf []byte) uint64 {
	fp := uint64(crc64Empty)
	for _, b := range buf {
		fp = (fp >> 8) ^ crc64Table[byte(fp)^b]
	}
	return fp
}

// schemaFingerprint is the CRC-64-AVRO fingerprint of schema's canonical
// form.
func schemaFingerprint(schema string) (uint64, error) {
	pcf, err := parsingCanonicalForm(schema)
	if err != nil {
		return 0, err
	}
	return crc64Avro([]byte(pcf)), nil
}
