package facade_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/facade"
	"github.com/custream/custream/processor/facade/peerauth"
	"github.com/custream/custream/processor/kafkatest"
)

// TestRogueGroupMember: a process that joins custream's group speaking
// its protocol and advertising its own address is given tasks, as the
// group cannot tell it from a member. It still gets nothing of value:
//
//   - a member whose --peer-allow does not list the address sends it
//     nothing (503);
//   - where the address is allowed, the request it receives carries no
//     Authorization, only an assertion addressed to it, which the real
//     owner refuses (401) when the rogue replays it;
//   - an assertion it forges is refused (401).
func TestRogueGroupMember(t *testing.T) {
	if testing.Short() {
		t.Skip(integration)
	}
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "rogue")
	topo := processor.DefaultTopology(group, group, customer.DefaultSources())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := processor.EnsureTopics(ctx, c.Admin(t), topo, processor.TopicsConfig{Partitions: partitions}); err != nil {
		t.Fatalf("creating topics: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		names := topo.Names()
		_, _ = kadm.NewClient(c.Client(t)).DeleteTopics(ctx, names...)
	})
	produce(ctx, t, c, topo)
	m1 := startMember(t, c, group, topo, "m1")
	defer m1.stop()

	// The rogue's "facade": it records what it is sent and answers a forgery.
	var mu sync.Mutex
	var got []*http.Request
	rogueSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"entity":666,"warnings":[]}`)
	}))
	defer rogueSrv.Close()
	rogueAddr := strings.TrimPrefix(rogueSrv.URL, "http://")
	received := func() []*http.Request {
		mu.Lock()
		defer mu.Unlock()
		return append([]*http.Request(nil), got...)
	}

	rogue, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topo.ConsumedTopics()...), kgo.Balancers(&rogueBalancer{addr: rogueAddr}),
		kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for rctx.Err() == nil {
			rogue.PollFetches(rctx)
		}
	}()
	defer func() {
		rcancel()
		<-polled
		rogue.Close() // leaves the group
	}()

	// Wait until m1 routes some task to the rogue, with data on m1's own.
	var rogueTask, ownTask int32 = -1, -1
	for deadline := time.Now().Add(40 * time.Second); rogueTask < 0 || ownTask < 0; time.Sleep(200 * time.Millisecond) {
		rogueTask, ownTask = -1, -1
		for task := range int32(partitions) {
			switch loc := m1.p.Locate(task); {
			case loc.Remote == rogueAddr:
				rogueTask = task
			case loc.Reader != nil && m1.get(t, orgs[task], lookupPath(orgs[task], perOrg-1), nil) == http.StatusOK:
				ownTask = task
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 40s m1 routes no task to the rogue (%d) or serves none itself (%d)", rogueTask, ownTask)
		}
	}
	rogueOrg, ownOrg := orgs[rogueTask], orgs[ownTask]
	t.Logf("the rogue holds task %d (org %d); m1 serves task %d (org %d)", rogueTask, rogueOrg, ownTask, ownOrg)

	// 1. A member whose allow-list is the cluster's DNS suffix: nothing
	// reaches the rogue's loopback address. (A second facade over the
	// same processor, as m1 with --peer-allow=.custream-headless.ns.svc.)
	auth, err := peerauth.New([][]byte{clusterSecret}, peerauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	allow, err := facade.ParsePeerAllow(".custream-headless.ns.svc")
	if err != nil {
		t.Fatal(err)
	}
	keys := &facade.Keys{}
	for _, org := range orgs {
		if err := keys.Add(orgKey(org), org); err != nil {
			t.Fatal(err)
		}
	}
	strict, err := facade.New(facade.Options{Tasks: m1.p, Domain: customer.DefaultConfig(), Keys: keys, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(testLog{t, "m1-strict"}, nil)),
		Peers:  facade.Peers{Auth: auth, Self: m1.addr, Allow: allow}})
	if err != nil {
		t.Fatal(err)
	}
	strictSrv := httptest.NewServer(strict)
	defer strictSrv.Close()
	sm := &member{name: "m1-strict", p: m1.p, addr: strings.TrimPrefix(strictSrv.URL, "http://"), client: http.DefaultClient}
	for i := range perOrg {
		if code := sm.get(t, rogueOrg, lookupPath(rogueOrg, i), nil); code != http.StatusServiceUnavailable {
			t.Errorf("lookup in the rogue's task through a member not allowing its address: %d, want 503", code)
		}
	}
	if n := len(received()); n != 0 {
		t.Fatalf("the rogue received %d requests from a member whose --peer-allow does not list it", n)
	}

	// 2. m1 allows loopback (the default), so it forwards there: without
	// the client's key.
	var lv customer.LookupView
	if code := m1.get(t, rogueOrg, lookupPath(rogueOrg, 0), &lv); code != http.StatusOK {
		t.Fatalf("lookup forwarded to the rogue: %d", code)
	}
	reqs := received()
	if len(reqs) != 1 {
		t.Fatalf("the rogue received %d requests, want 1", len(reqs))
	}
	captured := reqs[0]
	if v := captured.Header.Values("Authorization"); len(v) > 0 {
		t.Fatalf("the rogue received the client's Authorization %q", v)
	}
	for k, vs := range captured.Header {
		for _, v := range vs {
			if strings.Contains(v, orgKey(rogueOrg)) {
				t.Fatalf("the rogue received the client's key in %s", k)
			}
		}
	}
	if captured.Header.Get(peerauth.Header) == "" {
		t.Fatalf("forwarded without an assertion: %v", captured.Header)
	}

	// 3. Replayed to the real member, the captured assertion is refused:
	// it was addressed to the rogue. So is one for m1's own task with
	// the captured signature, and one signed with a guessed secret.
	send := func(path string, hdr http.Header) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+m1.addr+path, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Errors []customer.Issue }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode == http.StatusUnauthorized && (len(body.Errors) == 0 || body.Errors[0].Code != facade.CodeUnauthorized) {
			t.Errorf("401 not in the API's error shape: %+v", body)
		}
		return resp.StatusCode
	}
	replay := http.Header{facade.ForwardedHeader: {"1"}, peerauth.Header: {captured.Header.Get(peerauth.Header)}}
	if code := send(captured.URL.RequestURI(), replay); code != http.StatusUnauthorized {
		t.Errorf("captured assertion replayed to m1: %d, want 401", code)
	}
	if code := send(lookupPath(ownOrg, 0), replay); code != http.StatusUnauthorized {
		t.Errorf("captured assertion on another route of m1: %d, want 401", code)
	}
	guessed, err := peerauth.New([][]byte{[]byte("a guessed cluster secret, 32 bytes!")}, peerauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := guessed.Sign(peerauth.Claim{Org: ownOrg, Audience: m1.addr, Method: http.MethodGet, Route: lookupPath(ownOrg, 0)})
	if code := send(lookupPath(ownOrg, 0), http.Header{facade.ForwardedHeader: {"1"}, peerauth.Header: {forged}}); code != http.StatusUnauthorized {
		t.Errorf("forged assertion sent to m1: %d, want 401", code)
	}
	// The genuine article, to show the refusals are about the assertion.
	genuine, _ := auth.Sign(peerauth.Claim{Org: ownOrg, Audience: m1.addr, Method: http.MethodGet, Route: lookupPath(ownOrg, 0)})
	if code := send(lookupPath(ownOrg, 0), http.Header{facade.ForwardedHeader: {"1"}, peerauth.Header: {genuine}}); code != http.StatusOK {
		t.Errorf("valid assertion sent to m1: %d, want 200", code)
	}
}

// rogueBalancer speaks custream's group protocol (processor/balancer.go):
// join metadata whose user data is the advertised HTTP address and, as
// leader, an assignment whose user data is the task → address map.
type rogueBalancer struct{ addr string }

func (b *rogueBalancer) ProtocolName() string { return "custream-tasks-v1" }
func (b *rogueBalancer) IsCooperative() bool  { return false }

func (b *rogueBalancer) JoinGroupMetadata(topics []string, _ map[string][]int32, _ int32) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = append([]string(nil), topics...)
	sort.Strings(m.Topics)
	m.UserData = []byte(b.addr)
	return m.AppendTo(nil)
}

func (b *rogueBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err != nil {
		return nil, err
	}
	out := map[string][]int32{}
	for _, t := range a.Topics {
		out[t.Topic] = t.Partitions
	}
	return out, nil
}

type rogueMember struct {
	id, addr string
	topics   []string
}

type roguePlan []rogueMember

func (b *rogueBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	var plan roguePlan
	topics := map[string]struct{}{}
	for _, m := range members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.ProtocolMetadata); err != nil {
			return nil, nil, fmt.Errorf("member %s: %w", m.MemberID, err)
		}
		for _, t := range meta.Topics {
			topics[t] = struct{}{}
		}
		plan = append(plan, rogueMember{m.MemberID, string(meta.UserData), meta.Topics})
	}
	// The rogue first: it takes the first tasks.
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].addr == b.addr && plan[j].addr != b.addr })
	return plan, topics, nil
}

type rogueAssignments []kmsg.SyncGroupRequestGroupAssignment

func (r rogueAssignments) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment { return r }

func (p roguePlan) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	var tasks int32 = -1
	for _, n := range topics {
		if tasks < 0 || n < tasks {
			tasks = n
		}
	}
	owners := map[int32]string{}
	owner := make([]int, max(tasks, 0))
	for task := range max(tasks, 0) {
		owner[task] = int(task * int32(len(p)) / tasks)
		owners[task] = p[owner[task]].addr
	}
	info, _ := json.Marshal(map[string]any{"owners": owners})
	var out rogueAssignments
	for i, m := range p {
		a := kmsg.NewConsumerMemberAssignment()
		for _, topic := range m.topics {
			var parts []int32
			for task := range max(tasks, 0) {
				if owner[task] == i {
					parts = append(parts, task)
				}
			}
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: topic, Partitions: parts})
		}
		a.UserData = info
		out = append(out, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.id, MemberAssignment: a.AppendTo(nil)})
	}
	return out
}
