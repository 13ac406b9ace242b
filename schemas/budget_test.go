package schemas

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// The decoding budget, measured: every decoder, given a hostile record,
// allocates at most its bound (below) for the record's length. Allocation is the
// runtime's TotalAlloc delta around one decode, after two garbage
// collections (which also empty the JSON reader pool, so a decode starts
// cold); the tests that measure are not parallel, so nothing else
// allocates meanwhile.

// The bounds the decoders are held to, bytes allocated for an input of n
// bytes: 64 KiB for what does not grow with the input (a parsed writer
// schema, error messages, the pooled JSON reader's fixed part), plus
//   - our Avro decoder (avrodec.go): 32 a byte; at most 17 measured (a
//     datum of empty profiles: a 120-byte ProfileInput for 7 bytes);
//   - JSON (jsontape.go): 48 a byte; at most 46 measured, for a list of
//     empty profiles (120 bytes for "{},"), under 9 for every other body;
//     the item cap keeps it under 14 MB whatever the size;
//   - goavro (foreign writer schemas, output records): 64 a byte, what
//     goavroBudget lets through, as goavro spends a map on every record.
func avroAllocBound(n int) uint64   { return 32*uint64(n) + 64<<10 }
func jsonAllocBound(n int) uint64   { return 48*uint64(n) + 64<<10 }
func goavroAllocBound(n int) uint64 { return 64*uint64(n) + 64<<10 }

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostile is one hostile record, how to decode it and the bound.
type hostile struct {
	name   string
	value  []byte
	decode func(value []byte) error
	bound  func(n int) uint64
}

// commandPrefix is a single-object command.avsc datum up to its body: an
// empty request id, org 7, op, empty source, null accountId, customerId
// and time, and the body branch.
func commandPrefix(op int64, branch int64) []byte {
	b := appendSingleObjectHeader(nil, KindCommand)
	b = append(b, 0)          // requestId ""
	b = appendLong(b, 7)      // org
	b = appendLong(b, op)     // op enum
	b = append(b, 0, 0, 0, 0) // source "", accountId, customerId, time null
	return appendLong(b, branch)
}

// padTo appends zero bytes until b is n long.
func padTo(b []byte, n int) []byte {
	if len(b) < n {
		b = append(b, make([]byte, n-len(b))...)
	}
	return b
}

// Writer schemas a registry may hold.
const (
	schemaMapOfNull   = `{"type":"record","name":"X","fields":[{"name":"a","type":{"type":"map","values":"null"}}]}`
	schemaEmptyItems  = `{"type":"record","name":"X","fields":[{"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[{"name":"n","type":"null"}]}}}]}`
	schemaFixed0Items = `{"type":"record","name":"X","fields":[{"name":"a","type":{"type":"array","items":{"type":"fixed","name":"F","size":0}}}]}`
	schemaRecursive   = `{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}`
)

var (
	schemaManyNulls = `{"type":"record","name":"X","fields":[{"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[` +
		`{"name":"b","type":"boolean"}` + manyNullFields + `]}}}]}`
)

var manyNullFields = func() string {
	var sb strings.Builder
	for i := range 200 {
		fmt.Fprintf(&sb, `,{"name":"n%d","type":"null"}`, i)
	}
	return sb.String()
}()

// hostileRegistry holds the hostile writer schemas, by id.
var hostileSchemas = map[int]string{
	10: schemaArrayOfNull, 11: schemaMapOfNull, 12: schemaEmptyItems, 13: schemaFixed0Items,
	14: schemaRecursive, 15: schemaManyNulls, 16: foreignSchema,
}

// hostileConfluent returns a codec over a registry of hostileSchemas and
// command.avsc's id there.
func hostileConfluent(t testing.TB) (*Confluent, int) {
	reg := mapRegistry{}
	for id, s := range hostileSchemas {
		reg[id] = s
	}
	cf := NewConfluent(reg)
	id, err := cf.RegisterCommand(context.Background(), "commands")
	if err != nil {
		t.Fatal(err)
	}
	return cf, id
}

// jsonRegister is a register body of one profile with n e-mail
// identifiers of the form: a 24-byte e-mail address gives a 5 MB body of
// 110,000 and a 19-byte one a 1 MiB body of 25,000.
func jsonRegister(n int, email string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"profiles":[{"firstName":"Tom","lastName":"Sawyer","identifiers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"email","value":"`+email+`"}`, i)
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
}

// jsonRepeat is prefix, n copies of item (comma-separated), suffix.
func jsonRepeat(prefix, item, suffix string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(prefix)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ReplaceAll(item, "%d", fmt.Sprint(i)))
	}
	b.WriteString(suffix)
	return b.Bytes()
}

