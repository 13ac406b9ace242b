package state

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure the one Pebble instance of a process. The zero value
// is ready to use.
type Options struct {
	// FS is the filesystem Pebble runs on. Nil means the real disk; tests
	// about logic pass vfs.NewMem().
	FS vfs.FS
	// CacheBytes sizes the block cache shared by every task. Default
	// DefaultCacheBytes. Point reads (identifier lookups, customers,
	// request ids) are served from it once warm; give it roughly the hot
	// part of the data.
	CacheBytes int64
	// MemTableBytes is the size of one memtable. Default
	// DefaultMemTableBytes (64 MiB): custream bench measured ~25k
	// commands/s against ~22k with 32 MiB and ~17k with 8 MiB (fewer
	// flushes and L0 files for reads to probe), and a restart replays
	// little WAL. Pebble holds up to 2 at once (its default
	// MemTableStopWritesThreshold) and reserves them inside the block cache.
	MemTableBytes uint64
	// SyncCommits fsyncs the WAL on every Task.Apply. Default off: the
	// Kafka changelog is the durable log and local state is only written
	// after the transaction commits, so a write lost in a crash is a tail
	// the next restore reads back from the changelog (docs/state.md).
	// Turn it on only to shorten restores after power loss.
	SyncCommits bool
	// Logger receives Pebble's own log lines: its informational lines
	// (WAL replay on open and the like) at Debug, errors at Error. Nil means
	// slog.Default().
	Logger *slog.Logger
	// DiskFullWait is how long a write waits for space on a full disk
	// before OnDiskFullGiveUp is called (diskfull.go). Default
	// DefaultDiskFullWait: long enough for an operator or an autoscaler
	// to make room, short enough that an orchestrator sees a process that
	// cannot work.
	DiskFullWait time.Duration
	// OnDiskFullGiveUp is called with why when a write waited DiskFullWait
	// in vain; it should stop the process (custream run exits with status
	// 3). If it returns, or is nil, the write goes on waiting.
	OnDiskFullGiveUp func(error)
}

// pebbleLogger adapts slog to Pebble's logger.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble on unrecoverable corruption; it must not return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic("pebble: " + msg)
}

// The defaults of Options, stated once: Open fills a zero field with them,
// and cmd/custream's flags show them as their defaults.
const (
	DefaultCacheBytes    = 256 << 20 // 256 MiB
	DefaultMemTableBytes = 64 << 20  // 64 MiB
	DefaultDiskFullWait  = 10 * time.Minute
)

// DB is the process's Pebble instance. Tasks (Task) are keyspaces in it;
// it is safe for concurrent use by all of them.
type DB struct {
	pdb    *pebble.DB
	write  *pebble.WriteOptions
	closed atomic.Bool
	disk   *diskWaiter

	mu      sync.Mutex
	filters map[int32]*keyFilter // by task, see filter.go
}

// Open opens (creating if needed) the Pebble store in dir.
func Open(dir string, opts Options) (*DB, error) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.MemTableBytes == 0 {
		opts.MemTableBytes = DefaultMemTableBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DiskFullWait <= 0 {
		opts.DiskFullWait = DefaultDiskFullWait
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	disk := &diskWaiter{wait: opts.DiskFullWait, giveUp: opts.OnDiskFullGiveUp, log: opts.Logger.With("component", "state")}
	cache := pebble.NewCache(opts.CacheBytes)
	// Pebble takes its own reference; ours goes when Open returns.
	defer cache.Unref()
	po := &pebble.Options{
		FS:                 waitFS{FS: opts.FS, w: disk},
		Cache:              cache,
		MemTableSize:       opts.MemTableBytes,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{opts.Logger},
	}
	// Bloom filters make the point reads of a missing key (a new identifier,
	// a new request id: most reads in a bulk load) skip every table that
	// cannot hold it. L0's setting carries to the levels below.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	pdb, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("opening pebble in %s: %w", dir, err)
	}
	if err := checkLayout(pdb, dir); err != nil {
		pdb.Close()
		return nil, err
	}
	w := pebble.NoSync
	if opts.SyncCommits {
		w = pebble.Sync
	}
	return &DB{pdb: pdb, write: w, disk: disk}, nil
}

// DiskFull reports whether writes are waiting for space on a full disk,
// since when, and the error that made them wait.
func (db *DB) DiskFull() (full bool, since time.Time, err error) {
	return db.disk.full()
}

// Close closes Pebble; every Batch and Task of the DB must be done with
// first. A crash (rather than Close) may lose the last unsynced writes,
// which restore reads back from the changelog. Closing twice is a no-op.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	if err := db.pdb.Close(); err != nil {
		return fmt.Errorf("closing pebble: %w", err)
	}
	return nil
}

