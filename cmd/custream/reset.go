package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/custream/custream/processor/reset"
)

// wipeInstruction is what the operator must do after a reset, and why it
// is required rather than advisable: `custream run` drops a task's local
// state by itself only when its checkpoint is past the new changelog's end
// (processor/restore.go). A member that comes back to a task after another
// member has rebuilt it and written more to the new changelog than the old
// checkpoint would resume from that checkpoint and mix the old state into
// the new one.
const wipeInstruction = `REQUIRED before any member starts again: delete the Pebble state of every member,
  rm -rf <state-dir>/pebble    (--state-dir, default ./data; on Kubernetes in each pod's PVC)
custream run drops a task's old state by itself only while the new changelog is shorter
than the task's old checkpoint; a member that rejoins later would otherwise resume from
its old checkpoint and mix the old state into the rebuilt one.`

const resetIntro = `With every member of the group stopped, rewind the application as Kafka's
kafka-streams-application-reset does: move the group's committed offsets of the
input topics to --to, delete those of the repartition topic, and delete the
changelog and repartition topics (the next custream run creates them again and
rebuilds the state from the inputs). The inputs and the results, merges,
snapshots and DLQ topics are kept. Run with --dry-run first; then --yes.
docs/operations.md, "Resetting an application".`

func runReset(args []string, stdout, stderr io.Writer) int {
	return resetCommand(args, os.Stdin, stdout, stderr)
}

// resetCommand is runReset with the terminal it may ask on.
func resetCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var k kafkaFlags
	var to string
	var dryRun, yes bool
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	k.register(fs)
	fs.StringVar(&to, "to", "", "where the group's input offsets go: earliest, latest or timestamp:RFC3339 (e.g. timestamp:2024-05-01T00:00:00Z); required")
	fs.BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	fs.BoolVar(&yes, "yes", false, "change the cluster without asking (otherwise a terminal is asked to type yes)")
	if err := parseFlagsIntro(fs, args, resetIntro); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	pos, err := reset.ParsePosition(to)
	if err != nil {
		fmt.Fprintln(stderr, "custream reset: --to:", err)
		return 2
	}
	brokers := k.brokerList()
	if len(brokers) == 0 {
		fmt.Fprintln(stderr, "custream reset: --brokers is required (reset never starts the embedded broker)")
		return 2
	}
	topo, opts, err := k.adminTarget()
	if err != nil {
		fmt.Fprintln(stderr, "custream reset:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm, closeAdm, err := newAdmin(brokers, opts)
	if err != nil {
		fmt.Fprintln(stderr, "custream reset:", err)
		return 1
	}
	defer closeAdm()

	plan, err := reset.MakePlan(ctx, adm, k.group, topo, pos)
	if err != nil {
		fmt.Fprintln(stderr, "custream reset:", err)
		return 1
	}
	printPlan(stdout, plan, dryRun)
	if dryRun {
		fmt.Fprintln(stdout, "\ndry run: nothing was changed")
		return 0
	}
	if !yes {
		ok, err := confirm(stdin, stdout)
		if err != nil {
			fmt.Fprintln(stderr, "custream reset:", err)
			return 2
		}
		if !ok {
			fmt.Fprintln(stderr, "custream reset: not confirmed; nothing was changed")
			return 1
		}
	}
	if err := reset.Apply(ctx, adm, plan); err != nil {
		fmt.Fprintln(stderr, "custream reset:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nreset of group %s done. %s\n", plan.Group, wipeInstruction)
	return 0
}

// confirm asks a terminal to type yes. Anything but a terminal (a pipe, a
// file, a CI job) is refused: those must say --yes.
func confirm(stdin io.Reader, stdout io.Writer) (bool, error) {
	f, ok := stdin.(*os.File)
	if !ok {
		return false, errors.New("changing the cluster needs --yes (or a terminal to answer yes); see the plan above, or run with --dry-run")
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false, errors.New("changing the cluster needs --yes (stdin is not a terminal); see the plan above, or run with --dry-run")
	}
	fmt.Fprint(stdout, "\nType yes to reset: ")
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	return strings.TrimSpace(line) == "yes", nil
}

// printPlan prints what the reset does (or, dry, would do).
func printPlan(w io.Writer, plan reset.Plan, dryRun bool) {
	verb := "resets"
	if dryRun {
		verb = "would reset"
	}
	fmt.Fprintf(w, "custream reset %s group %s to %s (no active member)\n", verb, plan.Group, plan.To)
	fmt.Fprintln(w, "\ncommitted offsets of the inputs, old -> new:")
	for _, m := range plan.Moves {
		fmt.Fprintf(w, "  %s[%d]  %s -> %d\n", m.Topic, m.Partition, offsetWord(m.Old), m.New)
	}
	if len(plan.DeleteOffsets) > 0 {
		fmt.Fprintln(w, "committed offsets deleted (the repartition topic starts again at 0):")
		for _, m := range plan.DeleteOffsets {
			fmt.Fprintf(w, "  %s[%d]  %s -> deleted\n", m.Topic, m.Partition, offsetWord(m.Old))
		}
	}
	if len(plan.DeleteTopics) > 0 {
		fmt.Fprintf(w, "topics deleted (the next custream run creates them empty; the state starts again from the inputs at the new offsets): %s\n", strings.Join(plan.DeleteTopics, ", "))
	} else {
		fmt.Fprintln(w, "topics deleted: none (the changelog and repartition topics do not exist)")
	}
	fmt.Fprintf(w, "topics kept: %s\n", strings.Join(plan.Kept, ", "))
	fmt.Fprintln(w, "\nwarning: customer ids are allocated again from each task's first id (the allocator is in the state):")
	fmt.Fprintln(w, "  ids published before the reset will be given again, possibly to other customers; the results,")
	fmt.Fprintln(w, "  merges and snapshots already published stay in their topics beside the new ones.")
	fmt.Fprintf(w, "\nafterwards, %s\n", wipeInstruction)
}

func offsetWord(o int64) string {
	if o < 0 {
		return "none"
	}
	return fmt.Sprint(o)
}
