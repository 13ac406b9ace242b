package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/sink"
)

// Config says where the DLQ is and how to reach it.
type Config struct {
	// Brokers are the seed brokers; ClientOpts add TLS, SASL, logging.
	Brokers    []string
	ClientOpts []kgo.Opt
	// Topic is the DLQ topic (customers.dlq).
	Topic string
	// Logger hears about a broker that stops answering mid-read. Default
	// slog.Default().
	Logger *slog.Logger
}

// Reader reads the DLQ topic up to the end offsets of a moment.
type Reader struct {
	cfg Config
	cl  *kgo.Client
}

// NewReader returns a Reader of cfg.Topic; Close it.
func NewReader(cfg Config) (*Reader, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("dlq: no brokers or no DLQ topic")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("dlq: kafka client: %w", err)
	}
	return &Reader{cfg: cfg, cl: cl}, nil
}

// Close closes the Reader's client.
func (r *Reader) Close() { r.cl.Close() }

// Extent is what a read covers: per partition, the offsets [Start, End).
type Extent struct {
	Topic      string
	Partitions []PartitionExtent // by partition
}

// PartitionExtent is one partition of an Extent.
type PartitionExtent struct {
	Partition  int32
	Start, End int64
}

// Offsets is the number of offsets the extent spans (records, plus
// transaction markers and aborted records, which are not read).
func (e Extent) Offsets() int64 {
	var n int64
	for _, p := range e.Partitions {
		n += p.End - p.Start
	}
	return n
}

// String lists the end offsets, "0:12 1:30 …".
func (e Extent) String() string {
	var b strings.Builder
	for i, p := range e.Partitions {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d", p.Partition, p.End)
	}
	return b.String()
}

// Ends lists each partition's log start offset and its last stable offset
// (the end of what read_committed can read) now.
func (r *Reader) Ends(ctx context.Context) (Extent, error) {
	adm := kadm.NewClient(r.cl)
	topic := r.cfg.Topic
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Extent{}, fmt.Errorf("listing the start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Extent{}, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	ext := Extent{Topic: topic}
	ends.Each(func(o kadm.ListedOffset) {
		p := PartitionExtent{Partition: o.Partition, End: o.Offset}
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			p.Start = min(s.Offset, p.End)
		}
		ext.Partitions = append(ext.Partitions, p)
	})
	if len(ext.Partitions) == 0 {
		return Extent{}, fmt.Errorf("topic %s not found", topic)
	}
	slices.SortFunc(ext.Partitions, func(a, b PartitionExtent) int { return int(a.Partition - b.Partition) })
	return ext, nil
}

// ErrStop, returned by a Scan callback, ends the scan without an error.
var ErrStop = errors.New("stop")

// Scan reads the records of ext, partition by partition in offset order,
// and calls fn with each one f selects; progress, if not nil, is told the
// offsets read so far. Positions in f narrow the read to them.
func (r *Reader) Scan(ctx context.Context, ext Extent, f Filter, fn func(sink.DeadLetter) error, progress func(offsets int64)) error {
	return r.scan(ctx, ext.Topic, ranges(ext, f.Positions), func(d sink.DeadLetter) error {
		if !f.Match(d) {
			return nil
		}
		return fn(d)
	}, progress)
}

// scan reads the ranges rgs of topic in order and calls fn with every
// record.
func (r *Reader) scan(ctx context.Context, topic string, rgs []PartitionExtent, fn func(sink.DeadLetter) error, progress func(offsets int64)) error {
	var read int64
	for _, rg := range rgs {
		base := read
		err := processor.ReadCommitted(ctx, r.cl, topic, rg.Partition, rg.Start, rg.End, r.cfg.Logger, func(rec *kgo.Record) error {
			if progress != nil {
				progress(base + rec.Offset - rg.Start + 1)
			}
			return fn(sink.ReadDLQ(rec))
		})
		if errors.Is(err, ErrStop) {
			return nil
		}
		if err != nil {
			return err
		}
		read = base + rg.End - rg.Start
	}
	if progress != nil {
		progress(read)
	}
	return nil
}

// ranges is what Scan reads of ext: every partition whole, or, given
// positions, the span of those in each partition that ext holds.
func ranges(ext Extent, positions []Position) []PartitionExtent {
	if len(positions) == 0 {
		var out []PartitionExtent
		for _, p := range ext.Partitions {
			if p.End > p.Start {
				out = append(out, p)
			}
		}
		return out
	}
	var out []PartitionExtent
	for _, p := range ext.Partitions {
		rg := PartitionExtent{Partition: p.Partition, Start: -1}
		for _, pos := range positions {
			if pos.Partition != p.Partition || pos.Offset < p.Start || pos.Offset >= p.End {
				continue
			}
			if rg.Start < 0 || pos.Offset < rg.Start {
				rg.Start = pos.Offset
			}
			rg.End = max(rg.End, pos.Offset+1)
		}
		if rg.Start >= 0 {
			out = append(out, rg)
		}
	}
	return out
}
