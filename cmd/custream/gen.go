package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"

	"github.com/custream/custream/processor/ingest"
)

// runGen writes a realistic sample file for `custream load` to stdout.
func runGen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 10_000, "rows to write")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same file")
	org := fs.Int64("org", 100, "org the people belong to")
	format := fs.String("format", "csv", "csv or jsonl")
	invalid := fs.Int("invalid-pct", 2, "percent of rows with an invalid mobile (rejected with 8056)")
	dup := fs.Int("duplicate-pct", 10, "percent of rows repeating an earlier person: 8007 in the same source, a join (8050) in another")
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	f, err := ingest.ParseFormat(*format)
	if err != nil || *count < 0 || *invalid < 0 || *invalid > 100 || *dup < 0 || *dup > 100 {
		fmt.Fprintln(stderr, "custream gen: want --format csv|jsonl, --count ≥ 0 and percentages in 0..100")
		return 2
	}
	bw := bufio.NewWriter(stdout)
	cfg := ingest.GenConfig{Count: *count, Seed: *seed, Org: *org, Format: f, InvalidPct: *invalid, DuplicatePct: *dup}
	if err := ingest.Generate(bw, cfg); err != nil {
		fmt.Fprintln(stderr, "custream gen:", err)
		return 1
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(stderr, "custream gen:", err)
		return 1
	}
	return 0
}
