package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// Config describes one load. Construct it fully; Load fills the defaults
// noted below.
type Config struct {
	// Brokers are the seed brokers; ClientOpts add TLS, SASL, logging.
	Brokers    []string
	ClientOpts []kgo.Opt
	// Source names the source (INSTORE, …); with AccountID it is part of
	// the request ids (see Scope). Topic is the source's input topic
	// (customers.<source>), or with Points the points topic; ResultsTopic
	// is where the processor answers (customers.results).
	Source       string
	Topic        string
	ResultsTopic string
	// Org is every command's org, sent as the record key. AccountID is the
	// default accountId; a row's own accountId wins.
	Org       int64
	AccountID string
	// Points makes the file one of balances from the loyalty engine
	// (ParseBalances), a first import: Source and AccountID are not used,
	// and Org is the org of the rows that have none of their own (0: every
	// row must have one). Request ids are the rows' own or
	// schemas.BalanceRequestID, which names the figure, so loading the file
	// again applies nothing twice.
	Points bool
	// Path is the file to load, in Format (default: from its name).
	Path   string
	Format Format
	// RejectsPath receives the reject report. Default Path + ".rejects.csv".
	RejectsPath string
	// Wait bounds how long Load waits for results while none arrive: a
	// processor that is down or far behind should not hang a script for
	// ever. Lines still without a result are reported as no-result, and
	// loading the same file again collects them. Default DefaultWait.
	Wait time.Duration
	// Progress shows producing and awaiting results; nil shows nothing.
	Progress *Progress
}

// DefaultWait is Config.Wait's default: a processor that answers nothing
// for this long is down or far behind.
const DefaultWait = 2 * time.Minute

func (c *Config) ensureDefaults() error {
	if len(c.Brokers) == 0 {
		return errors.New("no brokers")
	}
	if c.Topic == "" || c.ResultsTopic == "" {
		return errors.New("no input topic or results topic")
	}
	switch {
	case c.Points && (c.Source != "" || c.AccountID != ""):
		return errors.New("a balance file has no source or account")
	case c.Points && c.Org < 0:
		return fmt.Errorf("org %d: want a positive org id, or 0 for none", c.Org)
	case !c.Points && c.Source == "":
		return errors.New("no source")
	case !c.Points && c.Org <= 0:
		return fmt.Errorf("org %d: want a positive org id", c.Org)
	}
	if c.Path == "" {
		return errors.New("no file to load")
	}
	if c.Format == "" {
		c.Format = FormatOf(c.Path)
	}
	if c.RejectsPath == "" {
		c.RejectsPath = c.Path + ".rejects.csv"
	}
	if c.Wait <= 0 {
		c.Wait = DefaultWait
	}
	return nil
}

// Load sends every good line of the file as a command, waits for the
// results of its request ids, writes the reject report and returns the
// summary. An error means the load could not be carried out (no broker,
// unreadable file, unknown CSV column, a produce failure); rejections,
// bad lines and missing results are outcomes in the Summary, not errors.
func Load(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.ensureDefaults(); err != nil {
		return Summary{}, fmt.Errorf("load: %w", err)
	}
	start := time.Now()
	f, err := os.Open(cfg.Path)
	if err != nil {
		return Summary{}, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	id, err := HashFile(f)
	if err != nil {
		return Summary{}, fmt.Errorf("load %s: %w", cfg.Path, err)
	}
	sum := Summary{File: cfg.Path, Points: cfg.Points, RejectsPath: cfg.RejectsPath}
	var k kind
	if cfg.Points {
		k = newBalances(&cfg)
	} else {
		c := newCommands(&cfg, id.Hash)
		sum.Prefix = RequestIDPrefix(c.scope, c.hash)
		k = c
	}
	// A bad CSV header is refused before anything connects or is sent.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Summary{}, fmt.Errorf("load %s: %w", cfg.Path, err)
	}
	if err := checkHeader(cfg.Format, func(fn func(Row) error) error { return k.parse(f, fn) }); err != nil {
		return Summary{}, fmt.Errorf("load %s: %w", cfg.Path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Summary{}, fmt.Errorf("load %s: %w", cfg.Path, err)
	}

	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.ClientOpts...)
	producer, err := kgo.NewClient(append(opts,
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(50_000),
	)...)
	if err != nil {
		return sum, fmt.Errorf("load: kafka client: %w", err)
	}
	defer producer.Close()

	// Results are read from where the results topic ended before the first
	// command went out, so nothing of an earlier load is mistaken for an
	// answer and nothing of this one is missed.
	starts, err := resultStarts(ctx, kadm.NewClient(producer), cfg)
	if err != nil {
		return sum, err
	}
	consumer, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.ResultsTopic: starts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		return sum, fmt.Errorf("load: kafka client: %w", err)
	}
	defer consumer.Close()
	col := &collector{lineOf: k.lineOf, last: time.Now()}
	cctx, stopCollector := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); col.run(cctx, consumer) }()
	defer func() { stopCollector(); wg.Wait() }()

	cfg.Progress.Start("producing", max(id.Lines-1, 0))
	sent, rejects, err := produceFile(ctx, producer, f, k, col, cfg)
	cfg.Progress.Finish()
	if err != nil {
		return sum, err
	}
	sum.Produced, sum.BadLines = sent, len(rejects)
	sum.Records = sum.Produced + sum.BadLines

	cfg.Progress.Start("awaiting results", sent)
	col.await(ctx, sent, cfg.Wait, cfg.Progress)
	cfg.Progress.Finish()
	stopCollector()
	wg.Wait()

	sum.addResults(col.tally)
	rejects = append(rejects, col.rejects...)
	var missing []int
	col.sent.each(func(line int) {
		if !col.got.has(line) {
			missing = append(missing, line)
		}
	})
	sum.Missing = len(missing)
	msg := fmt.Sprintf("no result within %s of the last one; is custream run consuming %s?", cfg.Wait, cfg.Topic)
	for i, rid := range k.requestIDs(missing) {
		rejects = append(rejects, Reject{Line: missing[i], RequestID: rid, Code: CodeNoResult, Message: msg})
	}
	slices.SortStableFunc(rejects, func(a, b Reject) int { return a.Line - b.Line })
	if err := writeRejectsFile(cfg.RejectsPath, rejects); err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(start)
	if sum.Missing > 0 && col.lastErr() != nil {
		return sum, fmt.Errorf("load: %d results missing; last error reading %s: %w", sum.Missing, cfg.ResultsTopic, col.lastErr())
	}
	return sum, nil
}

