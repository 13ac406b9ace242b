package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/dlq"
	"github.com/custream/custream/processor/ingest"
	"github.com/custream/custream/sink"
)

const dlqUsage = `Usage: custream dlq list|show|replay [flags]

Reads the dead-letter queue (<prefix>.dlq) back, and sends what went there
to the topics it came from once the producer or the data is fixed.

  list    a table of DLQ records (offset, time, error.code, origin, key,
          value size, message) and their counts by code
  show    records in full: every header, the key, the value
  replay  produce records again to their origin topics, with their
          original key, value and headers and their original default
          requestId, so a replay is idempotent

Each reads the DLQ read_committed from its start up to its end offsets as
the broker reports them when the command starts, then exits. The same
filters (--code, --origin-topic, --since, --until, --offset, --limit)
select the same records in all three: list first, then replay.
custream dlq COMMAND -h lists a command's flags; docs/operations.md,
"Redriving the DLQ", says when to replay and what is skipped.
`

func runDLQ(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, dlqUsage)
		return 0
	case "list":
		return runDLQList(args[1:], stdout, stderr)
	case "show":
		return runDLQShow(args[1:], stdout, stderr)
	case "replay":
		return runDLQReplay(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "custream dlq: unknown command %q\n\n%s", args[0], dlqUsage)
	return 2
}

// dlqFlags are the flags every dlq command shares: where the DLQ is, and
// which of its records to take.
type dlqFlags struct {
	kafka        kafkaFlags
	codes        listFlag
	originTopics listFlag
	offsets      listFlag
	since, until string
	limit        int
}

func (f *dlqFlags) register(fs *flag.FlagSet) {
	f.kafka.register(fs)
	fs.Var(&f.codes, "code", "only records with this error.code, e.g. misrouted (repeatable, or a comma-separated list)")
	fs.Var(&f.originTopics, "origin-topic", "only records that came from this input topic, or this source's (INSTORE) (repeatable, or a comma-separated list)")
	fs.StringVar(&f.since, "since", "", "only records refused at or after this time: RFC 3339 (2026-12-01T10:00:00Z) or a duration ago (2h, 90m, 3d)")
	fs.StringVar(&f.until, "until", "", "only records refused before this time: RFC 3339 or a duration ago")
	fs.Var(&f.offsets, "offset", "only the record at PARTITION:OFFSET of the DLQ topic, as list shows it (repeatable, or a comma-separated list)")
	fs.IntVar(&f.limit, "limit", 0, "at most this many records, the first the filters select (0: all)")
}

// dlqSetup is what a dlq command works with, from its flags.
type dlqSetup struct {
	topo   processor.Topology
	cfg    dlq.Config
	filter dlq.Filter
}

func (f *dlqFlags) setup(stderr io.Writer) (dlqSetup, error) {
	topo, _, err := f.kafka.topology()
	if err != nil {
		return dlqSetup{}, err
	}
	s := dlqSetup{topo: topo}
	s.cfg = dlq.Config{Brokers: f.kafka.brokerList(), Topic: topo.DLQ, Logger: newLogger(stderr, "warn")}
	if len(s.cfg.Brokers) == 0 {
		s.cfg.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", embeddedPort)} // the embedded broker of custream run
	}
	if s.cfg.ClientOpts, err = f.kafka.clientOpts(os.Getenv); err != nil {
		return dlqSetup{}, err
	}
	s.filter.Codes = dlq.SplitList(f.codes)
	for _, t := range dlq.SplitList(f.originTopics) {
		for _, in := range topo.Inputs {
			if strings.EqualFold(t, in.Source.Name) {
				t = in.Topic
			}
		}
		s.filter.OriginTopics = append(s.filter.OriginTopics, t)
	}
	for _, o := range dlq.SplitList(f.offsets) {
		p, err := dlq.ParsePosition(o)
		if err != nil {
			return dlqSetup{}, err
		}
		s.filter.Positions = append(s.filter.Positions, p)
	}
	now := time.Now()
	if f.since != "" {
		if s.filter.Since, err = dlq.ParseTime(f.since, now); err != nil {
			return dlqSetup{}, fmt.Errorf("--since: %w", err)
		}
	}
	if f.until != "" {
		if s.filter.Until, err = dlq.ParseTime(f.until, now); err != nil {
			return dlqSetup{}, fmt.Errorf("--until: %w", err)
		}
	}
	if f.limit < 0 {
		return dlqSetup{}, errors.New("--limit: want 0 (all) or more")
	}
	return s, nil
}

// parseDLQFlags parses a dlq command's flags; done with status when the
// command should exit at once (-h, bad flags).
func parseDLQFlags(fs *flag.FlagSet, args []string, intro string, stderr io.Writer) (status int, done bool) {
	fs.SetOutput(stderr)
	if err := parseFlagsIntro(fs, args, intro); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "custream %s: unexpected arguments %q (custream %s -h)\n", fs.Name(), fs.Args(), fs.Name())
		return 2, true
	}
	return 0, false
}

// scanDLQ reads the DLQ's records up to its end offsets now and calls fn
// with every record the filter selects, telling it whether the record is
// among the first limit (0: all); fn returns dlq.ErrStop to end the scan.
func scanDLQ(ctx context.Context, s dlqSetup, limit int, fn func(d sink.DeadLetter, within bool) error) (dlq.Extent, error) {
	rd, err := dlq.NewReader(s.cfg)
	if err != nil {
		return dlq.Extent{}, err
	}
	defer rd.Close()
	ext, err := rd.Ends(ctx)
	if err != nil {
		return ext, err
	}
	n := 0
	return ext, rd.Scan(ctx, ext, s.filter, func(d sink.DeadLetter) error {
		n++
		return fn(d, limit == 0 || n <= limit)
	}, nil)
}

