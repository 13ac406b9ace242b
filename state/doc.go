// Package state is custream's Pebble store: one Pebble instance per
// process, one keyspace per task (partition), holding the customer
// documents, the identifier, holder (cross-scope) and search indexes, the
// customer-id allocator, the request-id table for idempotency and the
// task's changelog checkpoint.
//
// The key layout is documented in keys.go, the customer document encoding
// in codec.go, the changelog record's key and value in changelog.go, and
// the life of the state (why it is never ahead of Kafka, restore, sizes)
// in docs/state.md.
//
// The processor uses it like this, per task and batch of commands:
//
//	b := task.NewBatch()          // Pebble batch + overlay: reads see its writes
//	customer.Apply(cfg, b, cmd)   // b implements customer.Store
//	kvs, _ := b.Writes()          // produce these to the changelog, in the transaction
//	// ... commit the Kafka transaction, then:
//	task.Apply(b, nextOffset)     // batch + checkpoint in one atomic Pebble write
//	// or, on abort: b.Close()
//
// and on assignment: task.Checkpoint(), then task.ApplyChangelog for the
// records from there to the end of the changelog partition.
package state