// resultStarts checks that both topics exist and returns the end offsets of
// the results topic.
func resultStarts(ctx context.Context, adm *kadm.Client, cfg Config) (map[int32]kgo.Offset, error) {
	topics, err := adm.ListTopics(ctx, cfg.Topic, cfg.ResultsTopic)
	if err != nil {
		return nil, fmt.Errorf("load: listing topics on %v: %w", cfg.Brokers, err)
	}
	for _, t := range []string{cfg.Topic, cfg.ResultsTopic} {
		if d, ok := topics[t]; !ok || d.Err != nil {
			return nil, fmt.Errorf("load: topic %s does not exist on %v (start `custream run`, or `custream topics create`)", t, cfg.Brokers)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, cfg.ResultsTopic)
	if err != nil {
		return nil, fmt.Errorf("load: end offsets of %s: %w", cfg.ResultsTopic, err)
	}
	out := map[int32]kgo.Offset{}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = o.Err
		}
		out[o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	if lerr != nil {
		return nil, fmt.Errorf("load: end offsets of %s: %w", cfg.ResultsTopic, lerr)
	}
	return out, nil
}

// kind is what Load needs of a file's kind: customers for one source
// (commands) or balances for the points topic (balances).
type kind interface {
	// parse calls fn with every row of r in file order, bad rows included
	// (Parse or ParseBalances).
	parse(r io.Reader, fn func(Row) error) error
	// record returns the record of a good row, or the reject of a row that
	// is not to be sent; an error stops the load.
	record(row Row) (*kgo.Record, *Reject, error)
	// lineOf is the line a result answers; false for another load's.
	lineOf(res customer.Result) (int, bool)
	// requestIDs are the request ids of lines that were sent, in order.
	requestIDs(lines []int) []string
}

// commands are the rows of a customers file, sent to one source with
// request ids derived from the file's content (see Scope).
type commands struct {
	cfg         *Config
	scope, hash string
	key         []byte // the org, every record's key
}

func newCommands(cfg *Config, hash string) *commands {
	return &commands{cfg: cfg, scope: Scope(cfg.Source, cfg.AccountID), hash: hash, key: []byte(strconv.FormatInt(cfg.Org, 10))}
}

func (c *commands) parse(r io.Reader, fn func(Row) error) error { return Parse(r, c.cfg.Format, fn) }

func (c *commands) record(row Row) (*kgo.Record, *Reject, error) {
	rid := RequestID(c.scope, c.hash, row.Line)
	if row.Err != nil {
		return nil, &Reject{Line: row.Line, RequestID: rid, Code: CodeBadLine, Message: row.Err.Error()}, nil
	}
	cmd := row.Cmd
	cmd.Org, cmd.RequestID = c.cfg.Org, rid
	if cmd.AccountID == "" {
		cmd.AccountID = c.cfg.AccountID
	}
	value, hs, err := schemas.EncodeJSONCommand(cmd)
	if err != nil {
		return nil, nil, err
	}
	rec := &kgo.Record{Topic: c.cfg.Topic, Key: c.key, Value: value, Headers: make([]kgo.RecordHeader, len(hs))}
	for i, h := range hs {
		rec.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
	}
	return rec, nil, nil
}

func (c *commands) lineOf(res customer.Result) (int, bool) {
	return LineOf(c.scope, c.hash, res.RequestID)
}

func (c *commands) requestIDs(lines []int) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = RequestID(c.scope, c.hash, l)
	}
	return out
}

