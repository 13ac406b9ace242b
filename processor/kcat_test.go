package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor"
)

// TestKcatOnTheEmbeddedDefault does what the README tells a newcomer:
// `custream run` with no broker flags (the embedded broker on
// 127.0.0.1:9092), then kcat with its default partitioner (librdkafka's
// CRC32, which sends org 7 to another partition than murmur2 does). The
// register gets its result: forwarded to its task, not dead-lettered.
// kcat is a client nobody here wrote; .ci/run installs it and sets
// CUSTREAM_REQUIRE_KCAT, so there the test cannot skip.
func TestKcatOnTheEmbeddedDefault(t *testing.T) {
	skipShort(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CUSTREAM_REQUIRE_KCAT") != "" {
			t.Fatal("kcat is not installed (apt-get install kcat)")
		}
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
	const partitions, org = 4, 7
	if p := int32(crc32.ChecksumIEEE([]byte("7")) % partitions); p == processor.TaskOfOrg(org, partitions) {
		t.Fatalf("org %d: CRC32 and murmur2 agree on partition %d; pick another org", org, p)
	}
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "custream.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("custream log:\n%s", tail(b, 6000))
		}
	}()
	cmd := exec.Command(custreamBinary(t), "run", "--state-dir", dir, "--http-addr", "127.0.0.1:0", "--metrics-addr", "", "--output-format", "json")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	kc := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		k := exec.CommandContext(ctx, kcat, append([]string{"-b", "127.0.0.1:9092"}, args...)...)
		k.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		k.Stdout, k.Stderr = &out, &errb
		err := k.Run()
		if err != nil {
			return out.String(), &kcatError{err, errb.String()}
		}
		return out.String(), nil
	}
	// The embedded broker answers once custream has created its topics.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := kc("", "-L", "-t", "customers.results")
		if err == nil && strings.Contains(out, "4 partitions") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the embedded broker has no customers.results after 60s: %v %s", err, out)
		}
	}
	body := `{"profiles":[{"firstName":"Tom","lastName":"Sawyer","identifiers":[{"type":"mobile","value":919111111111}]}]}`
	if _, err := kc(body+"\n", "-P", "-t", "customers.instore", "-k", "7", "-H", "op=register", "-H", "requestId=kcat-1"); err != nil {
		t.Fatalf("kcat -P: %v", err)
	}
	// resultOf waits for requestId's committed result, read with kcat.
	resultOf := func(requestID string) map[string]any {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			out, err := kc("", "-C", "-t", "customers.results", "-o", "beginning", "-e", "-q", "-X", "isolation.level=read_committed")
			if err != nil {
				t.Fatalf("kcat -C: %v", err)
			}
			for _, line := range strings.Split(out, "\n") {
				var r map[string]any
				if json.Unmarshal([]byte(line), &r) == nil && r["requestId"] == requestID {
					return r
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no result for %s after 60s", requestID)
			}
		}
	}
	result := resultOf("kcat-1")
	if result["success"] != true || result["createdId"] == nil {
		t.Fatalf("result %v, want a registration", result)
	}
	// The loyalty engine's balance for the new customer, from kcat too.
	balance := fmt.Sprintf(`{"requestId":"kcat-points-1","customerId":%v,"programId":1,"version":1,"loyaltyPoints":350,"currentSlab":"Gold","slabSNo":2}`, result["createdId"])
	if _, err := kc(balance+"\n", "-P", "-t", "customers.points", "-k", "7"); err != nil {
		t.Fatalf("kcat -P balance: %v", err)
	}
	if r := resultOf("kcat-points-1"); r["success"] != true || r["op"] != "points" || r["createdId"] != result["createdId"] {
		t.Fatalf("balance result %v, want a success for customer %v", r, result["createdId"])
	}
	dlq, err := kc("", "-C", "-t", "customers.dlq", "-o", "beginning", "-e", "-q")
	if err != nil || strings.TrimSpace(dlq) != "" {
		t.Fatalf("the DLQ holds %q (%v), want nothing", dlq, err)
	}
	t.Logf("kcat's register got %v", result)
	c.terminate(t)
}

type kcatError struct {
	err    error
	stderr string
}

func (e *kcatError) Error() string { return e.err.Error() + ": " + e.stderr }
