package processor_test

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/custream/custream/processor"
)

// TestStickyScaleAndRollingRestart: three members over 12 tasks, with
// state; a fourth joins and exactly 3 tasks change owner; it leaves and
// exactly 3 change owner again; then each of the three restarts under its
// instance id without leaving the group and no task changes owner. The
// results stay exactly once throughout.
func TestStickyScaleAndRollingRestart(t *testing.T) {
	skipShort(t)
	const partitions = 12
	h := newHarness(t, partitions)
	// a, b and c stop as a rolled pod does (staying in the group); d
	// leaves, as a scaled-in pod does.
	h.tune = func(c *processor.Config) { c.StayInGroupOnClose = c.InstanceID != "d" }
	dirs := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d"} {
		dirs[name] = filepath.Join(t.TempDir(), name)
	}
	members := map[string]*member{}
	defer func() {
		for _, m := range members {
			m.stop(t)
		}
	}()
	for _, name := range []string{"a", "b", "c"} {
		members[name] = h.startMember(t, name, dirs[name])
	}
	g := newGen(15, 40, partitions)
	first := g.batch(1200)
	h.produce(t, first)
	h.readTopic(t, h.topo.Results, len(first), 2*time.Minute)
	three := h.waitStable(t, members)
	t.Logf("3 members: %v", three)

	lostBy := func() float64 {
		var n float64
		for _, name := range []string{"a", "b", "c"} {
			n += members[name].counter(t, "custream_task_moves_total", map[string]string{"direction": "lost"})
		}
		return n
	}
	lostBefore := lostBy()
	members["d"] = h.startMember(t, "d", dirs["d"])
	four := h.waitStable(t, members)
	moved := movedTasks(three, four)
	t.Logf("a fourth member joins: %v, %d tasks moved %v", four, len(moved), moved)
	if len(moved) != 3 {
		t.Errorf("%d tasks changed owner when a fourth member joined, want 3", len(moved))
	}
	if lost := lostBy() - lostBefore; lost != 3 {
		t.Errorf("custream_task_moves_total{direction=lost} of a, b and c grew by %v, want 3", lost)
	}

	members["d"].stop(t)
	delete(members, "d")
	back := h.waitStable(t, members)
	moved = movedTasks(four, back)
	t.Logf("the fourth leaves: %v, %d tasks moved %v", back, len(moved), moved)
	if len(moved) != 3 {
		t.Errorf("%d tasks changed owner when the fourth member left, want 3", len(moved))
	}

	// A static member back within the session timeout gets its
	// assignment from the coordinator (KIP-345) although its v2 join
	// metadata changed: the others see no new generation.
	cRebalances := members["c"].counter(t, "custream_rebalances_total", nil)
	prev := back
	for _, name := range []string{"a", "b", "c"} {
		if name == "c" {
			if n := members["c"].counter(t, "custream_rebalances_total", nil); n != cRebalances {
				t.Errorf("c saw %v generations while a and b restarted, want none", n-cRebalances)
			}
		}
		members[name].stop(t)
		members[name] = h.startMember(t, name, dirs[name])
		now := h.waitStable(t, members)
		moved := movedTasks(prev, now)
		t.Logf("%s restarted within the session timeout: %v, %d tasks moved %v", name, now, len(moved), moved)
		if len(moved) != 0 {
			t.Errorf("%d tasks changed owner when %s restarted in the group, want 0", len(moved), name)
		}
		prev = now
	}

	second := g.batch(600)
	h.produce(t, second)
	want := len(first) + len(second)
	h.check(t, h.readTopic(t, h.topo.Results, want, 2*time.Minute), want)
}

// waitStable waits until the group is stable with exactly members, each
// holding in its current generation what DescribeGroups says it is
// assigned, and every task assigned once; it returns each member's tasks.
func (h *harness) waitStable(t *testing.T, members map[string]*member) map[string][]int32 {
	t.Helper()
	adm := kadm.NewClient(h.client(t))
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		got, why := h.stableAssignment(adm, members)
		if why == "" {
			return got
		}
		last = why
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the group did not settle within 90s: %s", last)
	return nil
}

// stableAssignment is waitStable's one look: the assignment, or why the
// group is not settled.
func (h *harness) stableAssignment(adm *kadm.Client, members map[string]*member) (map[string][]int32, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(ctx, h.group)
	if err != nil {
		return nil, err.Error()
	}
	g := groups[h.group]
	if g.Err != nil {
		return nil, g.Err.Error()
	}
	if g.State != "Stable" || len(g.Members) != len(members) {
		return nil, "state " + g.State + ", members " + describedInstances(g)
	}
	out := map[string][]int32{}
	owner := map[int32]string{}
	for _, dm := range g.Members {
		if dm.InstanceID == nil || members[*dm.InstanceID] == nil {
			return nil, "members " + describedInstances(g)
		}
		name := *dm.InstanceID
		a, ok := dm.Assigned.AsConsumer()
		if !ok {
			return nil, "member " + name + " has no consumer assignment"
		}
		var tasks []int32
		for _, tp := range a.Topics {
			for _, p := range tp.Partitions {
				if !slices.Contains(tasks, p) {
					tasks = append(tasks, p)
				}
			}
		}
		slices.Sort(tasks)
		if gen, _ := members[name].p.Tasks(); !slices.Equal(gen, tasks) {
			return nil, "member " + name + " holds another generation than the group's"
		}
		for _, task := range tasks {
			if o, dup := owner[task]; dup {
				return nil, "a task assigned to " + o + " and " + name
			}
			owner[task] = name
		}
		out[name] = tasks
	}
	if int32(len(owner)) != h.partitions {
		return nil, "not every task is assigned"
	}
	return out, ""
}

func describedInstances(g kadm.DescribedGroup) string {
	var names []string
	for _, m := range g.Members {
		if m.InstanceID != nil {
			names = append(names, *m.InstanceID)
		} else {
			names = append(names, m.MemberID)
		}
	}
	sort.Strings(names)
	return "[" + strings.Join(names, " ") + "]"
}

// movedTasks lists the tasks whose owner differs between two assignments.
func movedTasks(before, after map[string][]int32) []int32 {
	owner := map[int32]string{}
	for name, ts := range before {
		for _, t := range ts {
			owner[t] = name
		}
	}
	var moved []int32
	for name, ts := range after {
		for _, t := range ts {
			if owner[t] != name {
				moved = append(moved, t)
			}
		}
	}
	slices.Sort(moved)
	return moved
}
