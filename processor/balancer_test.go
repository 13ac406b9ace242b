package processor

import (
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func joinMember(b *taskBalancer, id, instance string, topics ...string) kmsg.JoinGroupResponseMember {
	m := kmsg.NewJoinGroupResponseMember()
	m.MemberID = id
	m.InstanceID = &instance
	m.ProtocolMetadata = b.JoinGroupMetadata(topics, nil, 0)
	return m
}

// TestTaskBalancer: every member gets partition p of every topic together
// (whole tasks), ranges follow the instance ids, and every member learns
// every task's owner.
func TestTaskBalancer(t *testing.T) {
	topics := []string{"customers.instore", "customers.wechat"}
	var members []kmsg.JoinGroupResponseMember
	for _, m := range []struct{ id, instance, addr string }{
		{"m-z", "c", "http://c:8080"}, {"m-a", "a", "http://a:8080"}, {"m-q", "b", "http://b:8080"},
	} {
		b := &taskBalancer{advertise: m.addr}
		members = append(members, joinMember(b, m.id, m.instance, topics...))
	}
	leader := &taskBalancer{}
	mb, interests, err := leader.MemberBalancer(members)
	if err != nil {
		t.Fatal(err)
	}
	if len(interests) != 2 {
		t.Fatalf("interests = %v", interests)
	}
	plan := mb.Balance(map[string]int32{"customers.instore": 5, "customers.wechat": 5}).IntoSyncAssignment()

	want := map[string][]int32{"m-a": {0, 1}, "m-q": {2, 3}, "m-z": {4}}
	wantOwners := map[int32]string{0: "http://a:8080", 1: "http://a:8080", 2: "http://b:8080", 3: "http://b:8080", 4: "http://c:8080"}
	for _, a := range plan {
		var owners map[int32]string
		var tasks []int32
		recv := &taskBalancer{onSync: func(ts []int32, o map[int32]string, _ []int32, _ string) { tasks, owners = ts, o }}
		got, err := recv.ParseSyncAssignment(a.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range topics {
			if !reflect.DeepEqual(got[topic], want[a.MemberID]) {
				t.Errorf("member %s, %s: partitions %v, want %v", a.MemberID, topic, got[topic], want[a.MemberID])
			}
		}
		if !reflect.DeepEqual(tasks, want[a.MemberID]) {
			t.Errorf("member %s learned tasks %v, want %v", a.MemberID, tasks, want[a.MemberID])
		}
		if !reflect.DeepEqual(owners, wantOwners) {
			t.Errorf("member %s learned owners %v, want %v", a.MemberID, owners, wantOwners)
		}
	}
}

// TestTaskBalancerSticky: through the v2 join metadata (owned and warm
// tasks) and the assignment, a fourth member over 12 tasks takes exactly 3
// and the leader names the cause; the owners map agrees with the tasks.
func TestTaskBalancerSticky(t *testing.T) {
	topics := []string{"customers.instore", "customers.wechat"}
	owned := map[string][]int32{"a": span(0, 4), "b": span(4, 8), "c": span(8, 12), "d": nil}
	var members []kmsg.JoinGroupResponseMember
	for _, inst := range []string{"d", "b", "a", "c"} {
		b := &taskBalancer{sticky: true, advertise: "http://" + inst, report: func() ([]int32, map[int32]int64) {
			return owned[inst], warmOf(7, owned[inst]...)
		}}
		if b.ProtocolName() != "custream-tasks-v2" {
			t.Fatalf("protocol %q", b.ProtocolName())
		}
		members = append(members, joinMember(b, "m-"+inst, inst, topics...))
	}
	mb, _, err := (&taskBalancer{sticky: true, standbys: 1}).MemberBalancer(members)
	if err != nil {
		t.Fatal(err)
	}
	plan := mb.Balance(map[string]int32{"customers.instore": 12, "customers.wechat": 12}).IntoSyncAssignment()
	moves := 0
	standbyCopies := map[int32]int{}
	for _, a := range plan {
		inst := a.MemberID[len("m-"):]
		var tasks []int32
		var owners map[int32]string
		var cause string
		var standbys []int32
		recv := &taskBalancer{sticky: true, onSync: func(ts []int32, o map[int32]string, sb []int32, c string) {
			tasks, owners, standbys, cause = ts, o, sb, c
		}}
		got, err := recv.ParseSyncAssignment(a.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[topics[0]], tasks) || !reflect.DeepEqual(got[topics[1]], tasks) {
			t.Errorf("member %s: partitions %v, tasks %v", inst, got, tasks)
		}
		if len(tasks) != 3 {
			t.Errorf("member %s got %d tasks, want 3", inst, len(tasks))
		}
		for _, task := range tasks {
			if owners[task] != "http://"+inst {
				t.Errorf("owners[%d] = %q, want http://%s", task, owners[task], inst)
			}
			if !slices.Contains(owned[inst], task) {
				moves++
			}
		}
		// One standby per task: 3 per member, none of its own tasks.
		if len(standbys) != 3 {
			t.Errorf("member %s got standbys %v, want 3", inst, standbys)
		}
		for _, task := range standbys {
			standbyCopies[task]++
			if slices.Contains(tasks, task) {
				t.Errorf("member %s holds a standby of its own task %d", inst, task)
			}
		}
		if cause != causeJoined {
			t.Errorf("member %s learned cause %q, want %q", inst, cause, causeJoined)
		}
	}
	if moves != 3 {
		t.Errorf("%d tasks moved, want 3", moves)
	}
	if len(standbyCopies) != 12 {
		t.Errorf("standby copies %v, want one of each of 12 tasks", standbyCopies)
	}
}

// TestRebalanceCause reads the causes from the members' claims.
func TestRebalanceCause(t *testing.T) {
	for _, c := range []struct {
		members []assignMember
		want    string
	}{
		{[]assignMember{{id: "a"}, {id: "b"}}, causeJoined},
		{[]assignMember{{id: "a", owned: span(0, 2)}, {id: "b"}}, causeJoined},
		{[]assignMember{{id: "a", owned: span(0, 1)}}, causeLeft},
		{[]assignMember{{id: "a", owned: span(0, 1)}, {id: "b"}}, causeLeft},
		{[]assignMember{{id: "a", owned: span(0, 1)}, {id: "b", owned: span(1, 2)}}, causeOther},
	} {
		if got := rebalanceCause(c.members, 2); got != c.want {
			t.Errorf("%+v: cause %q, want %q", c.members, got, c.want)
		}
	}
}
