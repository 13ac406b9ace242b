package ingest_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/ingest"
	"github.com/custream/custream/processor/kafkatest"
	"github.com/custream/custream/state"
)

// loadLines is the size of the end-to-end file; CUSTREAM_LOAD_LINES
// overrides it (CUSTREAM_LOAD_LINES=100000 is the full size).
func loadLines(t *testing.T) int {
	if s := os.Getenv("CUSTREAM_LOAD_LINES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CUSTREAM_LOAD_LINES=%q: %v", s, err)
		}
		return n
	}
	// 100,000 lines pass on the real broker in about 60 s of this test's
	// 2-core machine (three loads); 20,000 keep `go test ./...` quick.
	return 20_000
}

// TestLoadEndToEnd loads a generated CSV (with a few broken lines added)
// into a processor running in process, checks the summary and the reject
// report against the domain applied directly in line order, then loads the
// same file again and checks that nothing changes.
func TestLoadEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a broker and a processor")
	}
	const org, partitions = int64(100), int32(4)
	c := kafkatest.Start(t)
	group := kafkatest.Topic(t, "load")
	topo := processor.DefaultTopology(group, group, customer.DefaultSources())
	domain := customer.DefaultConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := processor.EnsureTopics(ctx, c.Admin(t), topo, processor.TopicsConfig{Partitions: partitions}); err != nil {
		t.Fatalf("creating topics: %v", err)
	}
	c.DeleteAfter(t, topo.Names()...)
	startProcessor(t, c, group, topo, domain)

	path := writeFile(t, loadLines(t))
	cfg := ingest.Config{Brokers: c.Brokers, Source: topo.Inputs[0].Source.Name, Topic: topo.Inputs[0].Topic, ResultsTopic: topo.Results, Org: org,
		Path: path, Wait: 2 * time.Minute, Progress: ingest.NewProgress(testLog{t}, false)}

	began := time.Now()
	sum, err := ingest.Load(ctx, cfg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	took := time.Since(began)
	t.Logf("first load: %d records in %s (%.0f records/s, results awaited)", sum.Records, took, float64(sum.Records)/took.Seconds())

	db, err := state.Open("", state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	task := db.Task(processor.TaskOfOrg(int64(org), partitions), partitions)
	want, wantRejects := expected(t, task, path, cfg.Source, org, domain)
	if want.BadLines != 3 || len(want.Rejected) == 0 {
		t.Fatalf("the file should hold 3 bad lines and some rejections: %+v", want)
	}
	checkSummary(t, sum, want)
	gotRejects := readRejects(t, cfg.Path+".rejects.csv")
	if !reflect.DeepEqual(gotRejects, wantRejects) {
		t.Errorf("reject report: %d rows, want %d", len(gotRejects), len(wantRejects))
		for i := 0; i < len(gotRejects) && i < len(wantRejects); i++ {
			if gotRejects[i] != wantRejects[i] {
				t.Errorf("first difference at row %d: got %v, want %v", i, gotRejects[i], wantRejects[i])
				break
			}
		}
	}
	snapshots := endOffsets(ctx, t, c.Admin(t), topo.Snapshots)

	// The same file again: every result is a duplicate with the first
	// outcome, and no customer changes (no new snapshot record).
	again, err := ingest.Load(ctx, cfg)
	if err != nil {
		t.Fatalf("second load: %v", err)
	}
	if again.Duplicates != again.Produced || again.Produced != sum.Produced {
		t.Errorf("second load: %d duplicates of %d sent, want all %d", again.Duplicates, again.Produced, sum.Produced)
	}
	checkSummary(t, again, want)
	if got := readRejects(t, cfg.Path+".rejects.csv"); !reflect.DeepEqual(got, wantRejects) {
		t.Errorf("second load's reject report differs from the first")
	}
	if after := endOffsets(ctx, t, c.Admin(t), topo.Snapshots); !reflect.DeepEqual(after, snapshots) {
		t.Errorf("snapshots end offsets moved from %v to %v: the second load changed customers", snapshots, after)
	}

	// The same file into another source: new request ids, so the people
	// accepted in the first source join them (8050).
	mj := cfg
	mj.Source, mj.Topic, mj.RejectsPath = topo.Inputs[1].Source.Name, topo.Inputs[1].Topic, cfg.Path+".mj.rejects.csv"
	joined, err := ingest.Load(ctx, mj)
	if err != nil {
		t.Fatalf("load into %s: %v", mj.Source, err)
	}
	wantMJ, wantMJRejects := expected(t, task, path, mj.Source, org, domain)
	checkSummary(t, joined, wantMJ)
	if joined.Duplicates != 0 || joined.Joined == 0 {
		t.Errorf("load into %s: %d duplicates, %d joins; want none and some", mj.Source, joined.Duplicates, joined.Joined)
	}
	if got := readRejects(t, mj.RejectsPath); !reflect.DeepEqual(got, wantMJRejects) {
		t.Errorf("%s reject report: %d rows, want %d", mj.Source, len(got), len(wantMJRejects))
	}
}

func checkSummary(t *testing.T, got, want ingest.Summary) {
	t.Helper()
	if got.Records != want.Records || got.Produced != want.Produced || got.BadLines != want.BadLines ||
		got.Accepted != want.Accepted || got.Joined != want.Joined || got.Merged != want.Merged ||
		got.Missing != 0 || !reflect.DeepEqual(got.Rejected, want.Rejected) {
		t.Errorf("summary\n got %+v\nwant %+v", got, want)
	}
}

// writeFile writes a generated CSV of n data lines, the last three of them
// broken in three ways.
func writeFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "customers.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ingest.Generate(f, ingest.GenConfig{Count: n - 3, Seed: 42, Org: 100, Format: ingest.CSV, InvalidPct: 3, DuplicatePct: 10}); err != nil {
		t.Fatal(err)
	}
	bad := "Tom,Sawyer\n" + // too few cells
		"Huck,Finn,919111111111,huck@example.com,919111111111,maybe,loyalty,Green,Male\n" + // verified is not a bool
		"Becky,\"Thatcher,919111111112,becky@example.com,919111111112,true,loyalty,Red,\n" // quote never closed
	if _, err := f.WriteString(bad); err != nil {
		t.Fatal(err)
	}
	return path
}

