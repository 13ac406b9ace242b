package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/ingest"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
)

// Why a selected record is not replayed.
const (
	SkipNoOrigin        = "no-origin"        // no or malformed origin.* headers: no topic to go back to, no original requestId
	SkipNotAnInput      = "not-an-input"     // origin.topic is not an input topic of this deployment
	SkipTruncated       = "truncated"        // cut to fit the DLQ (error.truncated): not the producer's record any more
	SkipAnswered        = "answered"         // output-too-large: answered with 9001 for good
	SkipDuplicateOrigin = "duplicate-origin" // an earlier DLQ record of this replay has the same origin
)

// DefaultRate is replay's default rate limit, in records per second: well
// under what one partition processes, so a redrive does not delay live
// input much.
const DefaultRate = 500

// ReplayConfig is one replay. Construct it fully.
type ReplayConfig struct {
	Config
	// Inputs are the deployment's input topics: a record whose origin is
	// another topic is skipped (not-an-input).
	Inputs []string
	// Filter and Limit select the records, as for list: the first Limit
	// records (0: all) that Filter selects.
	Filter Filter
	Limit  int
	// DryRun reads and selects but produces nothing; Out is told what
	// would be replayed.
	DryRun bool
	Out    io.Writer
	// Rate bounds the records produced per second (a token bucket with a
	// tenth of a second's burst); 0 or less: no bound.
	Rate float64
	// Progress shows the selecting and replaying phases; nil shows
	// nothing.
	Progress *ingest.Progress
}

// Skip is one selected record not replayed.
type Skip struct {
	At     Position
	Reason string // a Skip* constant
	Detail string
}

// Failure is one record the broker did not take.
type Failure struct {
	At  Position
	Err error
}

// Report is what a replay did.
type Report struct {
	Extent   Extent
	Filter   Filter
	DryRun   bool
	Scanned  int            // DLQ records read
	Selected int            // of them, those the filter (and limit) selected
	Replayed map[string]int // by origin topic: acknowledged (dry run: would be)
	Skipped  []Skip
	Failed   []Failure
	Elapsed  time.Duration
}

// ReplayedTotal is the number of records replayed.
func (r Report) ReplayedTotal() int {
	n := 0
	for _, c := range r.Replayed {
		n += c
	}
	return n
}

// maxListed bounds the skips and failures a report lists one by one.
const maxListed = 20

// Write prints the report for a person.
func (r Report) Write(w io.Writer) {
	verb := "replayed"
	if r.DryRun {
		verb = "would replay"
	}
	fmt.Fprintf(w, "replay of %s (filter: %s; end offsets at start: %s)%s\n", r.Extent.Topic, r.Filter, r.Extent, map[bool]string{true: " — dry run, nothing sent"}[r.DryRun])
	fmt.Fprintf(w, "  read:      %d DLQ records\n", r.Scanned)
	fmt.Fprintf(w, "  selected:  %d\n", r.Selected)
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(r.Replayed)) {
		parts = append(parts, fmt.Sprintf("%s: %d", t, r.Replayed[t]))
	}
	fmt.Fprintf(w, "  %-10s %d (%s)\n", verb+":", r.ReplayedTotal(), strings.Join(parts, ", "))
	byReason := map[string]int{}
	for _, s := range r.Skipped {
		byReason[s.Reason]++
	}
	parts = parts[:0]
	for _, k := range slices.Sorted(maps.Keys(byReason)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, byReason[k]))
	}
	fmt.Fprintf(w, "  skipped:   %d (%s)\n", len(r.Skipped), strings.Join(parts, ", "))
	for i, s := range r.Skipped {
		if i == maxListed {
			fmt.Fprintf(w, "    … and %d more\n", len(r.Skipped)-maxListed)
			break
		}
		fmt.Fprintf(w, "    %-10s %-16s %s\n", s.At, s.Reason, s.Detail)
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(w, "  failed:    %d (not taken by the broker; replaying again is safe)\n", len(r.Failed))
		for i, f := range r.Failed {
			if i == maxListed {
				fmt.Fprintf(w, "    … and %d more\n", len(r.Failed)-maxListed)
				break
			}
			fmt.Fprintf(w, "    %-10s %v\n", f.At, f.Err)
		}
	}
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.ReplayedTotal()) / r.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "  took %s, %.0f records/s\n", r.Elapsed.Round(10*time.Millisecond), rate)
}

