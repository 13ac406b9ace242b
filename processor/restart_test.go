package processor_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestartTimeToFirstResult measures how soon a member SIGKILLed with a
// backlog over all 12 tasks produces results again once restarted: the
// time from the restart to the first new result a downstream reader sees,
// to the moment the last task with a backlog has produced one, and beside
// them the restores (from the restarted member's log). It reports the
// figures with t.Logf and asserts no speed; it does assert that every task
// with a backlog processes again and that no result is lost or duplicated.
// It runs twice: with the state dir kept (a restarted pod), and emptied (a
// pod on a new disk: every task restores its whole changelog).
// docs/benchmarks.md, "Time to first result after a restart".
func TestRestartTimeToFirstResult(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name      string
		wipeState bool
	}{{"state kept", false}, {"state dir emptied", true}} {
		t.Run(tc.name, func(t *testing.T) { restartTimeToFirstResult(t, tc.wipeState) })
	}
}

func restartTimeToFirstResult(t *testing.T, wipeState bool) {
	const tasks, warm, backlog = 12, 24_000, 12_000
	h := newHarness(t, tasks)
	dir := t.TempDir()
	logDir := t.TempDir()
	firstLog, secondLog := filepath.Join(logDir, "first.log"), filepath.Join(logDir, "second.log")
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(secondLog); err == nil {
				t.Logf("restarted custream log (last 6000 bytes):\n%s", tail(b, 6000))
			}
		}
	}()
	// 48 orgs: every one of the 12 tasks gets a share of the backlog.
	g := newGen(23, 48, h.partitions)

	// A member that has state in every task, then dies with SIGKILL.
	h.produce(t, g.batch(warm))
	c := h.startChild(t, dir, firstLog)
	h.readTopic(t, h.topo.Results, warm, 3*time.Minute)
	c.kill(t)
	if wipeState {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}

	// The backlog arrives while it is down.
	before := h.endOffsets(t, h.topo.Results)
	inBefore := h.inputEnds(t)
	h.produce(t, g.batch(backlog))
	inAfter := h.inputEnds(t)
	want := map[int32]bool{}
	for p, n := range inAfter {
		if n > inBefore[p] {
			want[p] = true
		}
	}
	if len(want) != tasks {
		t.Fatalf("the backlog reached %d tasks, want all %d: pick other orgs", len(want), tasks)
	}

	// A reader positioned at the results' ends before the restart, so
	// that everything it sees is new.
	offsets := map[string]map[int32]kgo.Offset{h.topo.Results: {}}
	for p, e := range before {
		offsets[h.topo.Results][p] = kgo.NewOffset().At(e)
	}
	rd := h.client(t, kgo.ConsumePartitions(offsets), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond))

	restart := time.Now()
	c = h.startChild(t, dir, secondLog)
	first := map[int32]time.Duration{}
	var drained time.Duration // when the last of the backlog's results came
	for deadline, n := restart.Add(3*time.Minute), 0; len(first) < len(want) || n < backlog; {
		if time.Now().After(deadline) {
			t.Fatalf("after 3m only %d of %d tasks produced a result again, %d of %d results", len(first), len(want), n, backlog)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := rd.PollFetches(ctx)
		cancel()
		seen := time.Since(restart)
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("reading %s[%d]: %v", topic, p, err)
			}
		})
		if n += fs.NumRecords(); n >= backlog && drained == 0 {
			drained = seen
		}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if _, ok := first[fp.Partition]; !ok && len(fp.Records) > 0 {
				first[fp.Partition] = seen
			}
		})
	}
	var firsts []time.Duration
	for _, d := range first {
		firsts = append(firsts, d)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })

	results := h.readTopic(t, h.topo.Results, warm+backlog, 3*time.Minute)
	h.check(t, results, warm+backlog)
	c.terminate(t)

	rs := restoresIn(t, secondLog)
	t.Logf("restart → first new result %s, → last task's first result %s (median task %s); tasks %d; → all %d backlog results %s",
		firsts[0].Round(time.Millisecond), firsts[len(firsts)-1].Round(time.Millisecond),
		firsts[len(firsts)/2].Round(time.Millisecond), len(first), backlog, drained.Round(time.Millisecond))
	if rs.tasks == 0 {
		t.Logf("restores: none replayed a changelog record (every checkpoint was at its changelog's end)")
		return
	}
	t.Logf("restores: %d tasks replayed changelog records, longest %s, %d records in all; restart → last restore done %s",
		rs.tasks, rs.longest, rs.records, rs.lastDone.Sub(restart).Round(time.Millisecond))
}

// inputEnds sums the end offsets of every input topic, by partition.
func (h *harness) inputEnds(t *testing.T) map[int32]int64 {
	t.Helper()
	out := map[int32]int64{}
	for _, in := range h.topo.Inputs {
		for p, e := range h.endOffsets(t, in.Topic) {
			out[p] += e
		}
	}
	return out
}

// restores is what a member's log says about the restores it ran.
type restores struct {
	tasks    int
	records  int64
	longest  time.Duration
	lastDone time.Time
}

var restoredLine = regexp.MustCompile(`^time=(\S+) .*msg="restored task" .*records=(\d+) offsets=\d+ took=(\S+)`)

// restoresIn reads the "restored task" lines of a custream log.
func restoresIn(t *testing.T, logPath string) restores {
	t.Helper()
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rs restores
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := restoredLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err1 := time.Parse(time.RFC3339Nano, m[1])
		n, err2 := strconv.ParseInt(m[2], 10, 64)
		took, err3 := time.ParseDuration(m[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("parsing %q: %v", sc.Text(), err)
		}
		rs.tasks++
		rs.records += n
		rs.longest = max(rs.longest, took)
		if at.After(rs.lastDone) {
			rs.lastDone = at
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}
