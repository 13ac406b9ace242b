package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/custream/custream/processor"
)

func runTopics(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		// Both actions take the same flags.
		fmt.Fprintln(stderr, "custream topics create|check: look at every topic, then create the missing ones with the partition count of those that exist (create) or only report (check): same partition count everywhere, compacted where needed")
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
	fs.IntVar(&partitions, "partitions", 0, partitionsUsage)
	fs.IntVar(&rf, "replication-factor", -1, "replication factor of topics created (-1: the broker's default)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return 2
	}
	cfg := processor.TopicsConfig{Partitions: int32(partitions), ReplicationFactor: int16(rf)}
	brokers := k.brokerList()
	if len(brokers) == 0 {
		brokers = []string{fmt.Sprintf("127.0.0.1:%d", embeddedPort)}
		cfg.DefaultPartitions = embeddedPartitions
	}
	topo, opts, err := k.adminTarget()
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
	// create and check plan alike, and run does the same at its start
	// (processor.EnsureTopics): nothing is created before every topic was
	// looked at.
	var plan processor.TopicsPlan
	if action == "create" {
		plan, err = processor.EnsureTopics(ctx, adm, topo, cfg)
		if len(plan.Created) > 0 {
			fmt.Fprintf(stdout, "created: %s\n", strings.Join(plan.Created, ", "))
		}
	} else {
		plan, err = processor.PlanTopics(ctx, adm, topo, cfg)
		if err == nil && len(plan.Missing) > 0 {
			err = fmt.Errorf("missing topics %s: `custream topics create` (or `custream run`) creates them with partitions=%d, %s",
				strings.Join(plan.Missing, ", "), plan.Partitions, plan.From)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "custream topics %s: %v\n", action, err)
		return 1
	}
	for _, s := range topo.Specs() {
		policy := "delete"
		if s.Compacted {
			policy = "compact"
		}
		fmt.Fprintf(stdout, "ok  %-28s partitions=%d cleanup.policy=%s\n", s.Name, plan.Partitions, policy)
	}
	fmt.Fprintf(stdout, "partitions: %d, %s\n", plan.Partitions, plan.From)
	return 0
}