func hostileRecords(t testing.TB) []hostile {
	ctx := context.Background()
	_, commandID := hostileConfluent(t)
	single := func(v []byte) error { _, err := DecodeCommand(v); return err }
	// Each Confluent record gets a codec of its own, so that what is
	// measured includes fetching and parsing the writer schema.
	var confluent func([]byte) error // set by add
	jsonBody := func(op customer.Op) func([]byte) error {
		return func(v []byte) error { _, err := DecodeJSONBody(op, v); return err }
	}
	result := func(v []byte) error { _, err := DecodeResult(v); return err }
	snapshot := func(v []byte) error { _, err := DecodeSnapshot(v); return err }

	var hs []hostile
	add := func(name string, value []byte, decode func([]byte) error) {
		bound := goavroAllocBound
		switch {
		case strings.HasPrefix(name, "json"):
			bound = jsonAllocBound
		case strings.HasPrefix(name, "avro command"):
			bound = avroAllocBound
		}
		if strings.HasPrefix(name, "confluent") {
			cf, _ := hostileConfluent(t)
			decode = func(v []byte) error { _, err := cf.DecodeCommand(ctx, v); return err }
		}
		if strings.HasPrefix(name, "confluent: command.avsc") {
			bound = avroAllocBound
		}
		hs = append(hs, hostile{name, value, decode, bound})
	}

	// command.avsc, our own decoder.
	{
		// A count the bytes could hold at one byte an item, as the
		// decoder checked it before.
		b := commandPrefix(0, 0) // register, CustomerBody
		b = appendLong(b, 262_000)
		add("avro command: 262 KB, profiles block of 262,000", padTo(b, 262_144), single)
	}
	{
		b := commandPrefix(0, 0)
		b = appendLong(b, 1<<31)
		add("avro command: profiles block of 2^31", padTo(b, 128), single)
	}
	{
		b := commandPrefix(2, 1) // changeIdentifier
		b = appendLong(b, 1<<31)
		add("avro command: identifiers block of 2^31", padTo(b, 128), single)
	}
	{
		// All 262 KB really are empty profiles (7 bytes each): the datum
		// is valid, as large as a block can be.
		b := commandPrefix(0, 0)
		n := (262_144 - len(b) - 16) / 7
		b = appendLong(b, int64(n))
		b = append(b, make([]byte, 7*n)...)
		b = append(b, 0, 0, 0, 0) // end of profiles, no loyalty, no extendedFields, no attribution
		add("avro command: 262 KB of empty profiles (valid)", b, single)
	}
	{
		b := commandPrefix(0, 0)
		b = append(b, 0, 0) // no profiles, no loyalty
		b = appendLong(b, 262_000)
		add("avro command: 262 KB, extendedFields block of 262,000", padTo(b, 262_144), single)
	}
	{
		b := commandPrefix(0, 0)
		b = append(b, 2) // one profile
		b = appendLong(b, 1<<40)
		add("avro command: firstName of 2^40 bytes", padTo(b, 128), single)
	}

	// Confluent, registry schemas.
	{
		var d []byte
		for len(d) < 128-5-4 {
			d = appendLong(d, 1<<18-1)
		}
		add("confluent: array of null, blocks of 2^18-1", padTo(confluentValue(10, d), 128), confluent)
	}
	add("confluent: array of null, block of 2^31", padTo(confluentValue(10, appendLong(nil, 1<<31)), 128), confluent)
	add("confluent: map of null, 262 KB, block of 2^18-1",
		padTo(confluentValue(11, appendLong(nil, 1<<18-1)), 262_144), confluent)
	add("confluent: array of empty records, block of 2^31", padTo(confluentValue(12, appendLong(nil, 1<<31)), 128), confluent)
	add("confluent: array of fixed(0), block of 2^31", padTo(confluentValue(13, appendLong(nil, 1<<31)), 128), confluent)
	{
		d := bytes.Repeat([]byte{2}, 100_000) // next: R, R, R, …
		add("confluent: 100 KB of nested records", confluentValue(14, append(d, 0)), confluent)
	}
	{
		n := 100_000
		d := appendLong(nil, int64(n))
		d = append(d, make([]byte, n)...)
		add("confluent: 100k records of 1 byte and 200 null fields", confluentValue(15, append(d, 0)), confluent)
	}
	{
		// foreignSchema: requestId, org, op, accountId, customerId,
		// producedBy, body branch 1 (CustomerBody), profiles.
		d := []byte{0, 14, 0, 0, 0, 0, 2}
		d = appendLong(d, 1<<18-1)
		add("confluent: foreign schema, profiles block of 2^18-1", padTo(confluentValue(16, d), 1024), confluent)
	}
	{
		// Our own command.avsc through the registry (id 1).
		b := commandPrefix(0, 0)[soeHeaderLen:]
		b = appendLong(b, 262_000)
		add("confluent: command.avsc, 262 KB, profiles block of 262,000", padTo(confluentValue(commandID, b), 262_144), confluent)
	}

	// Outputs, decoded with goavro.
	{
		b := appendSingleObjectHeader(nil, KindResult)
		b = append(b, 0, 14, 0, 0, 0, 0, 0) // requestId, org, source, accountId, op, success, createdId
		b = appendLong(b, 1<<18-1)          // subscriptions
		add("avro result: subscriptions block of 2^18-1", padTo(b, 4096), result)
	}
	{
		b := appendSingleObjectHeader(nil, KindSnapshot)
		b = append(b, 2, 14, 0, 2) // id, org, mergedInto null, profiles: branch 1
		b = appendLong(b, 1<<18-1)
		add("avro snapshot: profiles block of 2^18-1", padTo(b, 4096), snapshot)
	}

	// JSON bodies.
	add("json: 1 MiB register, 25k e-mails", jsonRegister(25_000, "c%06d@x.example"), jsonBody(customer.OpRegister))
	add("json: 5 MB register, 110k e-mails", jsonRegister(110_000, "customer.%06d@mail.example"), jsonBody(customer.OpRegister))
	add("json: 1 MiB string", []byte(`{"profiles":[{"firstName":"`+strings.Repeat("a", 1<<20)+`"}]}`), jsonBody(customer.OpRegister))
	add("json: 1 MiB of escapes", []byte(`{"profiles":[{"firstName":"`+strings.Repeat(`\u00e9`, 1<<20/6)+`"}]}`), jsonBody(customer.OpRegister))
	add("json: 299 levels deep", []byte(`{"unknown":`+strings.Repeat("[", 299)+strings.Repeat("]", 299)+`}`), jsonBody(customer.OpRegister))
	add("json: 1 MiB deep", []byte(`{"unknown":`+strings.Repeat("[", 1<<20)+strings.Repeat("]", 1<<20)+`}`), jsonBody(customer.OpRegister))
	add("json: 1 MiB of small numbers", jsonRepeat(`{"unknown":[`, `0`, `]}`, 1<<19), jsonBody(customer.OpRegister))
	add("json: 1 MiB of empty arrays", jsonRepeat(`{"unknown":[`, `[]`, `]}`, 1<<18), jsonBody(customer.OpRegister))
	add("json: 1 MiB of fields keys", jsonRepeat(`{"profiles":[{"fields":{`, `"k%d":"v"`, `}}]}`, 80_000), jsonBody(customer.OpRegister))
	add("json: 1 MiB of repeated fields key", jsonRepeat(`{"profiles":[{"fields":{`, `"k":1`, `}}]}`, 1<<20/6), jsonBody(customer.OpRegister))
	add("json: 1 MiB of extendedFields keys", jsonRepeat(`{"extendedFields":{`, `"k%d":%d`, `}}`, 80_000), jsonBody(customer.OpUpdate))
	add("json: 1 MiB of empty profiles", jsonRepeat(`{"profiles":[`, `{}`, `]}`, 1<<20/3), jsonBody(customer.OpRegister))
	add("json: 100k empty profiles", jsonRepeat(`{"profiles":[`, `{}`, `]}`, MaxDatumItems), jsonBody(customer.OpRegister))
	add("json: 1 MiB of empty identifiers", jsonRepeat(`{"add":[`, `{}`, `]}`, 1<<20/3), jsonBody(customer.OpChangeIdentifier))
	add("json: 1 MiB of meta flags", jsonRepeat(`{"profiles":[{"commChannels":[{"meta":{`, `"m%d":true`, `}}]}]}`, 80_000), jsonBody(customer.OpRegister))
	return hs
}

