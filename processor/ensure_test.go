package processor_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/kafkatest"
)

// topicsFixture is a topology of fresh names on the test broker; every
// topic of it is deleted when the test ends.
type topicsFixture struct {
	// group names the consumer group and prefixes every topic.
	group string
	c     *kafkatest.Cluster
	adm   *kadm.Client
	topo  processor.Topology
}

func newTopicsFixture(t *testing.T) *topicsFixture {
	t.Helper()
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "tp")
	f := &topicsFixture{group: group, c: c, adm: c.Admin(t), topo: processor.DefaultTopology(group, group, customer.DefaultSources())}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = f.adm.DeleteTopics(ctx, f.names()...)
	})
	return f
}

func (f *topicsFixture) names() []string {
	var out []string
	for _, s := range f.topo.Specs() {
		out = append(out, s.Name)
	}
	return out
}

// own are the topology's topics that are not inputs: the ones custream
// makes.
func (f *topicsFixture) own() []string {
	return f.names()[len(f.topo.Inputs):]
}

// create makes topics as an operator (or an earlier start) would.
func (f *topicsFixture) create(t *testing.T, partitions int32, policy string, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	configs := map[string]*string{}
	if policy != "" {
		configs["cleanup.policy"] = &policy
	}
	for _, n := range topics {
		if _, err := f.adm.CreateTopic(ctx, partitions, -1, configs, n); err != nil {
			t.Fatalf("creating %s with %d partitions: %v", n, partitions, err)
		}
	}
	// New topics reach the metadata asynchronously.
	for try := 0; ; try++ {
		got := f.existing(t)
		missing := 0
		for _, n := range topics {
			if got[n] != partitions {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if try == 75 {
			t.Fatalf("topics %v created but not all show: %v", topics, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// produce writes n records to partition 0 of topic, acknowledged.
func (f *topicsFixture) produce(t *testing.T, topic string, n int) {
	t.Helper()
	cl := f.c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: []byte("1"), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing to %s: %v", topic, err)
		}
	}
}

// existing returns the partition count of every topic of the topology that
// exists.
func (f *topicsFixture) existing(t *testing.T) map[string]int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Uncached: kadm answers ListTopics from metadata up to 5s old.
	details, err := f.adm.ListTopics(kadm.WithAuthorizedOps(ctx), f.names()...)
	if err != nil {
		t.Fatalf("listing topics: %v", err)
	}
	out := map[string]int32{}
	for n, d := range details {
		if d.Err == nil {
			out[n] = int32(len(d.Partitions))
		}
	}
	return out
}

// awaitExisting waits, bounded, until exactly want of the topology's topics
// exist (deletions reach the metadata asynchronously), then fails the test
// with what it saw.
func (f *topicsFixture) awaitExisting(t *testing.T, want map[string]int32) {
	t.Helper()
	var got map[string]int32
	for try := 0; try < 75; try++ {
		if got = f.existing(t); reflect.DeepEqual(got, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("topics that exist: %v\nwant: %v", got, want)
}

func counts(partitions int32, topics ...string) map[string]int32 {
	out := map[string]int32{}
	for _, n := range topics {
		out[n] = partitions
	}
	return out
}

func merged(ms ...map[string]int32) map[string]int32 {
	out := map[string]int32{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestTopicsFirstRunOnExistingInputs is the trap of issue 11: input topics
// made by hand with 1 partition, and a first start without --partitions.
// The start takes 1 from the inputs, creates the rest with 1, and a
// processor on that topology processes commands; later starts, with or
// without --partitions 1, create nothing and pass.
func TestTopicsFirstRunOnExistingInputs(t *testing.T) {
	skipShort(t)
	f := newTopicsFixture(t)
	f.create(t, 1, "", f.topo.InputTopics()...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	plan, err := processor.EnsureTopics(ctx, f.adm, f.topo, processor.TopicsConfig{})
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	if plan.Partitions != 1 || plan.From != processor.PartitionsFromInputs {
		t.Errorf("plan: %d partitions, %q; want 1, %q", plan.Partitions, plan.From, processor.PartitionsFromInputs)
	}
	sort.Strings(plan.Created)
	want := f.own()
	sort.Strings(want)
	if !reflect.DeepEqual(plan.Created, want) {
		t.Errorf("created %v, want %v", plan.Created, want)
	}
	f.awaitExisting(t, counts(1, f.names()...))
	if n, err := processor.CheckTopics(ctx, f.adm, f.topo); err != nil || n != 1 {
		t.Fatalf("CheckTopics: %d, %v; want 1, nil", n, err)
	}
	for _, cfg := range []processor.TopicsConfig{{}, {Partitions: 1}, {DefaultPartitions: 4}} {
		plan, err := processor.EnsureTopics(ctx, f.adm, f.topo, cfg)
		if err != nil || len(plan.Created) > 0 || plan.Partitions != 1 {
			t.Errorf("a later start with %+v: %d partitions, created %v, %v", cfg, plan.Partitions, plan.Created, err)
		}
	}

	h := &harness{t: t, c: f.c, group: f.group, topo: f.topo, partitions: 1,
		domain: customer.DefaultConfig(), producer: f.c.Client(t, kgo.ProducerLinger(5*time.Millisecond))}
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)
	cmds := newGen(7, 3, 1).batch(50)
	h.produce(t, cmds)
	h.check(t, h.readTopic(t, f.topo.Results, len(cmds), 2*time.Minute), len(cmds))
}

// TestTopicsRefused: topics custream cannot use as they are are refused
// before anything is created, with a message that says what is wrong and
// what to delete or change, and the record counts of what it suggests
// deleting.
func TestTopicsRefused(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *topicsFixture)
		cfg   processor.TopicsConfig
		// want are substrings of the error; {g} is the topology's
		// prefix (= group).
		want []string
	}{{
		name:  "explicit count disagrees with the inputs",
		setup: func(t *testing.T, f *topicsFixture) { f.create(t, 1, "", f.topo.InputTopics()...) },
		cfg:   processor.TopicsConfig{Partitions: 12},
		want: []string{
			"--partitions 12 was given, but {g}.instore, {g}.martjack, {g}.wechat, {g}.facebook, {g}.points have 1 partition",
			"Start without --partitions, which takes 1 from them, or recreate the inputs with 12 partitions",
			"(nothing was created)",
		},
	}, {
		name: "half-made topology of an earlier start, empty",
		setup: func(t *testing.T, f *topicsFixture) {
			f.create(t, 1, "", f.topo.InputTopics()...)
			f.create(t, 12, "", f.topo.Results, f.topo.Merges, f.topo.DLQ, f.topo.Repartition)
			f.create(t, 12, "compact", f.topo.Snapshots, f.topo.Changelog)
		},
		cfg: processor.TopicsConfig{Partitions: 1}, // the second start of the trap
		want: []string{
			"{g}.facebook, {g}.points have 1 partition, {g}.results, {g}.merges, {g}.snapshots, {g}.dlq, {g}-changelog, {g}-repartition have 12 partitions (created by an earlier start)",
			"all topics must have the same partition count",
			"Either delete {g}.results, {g}.merges, {g}.snapshots, {g}.dlq, {g}-changelog, {g}-repartition (they hold nothing yet: 0 records) and start again, which creates them with 1 partition, or recreate the inputs with 12 partitions",
		},
	}, {
		name: "half-made topology with records",
		setup: func(t *testing.T, f *topicsFixture) {
			f.create(t, 1, "", f.topo.InputTopics()...)
			f.create(t, 12, "", f.topo.Results, f.topo.Merges)
			f.produce(t, f.topo.Results, 3)
		},
		want: []string{
			"Either delete {g}.results (3 records), {g}.merges (0 records) and start again, which creates them with 1 partition, or recreate the inputs with 12 partitions. The records there are what an earlier run wrote: delete only what is not needed",
		},
	}, {
		name: "inputs disagree",
		setup: func(t *testing.T, f *topicsFixture) {
			f.create(t, 1, "", f.topo.Inputs[0].Topic)
			f.create(t, 2, "", f.topo.Inputs[1].Topic)
			f.produce(t, f.topo.Inputs[0].Topic, 2)
		},
		want: []string{
			"the input topics disagree: {g}.instore has 1 partition, {g}.martjack has 2 partitions",
			"Recreate the inputs with one count ({g}.instore: 2 records, {g}.martjack: 0 records)",
		},
	}, {
		name: "changelog not compacted",
		setup: func(t *testing.T, f *topicsFixture) {
			f.create(t, 1, "", f.topo.InputTopics()...)
			f.create(t, 1, "delete", f.topo.Changelog)
		},
		want: []string{
			"{g}-changelog has cleanup.policy=delete but needs compact",
			"--entity-name {g}-changelog --add-config cleanup.policy=compact) or delete {g}-changelog (it holds nothing yet: 0 records)",
		},
	}, {
		name: "repartition compacted",
		setup: func(t *testing.T, f *topicsFixture) {
			f.create(t, 3, "compact", f.topo.Repartition)
		},
		want: []string{"{g}-repartition has cleanup.policy=compact but needs delete"},
	}, {
		name: "no input yet, custream's topics disagree with the count asked for",
		setup: func(t *testing.T, f *topicsFixture) {
			f.create(t, 4, "", f.topo.Results)
		},
		cfg: processor.TopicsConfig{Partitions: 12},
		want: []string{
			"--partitions 12 was given, but {g}.results has 4 partitions (no input topic exists yet)",
			"or delete {g}.results (it holds nothing yet: 0 records)",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTopicsFixture(t)
			tc.setup(t, f)
			before := f.existing(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			plan, err := processor.EnsureTopics(ctx, f.adm, f.topo, tc.cfg)
			var te *processor.TopicsError
			if !errors.As(err, &te) {
				t.Fatalf("EnsureTopics = %+v, %v; want a *TopicsError", plan, err)
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "{g}", f.group); !strings.Contains(err.Error(), w) {
					t.Errorf("the message does not say\n\t%s", w)
				}
			}
			if len(plan.Created) > 0 {
				t.Errorf("created %v", plan.Created)
			}
			if got := f.existing(t); !reflect.DeepEqual(got, before) {
				t.Errorf("topics changed: %v, were %v", got, before)
			}
			// The processor's own check refuses it the same way once the
			// missing topics are there.
			if _, err := processor.CheckTopics(ctx, f.adm, f.topo); err == nil {
				t.Error("CheckTopics passes")
			}
		})
	}
}

// TestTopicsBrokerRefusesCreation: the broker validates every missing topic
// before one is created, so a replication factor it cannot place creates
// nothing.
func TestTopicsBrokerRefusesCreation(t *testing.T) {
	skipShort(t)
	f := newTopicsFixture(t)
	f.create(t, 1, "", f.topo.Inputs[0].Topic)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := processor.EnsureTopics(ctx, f.adm, f.topo, processor.TopicsConfig{ReplicationFactor: 5})
	if err == nil || !strings.Contains(err.Error(), "the broker refuses to create") || !strings.Contains(err.Error(), "(nothing was created)") {
		t.Fatalf("EnsureTopics with replication factor 5 on one broker: %v", err)
	}
	t.Logf("refused: %v", err)
	f.awaitExisting(t, counts(1, f.topo.Inputs[0].Topic))
}

// TestTopicsCreationFailsMidway: when a creation fails after some topics
// were created, those are deleted again (and the error says so), so the
// next start begins clean; a topic that holds records by then, or that
// another start created, is kept.
func TestTopicsCreationFailsMidway(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name string
		// realOnly: kfake accepts what Apache Kafka refuses.
		realOnly bool
		// at runs before the creation of the topic it names.
		at   func(processor.Topology) string
		hook func(t *testing.T, f *topicsFixture, s *processor.TopicSpec) error
		// kept are the topics custream created that must stay, with their
		// partition count; others are the topics the hook made.
		kept, others func(processor.Topology) map[string]int32
		want         []string
	}{{
		name:     "a config the broker refuses",
		realOnly: true,
		at:       func(tp processor.Topology) string { return tp.Changelog },
		hook: func(t *testing.T, f *topicsFixture, s *processor.TopicSpec) error {
			s.Configs = map[string]string{"max.message.bytes": "not-a-size"}
			return nil
		},
		want: []string{"creating topic {g}-changelog with 1 partition: ", "deleted the topics it had just created ({g}.results, {g}.merges, {g}.snapshots, {g}.dlq), so the next start begins clean"},
	}, {
		name: "the connection lost",
		at:   func(tp processor.Topology) string { return tp.Snapshots },
		hook: func(t *testing.T, f *topicsFixture, s *processor.TopicSpec) error {
			return errors.New("broken pipe")
		},
		want: []string{"creating topic {g}.snapshots: broken pipe; deleted the topics it had just created ({g}.results, {g}.merges)"},
	}, {
		name: "a created topic holds records by then",
		at:   func(tp processor.Topology) string { return tp.Repartition },
		hook: func(t *testing.T, f *topicsFixture, s *processor.TopicSpec) error {
			f.produce(t, f.topo.Merges, 1)
			return errors.New("broken pipe")
		},
		kept: func(tp processor.Topology) map[string]int32 { return counts(1, tp.Merges) },
		want: []string{"kept {g}.merges: it holds 1 record already"},
	}, {
		name: "another start creates a topic with another count",
		at:   func(tp processor.Topology) string { return tp.DLQ },
		hook: func(t *testing.T, f *topicsFixture, s *processor.TopicSpec) error {
			f.create(t, 12, "", s.Name)
			return nil
		},
		others: func(tp processor.Topology) map[string]int32 { return counts(12, tp.DLQ) },
		want: []string{
			"{g}.dlq has 12 partitions (created by an earlier start)",
			"deleted the topics it had just created ({g}.results, {g}.merges, {g}.snapshots, {g}-changelog, {g}-repartition)",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTopicsFixture(t)
			if tc.realOnly && f.c.Backend == kafkatest.Fake {
				t.Skip("kfake accepts any max.message.bytes")
			}
			f.create(t, 1, "", f.topo.InputTopics()...)
			at := tc.at(f.topo)
			cfg := processor.WithBeforeCreate(processor.TopicsConfig{}, func(_ context.Context, s *processor.TopicSpec) error {
				if s.Name != at {
					return nil
				}
				return tc.hook(t, f, s)
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			plan, err := processor.EnsureTopics(ctx, f.adm, f.topo, cfg)
			if err == nil {
				t.Fatalf("EnsureTopics passed: %+v", plan)
			}
			t.Logf("failed: %v", err)
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "{g}", f.group); !strings.Contains(err.Error(), w) {
					t.Errorf("the message does not say\n\t%s", w)
				}
			}
			want := counts(1, f.topo.InputTopics()...)
			var kept []string
			if tc.kept != nil {
				for n := range tc.kept(f.topo) {
					kept = append(kept, n)
				}
				want = merged(want, tc.kept(f.topo))
			}
			if tc.others != nil {
				want = merged(want, tc.others(f.topo))
			}
			if !reflect.DeepEqual(plan.Created, kept) && (len(plan.Created) > 0 || len(kept) > 0) {
				t.Errorf("plan.Created = %v, want the kept %v", plan.Created, kept)
			}
			f.awaitExisting(t, want)
		})
	}
}
