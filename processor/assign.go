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
	order := membersByID(members)
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

// assignStandbys picks each task's standby holders, given the owners that
// assignTasks chose (owners[i] are members[i]'s tasks): replicas copies per
// task, capped at len(members)-1, never on the task's owner, never twice on
// one member (docs/exactly-once.md, "Standbys").
//
// Every member may hold total/M standbys, and total%M of them one more:
// those that own the fewest tasks, then the lowest ids, so that standbys
// and tasks together spread as evenly as they can. Within those quotas each
// copy goes, in task order, to the member with the warmest copy of the task
// (its checkpoint in warm: the previous standby holder, or a past owner),
// then the one with the fewest standbys so far, then the lowest id. When
// every member that could take a copy is full, standbys already given are
// shifted along a chain of members (an augmenting path) to one with room;
// only if no chain exists (quotas that cannot be met, e.g. fewer tasks than
// members) does a copy go over a quota.
//
// Like assignTasks, the result is a function of its input alone. It returns
// each member's standby tasks, sorted, in the order of members.
func assignStandbys(members []assignMember, owners [][]int32, tasks int32, replicas int) [][]int32 {
	n := len(members)
	out := make([][]int32, n)
	replicas = min(replicas, n-1)
	if replicas <= 0 || tasks <= 0 {
		return out
	}
	order := membersByID(members)
	owner := make([]int, tasks)
	for t := range owner {
		owner[t] = -1
	}
	for m, ts := range owners {
		for _, t := range ts {
			if t >= 0 && t < tasks {
				owner[t] = m
			}
		}
	}

	// Quotas: the extra standbys go to the members owning the fewest tasks.
	total := int(tasks) * replicas
	quota := make([]int, n)
	byOwned := append([]int(nil), order...)
	sort.SliceStable(byOwned, func(a, b int) bool { return len(owners[byOwned[a]]) < len(owners[byOwned[b]]) })
	for rank, m := range byOwned {
		quota[m] = total / n
		if rank < total%n {
			quota[m]++
		}
	}

	holds := make([]map[int32]bool, n) // member → its standby tasks
	for m := range holds {
		holds[m] = map[int32]bool{}
	}
	eligible := func(m int, t int32) bool { return owner[t] != m && !holds[m][t] }
	warmth := func(m int, t int32) int64 { return members[m].warm[t] }
	better := func(m, pick int, t int32) bool {
		if pick < 0 {
			return true
		}
		if warmth(m, t) != warmth(pick, t) {
			return warmth(m, t) > warmth(pick, t)
		}
		return len(holds[m]) < len(holds[pick]) // ties keep the lower id
	}
	for t := int32(0); t < tasks; t++ {
		for range replicas {
			pick := -1
			for _, m := range order {
				if eligible(m, t) && len(holds[m]) < quota[m] && better(m, pick, t) {
					pick = m
				}
			}
			if pick < 0 && shiftStandby(order, holds, quota, eligible, t) {
				// A chain made room on an eligible member; take it.
				for _, m := range order {
					if eligible(m, t) && len(holds[m]) < quota[m] && better(m, pick, t) {
						pick = m
					}
				}
			}
			if pick < 0 {
				// No chain: over a quota, on the least loaded.
				for _, m := range order {
					if eligible(m, t) && (pick < 0 || len(holds[m]) < len(holds[pick])) {
						pick = m
					}
				}
			}
			if pick < 0 {
				break // cannot happen: replicas < members
			}
			holds[pick][t] = true
		}
	}
	for m := range holds {
		out[m] = sortedKeys(holds[m])
	}
	return out
}

// shiftStandby makes room for a copy of task t on a member eligible for it:
// it looks, breadth first in id order, for a chain m0 → m1 → … → mk where m0
// is eligible for t, each m(i) gives one of its standbys to m(i+1) (which is
// eligible for it) and mk has room, and moves the standbys along it. It
// reports whether it found one.
func shiftStandby(order []int, holds []map[int32]bool, quota []int, eligible func(int, int32) bool, t int32) bool {
	type step struct {
		from int   // the member before, -1 for a start
		task int32 // the standby it hands on
	}
	prev := map[int]step{}
	var queue []int
	for _, m := range order {
		if eligible(m, t) {
			prev[m] = step{from: -1}
			queue = append(queue, m)
		}
	}
	for len(queue) > 0 {
		y := queue[0]
		queue = queue[1:]
		for _, s := range sortedKeys(holds[y]) {
			for _, z := range order {
				if _, seen := prev[z]; seen || !eligible(z, s) {
					continue
				}
				prev[z] = step{from: y, task: s}
				if len(holds[z]) < quota[z] {
					// Move along the chain, from its end back to its start.
					for cur := z; prev[cur].from >= 0; cur = prev[cur].from {
						st := prev[cur]
						delete(holds[st.from], st.task)
						holds[cur][st.task] = true
					}
					return true
				}
				queue = append(queue, z)
			}
		}
	}
	return false
}

// membersByID is the indexes of members ordered by id (then by index, for equal
// ids): the order that decides every tie, so that the same members always
// get the same tasks and standbys.
func membersByID(members []assignMember) []int {
	order := make([]int, len(members))
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
	return order
}
