// Command custream is the one binary of custream: the stream processor and
// its tools. It is the only place that reads flags and the environment.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// processorGCPercent is the GC target custream sets unless GOGC says
// otherwise. The processor's live heap is small (Pebble's cache and
// memtables are allocated outside the Go heap) while it allocates per
// record, so the default of 100 collects often for little: 400 measured
// ~20% more commands/s in custream bench (docs/benchmarks.md) for a heap
// that peaks a few hundred MB higher. GOMEMLIMIT still bounds it.
const processorGCPercent = 400

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(processorGCPercent)
	}
}

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the stream processor (embedded broker when no --brokers)", runRun},
		{"topics", "create or check the topics: topics create|check", runTopics},
		{"load", "send a CSV/JSONL file of customers and report every line's result", runLoad},
		{"gen", "write a realistic sample file for load", runGen},
		{"dlq", "list, show or replay dead-lettered records: dlq list|show|replay", runDLQ},
		{"reset", "rewind a stopped group: input offsets, changelog and repartition topics", runReset},
		{"leave", "remove stopped members from the group after a scale-in: leave --instance-id ID", runLeave},
		{"bench", "measure the exactly-once processor against a passthrough baseline", runBench},
		{"version", "print the version", runVersion},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" {
		// "custream help CMD" is "custream CMD -h".
		args = []string{args[1], "-h"}
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "custream: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "custream: a Kafka stream processor for bulk customer ingestion")
	fmt.Fprintln(w, "\nUsage: custream COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\ncustream help COMMAND (or custream COMMAND -h) lists a command's flags.")
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "custream %s\n", v)
	return 0
}
