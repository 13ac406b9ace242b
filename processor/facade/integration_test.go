package facade_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/facade"
	"github.com/custream/custream/processor/facade/peerauth"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/state"
)

// orgs whose tasks, with 4 partitions, are 0, 1, 2 and 3: every task has
// data, whichever member owns it.
var orgs = []int64{1001, 100, 1000, 1002}

const (
	partitions  = 4
	perOrg      = 5
	integration = "integration test: needs a broker (make test)"
)

func orgKey(org int64) string { return fmt.Sprintf("key-%d", org) }

func mobileOf(org int64, i int) string { return fmt.Sprintf("91%04d%06d", org, i) }

// member is one in-process custream: a processor and its facade on
// 127.0.0.1:0, advertising its real address.
type member struct {
	name   string
	p      *processor.Processor
	addr   string // advertised: host:port, or https://host:port with TLS
	client *http.Client
	stop   func()
}

// clusterSecret is every member's --cluster-secret-file.
var clusterSecret = []byte("the integration tests' cluster secret, 32+ bytes")

// memberTLS, when set, makes a member serve its facade over TLS with the
// test PKI's certificate and reach peers verifying them with its CA
// (--http-tls-cert, --peer-ca), never in cleartext.
type memberOpts struct {
	tls    *facade.TestPKI
	domain *customer.Config // nil: customer.DefaultConfig()
}

func startMember(t *testing.T, c *kafkatest.Cluster, group string, topo processor.Topology, name string, opts ...memberOpts) *member {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testLog{t, name}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := state.Open(t.TempDir(), state.Options{CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var o memberOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	advertise, caFile := ln.Addr().String(), ""
	if o.tls != nil {
		advertise, caFile = "https://"+advertise, o.tls.CAFile
	}
	domain := customer.DefaultConfig()
	if o.domain != nil {
		domain = *o.domain
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := processor.New(ctx, processor.Config{
		Brokers: c.Brokers, Group: group, InstanceID: name, Topology: topo, Domain: domain,
		AdvertiseHTTP:      advertise,
		MaxBatchRecords:    500,
		TransactionTimeout: 10 * time.Second,
		SessionTimeout:     6 * time.Second,
		Logger:             log,
	}, db)
	if err != nil {
		cancel()
		t.Fatalf("member %s: %v", name, err)
	}
	keys := &facade.Keys{}
	for _, org := range orgs {
		if err := keys.Add(orgKey(org), org); err != nil {
			t.Fatal(err)
		}
	}
	auth, err := peerauth.New([][]byte{clusterSecret}, peerauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The binary's own peer client (cmd/custream builds it the same way).
	client, err := facade.PeerClient(caFile, "", "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f, err := facade.New(facade.Options{Tasks: p, Domain: domain, Keys: keys, Logger: log, Registry: prometheus.NewRegistry(),
		Client: client, Peers: facade.Peers{Auth: auth, Self: advertise, TLSOnly: o.tls != nil}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if o.tls != nil {
			_ = srv.ServeTLS(ln, o.tls.CertFile, o.tls.KeyFile)
			return
		}
		_ = srv.Serve(ln)
	}()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	m := &member{name: name, p: p, addr: advertise, client: client}
	m.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("member %s stopped with %v", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("member %s did not stop within 30s", name)
		}
		_ = srv.Close()
		db.Close()
	}
	return m
}

type testLog struct {
	t    *testing.T
	name string
}

func (w testLog) Write(b []byte) (int, error) {
	w.t.Logf("[%s] %s", w.name, b)
	return len(b), nil
}

// get queries a member as org and decodes the body into v (if non-nil).
func (m *member) get(t *testing.T, org int64, path string, v any) int {
	t.Helper()
	base := m.addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+orgKey(org))
	resp, err := m.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", m.name, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", m.name, path, b, err)
		}
	}
	return resp.StatusCode
}

// split reports whether every task is located (owned here and restored,
// or known to be remote) and this member owns some but not all.
func (m *member) split() (local int, settled bool) {
	for task := int32(0); task < partitions; task++ {
		switch loc := m.p.Locate(task); {
		case loc.Reader != nil:
			local++
		case loc.Remote == "":
			return local, false
		}
	}
	return local, local > 0 && local < partitions
}

// TestTwoMembersForward: two members split the tasks; each answers every
// query, forwarding those whose task the other owns (signed with the
// cluster secret, without the client's key), with the same answers, and
// keeps orgs apart across the forward; in cleartext, and over TLS with a
// private CA (--peer-ca).
func TestTwoMembersForward(t *testing.T) {
	if testing.Short() {
		t.Skip(integration)
	}
	t.Run("plaintext", func(t *testing.T) { twoMembersForward(t, memberOpts{}) })
	t.Run("tls", func(t *testing.T) { twoMembersForward(t, memberOpts{tls: facade.NewTestPKI(t)}) })
}

// newTopology creates a deployment's topics, named after prefix and a
// random suffix, with partitions partitions, and deletes them after the
// test.
func newTopology(ctx context.Context, t *testing.T, c *kafkatest.Cluster, prefix string) (string, processor.Topology) {
	t.Helper()
	group := kafkatest.Topic(t, prefix)
	topo := processor.DefaultTopology(group, group, customer.DefaultSources())
	if _, err := processor.EnsureTopics(ctx, c.Admin(t), topo, processor.TopicsConfig{Partitions: partitions}); err != nil {
		t.Fatalf("creating topics: %v", err)
	}
	c.DeleteAfter(t, topo.Names()...)
	return group, topo
}

