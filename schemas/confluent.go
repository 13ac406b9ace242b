package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/custream/custream/processor/customer"
)

// Confluent wire format: a 00 magic byte, the writer schema's registry id
// as 4 bytes big-endian, then the Avro binary encoding of the datum (no
// single-object header).
const confluentHeaderLen = 5

// Registry is what the Confluent form needs of a schema registry. Small on
// purpose, so the processor can plug franz-go's sr.Client (NewSRRegistry)
// and tests a fake.
type Registry interface {
	// SchemaByID returns the text of the schema with this id. An id the
	// registry does not know must return an error wrapping
	// ErrSchemaNotFound (the record is dead-lettered); any other error is
	// taken as the registry being unreachable (the record is retried).
	SchemaByID(ctx context.Context, id int) (string, error)
	// Register registers an Avro schema under subject (or finds it there)
	// and returns its id.
	Register(ctx context.Context, subject, schema string) (int, error)
}

// ErrSchemaNotFound is returned (wrapped) by a Registry for an unknown id.
var ErrSchemaNotFound = errors.New("schema not found")

// Confluent encodes and decodes commands in the Confluent wire format. It
// caches the writer schema of every schema id it has decoded, so the
// registry is asked once per id, and remembers for a while the ids it
// could not use (negativeCache). Safe for concurrent use.
type Confluent struct {
	reg Registry
	now func() time.Time // time.Now; tests move it

	mu      sync.RWMutex
	writers map[int]writerSchema
	refused *negativeCache // ids unknown to the registry or with an unusable schema
	ourID   int            // command.avsc's id once registered, else 0
}

// writerSchema is the writer schema of a schema id.
type writerSchema struct {
	codec *goavro.Codec // nil: command.avsc, read by decodeCommandBinary
	walk  *walkSchema
}

// NewConfluent returns a Confluent codec over reg.
func NewConfluent(reg Registry) *Confluent {
	return &Confluent{reg: reg, now: time.Now, writers: map[int]writerSchema{}, refused: newNegativeCache(negativeCacheSize)}
}