// Task is one task's keyspace: partition p of every input topic and of the
// changelog. Its methods are not safe for concurrent use with each other
// (a task is processed by one goroutine); different tasks are independent.
type Task struct {
	db         *DB
	id         int32
	partitions int32
	filter     *keyFilter
	// The size of the task's last applied batch, to size the next one:
	// growing a batch of 5,000 commands by doubling copied megabytes.
	// Apply may run on another goroutine than NewBatch.
	lastBytes, lastOps atomic.Int64
	// lastPuts is the request ids the last applied batch stored, to size
	// the sweep of expired ones (requests.go).
	lastPuts atomic.Int64
	requests *requestSweep
	maxWrite atomic.Int64 // see LimitWrites
}

// ErrTooLarge is returned (wrapped) by a write of a batch whose key and
// value would make a changelog record over the limit of LimitWrites: the
// command that made it cannot be recorded, and must be refused rather than
// applied without a durable copy.
var ErrTooLarge = errors.New("write too large for the changelog")

// LimitWrites bounds the key plus value of every write to a primary table
// (the ones the changelog carries) of the batches made from now on: a write
// over n bytes fails with ErrTooLarge, so an oversized customer document or
// request result is caught when it is written, with the command that wrote
// it at hand. n ≤ 0 removes the bound. Restore is never bounded: what the
// changelog holds fitted.
func (t *Task) LimitWrites(n int) {
	t.maxWrite.Store(int64(max(n, 0)))
}

// Task returns the keyspace of task partition out of partitions. The
// partition count must stay the same for the life of the state: customer
// ids encode it (see TaskOf).
func (db *DB) Task(partition, partitions int32) *Task {
	return &Task{db: db, id: partition, partitions: partitions, filter: db.filter(partition), requests: newRequestSweep()}
}

// ID returns the task's partition number.
func (t *Task) ID() int32 { return t.id }

// TaskOf returns the task owning customer id: ids are seq*partitions+task
// with seq ≥ 1, so the owner is found without a lookup. It returns -1 for
// ids no task allocates (≤ 0) or a partition count ≤ 0.
func TaskOf(id int64, partitions int32) int32 {
	if id <= 0 || partitions <= 0 {
		return -1
	}
	return int32(id % int64(partitions))
}

// Checkpoint returns the next changelog offset the task's state has not
// seen: restore reads the changelog from there. A task with no state
// returns 0.
func (t *Task) Checkpoint() (int64, error) { return t.db.checkpoint(t.id) }

func (db *DB) checkpoint(task int32) (int64, error) {
	v, closer, err := db.pdb.Get(checkpointKey(task))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("task %d: reading the checkpoint: %w", task, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("task %d: checkpoint value is %d bytes, want 8", task, len(v))
	}
	return readInt64(v), nil
}

// Checkpoints returns the checkpoint of every task out of partitions whose
// state this DB holds (checkpoint > 0): one point read per task, so it is
// cheap enough for every group join. A closed DB holds nothing.
func (db *DB) Checkpoints(partitions int32) (map[int32]int64, error) {
	out := map[int32]int64{}
	if db.closed.Load() {
		return out, nil
	}
	for task := int32(0); task < partitions; task++ {
		c, err := db.checkpoint(task)
		if err != nil {
			return out, err
		}
		if c > 0 {
			out[task] = c
		}
	}
	return out, nil
}

// Apply writes the batch and, when checkpoint ≥ 0, the task's new
// changelog checkpoint in one atomic Pebble write, then releases the
// batch. Call it only after the Kafka transaction carrying the batch's
// changelog records has committed; checkpoint is the offset after the last
// of those records (-1 when the batch produced none: the checkpoint stays).
func (t *Task) Apply(b *Batch, checkpoint int64) error {
	if b.task != t {
		return fmt.Errorf("task %d: applying a batch of task %d", t.id, b.task.id)
	}
	b.life.Lock()
	closed := b.closed
	b.life.Unlock()
	if closed {
		return fmt.Errorf("task %d: applying a closed batch", t.id)
	}
	defer b.Close()
	if p := b.prev; p != nil {
		p.life.Lock()
		applied := p.applied
		p.life.Unlock()
		if !applied {
			return fmt.Errorf("task %d: applying a batch before the batch it reads through", t.id)
		}
	}
	if err := b.flushSeq(); err != nil {
		return err
	}
	t.lastBytes.Store(int64(b.b.Len()))
	t.lastOps.Store(int64(len(b.over.ops)))
	t.lastPuts.Store(int64(b.requestsPut))
	sorted, err := b.sortedWrites(checkpoint)
	if err != nil {
		return fmt.Errorf("task %d: applying batch (checkpoint %d): %w", t.id, checkpoint, err)
	}
	defer sorted.Close()
	if !sorted.Empty() {
		if err := t.db.pdb.Apply(sorted, t.db.write); err != nil {
			return fmt.Errorf("task %d: applying batch (checkpoint %d): %w", t.id, checkpoint, err)
		}
	}
	b.life.Lock()
	b.applied = true
	b.life.Unlock()
	return nil
}

