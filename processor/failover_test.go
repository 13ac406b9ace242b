package processor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor"
)

// TestStandbyFailover: two members over 12 tasks, a backlog processed, then
// one member (a `custream run` child) dies by SIGKILL while it processes
// more, and the survivor takes its six tasks. Run with --standby-replicas 1
// and 0: with a standby the survivor replays fewer changelog records for
// the moved tasks than without (a comparison, never a time), and every run
// is exactly once. The figures (records replayed, the time from the kill
// until every moved task processes again) are logged for
// docs/benchmarks.md.
func TestStandbyFailover(t *testing.T) {
	skipShort(t)
	var replayed [2]float64
	for _, replicas := range []int{1, 0} {
		t.Run("standby-replicas "+strconv.Itoa(replicas), func(t *testing.T) {
			replayed[replicas] = standbyFailover(t, replicas)
		})
	}
	if t.Failed() {
		return
	}
	t.Logf("changelog records replayed for the moved tasks: %v with a standby, %v without", replayed[1], replayed[0])
	if replayed[1] >= replayed[0] {
		t.Errorf("with a standby the survivor replayed %v changelog records for the moved tasks, without %v: want fewer", replayed[1], replayed[0])
	}
}

// standbyFailover runs one failover and returns the changelog records the
// survivor replayed for the moved tasks.
func standbyFailover(t *testing.T, replicas int) float64 {
	const tasks, backlog, during, after = 12, 4000, 1200, 600
	h := newHarness(t, tasks)
	h.tune = func(c *processor.Config) { c.StandbyReplicas = replicas }
	logPath := filepath.Join(t.TempDir(), "victim.log")
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("victim log (last 4000 bytes):\n%s", tail(b, 4000))
			}
		}
	}()
	// Both members join before any input, so the survivor holds no copy
	// of the victim's tasks but what a standby gives it.
	victim := h.startChild(t, t.TempDir(), logPath, "--instance-id", "b", "--standby-replicas", strconv.Itoa(replicas))
	a := h.startMember(t, "a", filepath.Join(t.TempDir(), "a"))
	defer a.stop(t)
	var mine []int32
	for deadline := time.Now().Add(90 * time.Second); ; {
		gen, _ := a.p.Tasks()
		ready, _ := a.p.Ready()
		if len(gen) == tasks/2 && ready {
			mine = gen
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the survivor holds %v (ready %v) after 90s, want half of %d tasks", gen, ready, tasks)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var moved []int32
	for task := int32(0); task < tasks; task++ {
		if !slices.Contains(mine, task) {
			moved = append(moved, task)
		}
	}

	t.Logf("the survivor holds %v, the victim the rest", mine)
	g := newGen(41, 48, tasks)
	h.produce(t, g.batch(backlog))
	h.readTopic(t, h.topo.Results, backlog, 3*time.Minute)
	t.Logf("the backlog of %d commands is processed", backlog)
	if replicas > 0 {
		a.waitStandbysCaughtUp(t, len(moved), time.Minute)
	}
	restored := func() float64 { return a.restoredRecords(t, moved) }
	restoredBefore := restored()
	var changelog int64
	for _, task := range moved {
		changelog += h.endOffsets(t, h.topo.Changelog)[task]
	}

	// More input while the victim works; it dies in the middle of it,
	// once it has committed some of it for its tasks.
	sum := func(ends map[int32]int64) (n int64) {
		for _, task := range moved {
			n += ends[task]
		}
		return n
	}
	before := sum(h.endOffsets(t, h.topo.Results))
	h.produce(t, g.batch(during))
	for deadline := time.Now().Add(time.Minute); sum(h.endOffsets(t, h.topo.Results)) == before; {
		if time.Now().After(deadline) {
			t.Fatalf("the victim committed nothing of the new input in 1m")
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim.kill(t)
	killed := time.Now()
	t.Logf("SIGKILL to the victim")
	resultEnds := h.endOffsets(t, h.topo.Results)
	inBefore := h.inputEnds(t)
	h.produce(t, g.batch(after))
	inAfter := h.inputEnds(t)
	for _, task := range moved {
		if inAfter[task] == inBefore[task] {
			t.Fatalf("the input after the kill missed moved task %d: pick other orgs", task)
		}
	}

	// Every moved task's first result after the kill, read from the
	// results' ends as they stood then (the victim wrote none since).
	last, rebalanced := h.firstResultsAfter(t, a, killed, moved, resultEnds, tasks, 3*time.Minute, time.Second)
	replayed := restored() - restoredBefore
	t.Logf("standby-replicas %d: moved tasks %v; the survivor replayed %v changelog records for them (their changelogs held %d offsets before the kill); kill → survivor holds every task %s, → every moved task processes again %s (the session timeout is 6s; a transaction the victim left open holds its tasks' restores until its 10s timeout)",
		replicas, moved, replayed, changelog, rebalanced.Round(time.Millisecond), last.Round(time.Millisecond))

	want := backlog + during + after
	h.check(t, h.readTopic(t, h.topo.Results, want, 3*time.Minute), want)
	return replayed
}

// firstResultsAfter reads the moved tasks' results from where they ended
// at the kill (resultEnds; the victim wrote none since) until each has a
// new one. It returns how long after the kill the last of those first
// results came, and when survivor's generation held all tasks (at most a
// poll late). limit bounds the wait.
func (h *harness) firstResultsAfter(t *testing.T, survivor *member, killed time.Time, moved []int32, resultEnds map[int32]int64, tasks int, limit, poll time.Duration) (last, rebalanced time.Duration) {
	t.Helper()
	offsets := map[string]map[int32]kgo.Offset{h.topo.Results: {}}
	for _, task := range moved {
		offsets[h.topo.Results][task] = kgo.NewOffset().At(resultEnds[task])
	}
	rd := h.client(t, kgo.ConsumePartitions(offsets), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	defer rd.Close()
	first := map[int32]time.Duration{}
	for deadline := killed.Add(limit); len(first) < len(moved); {
		if time.Now().After(deadline) {
			t.Fatalf("%s after the kill only %d of the %d moved tasks produced a result", limit, len(first), len(moved))
		}
		ctx, cancel := context.WithTimeout(context.Background(), poll)
		fs := rd.PollFetches(ctx)
		cancel()
		seen := time.Since(killed)
		if gen, _ := survivor.p.Tasks(); rebalanced == 0 && len(gen) == tasks {
			rebalanced = seen
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("reading %s[%d]: %v", topic, p, err)
			}
		})
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if _, ok := first[fp.Partition]; !ok && len(fp.Records) > 0 {
				first[fp.Partition] = seen
			}
		})
	}
	for _, d := range first {
		last = max(last, d)
	}
	return last, rebalanced
}

// waitStandbysCaughtUp waits until the member keeps n standby copies and
// they have caught up with their changelogs (the broker's end, as each
// fetch saw it).
func (m *member) waitStandbysCaughtUp(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; {
		lag := m.gauge(t, "custream_standby_lag", nil)
		if got := m.gauge(t, "custream_standby_tasks", nil); got == float64(n) && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the member's standbys: %v tasks, lag %v after %s", m.gauge(t, "custream_standby_tasks", nil), lag, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restoredRecords sums the changelog records the member's restores
// applied for tasks.
func (m *member) restoredRecords(t *testing.T, tasks []int32) float64 {
	var n float64
	for _, task := range tasks {
		n += m.counter(t, "custream_restore_records_total", map[string]string{"task": strconv.Itoa(int(task))})
	}
	return n
}