// produceFile parses the file and produces every good row, marking it
// sent in col; it returns how many were sent and the rows not sent as
// rejects.
func produceFile(ctx context.Context, cl *kgo.Client, r io.Reader, k kind, col *collector, cfg Config) (int, []Reject, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var sent int
	var rejects []Reject
	var failed atomic.Bool
	promise := func(line int, rec *kgo.Record, err error) {
		if err != nil && failed.CompareAndSwap(false, true) {
			cancel(fmt.Errorf("producing line %d to %s: %w", line, rec.Topic, err))
		}
		cfg.Progress.Add(1)
	}
	perr := k.parse(r, func(row Row) error {
		rec, rej, err := k.record(row)
		if err != nil {
			return fmt.Errorf("line %d: %w", row.Line, err)
		}
		if rej != nil {
			rejects = append(rejects, *rej)
			cfg.Progress.Add(1)
			return nil
		}
		sent++
		col.markSent(row.Line)
		cl.Produce(ctx, rec, func(rec *kgo.Record, err error) { promise(row.Line, rec, err) })
		return context.Cause(ctx)
	})
	// Flush even after an error, so every callback has run before we return.
	ferr := cl.Flush(context.WithoutCancel(ctx))
	if cause := context.Cause(ctx); cause != nil {
		return 0, nil, fmt.Errorf("load %s: %w (nothing is lost: loading the same file again sends only the same request ids)", cfg.Path, cause)
	}
	if perr != nil {
		return 0, nil, fmt.Errorf("load %s: %w", cfg.Path, perr)
	}
	if ferr != nil {
		return 0, nil, fmt.Errorf("load %s: flushing: %w", cfg.Path, ferr)
	}
	return sent, rejects, nil
}

func headerValue(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func writeRejectsFile(path string, rejects []Reject) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("load: reject report: %w", err)
	}
	if err := WriteRejects(f, rejects); err != nil {
		f.Close()
		return fmt.Errorf("load: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("load: reject report %s: %w", path, err)
	}
	return nil
}

// collector reads the results topic and folds the first result of each
// line sent into a tally and the rejects as it arrives, so a load keeps
// two bits per line (sent, answered) rather than every line's result.
type collector struct {
	lineOf func(customer.Result) (int, bool)

	mu      sync.Mutex
	sent    lineSet // lines produced
	got     lineSet // lines sent whose result arrived
	n       int     // how many lines got holds
	tally   Summary // the results' counts (Summary.count)
	rejects []Reject
	last    time.Time // when a new result of ours last arrived
	err     error     // the last fetch or decode error, for the final message
}

// markSent records that line is being produced. Before the record goes
// out, so its result always finds it.
func (c *collector) markSent(line int) {
	c.mu.Lock()
	c.sent.add(line)
	c.mu.Unlock()
}

func (c *collector) run(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		fs.EachError(func(t string, p int32, err error) {
			c.err = fmt.Errorf("%s[%d]: %w", t, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			res, err := decodeResult(r.Value)
			if err != nil {
				// Not necessarily ours; it only matters if lines go missing.
				c.err = fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			line, ok := c.lineOf(res)
			// A line not sent is another load's (the same file loaded
			// elsewhere at the same time); a line answered already keeps
			// its first result.
			if !ok || !c.sent.has(line) || c.got.has(line) {
				return
			}
			c.got.add(line)
			c.n++
			c.tally.count(res, headerValue(r, "custream.duplicate") == "true")
			for _, e := range res.Errors {
				c.rejects = append(c.rejects, Reject{Line: line, RequestID: res.RequestID, Code: strconv.Itoa(int(e.Code)), Message: e.Message})
			}
			c.last = time.Now()
		})
		c.mu.Unlock()
	}
}

// decodeResult reads a result in either output format of the processor:
// Avro single-object encoding starts with C3 01, JSON with '{'.
func decodeResult(v []byte) (customer.Result, error) {
	if schemas.Detect(v) == schemas.EncodingSingleObject {
		rr, err := schemas.DecodeResult(v)
		return rr.Result, err
	}
	rr, err := schemas.DecodeResultJSON(v)
	return rr.Result, err
}

// await returns when want results arrived, when none arrived for wait, or
// when ctx ends.
func (c *collector) await(ctx context.Context, want int, wait time.Duration, p *Progress) {
	c.mu.Lock()
	c.last = time.Now() // the wait starts when producing ends
	c.mu.Unlock()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		c.mu.Lock()
		got, idle := c.n, time.Since(c.last)
		c.mu.Unlock()
		p.Set(got)
		if got >= want || idle > wait {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *collector) lastErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