// sortedWrites returns a new Pebble batch of b's last write of every key,
// in key order, and the checkpoint when ≥ 0. The state it leaves is the
// one b's own batch would leave (a later write of a key replaces an
// earlier one either way), but Pebble's memtable inserter reuses its
// search position from one key to the next: keys in order cost a short
// walk from the previous key instead of a search from the skiplist's top,
// and the profile had that search as the processor's largest single cost
// (ApplyMix: 15.7 → 13.8 µs per command, docs/benchmarks.md). The sort
// costs less than it saves.
func (b *Batch) sortedWrites(checkpoint int64) (*pebble.Batch, error) {
	live := make([]*batchOp, 0, b.over.n)
	for i := range b.over.ops {
		if op := &b.over.ops[i]; !op.superseded {
			live = append(live, op)
		}
	}
	slices.SortFunc(live, func(x, y *batchOp) int { return bytes.Compare(x.key, y.key) })
	sb := b.task.db.pdb.NewBatchWithSize(b.b.Len())
	for _, op := range live {
		var err error
		if op.del {
			err = sb.Delete(op.key, nil)
		} else {
			err = sb.Set(op.key, op.value, nil)
		}
		if err != nil {
			sb.Close()
			return nil, fmt.Errorf("copying %x into the sorted batch: %w", op.key, err)
		}
	}
	if checkpoint >= 0 {
		if err := sb.Set(checkpointKey(b.task.id), appendInt64(nil, checkpoint), nil); err != nil {
			sb.Close()
			return nil, fmt.Errorf("setting checkpoint %d: %w", checkpoint, err)
		}
	}
	return sb, nil
}

// KV is one changelog record: a Pebble key and its value, or a nil Value
// for a delete (a tombstone in the compacted changelog topic).
type KV struct {
	Key   []byte
	Value []byte
}

// ApplyChangelog applies changelog records, in order, and sets the
// checkpoint to nextOffset (the offset after the last record), all in one
// atomic Pebble write. It is restore's write path: each record is a write to a
// primary table (Batch.Writes), and the index entries it implies are
// derived again as the processing path derived them. Every key must belong
// to the task, so a misconfigured topic cannot write into another task's
// state.
func (t *Task) ApplyChangelog(records []KV, nextOffset int64) error {
	b := t.NewBatch()
	defer b.Close()
	b.maxWrite = 0
	for i, kv := range records {
		if err := checkChangelogKey(t.id, kv.Key); err != nil {
			return fmt.Errorf("task %d: changelog record %d of %d: %w", t.id, i, len(records), err)
		}
		if err := b.applyRecord(kv); err != nil {
			return fmt.Errorf("task %d: changelog record %d (key %x): %w", t.id, i, kv.Key, err)
		}
	}
	if err := t.Apply(b, nextOffset); err != nil {
		return fmt.Errorf("task %d: applying %d changelog records up to offset %d: %w", t.id, len(records), nextOffset, err)
	}
	return nil
}

// Drop deletes the task's whole keyspace, checkpoint included, so the next
// restore starts from the beginning of the changelog. It is synced: a drop
// must not come back after a crash while the changelog moved on.
func (t *Task) Drop() error {
	if err := t.db.pdb.DeleteRange(taskStart(t.id), taskEnd(t.id), pebble.Sync); err != nil {
		return fmt.Errorf("task %d: dropping the keyspace: %w", t.id, err)
	}
	t.filter.reset()
	t.requests.reset()
	return nil
}

// Reader returns a read-only view of the task's applied state for queries
// (customer.Reader). Each call reads the latest applied state; a Search
// sees one consistent state. Writes through it fail with ErrReadOnly.
func (t *Task) Reader() *View {
	return &View{reader: reader{src: dbSource{t.db.pdb}, task: t}}
}

// Dump returns every key and value of the task's applied keyspace, in
// key order, checkpoint included. It reads the whole task into memory, so it
// is for tests and tools (comparing two states byte for byte), never for
// the processing path.
func (t *Task) Dump() ([]KV, error) {
	it, err := t.db.pdb.NewIter(&pebble.IterOptions{LowerBound: taskStart(t.id), UpperBound: taskEnd(t.id)})
	if err != nil {
		return nil, fmt.Errorf("task %d: iterating the keyspace: %w", t.id, err)
	}
	var out []KV
	for it.First(); it.Valid(); it.Next() {
		out = append(out, KV{Key: bytes.Clone(it.Key()), Value: bytes.Clone(it.Value())})
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("task %d: iterating the keyspace: %w", t.id, err)
	}
	return out, nil
}
