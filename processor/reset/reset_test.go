package reset_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/processor/reset"
)

// app is a deployment of three inputs (two sources and the points
// topic) over two partitions whose group has
// committed offsets of its inputs and of its repartition topic, as a run
// that stopped leaves it. Each input partition holds three records at t0
// and three at t1 (offsets 0–2 and 3–5).
type app struct {
	c      *kafkatest.Cluster
	adm    *kadm.Client
	group  string
	topo   processor.Topology
	t0, t1 time.Time
}

func newApp(t *testing.T) *app {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a broker (make test)")
	}
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "reset")
	a := &app{c: c, adm: c.Admin(t), group: group,
		topo: processor.DefaultTopology(group, group, []customer.Source{{Name: "INSTORE"}, {Name: "WECHAT", MultiAccount: true}}),
		t0:   time.Now().Add(-2 * time.Hour).Truncate(time.Second),
		t1:   time.Now().Add(-time.Hour).Truncate(time.Second),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		names := a.topo.Names()
		_, _ = a.adm.DeleteTopics(ctx, names...)
		_, _ = a.adm.DeleteGroup(ctx, group)
	})
	if _, err := processor.EnsureTopics(ctx, a.adm, a.topo, processor.TopicsConfig{Partitions: 2}); err != nil {
		t.Fatalf("creating the topology: %v", err)
	}
	prod := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for _, topic := range a.topo.InputTopics() {
		for p := int32(0); p < 2; p++ {
			for i := range 6 {
				ts := a.t0
				if i >= 3 {
					ts = a.t1
				}
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Timestamp: ts, Value: []byte("x")})
			}
		}
	}
	for _, topic := range []string{a.topo.Repartition, a.topo.Changelog} {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte("k"), Value: []byte("x")})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
	offs := kadm.Offsets{}
	for _, topic := range a.topo.InputTopics() {
		offs.AddOffset(topic, 0, 5, -1)
		offs.AddOffset(topic, 1, 2, -1)
	}
	offs.AddOffset(a.topo.Repartition, 0, 1, -1)
	if err := a.adm.CommitAllOffsets(ctx, group, offs); err != nil {
		t.Fatalf("committing the group's offsets: %v", err)
	}
	return a
}

// committed returns the group's committed offsets by topic and partition.
func (a *app) committed(t *testing.T) map[string]map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := a.adm.FetchOffsets(ctx, a.group)
	if err != nil {
		t.Fatalf("fetching offsets: %v", err)
	}
	out := map[string]map[int32]int64{}
	resp.Each(func(r kadm.OffsetResponse) {
		if r.Err != nil {
			t.Fatalf("offset of %s[%d]: %v", r.Topic, r.Partition, r.Err)
		}
		if out[r.Topic] == nil {
			out[r.Topic] = map[int32]int64{}
		}
		out[r.Topic][r.Partition] = r.At
	})
	return out
}

// exists says which of the topology's topics the broker lists.
func (a *app) exists(t *testing.T) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]bool{}
	for _, s := range a.topo.Specs() {
		out[s.Name] = false
	}
	details, err := a.adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("listing topics: %v", err)
	}
	for name := range out {
		if d, ok := details[name]; ok && d.Err == nil {
			out[name] = true
		}
	}
	return out
}

func (a *app) reset(t *testing.T, to string) reset.Plan {
	t.Helper()
	pos, err := reset.ParsePosition(to)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := reset.MakePlan(ctx, a.adm, a.group, a.topo, pos)
	if err != nil {
		t.Fatalf("planning the reset to %s: %v", to, err)
	}
	if err := reset.Apply(ctx, a.adm, plan); err != nil {
		t.Fatalf("resetting to %s: %v", to, err)
	}
	return plan
}

// wantInputsAt checks every input partition's committed offset.
func (a *app) wantInputsAt(t *testing.T, want int64) {
	t.Helper()
	got := a.committed(t)
	for _, topic := range a.topo.InputTopics() {
		for p := int32(0); p < 2; p++ {
			if got[topic][p] != want {
				t.Errorf("committed offset of %s[%d] = %d, want %d", topic, p, got[topic][p], want)
			}
		}
	}
	if _, ok := got[a.topo.Repartition]; ok {
		t.Errorf("the group still has offsets of %s: %v", a.topo.Repartition, got[a.topo.Repartition])
	}
}

// wantRebuildable checks the changelog and repartition topics are gone,
// every other topic is there with its records, and that EnsureTopics (what
// custream run does at start) creates exactly the two again.
func (a *app) wantRebuildable(t *testing.T) {
	t.Helper()
	for name, ok := range a.exists(t) {
		internal := name == a.topo.Changelog || name == a.topo.Repartition
		if ok == internal {
			t.Errorf("topic %s exists=%v after the reset", name, ok)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := a.adm.ListEndOffsets(ctx, a.topo.InputTopics()...)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 6 {
			t.Errorf("input %s[%d] ends at %d (%v), want 6: the reset must keep the inputs", o.Topic, o.Partition, o.Offset, o.Err)
		}
	})
	plan, err := processor.EnsureTopics(ctx, a.adm, a.topo, processor.TopicsConfig{})
	if err != nil {
		t.Fatalf("custream run's EnsureTopics after the reset: %v", err)
	}
	if strings.Join(plan.Created, ",") != a.topo.Changelog+","+a.topo.Repartition || plan.Partitions != 2 {
		t.Errorf("EnsureTopics created %v with %d partitions, want the changelog and repartition topics with 2", plan.Created, plan.Partitions)
	}
}