func twoMembersForward(t *testing.T, opts memberOpts) {
	c := kafkatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	group, topo := newTopology(ctx, t, c, "facade")
	for task, org := range orgs {
		if got := processor.TaskOfOrg(int64(org), partitions); got != int32(task) {
			t.Fatalf("org %d hashes to task %d, the test wants %d", org, got, task)
		}
	}
	produce(ctx, t, c, topo)

	m1 := startMember(t, c, group, topo, "m1", opts)
	defer m1.stop()
	m2 := startMember(t, c, group, topo, "m2", opts)
	defer m2.stop()
	members := []*member{m1, m2}

	// Wait for the split and for the data (the last command of each org).
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		n1, ok1 := m1.split()
		n2, ok2 := m2.split()
		visible := ok1 && ok2
		for _, org := range orgs {
			visible = visible && m1.get(t, org, lookupPath(org, perOrg-1), nil) == http.StatusOK
		}
		if visible {
			t.Logf("m1 owns %d tasks, m2 %d", n1, n2)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settled split with visible data after 40s (m1 %d tasks %v, m2 %d tasks %v)", n1, ok1, n2, ok2)
		}
	}

	forwarded := map[string]int{}
	for _, org := range orgs {
		task := processor.TaskOfOrg(int64(org), partitions)
		for _, m := range members {
			if m.p.Locate(task).Remote != "" {
				forwarded[m.name]++
			}
		}
		for i := range perOrg {
			var ids [2]int64
			for j, m := range members {
				var lv customer.LookupView
				if code := m.get(t, org, lookupPath(org, i), &lv); code != http.StatusOK {
					t.Fatalf("%s: lookup of org %d customer %d: %d", m.name, org, i, code)
				}
				ids[j] = lv.Entity
				var fv customer.FetchView
				if code := m.get(t, org, fmt.Sprintf("/v2/customers/%d", lv.Entity), &fv); code != http.StatusOK || fv.ID != lv.Entity {
					t.Fatalf("%s: fetch of %d (org %d): %d %+v", m.name, lv.Entity, org, code, fv)
				}
				if len(fv.Profiles) != 1 || fv.Profiles[0].Identifiers[0].Value != mobileOf(org, i) {
					t.Errorf("%s: customer %d is %+v", m.name, lv.Entity, fv.Profiles)
				}
				var sv customer.SubscriptionsView
				if code := m.get(t, org, fmt.Sprintf("/v2/customers/%d/subscriptions", lv.Entity), &sv); code != http.StatusOK || len(sv.Subscriptions) != 4 {
					t.Errorf("%s: subscriptions of %d: %d %+v", m.name, lv.Entity, code, sv)
				}
				// Another org's key: the owner answers 404, through the forward too.
				other := orgs[(org2index(org)+1)%len(orgs)]
				if code := m.get(t, other, fmt.Sprintf("/v2/customers/%d", lv.Entity), nil); code != http.StatusNotFound {
					t.Errorf("%s: org %d reading org %d's customer %d: %d, want 404", m.name, other, org, lv.Entity, code)
				}
			}
			if ids[0] != ids[1] || state.TaskOf(ids[0], partitions) != task {
				t.Errorf("org %d customer %d: ids %v from the two members, want one id of task %d", org, i, ids, task)
			}
		}
		for _, m := range members {
			var sv customer.SearchView
			if code := m.get(t, org, "/v2/customers/search?q=tom&limit=100", &sv); code != http.StatusOK || sv.Pagination.Total != perOrg {
				t.Errorf("%s: search in org %d: %d, total %d, want %d", m.name, org, code, sv.Pagination.Total, perOrg)
			}
		}
	}
	if forwarded["m1"] == 0 || forwarded["m2"] == 0 {
		t.Errorf("each member must have answered for the other's tasks: %v", forwarded)
	}
	t.Logf("orgs answered through a forward, per member: %v", forwarded)
}

func org2index(org int64) int {
	for i, o := range orgs {
		if o == org {
			return i
		}
	}
	return -1
}

func lookupPath(org int64, i int) string {
	return "/v2/customers/lookup?source=INSTORE&identifierName=mobile&identifierValue=" + mobileOf(org, i)
}

// produce registers perOrg customers in each org, as an upstream producer
// would: JSON bodies, key = org.
func produce(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topo processor.Topology) {
	t.Helper()
	var topic string
	for _, in := range topo.Inputs {
		if in.Source.Name == "INSTORE" {
			topic = in.Topic
		}
	}
	cl := c.Client(t)
	var records []*kgo.Record
	for _, org := range orgs {
		for i := range perOrg {
			cmd := customer.Command{RequestID: fmt.Sprintf("r-%d-%d", org, i), Org: org, Op: customer.OpRegister, Source: "INSTORE",
				Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", LastName: "Sawyer",
					Identifiers: []customer.Identifier{{Type: "mobile", Value: mobileOf(org, i)}}}}}}
			value, hs, err := schemas.EncodeJSONCommand(cmd)
			if err != nil {
				t.Fatal(err)
			}
			r := &kgo.Record{Topic: topic, Key: []byte(strconv.FormatInt(org, 10)), Value: value}
			for _, h := range hs {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			records = append(records, r)
		}
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}
