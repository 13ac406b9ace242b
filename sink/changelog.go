package sink

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/state"
)

// changelogSet prefixes the value of every changelog record that sets a
// key. Kafka tells an empty value from a null one only by a length of 0 or
// -1, and clients blur the two; the prefix keeps "set to empty" (index
// entries have empty values) apart from "delete", which is a true null, so
// compaction drops deleted keys.
const changelogSet = 'S'

// Changelog is the changelog record of one Pebble write of task partition.
func Changelog(topic string, partition int32, kv state.KV) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: partition, Key: kv.Key}
	if kv.Value != nil {
		r.Value = append(append(make([]byte, 0, len(kv.Value)+1), changelogSet), kv.Value...)
	}
	return r
}

// ChangelogKV decodes a changelog record back to its Pebble write.
func ChangelogKV(r *kgo.Record) (state.KV, error) {
	if len(r.Key) == 0 {
		return state.KV{}, errors.New("changelog record without a key")
	}
	if len(r.Value) == 0 {
		return state.KV{Key: r.Key}, nil // a delete
	}
	if r.Value[0] != changelogSet {
		return state.KV{}, fmt.Errorf("changelog record at offset %d: unknown value prefix %#x", r.Offset, r.Value[0])
	}
	return state.KV{Key: r.Key, Value: r.Value[1:]}, nil
}
