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

func runTopics(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		// Both actions take the same flags.
		fmt.Fprintln(stderr, "custream topics create|check: create the missing topics, or only check them (same partition count, compacted where needed)")
		args = []string{"create", "-h"}
	}
	if len(args) == 0 || (args[0] != "create" && args[0] != "check") {
		fmt.Fprintln(stderr, "usage: custream topics create|check [flags]")
		return 2
	}
	action := args[0]
	var k kafkaFlags
	var partitions, rf int
	fs := flag.NewFlagSet("topics "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	k.register(fs)
	fs.IntVar(&partitions, "partitions", defaultPartitions, "partitions of every topic created")
	fs.IntVar(&rf, "replication-factor", -1, "replication factor of topics created (-1: the broker's default)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return 2
	}
	brokers := k.brokerList()
	if len(brokers) == 0 {
		brokers = []string{fmt.Sprintf("127.0.0.1:%d", embeddedPort)}
	}
	topo, _, err := k.topology()
	if err != nil {
		fmt.Fprintln(stderr, "custream topics:", err)
		return 2
	}
	opts, err := k.clientOpts(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "custream topics:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm, closeAdm, err := newAdmin(brokers, opts)
	if err != nil {
		fmt.Fprintln(stderr, "custream topics:", err)
		return 1
	}
	defer closeAdm()
	if action == "create" {
		created, err := processor.EnsureTopics(ctx, adm, topo, int32(partitions), int16(rf))
		if len(created) > 0 {
			fmt.Fprintf(stdout, "created: %s\n", strings.Join(created, ", "))
		}
		if err != nil {
			fmt.Fprintln(stderr, "custream topics create:", err)
			return 1
		}
	}
	n, err := processor.CheckTopics(ctx, adm, topo)
	if err != nil {
		fmt.Fprintln(stderr, "custream topics check:", err)
		return 1
	}
	for _, s := range topo.Specs() {
		policy := "delete"
		if s.Compacted {
			policy = "compact"
		}
		fmt.Fprintf(stdout, "ok  %-28s partitions=%d cleanup.policy=%s\n", s.Name, n, policy)
	}
	return 0
}
