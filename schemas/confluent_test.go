package schemas

import (
	"context"
	"encoding/binary"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/custream/custream/processor/customer"
)

// countingRegistry counts SchemaByID calls, to check the id cache.
type countingRegistry struct {
	Registry
	lookups atomic.Int32
}

func (c *countingRegistry) SchemaByID(ctx context.Context, id int) (string, error) {
	c.lookups.Add(1)
	return c.Registry.SchemaByID(ctx, id)
}

func newFakeRegistry(t *testing.T) (*srfake.Registry, *countingRegistry) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return fake, &countingRegistry{Registry: NewSRRegistry(cl)}
}

func TestConfluentRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, reg := newFakeRegistry(t)
	cf := NewConfluent(reg)
	if _, err := cf.EncodeCommand(sampleCommands()[0]); err == nil {
		t.Error("EncodeCommand before RegisterCommand succeeded")
	}
	id, err := cf.RegisterCommand(ctx, "customers.instore-value")
	if err != nil {
		t.Fatal(err)
	}
	// A second process registering the same schema gets the same id.
	if id2, err := NewConfluent(reg).RegisterCommand(ctx, "customers.instore-value"); err != nil || id2 != id {
		t.Errorf("re-register: id %d, %v; want %d", id2, err, id)
	}
	reader := NewConfluent(reg) // a consumer that never registered anything
	for _, cmd := range sampleCommands() {
		b, err := cf.EncodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		// franz-go's own reading of the header agrees with ours.
		gotID, rest, err := (&sr.ConfluentHeader{}).DecodeID(b)
		if err != nil || gotID != id || len(rest) != len(b)-5 {
			t.Errorf("sr.ConfluentHeader.DecodeID = %d, %d bytes, %v; want id %d", gotID, len(rest), err, id)
		}
		if Detect(b) != EncodingConfluent {
			t.Errorf("Detect = %s", Detect(b))
		}
		got, enc, err := Decode(ctx, reader, nil, b)
		if err != nil || enc != EncodingConfluent {
			t.Fatalf("decode: %v (%s)", err, enc)
		}
		if !reflect.DeepEqual(got, cmd) {
			t.Errorf("round trip\n got %+v\nwant %+v", got, cmd)
		}
	}
	if n := reg.lookups.Load(); n != 1 {
		t.Errorf("registry asked %d times for one id, want 1", n)
	}
}

// foreignSchema is another team's envelope: another namespace, an extra
// field, no source or time, accountId and op as plain strings, the body's
// branches in another order. Fields match ours by name.
const foreignSchema = `{"type":"record","name":"CustomerCommand","namespace":"com.acme.crm","fields":[
  {"name":"requestId","type":"string"},
  {"name":"org","type":"long"},
  {"name":"op","type":"string"},
  {"name":"accountId","type":"string"},
  {"name":"customerId","type":"long"},
  {"name":"producedBy","type":"string"},
  {"name":"body","type":[
    {"type":"record","name":"ChangeIdentifierBody","fields":[
      {"name":"add","type":{"type":"array","items":{"type":"record","name":"Identifier","fields":[
        {"name":"type","type":"string"},{"name":"value","type":"string"}]}}}]},
    {"type":"record","name":"CustomerBody","fields":[
      {"name":"profiles","type":{"type":"array","items":{"type":"record","name":"P","fields":[
        {"name":"firstName","type":"string"},
        {"name":"identifiers","type":{"type":"array","items":"Identifier"}}]}}}]}
  ]}
]}`

