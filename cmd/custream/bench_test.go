package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/custream/custream/processor/kafkatest"
)

// asCustreamEnv makes this test binary run its arguments as the custream
// binary would. The bench starts os.Executable() as its child, which in a
// test is this binary: the variable, set by the test and inherited by the
// child, turns the child into `custream run`.
const asCustreamEnv = "CUSTREAM_TEST_AS_CUSTREAM"

func TestMain(m *testing.M) {
	if os.Getenv(asCustreamEnv) == "1" {
		tuneGC()
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchMeasuresChild runs a small bench against the real broker and
// checks it reports the child processes' own CPU and peak RSS, and that
// --cpuprofile reaches the children.
func TestBenchMeasuresChild(t *testing.T) {
	brokers := os.Getenv(kafkatest.EnvBrokers)
	if brokers == "" || testing.Short() {
		t.Skip("integration test: needs a real broker in " + kafkatest.EnvBrokers)
	}
	t.Setenv(asCustreamEnv, "1")
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var out, errs bytes.Buffer
	// Batches of 500 so the backlog spans several transactions and the
	// steady-state lines have a first and a last result to go between.
	args := []string{"--brokers", brokers, "--commands", "2000", "--batch-records", "500", "--latency-duration", "1s", "--cpuprofile", prof}
	if code := runBench(args, &out, &errs); code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	got := out.String()
	t.Logf("bench output:\n%s", got)

	positive := func(what string, re *regexp.Regexp, want int) {
		t.Helper()
		ms := re.FindAllStringSubmatch(got, -1)
		if len(ms) != want {
			t.Errorf("%s: %d lines match %s, want %d", what, len(ms), re, want)
			return
		}
		for _, m := range ms {
			if v, err := strconv.ParseFloat(m[1], 64); err != nil || v <= 0 {
				t.Errorf("%s: %q is not a positive number (line %q)", what, m[1], m[0])
			}
		}
	}
	// One per child that reports it: throughput (per command) and
	// restore (per record).
	positive("child CPU per item", regexp.MustCompile(`child CPU, whole life \(rusage[^)]*\): \S+ = ([0-9.]+) µs per (command|record)`), 2)
	positive("child peak RSS", regexp.MustCompile(`child peak RSS: ([0-9.]+) MiB`), 2)
	positive("records restored", regexp.MustCompile(`restore from an empty state dir: ([0-9]+) changelog records`), 1)
	positive("restore rate", regexp.MustCompile(`changelog records \(.*\) in \S+ = ([0-9.]+) records/s`), 1)
	if !strings.Contains(got, "throughput: 2000 commands in ") {
		t.Errorf("no throughput line for 2000 commands")
	}
	for _, p := range []string{prof, prof + ".restore"} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("CPU profile %s of a child: %v (size %d)", p, err, sizeOf(st))
		}
	}
}

// TestBenchPoints runs a small bench with --points-pct 50 against the
// real broker: it reports the commands and balances, every balance applied,
// and the CPU per input record.
func TestBenchPoints(t *testing.T) {
	brokers := os.Getenv(kafkatest.EnvBrokers)
	if brokers == "" || testing.Short() {
		t.Skip("integration test: needs a real broker in " + kafkatest.EnvBrokers)
	}
	t.Setenv(asCustreamEnv, "1")
	var out, errs bytes.Buffer
	args := []string{"--brokers", brokers, "--commands", "4000", "--points-pct", "50", "--partitions", "2", "--orgs", "3",
		"--batch-records", "500", "--latency-duration", "1s"}
	if code := runBench(args, &out, &errs); code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	got := out.String()
	t.Logf("bench output:\n%s", got)
	m := regexp.MustCompile(`throughput: 4000 input records \(([0-9]+) commands, ([0-9]+) balances\)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatal("no throughput line with the commands and balances")
	}
	if m[1] != "2000" || m[2] != "2000" {
		t.Errorf("%s commands and %s balances, want 2000 of each", m[1], m[2])
	}
	if !regexp.MustCompile(`balances: 2000 = [0-9]+ balances/s per partition; applied \(results op=points, success\): 2000 = [0-9]+ balances/s per partition; refused: none`).MatchString(got) {
		t.Error("no line saying all 2000 balances were applied")
	}
	if n := len(regexp.MustCompile(`child CPU, (whole life|steady) \([^)]*\): \S+ = [0-9.]+ µs per input record`).FindAllString(got, -1)); n != 2 {
		t.Errorf("%d lines of child CPU per input record, want 2", n)
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}
