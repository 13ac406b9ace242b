package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"

	"github.com/custream/custream/processor/ingest"
)

// runLoad sends a CSV or JSONL file of customers to one source topic, or
// (--points) one of balances to the points topic, and reports what the
// processor made of every line.
func runLoad(args []string, stdout, stderr io.Writer) int {
	var kf kafkaFlags
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kf.register(fs)
	source := fs.String("source", "", "source of the commands (INSTORE, MARTJACK, WECHAT, FACEBOOK, or one of --sources); required, except with --points")
	points := fs.String("points", "", "load this file of balances from the loyalty engine to the points topic (--points-topic) instead of customers to a source: a first import; takes no --source, --account or FILE")
	org := fs.Int64("org", 0, "org id of every command (the record key); required. With --points: the org of the rows that have no org of their own")
	account := fs.String("account", "", "accountId for multi-account sources; a row's own accountId wins")
	format := fs.String("format", "", "csv or jsonl (default: jsonl for .jsonl/.ndjson files, else csv)")
	rejects := fs.String("rejects", "", "reject report CSV (default <FILE>.rejects.csv)")
	wait := fs.Duration("wait", ingest.DefaultWait, "give up waiting for results after this long without a new one")
	// parseFlags installs the generic usage; load's needs the column list.
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			loadUsage(fs)
			return 0
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	if *points != "" && (*source != "" || *account != "" || fs.NArg() != 0) {
		// Two files in one run would mix two reports and two kinds of
		// request id; and the customers must be there before their
		// balances, which one run cannot promise across two topics.
		fmt.Fprintln(stderr, "custream load: --points FILE loads balances on its own: it takes no --source, --account (nor CUSTREAM_SOURCE, CUSTREAM_ACCOUNT) or customers FILE; load the customers first, then the balances in a second run")
		return 2
	}
	if *points == "" && (fs.NArg() != 1 || *source == "" || *org <= 0) {
		fmt.Fprintln(stderr, "custream load: want --source, --org and exactly one FILE, or --points FILE (custream load -h)")
		return 2
	}
	if *org < 0 {
		fmt.Fprintf(stderr, "custream load: --org %d: want a positive org id\n", *org)
		return 2
	}
	cfg := ingest.Config{Org: *org, AccountID: *account, Path: fs.Arg(0), RejectsPath: *rejects, Wait: *wait}
	if *format != "" {
		f, err := ingest.ParseFormat(*format)
		if err != nil {
			fmt.Fprintln(stderr, "custream load:", err)
			return 2
		}
		cfg.Format = f
	}
	topo, _, err := kf.topology()
	if err != nil {
		fmt.Fprintln(stderr, "custream load:", err)
		return 2
	}
	if *points != "" {
		cfg.Points, cfg.Path, cfg.Topic = true, *points, topo.PointsTopic()
	} else {
		for _, in := range topo.CommandInputs() {
			if strings.EqualFold(in.Source.Name, *source) {
				cfg.Topic, cfg.Source = in.Topic, in.Source.Name
				if in.Source.MultiAccount && *account == "" {
					fmt.Fprintf(stderr, "custream load: note: %s is a multi-account source; rows without an accountId column value will be rejected with 8045\n", in.Source.Name)
				}
			}
		}
		if cfg.Topic == "" {
			fmt.Fprintf(stderr, "custream load: unknown source %q (sources: %s)\n", *source, kf.sources)
			return 2
		}
	}
	cfg.ResultsTopic = topo.Results
	cfg.Brokers = kf.brokerList()
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", embeddedPort)} // the embedded broker of `custream run`
	}
	if cfg.ClientOpts, err = kf.clientOpts(os.Getenv); err != nil {
		fmt.Fprintln(stderr, "custream load:", err)
		return 2
	}
	cfg.Progress = ingest.NewProgress(stdout, isTerminal(stdout))

	// custream's GC percent (tuneGC) suits the processor, whose live heap
	// is small; a load's live heap is what it keeps per row to the end,
	// and 400 would let the heap grow to five times that. 1M balances:
	// 575 MB peak RSS at 400, 245 MB at 100 (docs/benchmarks.md).
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(100))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := ingest.Load(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "custream load:", err)
		return 1
	}
	sum.Write(stdout)
	if sum.Missing > 0 {
		return 1
	}
	return 0
}

