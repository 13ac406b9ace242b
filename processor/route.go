package processor

import "github.com/twmb/franz-go/pkg/kgo"

// keyPartitioner is Kafka's default partitioner for keyed records (murmur2
// of the key), the one every standard producer uses: an org's commands land
// in the same partition number of every input topic.
var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// PartitionForOrg returns the partition a record keyed by the org id (its
// decimal string) is sent to by a default-partitioning producer.
func PartitionForOrg(key []byte, partitions int32) int32 {
	return int32(keyPartitioner.Partition(&kgo.Record{Key: key}, int(partitions)))
}
