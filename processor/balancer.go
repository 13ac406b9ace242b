package processor

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// taskBalancer assigns whole tasks: partition p of every input topic goes
// to one member. It speaks two protocols; a member offers both, v2 first,
// and the group picks the first that every member offers, so a rolling
// upgrade from a release that knows only v1 still forms a group:
//
//   - custream-tasks-v2 (sticky): each member's join metadata says which
//     tasks it owned in its last generation and which it holds warm, and
//     the leader moves the fewest tasks (assignTasks, assign.go).
//   - custream-tasks-v1 (range): members are ordered by their static
//     instance id and tasks split in contiguous ranges, as Kafka's range
//     assignor does; a join or leave moves up to half of the tasks.
//
// It also tells every member who owns which task: each member's join
// metadata carries its HTTP address, and the leader writes the whole
// task → address map into every member's assignment, as Kafka Streams does
// with its host info. The HTTP facade routes queries with it.
type taskBalancer struct {
	sticky    bool   // custream-tasks-v2, else v1
	advertise string // this member's HTTP address
	// standbys is how many standby copies of each task the leader
	// assigns (v2 only), capped at members-1 (assignStandbys). The
	// leader's own setting decides for the whole group.
	standbys int
	// report, for v2, tells what this member owned in its last
	// generation and which tasks its state holds, with their checkpoints.
	// franz-go passes an eager balancer's JoinGroupMetadata an empty
	// current assignment (it revokes everything before it rejoins), so
	// the processor remembers its last generation itself.
	report func() (owned []int32, warm map[int32]int64)
	// onSync receives this member's tasks, the task → address map, this
	// member's standby tasks and the leader's cause of every new
	// generation, at each SyncGroup: the whole assignment, also when a
	// revoke callback was skipped (see Processor.setGeneration).
	onSync func(tasks []int32, owners map[int32]string, standbys []int32, cause string)
}

var _ kgo.GroupBalancer = (*taskBalancer)(nil)

// The protocol names. Never change what a name means: members of
// different releases must agree on it.
const (
	protocolRange  = "custream-tasks-v1"
	protocolSticky = "custream-tasks-v2"
)

func (b *taskBalancer) ProtocolName() string {
	if b.sticky {
		return protocolSticky
	}
	return protocolRange
}

func (b *taskBalancer) IsCooperative() bool { return false }

// joinInfo is a v2 member's join metadata user data (v1's is its address).
type joinInfo struct {
	Addr  string          `json:"addr"`
	Owned []int32         `json:"owned,omitempty"` // tasks of its last generation, sorted
	Warm  map[int32]int64 `json:"warm,omitempty"`  // task → checkpoint of the state it holds
}

func (b *taskBalancer) JoinGroupMetadata(topics []string, _ map[string][]int32, _ int32) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = append([]string(nil), topics...)
	sort.Strings(m.Topics)
	m.UserData = []byte(b.advertise)
	if b.sticky {
		info := joinInfo{Addr: b.advertise}
		if b.report != nil {
			info.Owned, info.Warm = b.report()
		}
		// Sorted keys: the same state gives the same bytes, and the
		// coordinator compares them to decide whether a rejoin changes
		// anything.
		m.UserData, _ = json.Marshal(info)
	}
	return m.AppendTo(nil)
}

// assignmentInfo is the user data of every member's assignment.
type assignmentInfo struct {
	Owners map[int32]string `json:"owners"` // task → owner's HTTP address ("" when it advertises none)
	// Cause is the leader's reading of why this generation came (v2
	// only): causeJoined, causeLeft or causeOther.
	Cause string `json:"cause,omitempty"`
	// Standbys are the tasks this member keeps a standby copy of (v2
	// only; a v1 leader assigns none): it replicates their changelog
	// into its state and never processes or serves them (standby.go).
	Standbys []int32 `json:"standbys,omitempty"`
}

// The causes of a rebalance, as the leader of a v2 group tells them.
const (
	causeJoined = "member_joined" // a member owns nothing (new, or restarted), or the group is new
	causeLeft   = "member_left"   // some task's owner is gone
	causeOther  = "other"         // neither (e.g. a member rejoined after an error), or a v1 leader
)

func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err != nil {
		return nil, fmt.Errorf("reading the group assignment: %w", err)
	}
	out := make(map[string][]int32, len(a.Topics))
	for _, t := range a.Topics {
		out[t.Topic] = t.Partitions
	}
	var info assignmentInfo
	if len(a.UserData) > 0 {
		if err := json.Unmarshal(a.UserData, &info); err != nil {
			return nil, fmt.Errorf("reading the task owners of the assignment: %w", err)
		}
	}
	if b.onSync != nil {
		cause := info.Cause
		if cause == "" {
			cause = causeOther
		}
		b.onSync(assignedTasks(out), info.Owners, info.Standbys, cause)
	}
	return out, nil
}

