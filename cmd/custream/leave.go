package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/custream/custream/processor"
)

const leaveIntro = `Removes static members from the consumer group by their --instance-id, so
the remaining members take their tasks at the next rebalance rather than
after --session-timeout. Members run with --stay-in-group-on-shutdown stay
in the group when they stop, so a restart keeps their tasks; run this after
a scale-in for the ids of the pods that are gone (docs/operations.md,
"Scaling"). It asks nothing and refuses nothing: an id of a member still
running is removed too (that member rejoins and the group rebalances
again). An id that is not a member is reported and is not an error, so it
is safe to run twice.`

func runLeave(args []string, stdout, stderr io.Writer) int {
	var k kafkaFlags
	var ids listFlag
	fs := flag.NewFlagSet("leave", flag.ContinueOnError)
	fs.SetOutput(stderr)
	k.register(fs)
	fs.Var(&ids, "instance-id", "instance id of a member to remove, e.g. custream-3 (repeatable, or a comma-separated list)")
	if status, done := parseDLQFlags(fs, args, leaveIntro, stderr); done {
		return status
	}
	var members []string
	for _, v := range ids {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				members = append(members, id)
			}
		}
	}
	if len(members) == 0 {
		fmt.Fprintln(stderr, "custream leave: no --instance-id given")
		return 2
	}
	brokers := k.brokerList()
	if len(brokers) == 0 {
		brokers = []string{fmt.Sprintf("127.0.0.1:%d", embeddedPort)}
	}
	opts, err := k.clientOpts(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "custream leave:", err)
		return 2
	}
	adm, closeAdm, err := newAdmin(brokers, opts)
	if err != nil {
		fmt.Fprintln(stderr, "custream leave:", err)
		return 1
	}
	defer closeAdm()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	left, absent, err := processor.LeaveGroup(ctx, adm, k.group, "custream leave", members...)
	if len(left) > 0 {
		fmt.Fprintf(stdout, "removed from group %s: %s\n", k.group, strings.Join(left, ", "))
	}
	if len(absent) > 0 {
		fmt.Fprintf(stdout, "not members of group %s (nothing to do): %s\n", k.group, strings.Join(absent, ", "))
	}
	if err != nil {
		fmt.Fprintln(stderr, "custream leave:", err)
		return 1
	}
	return 0
}
