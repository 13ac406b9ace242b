package processor

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// keyPartitioner is Kafka's default partitioner for keyed records (murmur2
// of the key), the one Java and franz-go producers use: an org's commands
// land in the same partition number of every input topic.
var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// TaskOfOrg returns the task of org: the partition a default-partitioning
// producer sends a record keyed by the org's canonical decimal form to. It
// is the one routing function of custream: decoding, the facade, tools and
// benchmarks all route through it, always from the parsed org, so two
// spellings of one org can never land in two tasks.
func TaskOfOrg(org int64, partitions int32) int32 {
	var buf [20]byte
	return int32(keyPartitioner.Partition(&kgo.Record{Key: strconv.AppendInt(buf[:0], org, 10)}, int(partitions)))
}
