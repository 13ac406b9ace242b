package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionReader reads one partition read_committed with raw Fetch
// requests, so that its position is the broker's: after each response it
// stands at the offset after the last batch the broker returned, control
// batches, aborted transactions and compacted-away records included
// (kgo.ProcessFetchPartition). A consumer client hides that position and
// returns nothing for a response of only markers or empty batches, which is
// what made the old restore guess "caught up" from idle polls.
//
// It never gives up on an unreachable broker: every failed request is
// retried with backoff for as long as ctx lives, and onWait is told while
// it waits, so the caller can say so.
type partitionReader struct {
	cl     *kgo.Client
	topic  string
	part   int32
	log    *slog.Logger
	onWait func(waiting bool)

	topicID [16]byte
	leader  int32 // -1: look it up
	pos     int64
	dec     kgo.Decompressor
	// maxWait is how long the broker may hold a fetch for data to come
	// (Fetch's MaxWaitMillis). Default 500 ms.
	maxWait int32
}

// nopLogger discards: probes have nothing an operator would act on.
var nopLogger = slog.New(slog.DiscardHandler)

// errOutOfRange means the partition no longer holds the reader's position:
// its log start moved past it (records deleted, or the topic recreated).
var errOutOfRange = errors.New("offset out of range")

func newPartitionReader(cl *kgo.Client, topic string, part int32, from int64, log *slog.Logger, onWait func(bool)) *partitionReader {
	if onWait == nil {
		onWait = func(bool) {}
	}
	return &partitionReader{cl: cl, topic: topic, part: part, log: log, onWait: onWait,
		leader: -1, pos: from, dec: kgo.DefaultDecompressor(), maxWait: 500}
}

// probe is one fetch from the position, without retrying: where the
// partition stands now, or an error.
func (r *partitionReader) probe(ctx context.Context) (fetched, error) {
	if err := r.lookup(ctx); err != nil {
		return fetched{}, err
	}
	return r.fetchOnce(ctx)
}

// fetched is one Fetch response's worth of a partition.
type fetched struct {
	records []*kgo.Record // data records at or after the position they were fetched from, in order
	next    int64         // the position after them: where the next fetch starts
	hwm     int64         // the partition's high watermark
	lso     int64         // its last stable offset
	start   int64         // its log start offset
}

// fetch returns the next records from the reader's position and moves it.
// It blocks (retrying) while the broker cannot answer; it returns an error
// only when ctx ends or the position is out of range.
func (r *partitionReader) fetch(ctx context.Context) (fetched, error) {
	backoff := 100 * time.Millisecond
	waiting := false
	defer func() {
		if waiting {
			r.onWait(false)
		}
	}()
	fail := func(what string, err error) {
		if !waiting {
			waiting = true
			r.onWait(true)
			r.log.Warn("waiting for the broker", "topic", r.topic, "partition", r.part, "offset", r.pos, "while", what, "err", err)
		}
		r.leader = -1
		sleep(ctx, backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
	for {
		if err := ctx.Err(); err != nil {
			return fetched{}, err
		}
		if r.leader < 0 {
			if err := r.lookup(ctx); err != nil {
				if ctx.Err() != nil {
					return fetched{}, ctx.Err()
				}
				fail("looking up the partition leader", err)
				continue
			}
		}
		f, err := r.fetchOnce(ctx)
		switch {
		case err == nil:
			if waiting {
				r.log.Info("the broker answers again", "topic", r.topic, "partition", r.part, "offset", r.pos)
			}
			return f, nil
		case errors.Is(err, errOutOfRange):
			return fetched{}, err
		case ctx.Err() != nil:
			return fetched{}, ctx.Err()
		}
		fail("fetching", err)
	}
}

// fetchPartitionBytes bounds one raw fetch of one partition. Restore keeps
// two in memory (one applied while the next is fetched), with their
// decoded records, so it sets the restore's share of the Go heap: 32 MiB
// made the Go limit of the default memory budget (192 MiB) collect
// garbage all the time and cost restore ≈ 40% more CPU per record than
// 4 MiB, which still means only a few fetches a second.
const fetchPartitionBytes = 4 << 20

func (r *partitionReader) fetchOnce(ctx context.Context) (fetched, error) {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = r.maxWait
	req.MinBytes = 1
	req.MaxBytes = 2 * fetchPartitionBytes
	req.IsolationLevel = 1 // read_committed
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = r.topic
	rt.TopicID = r.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = r.part
	rp.FetchOffset = r.pos
	rp.PartitionMaxBytes = fetchPartitionBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	resp, err := r.cl.Broker(int(r.leader)).Request(ctx, req)
	if err != nil {
		return fetched{}, err
	}
	fr := resp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
		return fetched{}, fmt.Errorf("fetch of %s[%d]: %w", r.topic, r.part, err)
	}
	for i := range fr.Topics {
		t := &fr.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.Partition != r.part {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if errors.Is(err, kerr.OffsetOutOfRange) {
					return fetched{}, fmt.Errorf("%s[%d] at offset %d (log start %d): %w", r.topic, r.part, r.pos, p.LogStartOffset, errOutOfRange)
				}
				return fetched{}, fmt.Errorf("fetch of %s[%d]: %w", r.topic, r.part, err)
			}
			fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
				Offset:         r.pos,
				IsolationLevel: kgo.ReadCommitted(),
				Topic:          r.topic,
				Partition:      r.part,
			}, p, r.dec, nil)
			if fp.Err != nil {
				return fetched{}, fmt.Errorf("reading the records of %s[%d] at offset %d: %w", r.topic, r.part, r.pos, fp.Err)
			}
			f := fetched{records: fp.Records, next: max(next, r.pos), hwm: p.HighWatermark, lso: p.LastStableOffset, start: p.LogStartOffset}
			r.pos = f.next
			return f, nil
		}
	}
	return fetched{}, fmt.Errorf("fetch response without %s[%d]", r.topic, r.part)
}

// lookup finds the partition's leader and the topic's id (Fetch v13+
// names topics by id).
func (r *partitionReader) lookup(ctx context.Context) error {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(r.topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", r.topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != r.topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("metadata of %s: %w", r.topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition != r.part {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("metadata of %s[%d]: %w", r.topic, r.part, err)
			}
			if p.Leader < 0 {
				return fmt.Errorf("%s[%d] has no leader", r.topic, r.part)
			}
			r.leader, r.topicID = p.Leader, t.TopicID
			return nil
		}
	}
	return fmt.Errorf("metadata has no %s[%d]", r.topic, r.part)
}

// ReadCommitted reads partition part of topic read_committed over the
// offsets [from, end) and hands each data record to fn, in order. It ends
// when its position, as the broker reports it, reaches end, so it stops
// at end offsets listed beforehand even when the last offsets below them
// are transaction markers, aborted records or compacted away, and never
// reads what was produced after them: for tools that must read a topic
// "up to its end as of now" (custream dlq). An unreachable broker is
// waited for (logged on log) for as long as ctx lives; an error from fn
// stops the read and is returned. A nil log is slog.Default().
func ReadCommitted(ctx context.Context, cl *kgo.Client, topic string, part int32, from, end int64, log *slog.Logger, fn func(*kgo.Record) error) error {
	if log == nil {
		log = slog.Default()
	}
	rd := newPartitionReader(cl, topic, part, from, log, nil)
	for pos := from; pos < end; {
		f, err := rd.fetch(ctx)
		if err != nil {
			return fmt.Errorf("reading %s[%d] at offset %d: %w", topic, part, pos, err)
		}
		for _, r := range f.records {
			if r.Offset >= end {
				break
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		pos = f.next
	}
	return nil
}
