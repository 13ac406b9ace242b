package kafkatest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionsOnBroker proves the harness against whatever broker it
// chose: topics are created with kadm (one compacted), records are produced
// in committed and aborted transactions, and a read_committed consumer sees
// every committed record and no aborted one, while a read_uncommitted
// consumer shows the aborted records really reached the log.
func TestTransactionsOnBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := Start(t)
	adm := c.Admin(t)

	if v, err := adm.ApiVersions(ctx); err == nil {
		for _, bv := range v.Sorted() {
			t.Logf("broker %d speaks %s", bv.NodeID, bv.VersionGuess())
		}
	}

	data, compacted := Topic(t, "harness.data"), Topic(t, "harness.changelog")
	createTopic(ctx, t, adm, data, 3, nil)
	policy := "compact"
	createTopic(ctx, t, adm, compacted, 3, map[string]*string{"cleanup.policy": &policy})

	// A new topic's configs reach every broker asynchronously (KRaft
	// metadata propagation), so ask until they show, bounded.
	policy = ""
	for try := 0; try < 50 && policy != "compact"; try++ {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		cfgs, err := adm.DescribeTopicConfigs(ctx, compacted)
		if err != nil {
			continue
		}
		if got, err := cfgs.On(compacted, nil); err == nil && got.Err == nil {
			policy = configValue(got.Configs, "cleanup.policy")
		}
	}
	if policy != "compact" {
		t.Fatalf("cleanup.policy of %s = %q, want compact", compacted, policy)
	}

	producer := c.Client(t,
		kgo.TransactionalID(Topic(t, "harness.txn")),
		kgo.DefaultProduceTopic(data),
		kgo.TransactionTimeout(30*time.Second),
	)
	committed := 0
	for txn, commit := range []bool{true, false, true, false, true} {
		if err := producer.BeginTransaction(); err != nil {
			t.Fatalf("begin txn %d: %v", txn, err)
		}
		kind := map[bool]string{true: "commit", false: "abort"}[commit]
		for i := range 20 {
			r := &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d-%d", kind, txn, i))}
			if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce in txn %d: %v", txn, err)
			}
			// The same record to the compacted topic, as a changelog would.
			r2 := &kgo.Record{Topic: compacted, Key: r.Key, Value: r.Value}
			if err := producer.ProduceSync(ctx, r2).FirstErr(); err != nil {
				t.Fatalf("produce changelog in txn %d: %v", txn, err)
			}
		}
		if err := producer.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end txn %d (commit=%v): %v", txn, commit, err)
		}
		if commit {
			committed += 20
		}
	}

	got := consumeAll(ctx, t, c, data, kgo.ReadCommitted(), committed)
	for _, v := range got {
		if strings.HasPrefix(v, "abort") {
			t.Fatalf("read_committed consumer saw aborted record %q", v)
		}
	}
	if len(got) != committed {
		t.Fatalf("read_committed consumer saw %d records, want %d", len(got), committed)
	}

	all := consumeAll(ctx, t, c, data, kgo.ReadUncommitted(), 100)
	aborted := 0
	for _, v := range all {
		if strings.HasPrefix(v, "abort") {
			aborted++
		}
	}
	if aborted != 40 {
		t.Fatalf("read_uncommitted consumer saw %d aborted records, want 40 (of %d)", aborted, len(all))
	}
}

func createTopic(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, topic)
	})
}

func configValue(cs []kadm.Config, name string) string {
	for _, c := range cs {
		if c.Key == name && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// consumeAll reads topic from the start until want records arrived or a
// quiet period shows nothing more is coming; bounded by ctx.
func consumeAll(ctx context.Context, t *testing.T, c *Cluster, topic string, iso kgo.IsolationLevel, want int) []string {
	t.Helper()
	cl := c.Client(t,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso),
	)
	var out []string
	quiet := 0
	for len(out) < want && quiet < 3 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: %v (got %d of %d)", topic, ctx.Err(), len(out), want)
		}
		n := 0
		fs.EachError(func(_ string, _ int32, err error) {
			if err != context.DeadlineExceeded {
				t.Fatalf("fetch %s: %v", topic, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)); n++ })
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return out
}