func runDLQList(args []string, stdout, stderr io.Writer) int {
	var f dlqFlags
	fs := flag.NewFlagSet("dlq list", flag.ContinueOnError)
	f.register(fs)
	if status, done := parseDLQFlags(fs, args, `
Prints a table of the DLQ records the filters select — OFFSET (the DLQ
position PARTITION:OFFSET, for show --offset), TIME (error.time; "(ts)":
the record's timestamp, for records from before error.time), CODE
(error.code), ORIGIN (origin topic/partition/offset), KEY, VALUE B (value
size), MESSAGE (the first 60 characters of error.message) — then a line
of counts by code. With --limit, the table stops at the limit and the
counts still cover every record selected.`, stderr); done {
		return status
	}
	s, err := f.setup(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "custream dlq list:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	table := dlq.NewTable(stdout)
	counts := dlq.Counts{}
	shown := 0
	ext, err := scanDLQ(ctx, s, f.limit, func(d sink.DeadLetter, within bool) error {
		counts.Add(d)
		if within {
			table.Add(d)
			shown++
		}
		return nil
	})
	if err == nil {
		err = table.Flush()
	}
	if err != nil {
		fmt.Fprintln(stderr, "custream dlq list:", err)
		return 1
	}
	more := ""
	if shown < counts.Total() {
		more = fmt.Sprintf(", %d shown (--limit)", shown)
	}
	fmt.Fprintf(stdout, "%s: %s selected (%s)%s; end offsets %s\n", s.topo.DLQ, counts, s.filter, more, ext)
	return 0
}

func runDLQShow(args []string, stdout, stderr io.Writer) int {
	var f dlqFlags
	fs := flag.NewFlagSet("dlq show", flag.ContinueOnError)
	f.register(fs)
	maxBytes := fs.Int("max-bytes", 4096, "show at most this many bytes of a value or header value (0: all)")
	if status, done := parseDLQFlags(fs, args, `
Prints DLQ records in full: the DLQ's fields (code, message, time,
instance, origin and the requestId a replay keeps, what was truncated),
every header as stored, the key, and the value — as text when it is valid
UTF-8, else as hex, cut at --max-bytes. Select records with --offset P:O
(as list shows them) or the other filters; without any, every record.`, stderr); done {
		return status
	}
	s, err := f.setup(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "custream dlq show:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	n := 0
	if _, err := scanDLQ(ctx, s, f.limit, func(d sink.DeadLetter, within bool) error {
		if !within {
			return dlq.ErrStop
		}
		if n > 0 {
			fmt.Fprintln(stdout)
		}
		n++
		dlq.WriteRecord(stdout, s.topo.DLQ, d, *maxBytes)
		return nil
	}); err != nil {
		fmt.Fprintln(stderr, "custream dlq show:", err)
		return 1
	}
	if n == 0 {
		fmt.Fprintf(stderr, "custream dlq show: no record of %s selected (%s)\n", s.topo.DLQ, s.filter)
		return 1
	}
	return 0
}

func runDLQReplay(args []string, stdout, stderr io.Writer) int {
	var f dlqFlags
	fs := flag.NewFlagSet("dlq replay", flag.ContinueOnError)
	f.register(fs)
	dryRun := fs.Bool("dry-run", false, "say what would be replayed and skipped, produce nothing")
	rate := fs.Float64("rate", dlq.DefaultRate, "records produced per second at most (0: no limit)")
	if status, done := parseDLQFlags(fs, args, `
Produces each DLQ record the filters select to its origin topic
(origin.topic) with its original key, value, timestamp and headers,
without the error.* headers and keeping origin.*, so the processor gives
it its original default requestId (<origin.topic>/<origin.partition>/
<origin.offset>) and a record replayed twice is applied once (the second
time its result is the first one again, with custream.duplicate: true).
Records are partitioned by murmur2 of the key, as a default producer
does; the processor forwards those that are not on their org's task. The
producer is idempotent. Shows a progress bar on a terminal (a line every
5 s otherwise) and ends with a report: replayed per topic, skipped with
reasons. Skipped, with a reason: records without valid origin headers
(no-origin), from a topic that is not an input topic of this deployment
(not-an-input), cut to fit the DLQ (truncated), answered with 9001 for
good (answered: output-too-large), and a second DLQ record of an origin
already replayed in this run (duplicate-origin). A record replayed while
its cause is not fixed goes back to the DLQ, with the same origin.
Exit status 1 when the broker refused a record (replaying again is safe).`, stderr); done {
		return status
	}
	s, err := f.setup(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "custream dlq replay:", err)
		return 2
	}
	if *rate < 0 {
		fmt.Fprintln(stderr, "custream dlq replay: --rate: want 0 (no limit) or more")
		return 2
	}
	cfg := dlq.ReplayConfig{
		Config: s.cfg,
		Inputs: s.topo.InputTopics(),
		Filter: s.filter,
		Limit:  f.limit,
		DryRun: *dryRun,
		Out:    stdout,
		Rate:   *rate,
	}
	cfg.Progress = ingest.NewProgress(stdout, isTerminal(stdout))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := dlq.Replay(ctx, cfg)
	rep.Write(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "custream dlq replay:", err)
		return 1
	}
	if len(rep.Failed) > 0 {
		return 1
	}
	return 0
}