// isTerminal reports whether w is a character device (a terminal), where a
// redrawn progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func loadUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: custream load --source S --org O [--account A] [--format csv|jsonl] FILE
       custream load --points FILE [--org O] [--format csv|jsonl]

Sends every line of FILE as a command to customers.<source> (key = org),
with request id load-<source>[.<account>]-<first 12 hex of the file's
SHA-256>-<line>, so loading the same file into the same source again
applies nothing twice (and into another source, joins). Then waits for
the results, writes the reject report (line, requestId, code, message;
code bad-line for lines that did not parse, no-result for results that
did not come) and prints a summary. Exit status 1 when results are
missing. Progress goes to stdout: a bar on a terminal, plain lines every
5 s otherwise. No --brokers: the embedded broker of custream run.

CSV: a header row, then one customer per row. Columns (names case-insensitive):
  op                       register (default), update, changeIdentifier or subscriptions
  customerId               for update, changeIdentifier and subscriptions
  accountId                the row's source account (overrides --account)
  firstName, lastName      the profile's names
  mobile, email, externalId, wechat, martjackId, fbId
                           identifiers (repeat a column for several)
  channel.email, channel.mobile, channel.wechat
                           comm channels (primary); channel.<type>.verified = true/false
  loyaltyType              loyalty or non_loyalty
  createDate               attributionV2.createDate, RFC 3339
  ext.<name>               extendedFields.<name>
  field.<name>             custom field <name>
  add.<type>, remove.<type> changeIdentifier's add and remove
  sub.<channel>.<priority>[.<accountId>]
                           a subscription: OPTIN or OPTOUT; channel SMS, EMAIL or
                           WECHAT; priority TRANS or BULK (e.g. sub.sms.bulk)
  communicationId, campaignId, reason, scope, subScope
                           the rest of a subscriptions body
JSONL: one API request body per line, with optional "op", "customerId" and
"accountId" keys beside the body's keys.

--points FILE: a first import of balances from the loyalty engine, one
balance per row, sent to the points topic (<prefix>.points, --points-topic)
keyed by the row's org. The request id is the row's requestId, else
points-<customerId>-<programId>-<version>: it names the figure, so loading
the file again applies nothing twice, and a figure refused once (8009
unknown customer, 8089 non-loyalty, 8908 not newer than the stored one) is
refused again until the engine sends a newer version. Rows that do not
decode or fail the balance checks are bad lines, never sent; so is a row
with the request id of an earlier row. Load the customers first.

CSV: a header row naming columns (case-insensitive), then one balance per
row; empty cells are absent. An unknown or repeated column stops the load
before anything is sent. JSONL: one points-topic JSON value per line, names
exact; an unknown key makes the line a bad line (the processor would read a
misspelt field as 0). Names:
  org                      the row's org (default --org)
  customerId, programId    required
  version                  the engine's order of its figures, increasing
  asOf                     RFC 3339 time; its milliseconds are the version when
                           version is absent
  requestId                optional
  loyaltyPoints, lifetimePoints, redeemed, expired, returned, adjusted,
  cumulativePurchases      numbers (default 0)
  loyaltyId, currentSlab, slabSNo, slabExpiryDate, nextSlab,
  nextSlabSerialNumber (default -1), nextSlabDescription
                           the tier

Flags (each also settable as CUSTREAM_<NAME>):
`)
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%s  [%s]\n      %s%s\n", f.Name, envName(f.Name), f.Usage, def)
	})
}
