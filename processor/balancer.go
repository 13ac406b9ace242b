package processor

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// taskBalancer assigns whole tasks: partition p of every input topic goes
// to one member. Members are ordered by their static instance id, so the
// same members always get the same tasks (a restart moves nothing), and
// tasks are split in contiguous ranges, as Kafka's range assignor does.
//
// It also tells every member who owns which task: each member's join
// metadata carries its HTTP address, and the leader writes the whole
// task → address map into every member's assignment, as Kafka Streams does
// with its host info. The HTTP facade routes queries with it.
type taskBalancer struct {
	advertise string // this member's HTTP address
	// onSync receives this member's tasks and the task → address map of
	// every new generation, at each SyncGroup: the whole assignment, also
	// when a revoke callback was skipped (see Processor.setGeneration).
	onSync func(tasks []int32, owners map[int32]string)
}

var _ kgo.GroupBalancer = (*taskBalancer)(nil)

func (b *taskBalancer) ProtocolName() string { return "custream-tasks-v1" }
func (b *taskBalancer) IsCooperative() bool  { return false }

func (b *taskBalancer) JoinGroupMetadata(topics []string, _ map[string][]int32, _ int32) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = append([]string(nil), topics...)
	sort.Strings(m.Topics)
	m.UserData = []byte(b.advertise)
	return m.AppendTo(nil)
}

// assignmentInfo is the user data of every member's assignment.
type assignmentInfo struct {
	Owners map[int32]string `json:"owners"` // task → owner's HTTP address ("" when it advertises none)
}

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
		b.onSync(assignedTasks(out), info.Owners)
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
	return plan, topics, nil
}

type taskPlan struct{ members []balanceMember }

type syncAssignments []kmsg.SyncGroupRequestGroupAssignment

func (s syncAssignments) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment { return s }

// Balance gives member i the tasks [i*T/M, (i+1)*T/M). T is the smallest
// partition count of the topics: the processor refuses to start on
// unequal counts, so they agree in practice.
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
	m := int32(len(t.members))
	owner := make([]int, tasks)
	owners := make(map[int32]string, tasks)
	for task := int32(0); task < tasks; task++ {
		i := int(task * m / tasks)
		if i >= len(t.members) {
			i = len(t.members) - 1
		}
		owner[task] = i
		owners[task] = t.members[i].addr
	}
	info, _ := json.Marshal(assignmentInfo{Owners: owners})
	out := make(syncAssignments, 0, len(t.members))
	for i, mem := range t.members {
		a := kmsg.NewConsumerMemberAssignment()
		for _, topic := range mem.topics {
			if _, ok := topics[topic]; !ok {
				continue
			}
			var parts []int32
			for task := int32(0); task < tasks; task++ {
				if owner[task] == i {
					parts = append(parts, task)
				}
			}
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: topic, Partitions: parts})
		}
		sort.Slice(a.Topics, func(x, y int) bool { return a.Topics[x].Topic < a.Topics[y].Topic })
		a.UserData = info
		out = append(out, kmsg.SyncGroupRequestGroupAssignment{MemberID: mem.id, MemberAssignment: a.AppendTo(nil)})
	}
	return out
}
