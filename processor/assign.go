package processor

import "sort"

// assignMember is what the group leader knows of one member when it
// assigns tasks: what the member owned in the previous generation, and
// which tasks its state store holds a copy of, with the copy's changelog
// checkpoint (how far it is restored: higher is warmer).
type assignMember struct {
	id    string // static instance id (member id when it has none)
	owned []int32
	warm  map[int32]int64
}

// assignTasks gives each of tasks tasks to one member, moving as few as it
// can (docs/exactly-once.md, "Assignment"):
//
//  1. A task claimed by one member stays with it; a task claimed by
//     several (a zombie that did not learn it lost it) stays with the
//     claimant whose copy is warmest, then the lowest id.
//  2. Every member may hold tasks/M tasks, and tasks%M of them one more:
//     those that hold the most already, so that the fewest must move.
//     A member over its quota gives up its excess, first the tasks
//     another member with room holds warm, then the highest numbered.
//  3. Each task given up, or not claimed (its owner is gone, or the
//     group is new), goes to a member with room: the one with the
//     warmest copy of it, else the least loaded, then the lowest id.
//
// The result is a function of its input alone: the same members and
// claims always give the same assignment. It returns each member's tasks,
// sorted, in the order of members.
func assignTasks(members []assignMember, tasks int32) [][]int32 {
	n := len(members)
	out := make([][]int32, n)
	if n == 0 || tasks <= 0 {
		return out
	}
	// Indexes into members, ordered by id, decide every tie.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ma, mb := members[order[a]], members[order[b]]
		if ma.id != mb.id {
			return ma.id < mb.id
		}
		return order[a] < order[b]
	})
	warmth := func(m int, task int32) int64 { return members[m].warm[task] }

	// 1. Claims.
	owner := make([]int, tasks)
	for t := range owner {
		owner[t] = -1
	}
	for _, m := range order {
		for _, t := range members[m].owned {
			if t < 0 || t >= tasks {
				continue // a task of another partition count
			}
			if cur := owner[t]; cur < 0 || warmth(m, t) > warmth(cur, t) {
				owner[t] = m // ties keep the earlier, lower id
			}
		}
	}
	held := make([][]int32, n)
	for t, m := range owner {
		if m >= 0 {
			held[m] = append(held[m], int32(t))
		}
	}

	// 2. Quotas: the extra tasks go to the members holding the most.
	quota := make([]int, n)
	base, extra := int(tasks)/n, int(tasks)%n
	byHeld := append([]int(nil), order...)
	sort.SliceStable(byHeld, func(a, b int) bool { return len(held[byHeld[a]]) > len(held[byHeld[b]]) })
	for rank, m := range byHeld {
		quota[m] = base
		if rank < extra {
			quota[m]++
		}
	}
	// bestRoom is the warmest copy of task among members with room
	// (0 when none holds one), counted before anything is given up.
	bestRoom := func(task int32) int64 {
		var best int64
		for m := range members {
			if len(held[m]) < quota[m] && warmth(m, task) > best {
				best = warmth(m, task)
			}
		}
		return best
	}
	var free []int32
	for t, m := range owner {
		if m < 0 {
			free = append(free, int32(t))
		}
	}
	for _, m := range order {
		excess := len(held[m]) - quota[m]
		if excess <= 0 {
			continue
		}
		mine := append([]int32(nil), held[m]...)
		sort.SliceStable(mine, func(a, b int) bool {
			wa, wb := bestRoom(mine[a]), bestRoom(mine[b])
			if wa != wb {
				return wa > wb
			}
			return mine[a] > mine[b]
		})
		for _, t := range mine[:excess] {
			owner[t] = -1
			free = append(free, t)
		}
	}
	count := make([]int, n)
	for _, m := range owner {
		if m >= 0 {
			count[m]++
		}
	}

	// 3. The free tasks, in task order.
	sort.Slice(free, func(a, b int) bool { return free[a] < free[b] })
	for _, t := range free {
		pick := -1
		for _, m := range order {
			if count[m] >= quota[m] {
				continue
			}
			switch {
			case pick < 0:
				pick = m
			case warmth(m, t) != warmth(pick, t):
				if warmth(m, t) > warmth(pick, t) {
					pick = m
				}
			case count[m] < count[pick]:
				pick = m
			}
		}
		// The quotas add up to tasks, so some member has room.
		owner[t] = pick
		count[pick]++
	}
	for t, m := range owner {
		out[m] = append(out[m], int32(t))
	}
	return out
}
