package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/schemas"
)

// inputsOnly is a deployment whose input topics an operator made by hand
// with 1 partition, before custream ever started: the trap of issue 11.
type inputsOnly struct {
	c     *kafkatest.Cluster
	adm   *kadm.Client
	group string
	topo  processor.Topology
	flags []string // --brokers, --group and --topic-prefix of it
}

func newInputsOnly(t *testing.T) *inputsOnly {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a broker (make test)")
	}
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "cmd")
	d := &inputsOnly{c: c, adm: c.Admin(t), group: group,
		topo:  processor.DefaultTopology(group, group, customer.DefaultSources()),
		flags: []string{"--brokers", strings.Join(c.Brokers, ","), "--group", group, "--topic-prefix", group}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = d.adm.DeleteTopics(ctx, d.names()...)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range d.topo.InputTopics() {
		if _, err := d.adm.CreateTopic(ctx, 1, -1, nil, n); err != nil {
			t.Fatalf("creating %s: %v", n, err)
		}
	}
	return d
}

func (d *inputsOnly) names() []string {
	var out []string
	for _, s := range d.topo.Specs() {
		out = append(out, s.Name)
	}
	return out
}

// existing counts the topology's topics that exist.
func (d *inputsOnly) existing(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	details, err := d.adm.ListTopics(kadm.WithAuthorizedOps(ctx), d.names()...)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, td := range details {
		if td.Err == nil {
			n++
		}
	}
	return n
}

// TestTopicsCommandOnExistingInputs: `custream topics check|create`
// without --partitions take the inputs' count; with one that disagrees
// they refuse and create nothing.
func TestTopicsCommandOnExistingInputs(t *testing.T) {
	d := newInputsOnly(t)
	topics := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runTopics(append(args, d.flags...), &out, &errOut)
		t.Logf("custream topics %s: %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return code, out.String(), errOut.String()
	}
	for _, step := range []struct {
		args []string
		code int
		want string // in stdout and stderr
	}{
		{[]string{"check"}, 1, "creates them with partitions=1, taken from existing input topics"},
		{[]string{"create", "--partitions", "12"}, 1, "--partitions 12 was given, but " + d.group + ".instore"},
		{[]string{"check"}, 1, "missing topics"}, // the refusal created nothing
		{[]string{"create"}, 0, "partitions: 1, taken from existing input topics"},
		{[]string{"check"}, 0, "ok  " + d.group + "-repartition"},
		{[]string{"check", "--partitions", "12"}, 1, "--partitions 12 was given"},
		{[]string{"create", "--partitions", "1"}, 0, "partitions: 1, taken from existing input topics"},
	} {
		code, out, errOut := topics(step.args...)
		if code != step.code || !strings.Contains(out+errOut, step.want) {
			t.Errorf("custream topics %s: exit %d, want %d and %q in\n%s%s", strings.Join(step.args, " "), code, step.code, step.want, out, errOut)
		}
	}
	if n := d.existing(t); n != len(d.names()) {
		t.Errorf("%d of the %d topics exist", n, len(d.names()))
	}
}

// syncBuffer is a bytes.Buffer written by custream run's logger while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunOnExistingInputs: a first `custream run` without --partitions
// against 1-partition inputs starts, says where its count came from, and
// processes a command.
func TestRunOnExistingInputs(t *testing.T) {
	d := newInputsOnly(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	args := append([]string{"--state-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--metrics-addr", "", "--instance-id", "m1",
		"--output-format", "json", "--session-timeout", "6s"}, d.flags...)
	done := make(chan int, 1)
	go func() { done <- runRunCtx(ctx, args, &stdout, &stderr) }()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("custream run exited %d", code)
			}
		case <-time.After(60 * time.Second):
			t.Error("custream run did not stop within 60s")
		}
		t.Logf("custream run:\n%s", stderr.String())
	}()

	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(stderr.String(), "custream running") {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("custream run exited %d before running", code)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("custream run not running after 90s")
		}
	}
	want := `msg="topics ready" partitions=1 partitions_from="taken from existing input topics"`
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("the log does not say %s", want)
	}

	cmd := customer.Command{RequestID: "r1", Org: 7, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", LastName: "Sawyer",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}}}
	value, hs, err := schemas.EncodeJSONCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: d.topo.Inputs[0].Topic, Key: []byte("7"), Value: value}
	for _, h := range hs {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	if err := d.c.Client(t).ProduceSync(pctx, r).FirstErr(); err != nil {
		t.Fatalf("producing the command: %v", err)
	}
	cl := d.c.Client(t, kgo.ConsumeTopics(d.topo.Results), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	deadline = time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		fetches := cl.PollFetches(fctx)
		fcancel()
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("reading %s[%d]: %v", topic, p, err)
			}
		})
		for _, rec := range fetches.Records() {
			if v := string(rec.Value); strings.Contains(v, `"requestId":"r1"`) {
				if !strings.Contains(v, `"success":true`) {
					t.Fatalf("result: %s", v)
				}
				return
			}
		}
	}
	t.Fatal("no result within 90s")
}