type rejectRow struct {
	line int
	code string
}

// expected applies the file's commands to a fresh in-memory state in line
// order (one org, one source: the processor's order) and returns the
// summary and reject rows that gives.
func expected(t *testing.T, task *state.Task, path, source string, org int64, domain customer.Config) (ingest.Summary, []rejectRow) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sum ingest.Summary
	var rejects []rejectRow
	now := time.Now()
	err = ingest.Parse(f, ingest.CSV, func(row ingest.Row) error {
		sum.Records++
		if row.Err != nil {
			sum.BadLines++
			rejects = append(rejects, rejectRow{row.Line, ingest.CodeBadLine})
			return nil
		}
		sum.Produced++
		cmd := row.Cmd
		cmd.Org, cmd.Source, cmd.RequestID, cmd.Time = org, source, fmt.Sprint(source, "-", row.Line), now
		b := task.NewBatch()
		out, err := customer.Apply(domain, b, cmd)
		if err != nil {
			return err
		}
		if err := task.Apply(b, -1); err != nil {
			return err
		}
		r := out.Result
		if len(r.Errors) > 0 {
			if sum.Rejected == nil {
				sum.Rejected = map[customer.Code]int{}
			}
			sum.Rejected[r.Errors[0].Code]++
			for _, e := range r.Errors {
				rejects = append(rejects, rejectRow{row.Line, strconv.Itoa(int(e.Code))})
			}
			return nil
		}
		sum.Accepted++
		for _, w := range r.Warnings {
			switch w.Code {
			case customer.CodeJoined:
				sum.Joined++
			case customer.CodeMerged:
				sum.Merged++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("direct application: %v", err)
	}
	return sum, rejects
}

func readRejects(t *testing.T, path string) []rejectRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("reject report %s: %v", path, err)
	}
	var out []rejectRow
	for _, r := range recs[1:] {
		line, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("reject report line %q: %v", r[0], err)
		}
		out = append(out, rejectRow{line, r[2]})
	}
	return out
}

func endOffsets(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// startProcessor runs one in-process member (as processor/harness_test.go
// does) until the test ends.
func startProcessor(t *testing.T, c *kafkatest.Cluster, group string, topo processor.Topology, domain customer.Config) {
	t.Helper()
	db, err := state.Open(t.TempDir(), state.Options{CacheBytes: 64 << 20})
	if err != nil {
		t.Fatalf("opening state: %v", err)
	}
	cfg := processor.Config{
		Metrics:            processor.NewMetrics(prometheus.NewRegistry()),
		Brokers:            c.Brokers,
		Group:              group,
		InstanceID:         "m1",
		Topology:           topo,
		Domain:             domain,
		TransactionTimeout: 20 * time.Second,
		SessionTimeout:     6 * time.Second,
		Logger:             slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := processor.New(ctx, cfg, db)
	if err != nil {
		cancel()
		db.Close()
		t.Fatalf("starting processor: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("processor stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("processor did not stop within 60s")
		}
		db.Close()
	})
}

type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Logf("%s", b)
	return len(b), nil
}
