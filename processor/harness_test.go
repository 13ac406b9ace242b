package processor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/state"
)

// harness is one deployment under test: its topics on the test broker, and
// the members started on it.
type harness struct {
	t          *testing.T
	c          *kafkatest.Cluster
	group      string
	topo       processor.Topology
	partitions int32
	domain     customer.Config
	producer   *kgo.Client
	// tune, if set, adjusts every member's config before it starts.
	tune func(*processor.Config)
}

// topicConfig sets broker configs of some of a harness's topics before it
// creates the rest: for each topic the function picks from the topology.
type topicConfig struct {
	topic   func(processor.Topology) string
	configs map[string]string
}

func newHarness(t *testing.T, partitions int32, tcs ...topicConfig) *harness {
	t.Helper()
	return newHarnessOn(t, kafkatest.Start(t), partitions, tcs...)
}

// newHarnessOn is newHarness on a given cluster, e.g. a test's own broker
// (kafkatest.OwnBroker) for fault tests.
func newHarnessOn(t *testing.T, c *kafkatest.Cluster, partitions int32, tcs ...topicConfig) *harness {
	t.Helper()
	group := kafkatest.Topic(t, "cs")
	h := &harness{
		t:          t,
		c:          c,
		group:      group,
		topo:       processor.DefaultTopology(group, group, customer.DefaultSources()),
		partitions: partitions,
		domain:     customer.DefaultConfig(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range tcs {
		cfg := map[string]*string{}
		for k, v := range tc.configs {
			cfg[k] = &v
		}
		name := tc.topic(h.topo)
		for _, s := range h.topo.Specs() {
			if s.Name == name && s.Compacted {
				compact := "compact"
				cfg["cleanup.policy"] = &compact
			}
		}
		resp, err := c.Admin(t).CreateTopic(ctx, partitions, -1, cfg, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("creating topic %s with %v: %v", name, tc.configs, err)
		}
	}
	if _, err := processor.EnsureTopics(ctx, c.Admin(t), h.topo, processor.TopicsConfig{Partitions: partitions}); err != nil {
		t.Fatalf("creating topics: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		adm := kadm.NewClient(h.client(t))
		names := h.topo.Names()
		_, _ = adm.DeleteTopics(ctx, names...)
	})
	// The default partitioner (murmur2 of the org key), as upstream
	// producers use.
	h.producer = c.Client(t, kgo.ProducerLinger(5*time.Millisecond))
	return h
}

// rerun is another deployment over the same input topics: a group of its
// own, with its own outputs, changelog and repartition topic, so the same
// input is processed again from scratch.
func (h *harness) rerun(t *testing.T, name string) *harness {
	t.Helper()
	r := *h
	r.group = h.group + "-" + name
	r.topo = processor.DefaultTopology(r.group, r.group, customer.DefaultSources())
	r.topo.Inputs = h.topo.Inputs
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := processor.EnsureTopics(ctx, h.c.Admin(t), r.topo, processor.TopicsConfig{Partitions: h.partitions}); err != nil {
		t.Fatalf("creating the topics of %s: %v", name, err)
	}
	return &r
}

func (h *harness) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	return h.c.Client(t, opts...)
}

func (h *harness) inputTopic(source string) string {
	for _, in := range h.topo.Inputs {
		if in.Source.Name == source {
			return in.Topic
		}
	}
	h.t.Fatalf("no input topic for source %s", source)
	return ""
}

// member is one in-process processor with its own state dir.
type member struct {
	p       *processor.Processor
	metrics *prometheus.Registry
	name    string
	dir     string
	db      *state.DB
	cancel  context.CancelFunc
	done    chan error
}

func (h *harness) startMember(t *testing.T, name, dir string) *member {
	t.Helper()
	return h.startMemberOn(t, name, dir, state.Options{CacheBytes: 16 << 20})
}

// startMemberOn is startMember with the state opened with opts.
func (h *harness) startMemberOn(t *testing.T, name, dir string, opts state.Options) *member {
	t.Helper()
	db, err := state.Open(dir, opts)
	if err != nil {
		t.Fatalf("member %s: opening state: %v", name, err)
	}
	reg := prometheus.NewRegistry()
	cfg := processor.Config{
		Metrics:            processor.NewMetrics(reg),
		Brokers:            h.c.Brokers,
		Group:              h.group,
		InstanceID:         name,
		Topology:           h.topo,
		Domain:             h.domain,
		MaxBatchRecords:    500,
		TransactionTimeout: 10 * time.Second,
		SessionTimeout:     6 * time.Second,
		Logger:             slog.New(slog.NewTextHandler(testWriter{t, name}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if h.tune != nil {
		h.tune(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := processor.New(ctx, cfg, db)
	if err != nil {
		cancel()
		db.Close()
		t.Fatalf("member %s: %v", name, err)
	}
	m := &member{p: p, metrics: reg, name: name, dir: dir, db: db, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := p.Run(ctx)
		if err != nil {
			t.Logf("member %s stopped: %v", name, err)
		}
		m.done <- err
	}()
	return m
}

// stop shuts the member down cleanly and waits for it.
func (m *member) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("member %s stopped with %v", m.name, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("member %s did not stop within 60s", m.name)
	}
	m.db.Close()
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("[%s] %s", w.name, b)
	return len(b), nil
}

// produce sends the commands in the JSON form (the API doc's bodies with
// headers), key = org, and waits until all are acknowledged.
func (h *harness) produce(t *testing.T, cmds []customer.Command) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, cmd := range cmds {
		r := h.record(t, cmd)
		wg.Add(1)
		h.producer.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("producing commands: %v", firstErr)
	}
}

// record is cmd as a producer sends it: the JSON form to its source's
// topic, keyed by the org (partitioned by the producer).
func (h *harness) record(t *testing.T, cmd customer.Command) *kgo.Record {
	t.Helper()
	if cmd.Op == customer.OpPoints {
		value, err := schemas.EncodeBalanceJSON(cmd)
		if err != nil {
			t.Fatalf("encoding balance %s: %v", cmd.RequestID, err)
		}
		return &kgo.Record{Topic: h.topo.PointsTopic(), Key: []byte(strconv.FormatInt(cmd.Org, 10)), Value: value}
	}
	value, hs, err := schemas.EncodeJSONCommand(cmd)
	if err != nil {
		t.Fatalf("encoding %s: %v", cmd.RequestID, err)
	}
	r := &kgo.Record{Topic: h.inputTopic(cmd.Source), Key: []byte(strconv.FormatInt(cmd.Org, 10)), Value: value}
	for _, x := range hs {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: x.Key, Value: x.Value})
	}
	return r
}

// readTopic reads the committed records of topic until want records
// arrived; bounded by limit. want < 0 reads until nothing new comes for a
// few seconds (for topics whose end offsets count transaction markers).
func (h *harness) readTopic(t *testing.T, topic string, want int, limit time.Duration) []*kgo.Record {
	t.Helper()
	cl := h.client(t,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	deadline := time.Now().Add(limit)
	var out []*kgo.Record
	quiet := 0
	for (want < 0 || len(out) < want) && time.Now().Before(deadline) && (want >= 0 || quiet < 3) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("reading %s[%d]: %v", topic, p, err)
			}
		})
		if fs.NumRecords() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// check verifies the committed results of a run: every requestId has
// exactly one result, and every result equals what the domain gives when
// the same commands are applied directly, in the order the processor
// applied them (results partition p is task p's processing order).
// It returns the direct application's state, one task per partition.
func (h *harness) check(t *testing.T, results []*kgo.Record, wantResults int) *state.DB {
	t.Helper()
	db, err := state.Open("", state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.checkOn(t, db, results, wantResults)
	return db
}

// checkOn is check with the direct application going on from db's state
// (one task per partition) rather than from nothing: for a run that began
// on a state restored from a changelog the test wrote. It leaves db with
// the direct application's state.
func (h *harness) checkOn(t *testing.T, db *state.DB, results []*kgo.Record, wantResults int) {
	t.Helper()
	inputs := h.readInputs(t)
	perReq := map[string]int{}
	byPart := map[int32][]schemas.ResultRecord{}
	for _, r := range results {
		if isDuplicate(r) {
			continue // a repeat's re-emission of the first result, not a result of its own
		}
		rr, err := schemas.DecodeResult(r.Value)
		if err != nil {
			t.Fatalf("decoding result at %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		// Request ids are per org (a balance's is named by its figure,
		// which two orgs may both send).
		perReq[strconv.FormatInt(rr.Org, 10)+"/"+rr.RequestID]++
		byPart[r.Partition] = append(byPart[r.Partition], rr)
	}
	dups := 0
	for id, n := range perReq {
		if n != 1 {
			dups++
			if dups < 10 {
				t.Errorf("requestId %s has %d committed results, want 1", id, n)
			}
		}
	}
	if len(perReq) != wantResults {
		t.Errorf("%d requestIds have results, want %d", len(perReq), wantResults)
	}
	// Stop on these failures only, not on earlier ones of the test.
	if dups > 0 || len(perReq) != wantResults {
		t.FailNow()
	}

	mismatches := 0
	for part, rrs := range byPart {
		task := db.Task(part, h.partitions)
		for _, got := range rrs {
			cmd, ok := inputs[got.Origin]
			if !ok {
				t.Fatalf("result %s names origin %+v that holds no command", got.RequestID, got.Origin)
			}
			if refused(got) {
				// Its outputs did not fit: it changed nothing, so the
				// direct application skips it too.
				continue
			}
			b := task.NewBatch()
			out, err := customer.Apply(h.domain, b, cmd)
			if err != nil {
				t.Fatalf("direct apply of %s: %v", cmd.RequestID, err)
			}
			if err := task.Apply(b, -1); err != nil {
				t.Fatal(err)
			}
			want := roundTrip(t, schemas.ResultRecord{Result: out.Result, Origin: got.Origin})
			if !reflect.DeepEqual(want, got) {
				mismatches++
				if mismatches < 5 {
					t.Errorf("task %d, request %s: processor gave\n%+v\ndirect application gives\n%+v", part, got.RequestID, got.Result, want.Result)
				}
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d results differ from the direct application", mismatches)
	}
}

// isDuplicate tells a repeat's re-emitted result (custream.duplicate).
func isDuplicate(r *kgo.Record) bool {
	for _, x := range r.Headers {
		if x.Key == "custream.duplicate" && string(x.Value) == "true" {
			return true
		}
	}
	return false
}

// refused tells the result of a command whose outputs were too large to
// produce: it was not applied.
func refused(rr schemas.ResultRecord) bool {
	return !rr.Success && len(rr.Errors) == 1 && rr.Errors[0].Code == schemas.ResultCodeOutputTooLarge
}

func roundTrip(t *testing.T, rr schemas.ResultRecord) schemas.ResultRecord {
	t.Helper()
	b, err := schemas.EncodeResult(rr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := schemas.DecodeResult(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readInputs decodes every input record the way the processor does, keyed
// by origin.
func (h *harness) readInputs(t *testing.T) map[schemas.Origin]customer.Command {
	t.Helper()
	dec := processor.NewDecoder(h.topo, nil)
	out := map[schemas.Origin]customer.Command{}
	for _, topic := range h.topo.InputTopics() {
		end := h.endOffsets(t, topic)
		var want int
		for _, e := range end {
			want += int(e)
		}
		if want == 0 {
			continue
		}
		for _, r := range h.readTopic(t, topic, want, 60*time.Second) {
			cmd, origin, bad, err := dec.Decode(context.Background(), r)
			if err != nil || bad != nil {
				continue // DLQ material; it has no result
			}
			out[origin] = cmd
		}
	}
	return out
}

func (h *harness) endOffsets(t *testing.T, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := h.c.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// gen makes random commands for a few orgs over a small identifier space,
// so 8007, joins (8050) and merges (8051) are frequent. Customer ids for
// update, changeIdentifier and subscriptions are guessed from the id
// layout (seq*P + p): many exist, some do not (8009).
type gen struct {
	rnd        *rand.Rand
	orgs       []int64
	partitions int32
	n          int
	registered map[int64]int // per org, registrations sent (upper bound of seq)
	// registerOnly makes every command a registration: their outcomes
	// depend on each org's order only, not on which ids a task allocated.
	registerOnly bool
	// pointsPct is the share of commands, in percent, that are balances
	// for a guessed customer (OpPoints, to the points topic). Their
	// versions mostly climb per (customer, program), and sometimes repeat
	// or go back, so 8908 is frequent; balances for merged-away customers
	// give 8909.
	pointsPct int
	versions  map[[2]int64]int64 // (customer, program) → highest version sent
}

// balance is a random balance for customer cid.
func (g *gen) balance(cid int64) *customer.Balance {
	if g.versions == nil {
		g.versions = map[[2]int64]int64{}
	}
	program := []int64{1, 2, 1223}[g.rnd.IntN(3)]
	k := [2]int64{cid, program}
	v := g.versions[k] + 1
	if g.rnd.IntN(8) == 0 && v > 1 {
		v = 1 + g.rnd.Int64N(v-1) // late or repeated
	}
	g.versions[k] = max(g.versions[k], v)
	slabs := []string{"Base", "Silver", "Gold"}
	n := g.rnd.IntN(len(slabs))
	return &customer.Balance{ProgramID: program, Version: v,
		LoyaltyPoints: float64(g.rnd.IntN(5000)), LifetimePoints: float64(g.rnd.IntN(20000)), Redeemed: float64(g.rnd.IntN(3000)),
		Returned: float64(g.rnd.IntN(400)) + 0.25, CumulativePurchases: float64(g.rnd.IntN(100000)),
		CurrentSlab: slabs[n], SlabSNo: int64(n + 1), NextSlabSerialNumber: -1, SlabExpiryDate: "2117-12-29T23:59:59+05:30"}
}

func newGen(seed uint64, orgs int, partitions int32) *gen {
	g := &gen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), partitions: partitions, registered: map[int64]int{}}
	for i := 0; i < orgs; i++ {
		g.orgs = append(g.orgs, int64(1000+i))
	}
	return g
}

var sources = []struct{ name, account string }{
	{"INSTORE", ""}, {"MARTJACK", ""}, {"WECHAT", "22232"}, {"WECHAT", "22233"}, {"FACEBOOK", "fb1"},
}

func (g *gen) identifier() customer.Identifier {
	n := g.rnd.IntN(60)
	switch g.rnd.IntN(3) {
	case 0:
		return customer.Identifier{Type: "mobile", Value: fmt.Sprintf("9190000%05d", n)}
	case 1:
		return customer.Identifier{Type: "email", Value: fmt.Sprintf("user%d@example.com", n)}
	default:
		return customer.Identifier{Type: "externalId", Value: fmt.Sprintf("ext-%d", n)}
	}
}

func (g *gen) next() customer.Command {
	g.n++
	org := g.orgs[g.rnd.IntN(len(g.orgs))]
	src := sources[g.rnd.IntN(len(sources))]
	cmd := customer.Command{RequestID: fmt.Sprintf("req-%d", g.n), Org: org, Source: src.name, AccountID: src.account}
	part := processor.TaskOfOrg(int64(org), g.partitions)
	customerID := func() int64 {
		seq := 1 + g.rnd.IntN(g.registered[org]+1)
		return int64(seq)*int64(g.partitions) + int64(part)
	}
	names := []string{"Tom", "Huck", "Becky", "Polly", "Joe"}
	if g.pointsPct > 0 && g.registered[org] > 0 && !g.registerOnly && g.rnd.IntN(100) < g.pointsPct {
		cmd.Op, cmd.CustomerID, cmd.Source, cmd.AccountID = customer.OpPoints, customerID(), "", ""
		cmd.Balance = g.balance(cmd.CustomerID)
		if g.rnd.IntN(2) == 0 {
			cmd.RequestID = "" // named by its figure (schemas.BalanceRequestID)
		}
		return cmd
	}
	switch x := g.rnd.IntN(100); {
	case x < 70 || g.registered[org] == 0 || g.registerOnly:
		g.registered[org]++
		ids := []customer.Identifier{g.identifier()}
		if g.rnd.IntN(3) == 0 {
			ids = append(ids, g.identifier())
		}
		cmd.Op = customer.OpRegister
		cmd.Register = &customer.CustomerBody{Profiles: []customer.ProfileInput{{
			FirstName: names[g.rnd.IntN(len(names))], LastName: "Sawyer", Identifiers: ids,
		}}}
	case x < 85:
		cmd.Op, cmd.CustomerID = customer.OpUpdate, customerID()
		cmd.Update = &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: names[g.rnd.IntN(len(names))]}},
			ExtendedFields: map[string]string{"city": "Bangalore"}}
	case x < 95:
		cmd.Op, cmd.CustomerID = customer.OpChangeIdentifier, customerID()
		body := &customer.ChangeIdentifierBody{Add: []customer.Identifier{g.identifier()}}
		if g.rnd.IntN(4) == 0 {
			body.Remove = []customer.Identifier{g.identifier()}
		}
		cmd.ChangeIdentifier = body
	default:
		cmd.Op, cmd.CustomerID = customer.OpSubscriptions, customerID()
		typ := []string{"OPTIN", "OPTOUT"}[g.rnd.IntN(2)]
		cmd.Subscriptions = &customer.SubscriptionsBody{Subscriptions: []customer.Subscription{{Channel: "SMS", Priority: "BULK", Type: typ}}}
	}
	return cmd
}

// distinctRequests is how many requestIds cmds carry, once each: the
// results check wants one per id. A balance without one is named by its
// figure, so a repeated figure is a repeated request.
func distinctRequests(cmds []customer.Command) int {
	ids := map[string]bool{}
	for _, c := range cmds {
		id := c.RequestID
		if id == "" && c.Op == customer.OpPoints {
			id = schemas.BalanceRequestID(c.CustomerID, c.Balance.ProgramID, c.Balance.Version)
		}
		ids[strconv.FormatInt(c.Org, 10)+"/"+id] = true
	}
	return len(ids)
}

func (g *gen) batch(n int) []customer.Command {
	out := make([]customer.Command, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

// gauge sums a metric family's gauges whose labels include want.
func (m *member) gauge(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	return m.counter(t, name, want)
}

// counter sums a metric family's counters (or gauges, or histograms'
// sample counts) whose labels include want.
func (m *member) counter(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := m.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, x := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range x.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metric
				}
			}
			sum += x.GetCounter().GetValue() + x.GetGauge().GetValue() + float64(x.GetHistogram().GetSampleCount())
		}
	}
	return sum
}