func TestResetRefusesWhileMembersAreActive(t *testing.T) {
	a := newApp(t)
	member := a.c.Client(t, kgo.ConsumerGroup(a.group), kgo.ConsumeTopics(a.topo.InputTopics()...),
		kgo.InstanceID("member-a"), kgo.DisableAutoCommit())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The member joins on its first poll; the group's state, not a timer,
	// says it has.
	polled := make(chan struct{})
	defer func() { cancel(); <-polled }()
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			if member.PollFetches(ctx).IsClientClosed() {
				return
			}
		}
	}()
	for try := 0; ; try++ {
		g, err := a.adm.DescribeGroups(ctx, a.group)
		if err == nil && g[a.group].State == "Stable" {
			break
		}
		if try == 300 {
			t.Fatalf("the member did not join: %v %+v", err, g)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := a.committed(t)
	_, err := reset.MakePlan(ctx, a.adm, a.group, a.topo, reset.Position{Kind: "earliest"})
	var me *reset.MembersError
	if !errors.As(err, &me) {
		t.Fatalf("MakePlan with a member = %v, want a *MembersError", err)
	}
	if len(me.Members) != 1 || !strings.HasPrefix(me.Members[0], "member-a@") || !strings.Contains(err.Error(), "stop every member") {
		t.Errorf("refusal %q does not name member-a and say to stop it", err)
	}
	// Apply checks again: a plan made before the member joined changes nothing.
	if err := reset.Apply(ctx, a.adm, reset.Plan{Group: a.group, Moves: []reset.Move{{Topic: a.topo.InputTopics()[0], Partition: 0, Old: 5, New: 0}}, DeleteTopics: []string{a.topo.Changelog}}); !errors.As(err, &me) {
		t.Fatalf("Apply with a member = %v, want a *MembersError", err)
	}
	if got := a.committed(t); got[a.topo.InputTopics()[0]][0] != before[a.topo.InputTopics()[0]][0] {
		t.Errorf("offsets moved while refused: %v, were %v", got, before)
	}
	if !a.exists(t)[a.topo.Changelog] {
		t.Error("the changelog was deleted while refused")
	}
}

func TestResetPlanChangesNothing(t *testing.T) {
	a := newApp(t)
	before, topics := a.committed(t), a.exists(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := reset.MakePlan(ctx, a.adm, a.group, a.topo, reset.Position{Kind: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	in := a.topo.InputTopics()
	// The points topic is an input like the sources': it moves too.
	want := []reset.Move{{in[0], 0, 5, 6}, {in[0], 1, 2, 6}, {in[1], 0, 5, 6}, {in[1], 1, 2, 6}, {in[2], 0, 5, 6}, {in[2], 1, 2, 6}}
	if len(plan.Moves) != len(want) {
		t.Fatalf("moves %+v, want %+v", plan.Moves, want)
	}
	for i := range want {
		if plan.Moves[i] != want[i] {
			t.Errorf("move %d = %+v, want %+v", i, plan.Moves[i], want[i])
		}
	}
	if len(plan.DeleteOffsets) != 1 || plan.DeleteOffsets[0] != (reset.Move{a.topo.Repartition, 0, 1, -1}) {
		t.Errorf("repartition offsets deleted %+v, want %s[0] at 1", plan.DeleteOffsets, a.topo.Repartition)
	}
	if strings.Join(plan.DeleteTopics, ",") != a.topo.Changelog+","+a.topo.Repartition {
		t.Errorf("topics deleted %v, want the changelog and the repartition topic", plan.DeleteTopics)
	}
	if len(plan.Kept) != len(a.topo.Specs())-2 {
		t.Errorf("topics kept %v", plan.Kept)
	}
	after, topicsAfter := a.committed(t), a.exists(t)
	if !reflect.DeepEqual(before, after) || !reflect.DeepEqual(topics, topicsAfter) {
		t.Errorf("planning changed the cluster: offsets %v -> %v, topics %v -> %v", before, after, topics, topicsAfter)
	}
}

// TestResetPositions resets one deployment to each position in turn, with
// custream run's EnsureTopics rebuilding the topology between them, and
// ends with a second reset that finds nothing left to delete.
func TestResetPositions(t *testing.T) {
	a := newApp(t)
	a.reset(t, "earliest")
	a.wantInputsAt(t, 0)
	a.wantRebuildable(t)

	// t1 is the time of each partition's fourth record (offset 3); one
	// second earlier still lands on it, no record being between.
	a.reset(t, "timestamp:"+a.t1.Add(-time.Second).Format(time.RFC3339))
	a.wantInputsAt(t, 3)
	a.wantRebuildable(t)

	a.reset(t, "latest")
	a.wantInputsAt(t, 6)
	// A second reset in a row: nothing to delete, the offsets stay.
	plan := a.reset(t, "latest")
	if len(plan.DeleteTopics) != 0 || len(plan.DeleteOffsets) != 0 {
		t.Errorf("second reset deletes %v and offsets %v, want nothing", plan.DeleteTopics, plan.DeleteOffsets)
	}
	for _, m := range plan.Moves {
		if m.Old != 6 || m.New != 6 {
			t.Errorf("second reset moves %+v, want 6 -> 6", m)
		}
	}
	a.wantInputsAt(t, 6)
	a.wantRebuildable(t)
}

func TestParsePosition(t *testing.T) {
	for in, want := range map[string]string{
		"earliest": "earliest", "latest": "latest",
		"timestamp:2024-05-01T10:00:00+02:00": "timestamp:2024-05-01T08:00:00Z",
		"":                                    "", "start": "", "timestamp:yesterday": "", "timestamp:": "",
	} {
		p, err := reset.ParsePosition(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParsePosition(%q) = %v, want an error", in, p)
			}
			continue
		}
		if err != nil || p.String() != want {
			t.Errorf("ParsePosition(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
}