// skipReason says why d cannot be replayed, or "" when it can. inputs are
// the deployment's input topics; seen maps the origins already selected
// to their DLQ position.
func skipReason(d sink.DeadLetter, inputs []string, seen map[sink.Origin]Position) (reason, detail string) {
	switch {
	case !d.OriginOK:
		return SkipNoOrigin, "no valid origin.topic, origin.partition and origin.offset headers: neither the topic to replay to nor the original requestId is known"
	case !slices.Contains(inputs, d.Origin.Topic):
		return SkipNotAnInput, fmt.Sprintf("origin topic %s is not an input topic of this deployment (--topic-prefix, --sources)", d.Origin.Topic)
	case d.Truncated != "":
		return SkipTruncated, fmt.Sprintf("cut to fit the DLQ (%s); re-produce the original from %s", d.Truncated, originString(d.Origin))
	case d.Code == schemas.ErrCodeOutputTooLarge:
		return SkipAnswered, "its requestId was answered with 9001 for good (output-too-large): a replay would only repeat that answer"
	}
	if at, ok := seen[d.Origin]; ok {
		return SkipDuplicateOrigin, fmt.Sprintf("same origin %s as %s, replayed in this run", originString(d.Origin), at)
	}
	return "", ""
}

func originString(o sink.Origin) string {
	return fmt.Sprintf("%s/%d/%d", o.Topic, o.Partition, o.Offset)
}

// Replay selects DLQ records and produces each to its origin topic (see
// the package doc). Records are read twice: once to select them (and, on
// a dry run, to say what would be sent), once to send them, so memory
// holds positions, not records. The report is returned with any error; an
// error means the replay could not be carried out or was interrupted, a
// record the broker refused is a Failure in the report.
func Replay(ctx context.Context, cfg ReplayConfig) (rep Report, err error) {
	began := time.Now()
	rep = Report{Filter: cfg.Filter, DryRun: cfg.DryRun, Replayed: map[string]int{}}
	defer func() { rep.Elapsed = time.Since(began) }()
	rd, err := NewReader(cfg.Config)
	if err != nil {
		return rep, err
	}
	defer rd.Close()
	if rep.Extent, err = rd.Ends(ctx); err != nil {
		return rep, err
	}
	// Counted by a filter of its own, so Scanned counts every record read.
	count := Filter{Positions: cfg.Filter.Positions}
	selected := map[Position]bool{}
	seen := map[sink.Origin]Position{}
	progress := cfg.Progress
	if cfg.DryRun {
		progress = nil // its lines would break the bar
	}
	progress.Start("selecting", int(rep.Extent.Offsets()))
	err = rd.Scan(ctx, rep.Extent, count, func(d sink.DeadLetter) error {
		rep.Scanned++
		if !cfg.Filter.Match(d) {
			return nil
		}
		if cfg.Limit > 0 && rep.Selected >= cfg.Limit {
			return ErrStop
		}
		rep.Selected++
		at := Position{d.Record.Partition, d.Record.Offset}
		if reason, detail := skipReason(d, cfg.Inputs, seen); reason != "" {
			rep.Skipped = append(rep.Skipped, Skip{at, reason, detail})
			if cfg.DryRun && cfg.Out != nil {
				fmt.Fprintf(cfg.Out, "skip    %-10s %s: %s\n", at, reason, detail)
			}
			return nil
		}
		seen[d.Origin] = at
		selected[at] = true
		if cfg.DryRun {
			rep.Replayed[d.Origin.Topic]++
			if cfg.Out != nil {
				fmt.Fprintf(cfg.Out, "replay  %-10s %-11s → %s key=%s requestId=%s\n", at, d.Code, d.Origin.Topic, keyText(d.Record.Key, 24), requestID(d))
			}
		}
		return nil
	}, func(n int64) { progress.Set(int(n)) })
	progress.Finish()
	if err != nil || cfg.DryRun || len(selected) == 0 {
		return rep, err
	}
	err = send(ctx, cfg, rd, rep.Extent, selected, &rep)
	return rep, err
}

