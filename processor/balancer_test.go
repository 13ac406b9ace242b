package processor

import (
	"reflect"
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
		recv := &taskBalancer{onSync: func(ts []int32, o map[int32]string) { tasks, owners = ts, o }}
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
