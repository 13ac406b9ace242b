// Package dlq reads custream's dead-letter queue back and redrives it: it
// lists and shows DLQ records (custream dlq list, show) and replays them
// to the topics their producers sent them to (custream dlq replay), once
// the producer or the data is fixed.
//
// # Reading
//
// Every command reads the DLQ topic read_committed, from each partition's
// start up to its end offsets as the broker reports them when the command
// starts (the last stable offsets), and stops there: it neither waits for
// records that may come nor reads those produced meanwhile, so a replay
// never reads the records it causes to be dead-lettered again. Partitions
// are read in order, each in offset order; a record is named by its
// position P:O (partition, offset).
//
// # Selecting
//
// A Filter selects by error.code, origin topic, the time a record was
// refused (error.time; the record's timestamp for records written before
// that header existed) and positions. The same flags select the same
// records in list, show and replay, so what list shows is what replay
// sends.
//
// # Replaying
//
// A selected record goes to its origin topic (origin.topic) with its
// original key, value, timestamp and headers, minus the error.* headers
// the DLQ added, keeping origin.topic, origin.partition and
// origin.offset (sink.DeadLetter.Original). The processor reads those as
// the record's origin: its default requestId stays
// <origin.topic>/<origin.partition>/<origin.offset> and its result names
// that origin, so a record replayed twice is applied once, and the second
// time answered with its first result (custream.duplicate: true). It is
// partitioned like a default producer's record (murmur2 of the key); the
// processor forwards one that is not on its org's task itself. The
// producer is idempotent; a token bucket bounds the rate.
//
// Records that cannot be replayed faithfully are skipped, each with a
// reason (the Skip* constants): no or malformed origin headers
// (no-origin), an origin topic that is not an input topic of the
// deployment (not-an-input), a record cut to fit the DLQ (truncated:
// replaying it would send another record than its producer's),
// output-too-large records (answered: their requestId was answered with
// 9001 for good, a replay would only repeat that answer), and a second
// DLQ record of an origin already selected in the same replay
// (duplicate-origin: a record replayed before and dead-lettered again).
package dlq
