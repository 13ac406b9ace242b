package schemas

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// The Confluent wire format for the output records (results, merges,
// snapshots): 00, the 4-byte big-endian id the schema registry gave the
// record's schema, then the same Avro binary that the single-object
// encoding carries after its 10-byte header. The schemas are registered
// once at start (RegisterOutputs), so encoding a record never asks the
// registry.

// ToConfluent turns a single-object encoded record of kind k into the
// Confluent wire format with schema id id. It reuses soe's bytes: the
// 5-byte Confluent header is written over the end of the 10-byte
// single-object header, and the result shares soe's array (clone soe first
// if it is kept elsewhere).
func ToConfluent(soe []byte, k Kind, id int) ([]byte, error) {
	if _, err := singleObjectBody(soe, k); err != nil {
		return nil, err
	}
	if id <= 0 || int64(id) > 1<<31-1 {
		return nil, fmt.Errorf("confluent-encode %s: schema id %d out of range", k, id)
	}
	start := soeHeaderLen - confluentHeaderLen
	out := soe[start:]
	out[0] = 0
	binary.BigEndian.PutUint32(out[1:confluentHeaderLen], uint32(id))
	return out, nil
}

// ConfluentBody splits a Confluent wire-format value into its schema id and
// its Avro binary.
func ConfluentBody(data []byte) (int, []byte, error) {
	id, err := ConfluentSchemaID(data)
	if err != nil {
		return 0, nil, err
	}
	return id, data[confluentHeaderLen:], nil
}

// SingleObjectFromConfluent is ToConfluent's inverse for our own output
// schemas: the single-object encoding of kind k with the same Avro binary,
// so the Decode… functions read it (tools and tests; custream itself never
// reads its outputs back in this form).
func SingleObjectFromConfluent(data []byte, k Kind) ([]byte, error) {
	_, body, err := ConfluentBody(data)
	if err != nil {
		return nil, err
	}
	return append(appendSingleObjectHeader(make([]byte, 0, soeHeaderLen+len(body)), k), body...), nil
}

// SubjectStrategy names the subject a value schema is registered under, as
// Confluent's serializers' value.subject.name.strategy does.
type SubjectStrategy string

const (
	// SubjectTopic is TopicNameStrategy: "<topic>-value". One schema per
	// topic: what Kafka Connect, ksqlDB and Flink look up by default.
	SubjectTopic SubjectStrategy = "topic"
	// SubjectRecord is RecordNameStrategy: the record's full name
	// (namespace.name), shared by every topic that carries the record.
	SubjectRecord SubjectStrategy = "record"
	// SubjectTopicRecord is TopicRecordNameStrategy: "<topic>-<full name>".
	SubjectTopicRecord SubjectStrategy = "topic-record"
)

// DefaultSubjectStrategy is SubjectTopic.
const DefaultSubjectStrategy = SubjectTopic

// ParseSubjectStrategy reads "topic", "record" or "topic-record"; "" is
// DefaultSubjectStrategy.
func ParseSubjectStrategy(s string) (SubjectStrategy, error) {
	switch st := SubjectStrategy(s); st {
	case "":
		return DefaultSubjectStrategy, nil
	case SubjectTopic, SubjectRecord, SubjectTopicRecord:
		return st, nil
	}
	return "", fmt.Errorf("subject name strategy %q: want topic, record or topic-record", s)
}

// ValueSubject is the subject of kind k's schema on topic.
func (s SubjectStrategy) ValueSubject(topic string, k Kind) string {
	switch s {
	case SubjectRecord:
		return FullName(k)
	case SubjectTopicRecord:
		return topic + "-" + FullName(k)
	}
	return topic + "-value"
}

// KeySubject is the subject of a topic's key schema, whatever the value
// strategy: "<topic>-key".
func KeySubject(topic string) string { return topic + "-key" }

// KeySchema is the schema registered for every output topic's key: the key
// is a decimal string (an org id, or a customer id for snapshots), written
// as its plain UTF-8 bytes in every output format.
const KeySchema = `"string"`

// FullName is the full name (namespace.name) of kind k's record schema, as
// its .avsc file declares it.
func FullName(k Kind) string {
	var s struct{ Name, Namespace string }
	if err := json.Unmarshal([]byte(Schema(k)), &s); err != nil || s.Name == "" {
		return ""
	}
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "." + s.Name
}

// OutputRegistry is what registering the output schemas needs of a schema
// registry (SRRegistry implements it over franz-go's sr.Client).
type OutputRegistry interface {
	// Register registers schema under subject (or finds it there) and
	// returns its id. An incompatible schema is an error wrapping
	// ErrIncompatibleSchema; a registry that cannot be reached, or
	// answers 5xx, wraps ErrRegistryUnavailable.
	Register(ctx context.Context, subject, schema string) (int, error)
	// SubjectExists reports whether subject has a version.
	SubjectExists(ctx context.Context, subject string) (bool, error)
	// SetCompatibility sets subject's compatibility level, e.g. BACKWARD.
	SetCompatibility(ctx context.Context, subject, level string) error
	// Compatibility is subject's compatibility level (or the global one),
	// for error messages.
	Compatibility(ctx context.Context, subject string) (string, error)
}