// assignedTasks lists the tasks of a member's assignment: the partitions
// of any of its topics, which are the same for all (whole tasks).
func assignedTasks(a map[string][]int32) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, parts := range a {
		for _, p := range parts {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

type balanceMember struct {
	id, instance, addr string
	topics             []string
	owned              []int32         // v2
	warm               map[int32]int64 // v2
}

func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	plan := &taskPlan{}
	topics := map[string]struct{}{}
	for _, m := range members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.ProtocolMetadata); err != nil {
			return nil, nil, fmt.Errorf("reading the join metadata of member %s: %w", m.MemberID, err)
		}
		bm := balanceMember{id: m.MemberID, addr: string(meta.UserData), topics: meta.Topics}
		if m.InstanceID != nil {
			bm.instance = *m.InstanceID
		}
		if b.sticky {
			var info joinInfo
			if err := json.Unmarshal(meta.UserData, &info); err != nil {
				return nil, nil, fmt.Errorf("reading the v2 join metadata of member %s: %w", m.MemberID, err)
			}
			bm.addr, bm.owned, bm.warm = info.Addr, info.Owned, info.Warm
		}
		for _, t := range meta.Topics {
			topics[t] = struct{}{}
		}
		plan.members = append(plan.members, bm)
	}
	sort.Slice(plan.members, func(i, j int) bool {
		a, b := plan.members[i], plan.members[j]
		if a.instance != b.instance {
			return a.instance < b.instance
		}
		return a.id < b.id
	})
	plan.sticky, plan.standbys = b.sticky, b.standbys
	return plan, topics, nil
}

type taskPlan struct {
	sticky   bool
	standbys int // copies per task (v2)
	members  []balanceMember
}

type syncAssignments []kmsg.SyncGroupRequestGroupAssignment

func (s syncAssignments) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment { return s }

// Balance assigns the tasks: v2 sticky (assignTasks), v1 member i the
// tasks [i*T/M, (i+1)*T/M). T is the smallest partition count of the
// topics: the processor refuses to start on unequal counts, so they agree
// in practice.
func (t *taskPlan) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	var tasks int32 = -1
	for _, n := range topics {
		if tasks < 0 || n < tasks {
			tasks = n
		}
	}
	if tasks < 0 {
		tasks = 0
	}
	var owner []int
	var standbys [][]int32 // per member, v2 only
	cause := ""
	if t.sticky {
		owner, standbys, cause = t.stickyOwners(tasks)
	} else {
		owner = t.ranges(tasks)
	}
	owners := make(map[int32]string, tasks)
	for task, i := range owner {
		owners[int32(task)] = t.members[i].addr
	}
	out := make(syncAssignments, 0, len(t.members))
	for i, mem := range t.members {
		a := kmsg.NewConsumerMemberAssignment()
		for _, topic := range mem.topics {
			if _, ok := topics[topic]; !ok {
				continue
			}
			var parts []int32
			for task, o := range owner {
				if o == i {
					parts = append(parts, int32(task))
				}
			}
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: topic, Partitions: parts})
		}
		sort.Slice(a.Topics, func(x, y int) bool { return a.Topics[x].Topic < a.Topics[y].Topic })
		info := assignmentInfo{Owners: owners, Cause: cause}
		if standbys != nil {
			info.Standbys = standbys[i]
		}
		a.UserData, _ = json.Marshal(info)
		out = append(out, kmsg.SyncGroupRequestGroupAssignment{MemberID: mem.id, MemberAssignment: a.AppendTo(nil)})
	}
	return out
}

// ranges is v1's owner of every task: member i (in instance id order) owns
// [i*T/M, (i+1)*T/M).
func (t *taskPlan) ranges(tasks int32) []int {
	m := int32(len(t.members))
	owner := make([]int, tasks)
	for task := int32(0); task < tasks; task++ {
		i := int(task * m / tasks)
		if i >= len(t.members) {
			i = len(t.members) - 1
		}
		owner[task] = i
	}
	return owner
}

// stickyOwners is v2's owner of every task (assignTasks), each member's
// standby tasks (assignStandbys) and the cause of the rebalance as the
// members' claims tell it.
func (t *taskPlan) stickyOwners(tasks int32) ([]int, [][]int32, string) {
	in := make([]assignMember, len(t.members))
	for i, m := range t.members {
		id := m.instance
		if id == "" {
			id = m.id
		}
		in[i] = assignMember{id: id, owned: m.owned, warm: m.warm}
	}
	owner := make([]int, tasks)
	byMember := assignTasks(in, tasks)
	for i, ts := range byMember {
		for _, task := range ts {
			owner[task] = i
		}
	}
	return owner, assignStandbys(in, byMember, tasks, t.standbys), rebalanceCause(in, tasks)
}

// rebalanceCause reads why the group rebalances from what its members
// claim: a task nobody claims lost its owner (unless nobody claims
// anything: a new group, or all restarted), a member claiming nothing
// joined.
func rebalanceCause(members []assignMember, tasks int32) string {
	claimed := make([]bool, tasks)
	some, idle := false, false
	for _, m := range members {
		if len(m.owned) == 0 {
			idle = true
		}
		for _, task := range m.owned {
			if task >= 0 && task < tasks {
				claimed[task], some = true, true
			}
		}
	}
	if !some {
		return causeJoined
	}
	for _, c := range claimed {
		if !c {
			return causeLeft
		}
	}
	if idle {
		return causeJoined
	}
	return causeOther
}