// RegisterCommand registers command.avsc under subject (by convention
// "<topic>-value") and returns its id, used from then on by EncodeCommand.
func (c *Confluent) RegisterCommand(ctx context.Context, subject string) (int, error) {
	id, err := c.reg.Register(ctx, subject, Schema(KindCommand))
	if err != nil {
		return 0, fmt.Errorf("register command schema under subject %q: %w", subject, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ourID = id
	c.writers[id] = writerSchema{walk: walkSchemas[KindCommand]}
	return id, nil
}

// EncodeCommand returns cmd in the Confluent wire format with command.avsc
// as the writer schema. RegisterCommand must have been called.
func (c *Confluent) EncodeCommand(cmd customer.Command) ([]byte, error) {
	c.mu.RLock()
	id := c.ourID
	c.mu.RUnlock()
	if id == 0 {
		return nil, fmt.Errorf("encode command %q: command schema not registered (call RegisterCommand)", cmd.RequestID)
	}
	native, err := commandNative(cmd)
	if err != nil {
		return nil, err
	}
	b := make([]byte, confluentHeaderLen, 256)
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	b, err = codecs[KindCommand].BinaryFromNative(b, native)
	if err != nil {
		return nil, fmt.Errorf("encode command %q: %w", cmd.RequestID, err)
	}
	return b, nil
}

// DecodeCommand decodes a Confluent wire-format command. The writer schema
// is fetched from the registry by id (once per id). When it is our
// command.avsc (same canonical form) decodeCommandBinary reads the datum;
// otherwise goavro decodes it with the writer schema and the fields are
// matched to ours by name (union branches by name without namespace;
// missing fields read as zero, extra ones are ignored). A writer schema
// that is not valid Avro, or whose array items or map values can take
// zero bytes (avrowalk.go), is refused with ErrCodeUnknownSchema.
func (c *Confluent) DecodeCommand(ctx context.Context, data []byte) (customer.Command, error) {
	id, ws, err := c.writerOf(ctx, data)
	if err != nil {
		return customer.Command{}, err
	}
	if ws.codec == nil {
		cmd, err := decodeCommandBinary(data[confluentHeaderLen:])
		if err != nil {
			return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
		}
		return cmd, nil
	}
	native, err := decodeBinary(ws.codec, ws.walk, data[confluentHeaderLen:], KindCommand)
	if err != nil {
		return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	cmd, err := commandFromNative(native)
	if err != nil {
		return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	return cmd, nil
}

// writerOf reads the schema id of a Confluent wire-format value and
// returns it with its writer schema.
func (c *Confluent) writerOf(ctx context.Context, data []byte) (int, writerSchema, error) {
	id, err := ConfluentSchemaID(data)
	if err != nil {
		return 0, writerSchema{}, err
	}
	ws, err := c.writer(ctx, id)
	return id, ws, err
}

// ConfluentSchemaID reads the schema id of a Confluent wire-format value.
func ConfluentSchemaID(data []byte) (int, error) {
	if len(data) < 1 || data[0] != 0 {
		return 0, undecodable(nil, "not Confluent wire format: no 00 magic byte")
	}
	if len(data) < confluentHeaderLen {
		return 0, undecodable(nil, "truncated Confluent wire-format header: %d of %d bytes", len(data), confluentHeaderLen)
	}
	return int(binary.BigEndian.Uint32(data[1:confluentHeaderLen])), nil
}

// writer returns the writer schema of id, asking the registry on a miss.
// An id the registry does not know, or whose schema is unusable, is
// remembered (negativeCache) and answered without asking again until its
// retry time; a registry that cannot be reached is not remembered.
func (c *Confluent) writer(ctx context.Context, id int) (writerSchema, error) {
	c.mu.RLock()
	ws, ok := c.writers[id]
	c.mu.RUnlock()
	if ok {
		return ws, nil
	}
	now := c.now()
	c.mu.Lock()
	refused := c.refused.get(id, now)
	c.mu.Unlock()
	if refused != nil {
		return writerSchema{}, refused
	}
	// Two goroutines missing the same id both ask the registry; the
	// answers are identical and the second store is harmless. Cheaper to
	// accept than to coordinate, as it happens once per id.
	text, err := c.reg.SchemaByID(ctx, id)
	if errors.Is(err, ErrSchemaNotFound) {
		return writerSchema{}, c.refuse(id, now.Add(retryUnknownSchema), &Error{Code: ErrCodeUnknownSchema,
			Msg: fmt.Sprintf("schema id %d is not in the schema registry (asked again after %s)", id, retryUnknownSchema), Err: err})
	}
	if err != nil {
		return writerSchema{}, &Error{Code: ErrCodeRegistryUnavailable, Msg: fmt.Sprintf("fetch schema id %d from the schema registry", id), Err: err}
	}
	ws, err = newWriterSchema(text)
	if err != nil {
		return writerSchema{}, c.refuse(id, now.Add(retryUnusableSchema), &Error{Code: ErrCodeUnknownSchema,
			Msg: fmt.Sprintf("schema id %d is not a usable Avro schema", id), Err: err})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writers[id] = ws
	return ws, nil
}

func (c *Confluent) refuse(id int, until time.Time, err *Error) *Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused.put(id, until, err)
	return err
}

// newWriterSchema parses a registry schema: goavro's codec and our walk,
// which refuses what goavro would decode without a bound.
func newWriterSchema(text string) (writerSchema, error) {
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return writerSchema{}, err
	}
	if fp, err := schemaFingerprint(text); err == nil && fp == Fingerprint(KindCommand) {
		return writerSchema{walk: walkSchemas[KindCommand]}, nil
	}
	walk, err := parseWriterSchema(text)
	if err != nil {
		return writerSchema{}, err
	}
	return writerSchema{codec: codec, walk: walk}, nil
}
