package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/kafkatest"
)

// TestLeave: a static member that stopped without leaving (as
// --stay-in-group-on-shutdown does) stays in the group until its session
// times out; custream leave removes it at once, and a second run, or an id
// that never joined, is reported and exits 0.
func TestLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a broker")
	}
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "leave")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := c.Admin(t)
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, group); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), group) })

	// A static member with a session timeout far longer than the test.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumerGroup(group), kgo.InstanceID("m-0"),
		kgo.SessionTimeout(5*time.Minute), kgo.ConsumeTopics(group))
	if err != nil {
		t.Fatal(err)
	}
	for !hasInstance(ctx, t, adm, group, "m-0") {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatal("the static member did not join within a minute")
		}
	}
	cl.Close() // a static member's close does not leave the group
	if !hasInstance(ctx, t, adm, group, "m-0") {
		t.Fatal("the stopped static member left the group on close; the test proves nothing")
	}

	leave := func(ids ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args := []string{"leave", "--brokers", strings.Join(c.Brokers, ","), "--group", group}
		for _, id := range ids {
			args = append(args, "--instance-id", id)
		}
		if code := run(args, &out, &errOut); code != 0 {
			t.Fatalf("custream %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	if got := leave("m-0", "m-9"); !strings.Contains(got, "removed from group "+group+": m-0\n") ||
		!strings.Contains(got, "(nothing to do): m-9\n") {
		t.Errorf("first leave said %q, want m-0 removed and m-9 not a member", got)
	}
	if hasInstance(ctx, t, adm, group, "m-0") {
		t.Error("m-0 is still a member after custream leave")
	}
	if got := leave("m-0"); !strings.Contains(got, "(nothing to do): m-0\n") || strings.Contains(got, "removed") {
		t.Errorf("second leave said %q, want m-0 reported as not a member", got)
	}
}

// hasInstance tells whether group has a member with the instance id.
func hasInstance(ctx context.Context, t *testing.T, adm *kadm.Client, group, id string) bool {
	t.Helper()
	gs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describing group %s: %v", group, err)
	}
	for _, m := range gs[group].Members {
		if m.InstanceID != nil && *m.InstanceID == id {
			return true
		}
	}
	return false
}