var (
	// ErrIncompatibleSchema is returned (wrapped) when the registry refuses
	// a schema as incompatible with the versions of its subject.
	ErrIncompatibleSchema = errors.New("schema incompatible with the subject's versions")
	// ErrRegistryUnavailable is returned (wrapped) when the registry could
	// not be reached or answered a server error: worth retrying.
	ErrRegistryUnavailable = errors.New("schema registry unavailable")
)

// NewSubjectCompatibility is the compatibility level custream sets on a
// subject it creates: a consumer with the newest schema reads every older
// record, so fields can be added with defaults and removed.
const NewSubjectCompatibility = "BACKWARD"

// OutputTopics names the topics whose schemas RegisterOutputs registers.
type OutputTopics struct {
	Results, Merges, Snapshots string
}

// OutputIDs are the registry ids of the output schemas.
type OutputIDs struct {
	Result, Merge, Snapshot int
}

// Of is kind k's id, 0 for a kind that is not an output.
func (ids OutputIDs) Of(k Kind) int {
	switch k {
	case KindResult:
		return ids.Result
	case KindMerge:
		return ids.Merge
	case KindSnapshot:
		return ids.Snapshot
	}
	return 0
}

// Registration is one subject RegisterOutputs registered a schema under.
type Registration struct {
	Topic   string
	Subject string
	Schema  string // "key", or the record's full name
	ID      int
	// Created: the subject had no version before; custream set its
	// compatibility to NewSubjectCompatibility.
	Created bool
}

// RegisterOutputs registers the value schema of each output topic under
// its subject by strategy, and KeySchema under each topic's KeySubject. A
// subject without versions first gets compatibility
// NewSubjectCompatibility; an existing one keeps its own. The schemas are
// Schema(KindResult), Schema(KindMerge), Schema(KindSnapshot) as embedded.
// The first failure ends it: an incompatible schema wraps
// ErrIncompatibleSchema (with the subject's compatibility level in the
// message), an unreachable registry ErrRegistryUnavailable.
func RegisterOutputs(ctx context.Context, reg OutputRegistry, topics OutputTopics, strategy SubjectStrategy) (OutputIDs, []Registration, error) {
	var ids OutputIDs
	var regs []Registration
	for _, o := range []struct {
		topic string
		kind  Kind
		id    *int
	}{
		{topics.Results, KindResult, &ids.Result},
		{topics.Merges, KindMerge, &ids.Merge},
		{topics.Snapshots, KindSnapshot, &ids.Snapshot},
	} {
		r, err := registerSubject(ctx, reg, o.topic, KeySubject(o.topic), "key", KeySchema)
		if err != nil {
			return OutputIDs{}, regs, err
		}
		regs = append(regs, r)
		r, err = registerSubject(ctx, reg, o.topic, strategy.ValueSubject(o.topic, o.kind), FullName(o.kind), Schema(o.kind))
		if err != nil {
			return OutputIDs{}, regs, err
		}
		regs = append(regs, r)
		*o.id = r.ID
	}
	return ids, regs, nil
}

func registerSubject(ctx context.Context, reg OutputRegistry, topic, subject, what, schema string) (Registration, error) {
	r := Registration{Topic: topic, Subject: subject, Schema: what}
	exists, err := reg.SubjectExists(ctx, subject)
	if err != nil {
		return r, fmt.Errorf("looking up subject %q: %w", subject, err)
	}
	if !exists {
		// Before the first version, so that no version is ever registered
		// under a subject without a compatibility check.
		if err := reg.SetCompatibility(ctx, subject, NewSubjectCompatibility); err != nil {
			return r, fmt.Errorf("setting compatibility %s on new subject %q: %w", NewSubjectCompatibility, subject, err)
		}
		r.Created = true
	}
	id, err := reg.Register(ctx, subject, schema)
	if errors.Is(err, ErrIncompatibleSchema) {
		level, lerr := reg.Compatibility(ctx, subject)
		if lerr != nil {
			level = "unknown: " + lerr.Error()
		}
		return r, fmt.Errorf("the schema registry refuses custream's %s schema under subject %q as incompatible with the versions there (compatibility %s), so custream does not start: it never writes with a schema the registry has not accepted. Register a compatible version first, or change the subject's compatibility: %w", what, subject, level, err)
	}
	if err != nil {
		return r, fmt.Errorf("registering the %s schema under subject %q: %w", what, subject, err)
	}
	r.ID = id
	return r, nil
}