// send produces the selected records, in DLQ order, at cfg.Rate.
func send(ctx context.Context, cfg ReplayConfig, rd *Reader, ext Extent, selected map[Position]bool, rep *Report) error {
	producer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, append(cfg.ClientOpts,
		// A default producer's partitioning: murmur2 of the key, as Java
		// and franz-go producers do; the processor forwards a record
		// that is not on its org's task.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// Idempotent (franz-go's default, acks=all): a retried produce
		// writes the record once.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		// No kgo.RecordDeliveryTimeout: franz-go measures it from the
		// record's timestamp, which a replay keeps (days old, often), so
		// every record would time out at once. A broker that does not
		// answer is waited for until ctx ends (Ctrl-C).
	)...)...)
	if err != nil {
		return fmt.Errorf("dlq: kafka producer: %w", err)
	}
	defer producer.Close()

	// One range per partition, from its first selected record to its
	// last.
	spans := map[int32]PartitionExtent{}
	for at := range selected {
		rg, ok := spans[at.Partition]
		if !ok {
			rg = PartitionExtent{Partition: at.Partition, Start: at.Offset}
		}
		rg.Start, rg.End = min(rg.Start, at.Offset), max(rg.End, at.Offset+1)
		spans[at.Partition] = rg
	}
	rgs := slices.SortedFunc(maps.Values(spans), func(a, b PartitionExtent) int { return int(a.Partition - b.Partition) })
	bucket := newBucket(cfg.Rate, time.Now)
	var mu sync.Mutex
	var wg sync.WaitGroup
	cfg.Progress.Start("replaying", len(selected))
	defer cfg.Progress.Finish()
	err = rd.scan(ctx, ext.Topic, rgs, func(d sink.DeadLetter) error {
		at := Position{d.Record.Partition, d.Record.Offset}
		if !selected[at] {
			return nil
		}
		if err := bucket.wait(ctx); err != nil {
			return err
		}
		wg.Add(1)
		producer.Produce(ctx, d.Original(), func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Failed = append(rep.Failed, Failure{at, fmt.Errorf("producing to %s: %w", r.Topic, err)})
				return
			}
			rep.Replayed[r.Topic]++
			cfg.Progress.Add(1)
		})
		return nil
	}, nil)
	// Whatever was handed to the producer is acknowledged or failed
	// before the report is made.
	if ferr := producer.Flush(context.WithoutCancel(ctx)); ferr != nil && err == nil {
		err = ferr
	}
	wg.Wait()
	slices.SortFunc(rep.Failed, func(a, b Failure) int {
		if a.At.Partition != b.At.Partition {
			return int(a.At.Partition - b.At.Partition)
		}
		return int(a.At.Offset - b.At.Offset)
	})
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("replay interrupted: %w", err)
	}
	return err
}

// requestID is the requestId the processor will give d's command: its
// requestId header, or the default of its origin. (An Avro envelope's
// own requestId is not read here.)
func requestID(d sink.DeadLetter) string {
	for _, h := range d.Record.Headers {
		if strings.EqualFold(h.Key, schemas.HeaderRequestID) && len(h.Value) > 0 {
			return string(h.Value)
		}
	}
	return schemas.DefaultRequestID(d.Origin.Topic, d.Origin.Partition, d.Origin.Offset)
}

// bucket is a token bucket: rate tokens a second, at most burst saved.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
	now                 func() time.Time
}

func newBucket(rate float64, now func() time.Time) *bucket {
	if rate <= 0 {
		return nil
	}
	burst := max(1, rate/10)
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now(), now: now}
}

// take takes one token if there is one; otherwise it says how long until
// there is.
func (b *bucket) take() time.Duration {
	now := b.now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// wait blocks until a token is taken or ctx ends. A nil bucket never
// waits.
func (b *bucket) wait(ctx context.Context) error {
	if b == nil {
		return ctx.Err()
	}
	for {
		d := b.take()
		if d == 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
