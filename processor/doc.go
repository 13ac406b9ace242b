// Package processor is one member of the custream consumer group: it owns
// tasks, runs the transaction loop over them and restores a task from its
// changelog before it processes the task's input. Task p is partition p of
// every input topic, of <group>-repartition and of <group>-changelog, and
// task p's keyspace in the process's one Pebble instance (state.Task).
//
// # The path of one record
//
//  1. Poll (Processor.loop) read_committed into per-partition buffers;
//     each ready task takes its records in timestamp order across its
//     partitions, waiting at most Config.MaxTaskIdle for one that has more
//     to come (order.go), at most Config.MaxBatchRecords in all; then begin
//     a transaction, which commits only the offsets of what it applied.
//  2. Route (Decoder.Route): the org from the key or the org header; its
//     task is TaskOfOrg. A record of another task's org is forwarded
//     unchanged, with origin.* headers, to that task's partition of
//     <group>-repartition in this transaction (sink.Forward; purge.go
//     deletes what was consumed), or dead-lettered as misrouted under
//     MisroutedDLQ. A record without a readable org goes to the DLQ.
//  3. Admit, then decode (admit.go, Decoder.Decode, on the other cores
//     ahead of the apply loop): the org must be on its source's
//     allow-list and the signature valid where required
//     (Config.Admission), checked against the topic the producer wrote,
//     else the record goes to the DLQ (org-not-allowed, bad-signature);
//     then the command, and its origin: where its producer put it.
//  4. Rule: a requestId the task remembers gets its first result again;
//     otherwise customer.Apply runs the command against the task's
//     state.Batch, which reads its own writes first, then the previous
//     batch still on its way into Pebble.
//  5. Batch and outputs: the result, merge notices and DLQ records as each
//     record is handled; after the task's records, a snapshot of every
//     customer it changed and a changelog record per primary-table write
//     (sink.Encoder). Task p writes partition p of every output topic.
//  6. Flush, and look at every produce error before deciding: one failed
//     record aborts the transaction; an output too large for its topic
//     marks its input, whose retry is answered with a 9001 result.
//  7. Commit: the outputs and the input offsets in one transaction.
//  8. Apply (apply.go): only after the commit returned, each task's batch
//     and its changelog checkpoint go into Pebble in one atomic write, in
//     the background while the loop processes the next poll.
//
// # Pebble after commit
//
// Pebble is written only after the transaction commits, so local state is
// a prefix of the committed changelog, never ahead of Kafka. Otherwise the
// batches are thrown away and every task restores before going on; a
// failed apply stops the processor, and the next start restores the tail.
//
// # Restore by the broker's position
//
// A task's input partitions arrive paused. The loop waits until its
// changelog partition has no open transaction (last stable offset = high
// watermark), then reads from the local checkpoint with raw Fetch requests
// (fetch.go), so its position is the broker's, markers and compacted gaps
// included. It is done when that position reaches the end it set out for,
// never because the broker was quiet; then the task is ready and its
// input resumes. A checkpoint outside the changelog rebuilds the task.
//
// # Ownership
//
// taskBalancer gives each member whole tasks, sticky (assign.go: the
// fewest moves, warm copies first; range by instance id while a member of
// an older release is in the group), and writes every task's owner HTTP
// address into each assignment.
// What a member owns is what its generation's SyncGroup assignment says
// (Processor.setGeneration), never what the callbacks accumulated.
// Locate answers from it: a ready task of ours, another owner's address,
// or unavailable while rebalancing, restoring, or while this member's
// membership is in doubt (membership.go).
//
// # Standbys
//
// With Config.StandbyReplicas, a v2 leader also gives each task standby
// copies on members that do not own it (assignStandbys). A member
// replicates each standby task's changelog into its state, read_committed,
// without processing input or writing to Kafka (standby.go), and stops the
// replicator before it ever restores the task as its own. Locate never
// serves a standby: only the owner's state is current.
//
// # Metrics
//
// NewMetrics registers these (docs/operations.md has them too):
//
//	custream_records_in_total{topic}             input records processed (committed)
//	custream_results_total{op,code}              results committed, code "ok" or the first error code
//	custream_dlq_total{reason}                   records sent to the DLQ, by error.code
//	custream_repartitioned_records_total{topic}  misrouted records forwarded to the repartition topic, by the topic they arrived on
//	custream_merges_total                        merge notices committed
//	custream_transactions_total{outcome}         transactions: committed, aborted
//	custream_transaction_seconds                 begin → end of a committed transaction
//	custream_pebble_apply_seconds                applying a committed transaction to Pebble (background)
//	custream_batch_records                       input records per transaction
//	custream_restore_records_total{task}         changelog records applied by restores
//	custream_restore_remaining{task}             changelog offsets a running restore has left
//	custream_restore_waiting{task}               1 while a restore waits for a broker that does not answer
//	custream_task_restore_seconds                duration of each task's restore on assignment
//	custream_task_not_processing_seconds_total{task} time a task was held but not processed (restore and the wait behind it)
//	custream_tasks{state}                        tasks of this member: assigned, restoring, ready
//	custream_order_waits_total                   times a task held back its records for a lagging partition
//	custream_order_idle_expired_total            times a task went on after --max-task-idle without a lagging partition
//	custream_input_lag{topic,partition}          records behind the partition's high watermark, at the last poll
//	custream_schema_registry_errors_total{op}    registry unavailable: register (at start, retried), fetch (batch aborted and retried)
//	custream_rebalances_total{cause}             generations this member saw: member_joined, member_left, other, started
//	custream_task_moves_total{direction}         tasks this member gained or lost from one generation to the next
//	custream_standby_lag{task}                   changelog records a standby copy is behind the end it last saw
//	custream_standby_tasks                       standby copies this member keeps
package processor
