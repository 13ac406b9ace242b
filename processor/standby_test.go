package processor_test

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/state"
)

// TestStandbyReplicates: two members over 12 tasks with one standby copy
// per task. Each member keeps a copy of the other's six tasks, caught up
// to the changelog's end and equal byte for byte to the owner's state,
// with its lag at 0; the facade does not serve them. When one
// member leaves, the other takes its tasks, stops their standbys first
// and replays fewer changelog records than the tasks' changelogs hold,
// and the results stay exactly once.
func TestStandbyReplicates(t *testing.T) {
	skipShort(t)
	const partitions = 12
	h := newHarness(t, partitions)
	h.tune = func(c *processor.Config) { c.StandbyReplicas = 1 }
	members := map[string]*member{}
	defer func() {
		for _, m := range members {
			m.stop(t)
		}
	}()
	for _, name := range []string{"a", "b"} {
		members[name] = h.startMember(t, name, filepath.Join(t.TempDir(), name))
	}
	owned := h.waitStable(t, members)
	if len(owned["a"]) != 6 || len(owned["b"]) != 6 {
		t.Fatalf("assignment %v, want 6 tasks each", owned)
	}

	g := newGen(31, 48, partitions)
	first := g.batch(2400)
	h.produce(t, first)
	h.check(t, h.readTopic(t, h.topo.Results, len(first), 2*time.Minute), len(first))

	// Each member's standbys are the other's tasks; wait (bounded) for
	// them to reach the changelog's end.
	ends := h.endOffsets(t, h.topo.Changelog)
	standbysOf := func(name string) []int32 {
		var out []int32
		for task := int32(0); task < partitions; task++ {
			if !slices.Contains(owned[name], task) {
				out = append(out, task)
			}
		}
		return out
	}
	for name, m := range members {
		deadline := time.Now().Add(time.Minute)
		for {
			behind := 0
			for _, task := range standbysOf(name) {
				at, err := m.db.Task(task, partitions).Checkpoint()
				if err != nil {
					t.Fatal(err)
				}
				if at != ends[task] {
					behind++
				}
			}
			if behind == 0 && m.gauge(t, "custream_standby_tasks", nil) == 6 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d standby copies not at the changelog's end after 1m, %v standby tasks",
					name, behind, m.gauge(t, "custream_standby_tasks", nil))
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, task := range standbysOf(name) {
			label := map[string]string{"task": strconv.Itoa(int(task))}
			if lag := m.gauge(t, "custream_standby_lag", label); lag != 0 {
				t.Errorf("%s: custream_standby_lag{task=%d} = %v at the changelog's end, want 0", name, task, lag)
			}
			// The owner's checkpoint stops before the last commit
			// marker, the standby's after it: compare all but that.
			other := members[map[string]string{"a": "b", "b": "a"}[name]]
			var diff error
			for deadline := time.Now().Add(10 * time.Second); ; {
				want, err := other.db.Task(task, partitions).Dump()
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.db.Task(task, partitions).Dump()
				if err != nil {
					t.Fatal(err)
				}
				cp := state.CheckpointKey(task)
				// The owner may still be writing its last batch to Pebble.
				if diff = sameKVs(withoutKey(want, cp), withoutKey(got, cp)); diff == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if diff != nil {
				t.Errorf("%s: standby copy of task %d differs from its owner's state: %v", name, task, diff)
			}
			if loc := m.p.Locate(task); loc.Reader != nil {
				t.Errorf("%s serves its standby task %d; only the owner may", name, task)
			}
		}
	}

	// a leaves; b takes its six tasks from its standby copies.
	var changelogRecords int64
	for _, task := range owned["a"] {
		changelogRecords += ends[task]
	}
	b := members["b"]
	restoredBefore := b.counter(t, "custream_restore_records_total", nil)
	members["a"].stop(t)
	delete(members, "a")
	all := h.waitStable(t, members)
	if len(all["b"]) != partitions {
		t.Fatalf("b holds %v after a left, want all %d tasks", all["b"], partitions)
	}
	waitReady(t, b, time.Minute)
	replayed := b.counter(t, "custream_restore_records_total", nil) - restoredBefore
	t.Logf("b took a's %d tasks and replayed %v changelog records of the %d offsets they hold", len(owned["a"]), replayed, changelogRecords)
	if replayed >= float64(changelogRecords) {
		t.Errorf("b replayed %v changelog records for a's tasks, want fewer than their %d offsets: the standbys did not help", replayed, changelogRecords)
	}
	if n := b.gauge(t, "custream_standby_tasks", nil); n != 0 {
		t.Errorf("custream_standby_tasks = %v on the only member, want 0", n)
	}

	second := g.batch(600)
	h.produce(t, second)
	want := len(first) + len(second)
	h.check(t, h.readTopic(t, h.topo.Results, want, 2*time.Minute), want)
}

// TestStandbyReplicasValidate: a negative count is refused; 0 (none) and
// more than the members (capped by the leader) are valid.
func TestStandbyReplicasValidate(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 9} {
		cfg := processor.Config{Brokers: []string{"127.0.0.1:1"}, Group: "g", InstanceID: "a",
			Topology: processor.DefaultTopology("g", "g", customer.DefaultSources()), Domain: customer.DefaultConfig(),
			Misrouted: processor.DefaultMisrouted, StandbyReplicas: n}
		err := cfg.Validate()
		if (n < 0) != (err != nil) {
			t.Errorf("standby replicas %d: Validate() = %v", n, err)
		}
	}
}
