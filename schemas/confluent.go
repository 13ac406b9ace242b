package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

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
// caches the writer codec of every schema id it has seen, so the registry
// is asked once per id. Safe for concurrent use.
type Confluent struct {
	reg Registry

	mu      sync.RWMutex
	writers map[int]*goavro.Codec // nil codec: the id is our command.avsc
	bad     map[int]error         // ids whose schema goavro cannot parse: asking again will not help
	ourID   int                   // command.avsc's id once registered, else 0
}

// NewConfluent returns a Confluent codec over reg.
func NewConfluent(reg Registry) *Confluent {
	return &Confluent{reg: reg, writers: map[int]*goavro.Codec{}, bad: map[int]error{}}
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
	c.writers[id] = nil
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
// missing fields read as zero, extra ones are ignored).
func (c *Confluent) DecodeCommand(ctx context.Context, data []byte) (customer.Command, error) {
	id, err := ConfluentSchemaID(data)
	if err != nil {
		return customer.Command{}, err
	}
	codec, err := c.writer(ctx, id)
	if err != nil {
		return customer.Command{}, err
	}
	if codec == codecs[KindCommand] {
		cmd, err := decodeCommandBinary(data[confluentHeaderLen:])
		if err != nil {
			return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
		}
		return cmd, nil
	}
	native, err := decodeBinary(codec, data[confluentHeaderLen:], KindCommand)
	if err != nil {
		return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	cmd, err := commandFromNative(native)
	if err != nil {
		return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	return cmd, nil
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

// writer returns the codec for schema id, asking the registry on a miss.
func (c *Confluent) writer(ctx context.Context, id int) (*goavro.Codec, error) {
	c.mu.RLock()
	codec, ok := c.writers[id]
	bad := c.bad[id]
	c.mu.RUnlock()
	if bad != nil {
		return nil, bad
	}
	if ok {
		if codec == nil {
			return codecs[KindCommand], nil
		}
		return codec, nil
	}
	// Two goroutines missing the same id both ask the registry; the
	// answers are identical and the second store is harmless. Cheaper to
	// accept than to coordinate, as it happens once per id.
	text, err := c.reg.SchemaByID(ctx, id)
	if errors.Is(err, ErrSchemaNotFound) {
		return nil, &Error{Code: ErrCodeUnknownSchema, Msg: fmt.Sprintf("schema id %d is not in the schema registry", id), Err: err}
	}
	if err != nil {
		return nil, &Error{Code: ErrCodeRegistryUnavailable, Msg: fmt.Sprintf("fetch schema id %d from the schema registry", id), Err: err}
	}
	codec, err = goavro.NewCodec(text)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		bad := &Error{Code: ErrCodeUnknownSchema, Msg: fmt.Sprintf("schema id %d is not a usable Avro schema", id), Err: err}
		c.bad[id] = bad
		return nil, bad
	}
	if fp, err := schemaFingerprint(text); err == nil && fp == Fingerprint(KindCommand) {
		c.writers[id] = nil
		return codecs[KindCommand], nil
	}
	c.writers[id] = codec
	return codec, nil
}
