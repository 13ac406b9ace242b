package processor

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// span is tasks [from, to).
func span(from, to int32) []int32 {
	var out []int32
	for t := from; t < to; t++ {
		out = append(out, t)
	}
	return out
}

// warmOf is a warm map of tasks at one checkpoint.
func warmOf(checkpoint int64, tasks ...int32) map[int32]int64 {
	w := map[int32]int64{}
	for _, t := range tasks {
		w[t] = checkpoint
	}
	return w
}

// TestAssignTasks: every task is assigned once, the spread is even to one
// task, and exactly the fewest tasks change owner (a task nobody owned
// counts as moved: it restores wherever it goes).
func TestAssignTasks(t *testing.T) {
	eleven := func() []assignMember {
		ms := []assignMember{{id: "m00", owned: []int32{0, 1}}}
		for i := int32(1); i < 11; i++ {
			ms = append(ms, assignMember{id: fmt.Sprintf("m%02d", i), owned: []int32{i + 1}})
		}
		return ms
	}
	cases := []struct {
		name    string
		members []assignMember
		tasks   int32
		moves   int
		want    map[string][]int32 // when the exact result matters
	}{
		{name: "join 3 to 4", tasks: 12, moves: 3, members: []assignMember{
			{id: "a", owned: span(0, 4)}, {id: "b", owned: span(4, 8)}, {id: "c", owned: span(8, 12)}, {id: "d"},
		}, want: map[string][]int32{"a": {0, 1, 2}, "b": {4, 5, 6}, "c": {8, 9, 10}, "d": {3, 7, 11}}},
		{name: "join 1 to 2", tasks: 12, moves: 6, members: []assignMember{
			{id: "a", owned: span(0, 12)}, {id: "b"},
		}},
		{name: "join 11 to 12", tasks: 12, moves: 1, members: append(eleven(), assignMember{id: "m11"})},
		{name: "leave 4 to 3", tasks: 12, moves: 3, members: []assignMember{
			{id: "a", owned: span(0, 3)}, {id: "b", owned: span(3, 6)}, {id: "c", owned: span(6, 9)},
		}, want: map[string][]int32{"a": {0, 1, 2, 9}, "b": {3, 4, 5, 10}, "c": {6, 7, 8, 11}}},
		{name: "leave 3 to 2, uneven before", tasks: 12, moves: 3, members: []assignMember{
			{id: "a", owned: span(0, 5)}, {id: "b", owned: span(5, 9)},
		}},
		{name: "restart within the session timeout", tasks: 12, moves: 0, members: []assignMember{
			{id: "a", owned: span(0, 4)}, {id: "b", owned: span(4, 8)}, {id: "c", owned: span(8, 12)},
		}},
		{name: "restarted process owns nothing but holds its tasks warm", tasks: 12, moves: 4, members: []assignMember{
			{id: "a", warm: warmOf(500, span(0, 4)...)}, {id: "b", owned: span(4, 8)}, {id: "c", owned: span(8, 12)},
		}, want: map[string][]int32{"a": {0, 1, 2, 3}, "b": span(4, 8), "c": span(8, 12)}},
		{name: "12 over 5, one joins 4", tasks: 12, moves: 2, members: []assignMember{
			{id: "a", owned: span(0, 3)}, {id: "b", owned: span(3, 6)}, {id: "c", owned: span(6, 9)}, {id: "d", owned: span(9, 12)}, {id: "e"},
		}},
		{name: "12 over 5, new group", tasks: 12, moves: 12, members: []assignMember{
			{id: "a"}, {id: "b"}, {id: "c"}, {id: "d"}, {id: "e"},
		}, want: map[string][]int32{"a": {0, 5, 10}, "b": {1, 6, 11}, "c": {2, 7}, "d": {3, 8}, "e": {4, 9}}},
		{name: "new group of 3", tasks: 12, moves: 12, members: []assignMember{
			{id: "c"}, {id: "a"}, {id: "b"},
		}, want: map[string][]int32{"a": {0, 3, 6, 9}, "b": {1, 4, 7, 10}, "c": {2, 5, 8, 11}}},
		{name: "join prefers the joiner's warm copy", tasks: 12, moves: 3, members: []assignMember{
			{id: "a", owned: span(0, 4)}, {id: "b", owned: span(4, 8)}, {id: "c", owned: span(8, 12)},
			{id: "d", warm: map[int32]int64{1: 40, 5: 70}},
		}, want: map[string][]int32{"a": {0, 2, 3}, "b": {4, 6, 7}, "c": {8, 9, 10}, "d": {1, 5, 11}}},
		{name: "orphans go to the warmest copies", tasks: 6, moves: 2, members: []assignMember{
			{id: "a", owned: []int32{0}, warm: map[int32]int64{4: 10, 5: 90}},
			{id: "b", owned: []int32{2}, warm: map[int32]int64{4: 20, 5: 30}},
			{id: "c", owned: []int32{1, 3}},
		}, want: map[string][]int32{"a": {0, 5}, "b": {2, 4}, "c": {1, 3}}},
		{name: "an orphan goes to the warmest copy with room", tasks: 6, moves: 2, members: []assignMember{
			{id: "a", owned: span(0, 2), warm: map[int32]int64{4: 10, 5: 90}},
			{id: "b", owned: span(2, 3), warm: map[int32]int64{4: 20, 5: 30}},
			{id: "c", owned: span(3, 4)},
		}, want: map[string][]int32{"a": {0, 1}, "b": {2, 4}, "c": {3, 5}}},
		{name: "a task claimed twice stays with the warmer claimant", tasks: 4, moves: 2, members: []assignMember{
			{id: "a", owned: []int32{0, 1}, warm: map[int32]int64{0: 10, 1: 10}},
			{id: "b", owned: []int32{0}, warm: map[int32]int64{0: 20}},
		}, want: map[string][]int32{"a": {1, 2}, "b": {0, 3}}},
		{name: "a task claimed twice at the same checkpoint stays with the lower id", tasks: 2, moves: 0, members: []assignMember{
			{id: "b", owned: []int32{0, 1}}, {id: "a", owned: []int32{0}},
		}, want: map[string][]int32{"a": {0}, "b": {1}}},
		{name: "claims beyond the task count are ignored", tasks: 4, moves: 0, members: []assignMember{
			{id: "a", owned: []int32{0, 1, 7}}, {id: "b", owned: []int32{2, 3}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := byID(c.members, assignTasks(c.members, c.tasks))
			checkSpread(t, got, c.tasks)
			if moves := countMoves(c.members, got); moves != c.moves {
				t.Errorf("%d tasks moved, want %d: %v", moves, c.moves, got)
			}
			if c.want != nil && !reflect.DeepEqual(got, c.want) {
				t.Errorf("assignment %v, want %v", got, c.want)
			}
			// The order the members arrive in changes nothing.
			for seed := range uint64(5) {
				shuffled := append([]assignMember(nil), c.members...)
				rand.New(rand.NewPCG(seed, 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := byID(shuffled, assignTasks(shuffled, c.tasks)); !reflect.DeepEqual(again, got) {
					t.Fatalf("members in another order: %v, want %v", again, got)
				}
			}
		})
	}
}

// TestAssignTasksStable: assigning again what was assigned moves nothing,
// for every member count over 12 tasks, from a new group on.
func TestAssignTasksStable(t *testing.T) {
	for n := 1; n <= 13; n++ {
		var ms []assignMember
		for i := range n {
			ms = append(ms, assignMember{id: fmt.Sprintf("m%02d", i)})
		}
		first := assignTasks(ms, 12)
		for i := range ms {
			ms[i].owned = first[i]
		}
		if again := assignTasks(ms, 12); !reflect.DeepEqual(again, first) {
			t.Errorf("%d members: %v assigned again gives %v", n, first, again)
		}
	}
}

func byID(members []assignMember, tasks [][]int32) map[string][]int32 {
	out := map[string][]int32{}
	for i, m := range members {
		if len(tasks[i]) > 0 {
			out[m.id] = tasks[i]
		}
	}
	return out
}

// checkSpread: each task has one owner, and sizes differ by at most one.
func checkSpread(t *testing.T, got map[string][]int32, tasks int32) {
	t.Helper()
	seen := map[int32]string{}
	for id, ts := range got {
		for _, task := range ts {
			if other, dup := seen[task]; dup {
				t.Errorf("task %d assigned to %s and %s", task, other, id)
			}
			seen[task] = id
		}
	}
	if int32(len(seen)) != tasks {
		t.Errorf("%d of %d tasks assigned: %v", len(seen), tasks, got)
	}
}

// countMoves counts the tasks whose owner is not the one claimant, or the
// winning one of several, that keeps it; it also checks the spread.
func countMoves(members []assignMember, got map[string][]int32) int {
	owner := map[int32]string{}
	for id, ts := range got {
		for _, task := range ts {
			owner[task] = id
		}
	}
	lo, hi := -1, -1
	for _, m := range members {
		n := len(got[m.id])
		if lo < 0 || n < lo {
			lo = n
		}
		if n > hi {
			hi = n
		}
	}
	if hi-lo > 1 {
		return -1 // uneven: never the expected count
	}
	moves := 0
	for task, id := range owner {
		kept := false
		for _, m := range members {
			for _, o := range m.owned {
				if o == task && m.id == id {
					kept = true
				}
			}
		}
		if !kept {
			moves++
		}
	}
	return moves
}

// TestAssignStandbys: each task gets min(replicas, members-1) standby
// copies on distinct members other than its owner, the copies spread evenly
// to one per member, the warmest copy is preferred, and the result depends
// on nothing but the input.
func TestAssignStandbys(t *testing.T) {
	three := func() []assignMember {
		return []assignMember{{id: "a", owned: span(0, 4)}, {id: "b", owned: span(4, 8)}, {id: "c", owned: span(8, 12)}}
	}
	withWarm := func(ms []assignMember, id string, w map[int32]int64) []assignMember {
		for i := range ms {
			if ms[i].id == id {
				ms[i].warm = w
			}
		}
		return ms
	}
	cases := []struct {
		name     string
		members  []assignMember
		tasks    int32
		replicas int
		want     map[string][]int32 // when the exact result matters
	}{
		{name: "one member has none", tasks: 12, replicas: 1, members: []assignMember{{id: "a", owned: span(0, 12)}}},
		{name: "zero replicas", tasks: 12, replicas: 0, members: three()},
		{name: "two members: each holds the other's tasks", tasks: 12, replicas: 1, members: []assignMember{
			{id: "a", owned: span(0, 6)}, {id: "b", owned: span(6, 12)},
		}, want: map[string][]int32{"a": span(6, 12), "b": span(0, 6)}},
		{name: "two members, 5 tasks", tasks: 5, replicas: 1, members: []assignMember{{id: "a"}, {id: "b"}}},
		{name: "three members, one replica", tasks: 12, replicas: 1, members: three()},
		{name: "three members, two replicas: all but their own", tasks: 12, replicas: 2, members: three(),
			want: map[string][]int32{"a": span(4, 12), "b": append(span(0, 4), span(8, 12)...), "c": span(0, 8)}},
		{name: "replicas capped at members-1", tasks: 12, replicas: 7, members: three(),
			want: map[string][]int32{"a": span(4, 12), "b": append(span(0, 4), span(8, 12)...), "c": span(0, 8)}},
		{name: "the warmest copy is preferred", tasks: 12, replicas: 1,
			members: withWarm(withWarm(three(), "c", map[int32]int64{0: 90, 1: 90}), "b", map[int32]int64{0: 10, 9: 50})},
		{name: "warmth does not unbalance the counts", tasks: 12, replicas: 1,
			members: withWarm(three(), "c", warmOf(100, span(0, 8)...))},
		{name: "a chain makes room where the greedy choice would get stuck", tasks: 3, replicas: 1, members: withWarm(withWarm(
			[]assignMember{{id: "a", owned: []int32{0}}, {id: "b", owned: []int32{1}}, {id: "c", owned: []int32{2}}},
			"b", map[int32]int64{0: 9}), "a", map[int32]int64{1: 9})},
		{name: "12 over 5, two replicas", tasks: 12, replicas: 2, members: []assignMember{
			{id: "a"}, {id: "b"}, {id: "c"}, {id: "d"}, {id: "e"},
		}},
		{name: "fewer tasks than members", tasks: 2, replicas: 2, members: []assignMember{{id: "a"}, {id: "b"}, {id: "c"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			owners := assignTasks(c.members, c.tasks)
			got := byID(c.members, assignStandbys(c.members, owners, c.tasks, c.replicas))
			checkStandbys(t, c.members, byID(c.members, owners), got, c.tasks, c.replicas)
			if c.want != nil && !reflect.DeepEqual(got, c.want) {
				t.Errorf("standbys %v, want %v", got, c.want)
			}
			for seed := range uint64(5) {
				shuffled := append([]assignMember(nil), c.members...)
				rand.New(rand.NewPCG(seed, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				again := byID(shuffled, assignStandbys(shuffled, assignTasks(shuffled, c.tasks), c.tasks, c.replicas))
				if !reflect.DeepEqual(again, got) {
					t.Fatalf("members in another order: %v, want %v", again, got)
				}
			}
		})
	}

	// The warm cases, exactly: c's copies of tasks 0 and 1 and b's of 9
	// win; c, holding 0..7 warm, takes four of them (its quota) and no more.
	ms := withWarm(withWarm(three(), "c", map[int32]int64{0: 90, 1: 90}), "b", map[int32]int64{0: 10, 9: 50})
	got := byID(ms, assignStandbys(ms, assignTasks(ms, 12), 12, 1))
	for task, holder := range map[int32]string{0: "c", 1: "c", 9: "b"} {
		if !slices.Contains(got[holder], task) {
			t.Errorf("task %d's standby is not on %s, the warmest copy: %v", task, holder, got)
		}
	}
	ms = withWarm(three(), "c", warmOf(100, span(0, 8)...))
	got = byID(ms, assignStandbys(ms, assignTasks(ms, 12), 12, 1))
	if len(got["c"]) != 4 {
		t.Errorf("c holds %d standbys, want its quota 4: %v", len(got["c"]), got)
	}
	for _, task := range got["c"] {
		if task >= 8 {
			t.Errorf("c holds a standby of its own task %d", task)
		}
	}
}

// checkStandbys: every task has min(replicas, members-1) copies on distinct
// members, none on its owner, and the members' counts differ by at most one.
func checkStandbys(t *testing.T, members []assignMember, owners, got map[string][]int32, tasks int32, replicas int) {
	t.Helper()
	want := min(replicas, len(members)-1)
	copies := map[int32]int{}
	for id, ts := range got {
		seen := map[int32]bool{}
		for _, task := range ts {
			if seen[task] {
				t.Errorf("%s holds task %d twice", id, task)
			}
			seen[task] = true
			if slices.Contains(owners[id], task) {
				t.Errorf("%s holds a standby of task %d, which it owns", id, task)
			}
			copies[task]++
		}
	}
	for task := int32(0); task < tasks; task++ {
		if copies[task] != want {
			t.Errorf("task %d has %d standby copies, want %d: %v", task, copies[task], want, got)
		}
	}
	lo, hi := -1, 0
	for _, m := range members {
		n := len(got[m.id])
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if hi-lo > 1 {
		t.Errorf("standby counts range from %d to %d: %v", lo, hi, got)
	}
}

// TestAssignStandbysRandom: the invariants of checkStandbys hold for random
// groups, claims and warm copies, and the choice is repeatable.
func TestAssignStandbysRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 300 {
		n := 1 + rng.IntN(6)
		tasks := int32(1 + rng.IntN(16))
		var ms []assignMember
		for j := range n {
			m := assignMember{id: fmt.Sprintf("m%d", j), warm: map[int32]int64{}}
			for task := range tasks {
				if rng.IntN(3) == 0 {
					m.warm[task] = int64(rng.IntN(4))
				}
				if rng.IntN(n+1) == 0 {
					m.owned = append(m.owned, task)
				}
			}
			ms = append(ms, m)
		}
		replicas := rng.IntN(4)
		owners := assignTasks(ms, tasks)
		got := byID(ms, assignStandbys(ms, owners, tasks, replicas))
		t.Run(fmt.Sprintf("case%d", i), func(t *testing.T) {
			checkStandbys(t, ms, byID(ms, owners), got, tasks, replicas)
			if again := byID(ms, assignStandbys(ms, owners, tasks, replicas)); !reflect.DeepEqual(again, got) {
				t.Fatalf("again: %v, want %v", again, got)
			}
		})
	}
}
