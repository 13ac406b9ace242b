package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestResetCommand walks custream reset on a deployment whose group has
// committed offsets: refused while a member is in the group, --dry-run
// and a missing --yes change nothing, --yes resets, a second reset is
// harmless.
func TestResetCommand(t *testing.T) {
	d := newInputsOnly(t)
	var sink bytes.Buffer
	if code := runTopics(append([]string{"create"}, d.flags...), &sink, &sink); code != 0 {
		t.Fatalf("custream topics create: %d\n%s", code, sink.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	input := d.topo.InputTopics()[0]
	prod := d.c.Client(t)
	for i := range 3 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: input, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	if err := d.adm.CommitAllOffsets(ctx, d.group, kadm.Offsets{input: {0: {Topic: input, Partition: 0, At: 2, LeaderEpoch: -1}}}); err != nil {
		t.Fatalf("committing: %v", err)
	}
	committed := func() int64 {
		t.Helper()
		resp, err := d.adm.FetchOffsets(ctx, d.group)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := resp.Lookup(input, 0)
		if !ok || r.Err != nil {
			t.Fatalf("no committed offset of %s[0]: %v", input, r.Err)
		}
		return r.At
	}
	reset := func(stdin string, args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := resetCommand(append(args, d.flags...), strings.NewReader(stdin), &out, &out)
		t.Logf("custream reset %s: %d\n%s", strings.Join(args, " "), code, out.String())
		return code, out.String()
	}
	all := len(d.names())

	t.Run("refused with a member", func(t *testing.T) {
		member := d.c.Client(t, kgo.ConsumerGroup(d.group), kgo.ConsumeTopics(input), kgo.InstanceID("member-b"), kgo.DisableAutoCommit())
		mctx, mcancel := context.WithCancel(ctx)
		polled := make(chan struct{})
		defer func() { mcancel(); <-polled }()
		go func() {
			defer close(polled)
			for mctx.Err() == nil && !member.PollFetches(mctx).IsClientClosed() {
			}
		}()
		for try := 0; ; try++ {
			g, err := d.adm.DescribeGroups(ctx, d.group)
			if err == nil && g[d.group].State == "Stable" {
				break
			}
			if try == 300 {
				t.Fatalf("the member did not join: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		code, out := reset("yes\n", "--to", "earliest", "--yes")
		if code != 1 || !strings.Contains(out, "member-b@") || !strings.Contains(out, "stop every member first") {
			t.Errorf("exit %d, want 1 naming member-b and saying to stop it", code)
		}
		if committed() != 2 || d.existing(t) != all {
			t.Error("the refused reset changed the cluster")
		}
		// Static members stay until they leave; the processor leaves the same way.
		if _, err := d.adm.LeaveGroup(ctx, kadm.LeaveGroup(d.group).InstanceIDs("member-b")); err != nil {
			t.Fatalf("leaving: %v", err)
		}
	})

	for _, step := range []struct {
		name, stdin string
		args        []string
		code        int
		want        []string
		offset      int64
		topics      int
	}{
		{"bad position", "", []string{"--to", "yesterday"}, 2, []string{"want earliest, latest or timestamp:RFC3339"}, 2, all},
		{"dry run", "", []string{"--to", "earliest", "--dry-run"}, 0, []string{
			"would reset group " + d.group + " to earliest",
			input + "[0]  2 -> 0",
			"topics deleted (the next custream run creates them empty; the state starts again from the inputs at the new offsets): " + d.topo.Changelog + ", " + d.topo.Repartition,
			"topics kept: " + input,
			"customer ids are allocated again from each task's first id",
			"REQUIRED before any member starts again", "rm -rf <state-dir>/pebble",
			"dry run: nothing was changed",
		}, 2, all},
		{"no --yes and no terminal", "yes\n", []string{"--to", "earliest"}, 2, []string{"needs --yes"}, 2, all},
		{"reset", "", []string{"--to", "earliest", "--yes"}, 0, []string{input + "[0]  2 -> 0", "reset of group " + d.group + " done", "REQUIRED"}, 0, all - 2},
		{"again", "", []string{"--to", "latest", "--yes"}, 0, []string{input + "[0]  0 -> 3", "topics deleted: none"}, 3, all - 2},
	} {
		code, out := reset(step.stdin, step.args...)
		for _, w := range step.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q not in the output", step.name, w)
			}
		}
		if code != step.code {
			t.Errorf("%s: exit %d, want %d", step.name, code, step.code)
		}
		if got := committed(); got != step.offset {
			t.Errorf("%s: committed offset %d, want %d", step.name, got, step.offset)
		}
		if got := d.existing(t); got != step.topics {
			t.Errorf("%s: %d of the topics exist, want %d", step.name, got, step.topics)
		}
	}
}

func TestResetInHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "  reset ") {
		t.Errorf("custream help: exit %d, no reset in\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"help", "reset"}, &out, &out); code != 0 || !strings.Contains(out.String(), "-dry-run") {
		t.Errorf("custream help reset: exit %d, no --dry-run in\n%s", code, out.String())
	}
}

// TestResetDocumented: docs/operations.md has the section, and it names
// every flag reset adds to the Kafka flags.
func TestResetDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Resetting an application")
	if i < 0 {
		t.Fatal("docs/operations.md has no \"Resetting an application\" section")
	}
	section := doc[i+3:]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	for _, w := range []string{"custream reset", "--to earliest", "--dry-run", "--yes", "pebble", "timestamp:"} {
		if !strings.Contains(section, w) {
			t.Errorf("the section does not mention %s", w)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "`reset`") {
		t.Error("README's command list lacks reset")
	}
}