func TestConfluentForeignWriterSchema(t *testing.T) {
	ctx := context.Background()
	fake, reg := newFakeRegistry(t)
	id, _, err := fake.RegisterSchema("acme-commands", sr.Schema{Schema: foreignSchema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(foreignSchema)
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]any{
		"requestId": "acme-1", "org": int64(7), "op": "changeIdentifier", "accountId": "22232",
		"customerId": int64(418), "producedBy": "crm",
		"body": goavro.Union("com.acme.crm.ChangeIdentifierBody", map[string]any{
			"add": []any{map[string]any{"type": "wechat", "value": "ray11"}},
		}),
	}
	b := binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	if b, err = codec.BinaryFromNative(b, native); err != nil {
		t.Fatal(err)
	}
	got, err := NewConfluent(reg).DecodeCommand(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	want := customer.Command{
		RequestID: "acme-1", Org: 7, Op: customer.OpChangeIdentifier, AccountID: "22232", CustomerID: 418,
		ChangeIdentifier: &customer.ChangeIdentifierBody{Add: []customer.Identifier{{Type: "wechat", Value: "ray11"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}

	// The op must match the body's branch.
	native["op"] = "register"
	b = binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	b, _ = codec.BinaryFromNative(b, native)
	if _, err := NewConfluent(reg).DecodeCommand(ctx, b); ErrorCode(err) != ErrCodeUndecodable {
		t.Errorf("op/body mismatch: %v", err)
	}
}

func TestConfluentErrors(t *testing.T) {
	ctx := context.Background()
	fake, reg := newFakeRegistry(t)
	cf := NewConfluent(reg)

	_, err := cf.DecodeCommand(ctx, []byte{0, 0, 0, 0x30, 0x39, 2})
	if ErrorCode(err) != ErrCodeUnknownSchema || Retryable(err) {
		t.Errorf("unknown id: %v (code %s)", err, ErrorCode(err))
	}
	if _, err := cf.DecodeCommand(ctx, []byte{0, 0, 1}); ErrorCode(err) != ErrCodeUndecodable {
		t.Errorf("truncated header: %v", err)
	}
	id, err := cf.RegisterCommand(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cf.EncodeCommand(sampleCommands()[0])
	if _, err := cf.DecodeCommand(ctx, b[:len(b)-4]); ErrorCode(err) != ErrCodeUndecodable {
		t.Errorf("truncated body: %v", err)
	}

	// A registry that cannot be reached is not the record's fault.
	fake.Close()
	other := append([]byte{}, b...)
	binary.BigEndian.PutUint32(other[1:], uint32(id+1))
	_, err = NewConfluent(reg).DecodeCommand(ctx, other)
	if ErrorCode(err) != ErrCodeRegistryUnavailable || !Retryable(err) {
		t.Errorf("registry down: %v (code %s)", err, ErrorCode(err))
	}
	// But an id already cached still decodes.
	if _, err := cf.DecodeCommand(ctx, b); err != nil {
		t.Errorf("cached id with registry down: %v", err)
	}
}

// TestConfluentNegativeCache: an id the registry does not know, or whose
// schema is unusable, is asked for once per retry interval; a registry
// that cannot be reached is asked again at once.
func TestConfluentNegativeCache(t *testing.T) {
	ctx := context.Background()
	fake, reg := newFakeRegistry(t)
	cf := NewConfluent(reg)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cf.now = func() time.Time { return clock }
	cmd := sampleCommands()[2]

	// Id 2 is not registered yet; the fake will give it to the second
	// schema registered.
	first, _, err := fake.RegisterSchema("a", sr.Schema{Schema: Schema(KindCommand), Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	later := first + 1
	value := func(id int) []byte {
		b, err := encodeConfluentWith(id, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for range 3 {
		if _, err := cf.DecodeCommand(ctx, value(later)); ErrorCode(err) != ErrCodeUnknownSchema {
			t.Fatalf("unknown id: %v", err)
		}
	}
	if n := reg.lookups.Load(); n != 1 {
		t.Errorf("registry asked %d times for one unknown id within the interval, want 1", n)
	}
	// Registered meanwhile (under another subject): found once the
	// interval is over, not before.
	if id, _, err := fake.RegisterSchema("b", sr.Schema{Schema: foreignSchema, Type: sr.TypeAvro}); err != nil || id != later {
		t.Fatalf("fake gave id %d, %v; want %d", id, err, later)
	}
	clock = clock.Add(retryUnknownSchema - time.Second)
	if _, err := cf.DecodeCommand(ctx, value(later)); ErrorCode(err) != ErrCodeUnknownSchema {
		t.Errorf("within the interval: %v", err)
	}
	clock = clock.Add(time.Second)
	if _, err := cf.DecodeCommand(ctx, value(later)); ErrorCode(err) == ErrCodeUnknownSchema {
		t.Errorf("after the interval: %v", err)
	}
	if n := reg.lookups.Load(); n != 2 {
		t.Errorf("registry asked %d times, want 2", n)
	}

	// An unusable schema (items of zero bytes) is remembered for longer.
	bad, _, err := fake.RegisterSchema("c", sr.Schema{Schema: schemaArrayOfNull, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	reg.lookups.Store(0)
	for range 3 {
		_, err := cf.DecodeCommand(ctx, confluentValue(bad, []byte{0}))
		if ErrorCode(err) != ErrCodeUnknownSchema || !strings.Contains(err.Error(), "zero bytes") {
			t.Fatalf("array of null: %v", err)
		}
	}
	clock = clock.Add(retryUnknownSchema)
	if _, err := cf.DecodeCommand(ctx, confluentValue(bad, []byte{0})); ErrorCode(err) != ErrCodeUnknownSchema {
		t.Fatalf("array of null: %v", err)
	}
	if n := reg.lookups.Load(); n != 1 {
		t.Errorf("registry asked %d times for an unusable schema, want 1", n)
	}
	clock = clock.Add(retryUnusableSchema)
	cf.DecodeCommand(ctx, confluentValue(bad, []byte{0}))
	if n := reg.lookups.Load(); n != 2 {
		t.Errorf("registry asked %d times after the unusable interval, want 2", n)
	}

	// A registry down is not the id's fault: asked every time.
	fake.Close()
	reg.lookups.Store(0)
	for range 2 {
		if _, err := cf.DecodeCommand(ctx, value(later+10)); !Retryable(err) {
			t.Fatalf("registry down: %v", err)
		}
	}
	if n := reg.lookups.Load(); n != 2 {
		t.Errorf("registry down: asked %d times, want 2", n)
	}
}

// schemaArrayOfNull is the registry schema of issue 10: 128 bytes could
// claim 2^31 items of it.
const schemaArrayOfNull = `{"type":"record","name":"X","fields":[{"name":"a","type":{"type":"array","items":"null"}}]}`

// confluentValue is a Confluent wire-format value of schema id.
func confluentValue(id int, datum []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), datum...)
}

// encodeConfluentWith is cmd in the Confluent wire format under schema id,
// written with command.avsc.
func encodeConfluentWith(id int, cmd customer.Command) ([]byte, error) {
	b, err := EncodeCommand(cmd)
	if err != nil {
		return nil, err
	}
	return confluentValue(id, b[soeHeaderLen:]), nil
}

// TestConfluentNegativeCacheBound: at most negativeCacheSize ids are
// remembered, the least recently used forgotten first.
func TestConfluentNegativeCacheBound(t *testing.T) {
	ctx := context.Background()
	reg := &countingRegistry{Registry: mapRegistry{}}
	cf := NewConfluent(reg)
	for id := 1; id <= negativeCacheSize+1; id++ {
		if _, err := cf.DecodeCommand(ctx, confluentValue(id, []byte{0})); ErrorCode(err) != ErrCodeUnknownSchema {
			t.Fatalf("id %d: %v", id, err)
		}
	}
	if n := cf.refused.len(); n != negativeCacheSize {
		t.Errorf("%d ids remembered, want %d", n, negativeCacheSize)
	}
	reg.lookups.Store(0)
	cf.DecodeCommand(ctx, confluentValue(negativeCacheSize+1, []byte{0})) // remembered
	cf.DecodeCommand(ctx, confluentValue(1, []byte{0}))                   // forgotten: the oldest
	if n := reg.lookups.Load(); n != 1 {
		t.Errorf("registry asked %d times, want 1 (for the evicted id)", n)
	}
}