// TestDecodeBudget holds every decoder to its bound on hostile records.
func TestDecodeBudget(t *testing.T) {
	for _, h := range hostileRecords(t) {
		var err error
		got := allocated(func() { err = h.decode(h.value) })
		bound := h.bound(len(h.value))
		t.Logf("%-58s %9d bytes: allocated %11d (%5.1f×), err %.80v", h.name, len(h.value), got, float64(got)/float64(len(h.value)), err)
		if got > bound {
			t.Errorf("%s: %d bytes allocated for %d bytes, bound %d", h.name, got, len(h.value), bound)
		}
	}
}

// TestWriterSchemaZeroSize: writer schemas whose array items or map values
// can take zero bytes are refused; one byte is enough.
func TestWriterSchemaZeroSize(t *testing.T) {
	rec := func(fields string) string { return `{"type":"record","name":"X","fields":[` + fields + `]}` }
	arrayOf := func(items string) string { return rec(`{"name":"a","type":{"type":"array","items":` + items + `}}`) }
	for _, tc := range []struct {
		name, schema, err string
	}{
		{"array of null", schemaArrayOfNull, "array items of type null can take zero bytes"},
		{"map of null", schemaMapOfNull, "map values of type null can take zero bytes"},
		{"array of an empty record", arrayOf(`{"type":"record","name":"E","fields":[]}`), "array items of type E can take zero bytes"},
		{"array of a record of nulls", schemaEmptyItems, "array items of type E"},
		{"array of fixed(0)", arrayOf(`{"type":"fixed","name":"F","size":0}`), "array items of type F"},
		{"nested array of null", arrayOf(`{"type":"array","items":"null"}`), "array items of type null"},
		{"a record that must contain itself", `{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}`, "no finite datum"},
		{"array of a one-symbol enum", arrayOf(`{"type":"enum","name":"E","symbols":["a"]}`), ""},
		{"array of a nullable string", arrayOf(`["null","string"]`), ""},
		{"array of fixed(1)", arrayOf(`{"type":"fixed","name":"F","size":1}`), ""},
		{"recursive through a union", schemaRecursive, ""},
		{"foreign envelope", foreignSchema, ""},
	} {
		_, err := parseWriterSchema(tc.schema)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}

// TestCommandMinSizes: avrodec.go's min… constants are the walk's.
func TestCommandMinSizes(t *testing.T) {
	mins := map[string]int{}
	seen := map[*avroType]bool{}
	var visit func(*avroType)
	visit = func(n *avroType) {
		if seen[n] {
			return
		}
		seen[n] = true
		mins[n.name] = n.min
		for _, c := range append(append(n.fields, n.branches...), n.elem) {
			if c != nil {
				visit(c)
			}
		}
	}
	visit(walkSchemas[KindCommand].root)
	for name, want := range map[string]int{
		"io.custream.v1.ProfileInput": minProfileInput, "io.custream.v1.Identifier": minIdentifier,
		"io.custream.v1.CommChannel": minCommChannel, "io.custream.v1.Subscription": minSubscription,
		"string": minStringEntry - 1, "boolean": minBooleanEntry - 1,
	} {
		if got, ok := mins[name]; !ok || got != want {
			t.Errorf("%s: walk says %d (found %v), constant %d", name, got, ok, want)
		}
	}
}

// TestGoavroCostEstimate: the walk's estimate of goavro's allocation is
// never below what goavro allocates, on our output records and on
// foreign commands, so goavroBudget bounds what goavro really does.
func TestGoavroCostEstimate(t *testing.T) {
	g := newRecordGen(77)
	type datum struct {
		k    Kind
		data []byte
	}
	var ds []datum
	for range 200 {
		for _, enc := range []func() ([]byte, error){
			func() ([]byte, error) { return EncodeResult(g.result()) },
			func() ([]byte, error) { return EncodeMerge(g.merge()) },
			func() ([]byte, error) { return EncodeSnapshot(g.customer()) },
			func() ([]byte, error) { return EncodeCommand(g.command()) },
		} {
			b, err := enc()
			if err != nil {
				t.Fatal(err)
			}
			k, _ := SingleObjectKind(b)
			ds = append(ds, datum{k, b[soeHeaderLen:]})
		}
	}
	worst := 0.0
	for _, d := range ds {
		cost, err := walkSchemas[d.k].walk(d.data)
		if err != nil {
			t.Fatal(err)
		}
		got := allocatedNoGC(func() { codecs[d.k].NativeFromBinary(d.data) })
		if got > uint64(cost) {
			t.Errorf("%s of %d bytes: goavro allocated %d, estimate %d", d.k, len(d.data), got, cost)
		}
		worst = max(worst, float64(got)/float64(len(d.data)))
	}
	t.Logf("%d datums; goavro allocated at most %.1f bytes a byte", len(ds), worst)
}

// allocatedNoGC is allocated without the collections, for loops and fuzz
// targets.
func allocatedNoGC(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
