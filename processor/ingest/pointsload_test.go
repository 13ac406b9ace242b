package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/ingest"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/schemas"
)

// TestLoadPointsEndToEnd registers customers with a load, then loads a
// balance file into a processor running in process: good balances, one
// for a customer that does not exist (8009), one for a non-loyalty
// customer (8089), one older than the customer's stored figure (8908), a
// malformed row and a repeated figure (bad lines). It checks the summary
// and the reject report, that the snapshots carry exactly the good
// balances, and that loading the file again changes nothing.
func TestLoadPointsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a broker and a processor")
	}
	const org, partitions = int64(100), int32(4)
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "loadpoints")
	topo := processor.DefaultTopology(group, group, customer.DefaultSources())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := processor.EnsureTopics(ctx, c.Admin(t), topo, processor.TopicsConfig{Partitions: partitions}); err != nil {
		t.Fatalf("creating topics: %v", err)
	}
	c.DeleteAfter(t, topo.Names()...)
	startProcessor(t, c, group, topo, customer.DefaultConfig())

	// The customers: loadLines/5 loyalty ones, one balance per program
	// each, and one non-loyalty customer last.
	const programs = 5
	loyal := max(loadLines(t)/programs, 10)
	dir := t.TempDir()
	custPath := filepath.Join(dir, "customers.csv")
	var cf strings.Builder
	cf.WriteString("firstName,mobile,loyaltyType\n")
	for i := range loyal {
		fmt.Fprintf(&cf, "P%d,91800%07d,loyalty\n", i, i)
	}
	fmt.Fprintf(&cf, "N,91899%07d,non_loyalty\n", 1)
	if err := os.WriteFile(custPath, []byte(cf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := ingest.Config{Brokers: c.Brokers, Source: topo.Inputs[0].Source.Name, Topic: topo.Inputs[0].Topic, ResultsTopic: topo.Results,
		Org: org, Path: custPath, Wait: 2 * time.Minute}
	rsum, err := ingest.Load(ctx, reg)
	if err != nil {
		t.Fatalf("loading customers: %v", err)
	}
	if rsum.Accepted != loyal+1 {
		t.Fatalf("customers: %+v, want all %d accepted", rsum, loyal+1)
	}
	ids := createdIDs(ctx, t, c, topo.Results, rsum.Prefix, loyal+1) // by line: line 2 is customer 0
	nonLoyal := ids[loyal+2]

	// The balances, in JSONL; lines are counted from 1.
	type figure struct {
		customer, program, version int64
		points                     float64
	}
	var lines []string
	var good []figure
	add := func(s string) int { lines = append(lines, s); return len(lines) }
	line := func(org, cid, program, version int64, points float64) string {
		return fmt.Sprintf(`{"org":%d,"customerId":%d,"programId":%d,"version":%d,"loyaltyPoints":%g,"currentSlab":"Gold","slabSNo":2}`,
			org, cid, program, version, points)
	}
	for i := range loyal {
		for p := int64(1); p <= programs; p++ {
			f := figure{ids[i+2], p, 1000 + p, float64(i*10) + float64(p) + 0.5}
			add(line(org, f.customer, f.program, f.version, f.points))
			good = append(good, f)
		}
	}
	unknown := add(line(org, 987654321987, 1, 1, 5))
	notLoyal := add(line(org, nonLoyal, 1, 1, 5))
	stale := add(line(org, ids[2], 1, 999, 7)) // customer 0 has version 1001 in program 1
	malformed := add(`{"org":100,"customerId":` + strconv.FormatInt(ids[3], 10) + `,"programId":1,"version":2000,"loyaltyPoints":"lots"}`)
	repeated := add(line(org, ids[4], 2, 1002, 99)) // the figure of customer 2, program 2, again
	path := filepath.Join(dir, "balances.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := ingest.Config{Brokers: c.Brokers, Points: true, Topic: topo.PointsTopic(), ResultsTopic: topo.Results,
		Path: path, Wait: 2 * time.Minute, Progress: ingest.NewProgress(testLog{t}, false)}
	began := time.Now()
	sum, err := ingest.Load(ctx, cfg)
	if err != nil {
		t.Fatalf("load --points: %v", err)
	}
	took := time.Since(began)
	t.Logf("balances: %d records in %s (%.0f records/s, results awaited)", sum.Records, took, float64(sum.Records)/took.Seconds())
	var out strings.Builder
	sum.Write(&out)
	t.Logf("summary:\n%s", out.String())

	want := ingest.Summary{Records: len(lines), Produced: len(lines) - 2, BadLines: 2, Accepted: len(good),
		Rejected: map[customer.Code]int{customer.CodeNoSuchCustomer: 1, customer.CodeNotInLoyaltyProgram: 1, customer.CodeStaleBalance: 1}}
	checkPointsSummary(t, sum, want, 0)
	if report, err := os.ReadFile(path + ".rejects.csv"); err == nil {
		t.Logf("reject report:\n%s", report)
	}
	wantRejects := []rejectRow{{unknown, "8009"}, {notLoyal, "8089"}, {stale, "8908"}, {malformed, ingest.CodeBadLine}, {repeated, ingest.CodeBadLine}}
	if got := readRejects(t, path+".rejects.csv"); !reflect.DeepEqual(got, wantRejects) {
		t.Errorf("reject report: %v, want %v", got, wantRejects)
	}

	// Applied: each loyalty customer's snapshot has its five balances,
	// with the file's figures.
	programsOf := func(doc map[string]any) []any {
		details, _ := doc["loyaltyProgramDetails"].([]any)
		return details
	}
	snaps := snapshots(ctx, t, c, topo.Snapshots, func(snaps map[int64]map[string]any) bool {
		for i := range loyal {
			if len(programsOf(snaps[ids[i+2]])) < programs {
				return false
			}
		}
		return true
	})
	for _, f := range good {
		details := programsOf(snaps[f.customer])
		var found bool
		for _, d := range details {
			m, _ := d.(map[string]any)
			if m["programId"] == f.program {
				found = true
				if m["loyaltyPoints"] != f.points || m["currentSlab"] != "Gold" || m["slabSNo"] != int64(2) {
					t.Errorf("customer %d, program %d: %v, want %g points, slab Gold 2", f.customer, f.program, m, f.points)
				}
			}
		}
		if !found || len(details) != programs {
			t.Fatalf("customer %d: loyaltyProgramDetails %v, want %d programs with program %d among them", f.customer, details, programs, f.program)
		}
	}
	if _, ok := snaps[nonLoyal]["loyaltyProgramDetails"]; ok {
		t.Errorf("the non-loyalty customer has balances: %v", snaps[nonLoyal])
	}
	ends := endOffsets(ctx, t, c.Admin(t), topo.Snapshots)

	// The same file again: every result is a duplicate with the first
	// outcome, and no customer changes.
	again, err := ingest.Load(ctx, cfg)
	if err != nil {
		t.Fatalf("second load --points: %v", err)
	}
	checkPointsSummary(t, again, want, want.Produced)
	if got := readRejects(t, path+".rejects.csv"); !reflect.DeepEqual(got, wantRejects) {
		t.Errorf("second load's reject report: %v, want %v", got, wantRejects)
	}
	if after := endOffsets(ctx, t, c.Admin(t), topo.Snapshots); !reflect.DeepEqual(after, ends) {
		t.Errorf("snapshots end offsets moved from %v to %v: the second load changed customers", ends, after)
	}
}

func checkPointsSummary(t *testing.T, got, want ingest.Summary, duplicates int) {
	t.Helper()
	if !got.Points || got.Records != want.Records || got.Produced != want.Produced || got.BadLines != want.BadLines ||
		got.Accepted != want.Accepted || got.Redirected != 0 || got.Missing != 0 || got.Duplicates != duplicates ||
		!reflect.DeepEqual(got.Rejected, want.Rejected) {
		t.Errorf("summary\n got %+v\nwant %+v with %d duplicates", got, want, duplicates)
	}
}

// createdIDs reads the results of a load with request id prefix from the
// start of the results topic and returns each line's createdId.
func createdIDs(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topic, prefix string, n int) map[int]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ids := map[int]int64{}
	deadline := time.Now().Add(time.Minute)
	for len(ids) < n && time.Now().Before(deadline) {
		fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		fs.EachRecord(func(r *kgo.Record) {
			rr, err := schemas.DecodeResult(r.Value)
			if err != nil {
				t.Fatalf("result at %d: %v", r.Offset, err)
			}
			if rest, ok := strings.CutPrefix(rr.RequestID, prefix); ok && rr.Success {
				line, _ := strconv.Atoi(rest)
				ids[line] = rr.CreatedID
			}
		})
	}
	if len(ids) != n {
		t.Fatalf("%d customers' results, want %d", len(ids), n)
	}
	return ids
}

// snapshots reads the snapshots topic from its start, keeping each
// customer's last snapshot, until done says they are all there (the
// results came first, and a result commits with its snapshot, so they
// are) or a minute has passed.
func snapshots(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topic string, done func(map[int64]map[string]any) bool) map[int64]map[string]any {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[int64]map[string]any{}
	deadline := time.Now().Add(time.Minute)
	for !done(out) && time.Now().Before(deadline) {
		fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		fs.EachRecord(func(r *kgo.Record) {
			doc, err := schemas.DecodeSnapshot(r.Value)
			if err != nil {
				t.Fatalf("snapshot at %d[%d]: %v", r.Partition, r.Offset, err)
			}
			id, _ := doc["id"].(int64)
			out[id] = doc
		})
	}
	return out
}
