package processor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// custreamBinary builds cmd/custream once per test binary.
func custreamBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "custream-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "custream")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/custream/custream/cmd/custream").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// child is `custream run` as a separate process.
type child struct {
	cmd  *exec.Cmd
	done chan error
}

// startChild starts `custream run` on the harness's topics with its state
// in dir and its output appended to logPath. args come after the defaults
// and so override them (a later flag wins), e.g. "--instance-id", "b".
func (h *harness) startChild(t *testing.T, dir, logPath string, args ...string) *child {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(custreamBinary(t), append([]string{"run",
		"--brokers", strings.Join(h.c.Brokers, ","),
		"--group", h.group, "--topic-prefix", h.group,
		"--state-dir", dir, "--instance-id", "crash",
		"--batch-records", "500", "--transaction-timeout", "10s", "--session-timeout", "6s",
		"--cache-mb", "32", "--http-addr", "127.0.0.1:0", "--metrics-addr", ""}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child must not inherit a CUSTREAM_* setting of the developer.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatal("killed child did not exit")
	}
}

// terminate sends SIGTERM and expects a clean exit 0.
func (c *child) terminate(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("custream exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("custream did not exit within 60s of SIGTERM")
	}
}

// TestCrashExactlyOnce kills the custream binary with SIGKILL at random
// moments while it processes 50,000 commands, half of them produced
// round-robin (so most of those arrive on a partition not their org's and
// are forwarded through the repartition topic), restarts it each time
// (once with its state dir deleted), and checks that no result, merge or
// state change was lost or duplicated, forwarded commands included.
func TestCrashExactlyOnce(t *testing.T) {
	skipShort(t)
	const total, kills = 50_000, 6
	h := newHarness(t, 4)
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "custream.log")
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("custream log (last 6000 bytes):\n%s", tail(b, 6000))
			}
		}
	}()
	g := newGen(7, 24, h.partitions)
	g.pointsPct = 30 // a stream of balances among the commands
	cmds := g.batch(total)

	c := h.startChild(t, dir, logPath)
	roundRobin := h.client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < total; i += 1000 {
			batch := cmds[i:min(i+1000, total)]
			if (i/1000)%2 == 0 {
				h.produce(t, batch)
			} else {
				recs := make([]*kgo.Record, len(batch))
				for j, cmd := range batch {
					recs[j] = h.record(t, cmd)
				}
				if err := roundRobin.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
					t.Errorf("producing round-robin: %v", err)
					return
				}
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()

	rnd := rand.New(rand.NewPCG(11, 13))
	committed := func() (n int64) {
		for _, e := range h.endOffsets(t, h.topo.Results) {
			n += e // counts transaction markers too: a rough figure
		}
		return n
	}
	for k := 1; k <= kills; k++ {
		// Kill only a process that is processing: wait until the restarted
		// one commits something, then a random moment more.
		before := committed()
		for deadline := time.Now().Add(90 * time.Second); committed() == before; {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: custream committed nothing for 90s", k)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(rnd.IntN(1500)) * time.Millisecond)
		c.kill(t)
		if k == 3 {
			// One restart from nothing: the whole state comes back from
			// the changelog.
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}
		progress := committed()
		t.Logf("kill %d: SIGKILL with ~%d result offsets committed, restart%s", k, progress, map[bool]string{true: " with an empty state dir", false: ""}[k == 3])
		c = h.startChild(t, dir, logPath)
	}
	<-produced

	results := h.readTopic(t, h.topo.Results, total, 5*time.Minute)
	direct := h.check(t, results, distinctRequests(cmds))

	merged := 0
	for _, r := range results {
		rr, _ := schemas.DecodeResult(r.Value)
		for _, w := range rr.Warnings {
			if w.Code == customer.CodeMerged {
				merged++
			}
		}
	}
	merges := h.readTopic(t, h.topo.Merges, -1, time.Minute)
	if len(merges) != merged {
		t.Errorf("%d merge notices committed, want %d (one per 8051)", len(merges), merged)
	}
	checkSnapshots(t, h, direct)
	c.terminate(t)
	balances := 0
	for _, c := range cmds {
		if c.Op == customer.OpPoints {
			balances++
		}
	}
	t.Logf("kills %d, commands %d (balances %d), results %d (one per requestId), merges %d, lost 0, duplicated 0", kills, total, balances, len(results), len(merges))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
