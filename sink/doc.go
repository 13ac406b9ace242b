// Package sink builds custream's output records: results, merge notices,
// snapshots and DLQ records. It decides keys, partitions, headers and
// encodings; the processor produces the records inside its transaction.
//
// Every output record of task p goes to partition p of its topic (all
// topics have the same partition count), so an org's results keep their
// order and a customer's snapshots always meet in one compacted partition.
//
// A snapshot is one document in every output format (customer.Snapshot;
// schemas/snapshot.avsc is the same in Avro; docs/wire.md, "Snapshots").
//
//	topic               key            value
//	customers.results   org id         result (Avro single-object, JSON, or Confluent wire format)
//	customers.merges    org id         merge notice
//	customers.snapshots customer id    customer as fetch(source=ALL, embed=subscriptions)
//	                                   returns it, plus org; merged away: id, org, mergedInto
//	customers.dlq       original key   original value; headers + error.*, origin.*
//
// The changelog's records are state's (state.ChangelogValue).
package sink
