package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scriptPath is where kafka-local.sh sits below the module root.
const scriptPath = "deploy/kafka-local/kafka-local.sh"

// Defaults of the BrokerOpt options.
const (
	// DefaultBrokerHeap is the JVM heap of an own broker: enough for a
	// single-node test broker, small beside the shared one on 2 cores.
	DefaultBrokerHeap = "-Xmx512m -Xms128m"
	// DefaultBrokerStartTimeout bounds each start and restart.
	DefaultBrokerStartTimeout = 120 * time.Second
)

// brokerConfig is what the BrokerOpt options set.
type brokerConfig struct {
	props        []string
	heap         string
	startTimeout time.Duration
}

// BrokerOpt configures OwnBroker.
type BrokerOpt func(*brokerConfig)

// BrokerProps adds broker properties, each "key=value", to the broker's
// server.properties, where they override kafka-local.sh's defaults (see
// deploy/kafka-local/README.md), for example "log.segment.bytes=65536",
// "log.cleaner.backoff.ms=200", "log.cleaner.min.cleanable.ratio=0.01" or
// "message.max.bytes=2097152". Default: none. The listener, node id and
// log.dirs keys belong to the script and are refused. The properties stay
// with the broker across Kill and Restart.
//
// Restart after Kill waits until the controller gives up the killed
// broker's registration, broker.session.timeout.ms (Kafka's 9 s) after its
// last heartbeat; "broker.session.timeout.ms=3000" with
// "broker.heartbeat.interval.ms=500" makes that about 3 s, at the cost of a
// broker that a busy machine may fence for a moment.
func BrokerProps(kv ...string) BrokerOpt {
	return func(c *brokerConfig) { c.props = append(c.props, kv...) }
}

// BrokerHeap sets the JVM heap options of the broker. Default
// DefaultBrokerHeap; raise it for tests that hold many large records.
func BrokerHeap(opts string) BrokerOpt {
	return func(c *brokerConfig) { c.heap = opts }
}

// BrokerStartTimeout bounds each start and restart, the jar resolution of
// a first start included. Default DefaultBrokerStartTimeout.
func BrokerStartTimeout(d time.Duration) BrokerOpt {
	return func(c *brokerConfig) { c.startTimeout = d }
}

// brokerState is where a Broker is in its life.
type brokerState int

const (
	brokerRunning brokerState = iota
	brokerPaused
	brokerKilled
	brokerStopped
)

// Broker is a real Apache Kafka broker of one test's own, for faults that
// must not touch the shared broker: Pause, Kill and Restart. It embeds a
// Cluster (Backend Real, Brokers its one address), so Client and Admin work
// as they do for Start. Its methods are safe for concurrent use, but they
// fail the test with t.Fatal, so call them from the test's goroutine.
type Broker struct {
	Cluster
	// Dir is the broker's run dir (server.log, java.out, server.properties,
	// data/), removed when the test ends.
	Dir string

	script string
	env    []string
	cfg    brokerConfig

	mu    sync.Mutex
	state brokerState
	pid   int
}

// OwnBroker starts an Apache Kafka broker for t alone with
// deploy/kafka-local/kafka-local.sh (one KRaft node on 127.0.0.1, its own
// run dir under t.TempDir, free ports) and returns once the broker answers
// a metadata request. When t ends, the broker is resumed if paused, stopped
// and its data removed; should the test binary die first, the script kills
// the broker itself (CUSTREAM_KAFKA_OWNER_PID).
//
// The test is skipped under -short, and when java (or mvn, while the jars
// are not resolved yet) is missing. A start costs 5–10 s on a 2-core
// machine (the first one in a new worktree more: Maven copies the jars).
func OwnBroker(t testing.TB, opts ...BrokerOpt) *Broker {
	t.Helper()
	if testing.Short() {
		t.Skip("kafkatest: an own Kafka broker takes seconds to start; skipped in -short mode")
	}
	cfg := brokerConfig{heap: DefaultBrokerHeap, startTimeout: DefaultBrokerStartTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("kafkatest: finding %s: %v", scriptPath, err)
	}
	script := filepath.Join(root, scriptPath)
	if reason := missingTools(filepath.Dir(script)); reason != "" {
		t.Skipf("kafkatest: no own Kafka broker: %s (CI installs them, see .ci/run)", reason)
	}

	b := &Broker{
		Cluster: Cluster{Backend: Real},
		Dir:     t.TempDir(),
		script:  script,
		cfg:     cfg,
		state:   brokerStopped,
	}
	b.env = scriptEnv(os.Environ(), b.Dir, cfg)
	// Before the start, so that a start that fails half-way leaves nothing.
	t.Cleanup(func() { b.cleanup(t) })

	t0 := time.Now()
	addr := b.run(t, cfg.startTimeout+30*time.Second, "start")
	b.mu.Lock()
	b.Brokers = []string{addr}
	b.state = brokerRunning
	b.mu.Unlock()
	b.readPid(t)
	b.waitAnswering(t)
	t.Logf("kafkatest: own broker at %s (pid %d, dir %s) ready in %s", addr, b.Pid(), b.Dir, time.Since(t0).Round(100*time.Millisecond))
	return b
}

// Pid is the broker's process id, 0 while it is killed or stopped.
func (b *Broker) Pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pid
}

// Pause stops the broker's JVM with SIGSTOP: connections stay open and new
// ones are accepted by the kernel, but nothing is answered until Resume.
// A paused broker is resumed before it is stopped when the test ends.
func (b *Broker) Pause(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	if st != brokerRunning {
		t.Fatalf("kafkatest: Pause of a broker that is not running (%s)", st)
	}
	b.run(t, 30*time.Second, "pause")
	b.setState(brokerPaused, -1)
}

// Resume continues a paused broker with SIGCONT. It does not wait for the
// broker to answer: after a pause longer than broker.session.timeout.ms
// (9 s) the broker fences itself for a moment, which is part of what a
// fault test is about.
func (b *Broker) Resume(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	if st != brokerPaused {
		t.Fatalf("kafkatest: Resume of a broker that is not paused (%s)", st)
	}
	b.run(t, 30*time.Second, "resume")
	b.setState(brokerRunning, -1)
}

// Kill ends the broker with SIGKILL (also when paused), as a crash would;
// its data and address are kept for Restart.
func (b *Broker) Kill(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	if st != brokerRunning && st != brokerPaused {
		t.Fatalf("kafkatest: Kill of a broker that is not running (%s)", st)
	}
	b.run(t, 30*time.Second, "kill")
	b.setState(brokerKilled, 0)
}

// Restart starts the broker again on the same address with the same data
// and returns once it answers a metadata request. After Kill it is a
// restart after a crash: Kafka recovers the unflushed log tail, and the
// broker registers only once the killed one's session has timed out (see
// BrokerProps). On a running broker it is a graceful restart (SIGTERM,
// controlled shutdown).
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	st, want := b.state, b.Brokers[0]
	b.mu.Unlock()
	if st == brokerStopped {
		t.Fatal("kafkatest: Restart of a stopped broker")
	}
	if st == brokerPaused {
		t.Fatal("kafkatest: Restart of a paused broker; Resume or Kill it first")
	}
	t0 := time.Now()
	addr := b.run(t, b.cfg.startTimeout+30*time.Second, "restart")
	if addr != want {
		t.Fatalf("kafkatest: restarted broker at %s, want its old address %s", addr, want)
	}
	b.setState(brokerRunning, -1)
	b.readPid(t)
	b.waitAnswering(t)
	t.Logf("kafkatest: own broker restarted at %s (pid %d) in %s", addr, b.Pid(), time.Since(t0).Round(100*time.Millisecond))
}

func (st brokerState) String() string {
	switch st {
	case brokerRunning:
		return "running"
	case brokerPaused:
		return "paused"
	case brokerKilled:
		return "killed"
	default:
		return "stopped"
	}
}

// setState records the state, and the pid unless pid is negative.
func (b *Broker) setState(st brokerState, pid int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = st
	if pid >= 0 {
		b.pid = pid
	}
}

func (b *Broker) readPid(t testing.TB) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(b.Dir, "pid"))
	if err != nil {
		t.Fatalf("kafkatest: reading the broker's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		t.Fatalf("kafkatest: pid file of %s holds %q", b.Dir, raw)
	}
	b.mu.Lock()
	b.pid = pid
	b.mu.Unlock()
}

// run runs kafka-local.sh with the broker's environment, bounded by
// timeout, and returns its stdout trimmed; on failure it fails t with the
// script's own messages.
func (b *Broker) run(t testing.TB, timeout time.Duration, command string) string {
	t.Helper()
	out, err := b.runScript(timeout, command)
	if err != nil {
		t.Fatalf("kafkatest: kafka-local.sh %s (dir %s): %v", command, b.Dir, err)
	}
	return out
}

func (b *Broker) runScript(timeout time.Duration, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.script, command)
	cmd.Env = b.env
	// SIGTERM first: the script then stops a broker it is starting.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// waitAnswering returns once the broker answers a metadata request that
// names it at its address; it fails t after 60 s.
func (b *Broker) waitAnswering(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := answering(ctx, b.Brokers[0]); err != nil {
		t.Fatalf("kafkatest: broker at %s does not answer: %v", b.Brokers[0], err)
	}
}

// answering asks addr for metadata until it answers with itself as a
// broker, or ctx ends.
func answering(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
		cancel()
		if err == nil {
			for _, br := range resp.Brokers {
				if fmt.Sprintf("%s:%d", br.Host, br.Port) == addr {
					return nil
				}
			}
			err = fmt.Errorf("metadata lists no broker at %s", addr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cleanup resumes a paused broker (a stopped JVM would act on SIGTERM only
// once continued), stops it and checks that its process is gone.
func (b *Broker) cleanup(t testing.TB) {
	b.mu.Lock()
	st, pid := b.state, b.pid
	b.state, b.pid = brokerStopped, 0
	b.mu.Unlock()

	if t.Failed() {
		b.logTail(t, 40)
	}
	if st == brokerPaused {
		if _, err := b.runScript(30*time.Second, "resume"); err != nil {
			t.Errorf("kafkatest: resuming the paused broker before its stop: %v", err)
		}
	}
	if _, err := b.runScript(60*time.Second, "stop"); err != nil {
		t.Errorf("kafkatest: stopping the own broker: %v", err)
	}
	if pid > 0 && !processGone(pid, 10*time.Second) {
		t.Errorf("kafkatest: own broker pid %d still alive after stop; killing it", pid)
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (b *Broker) logTail(t testing.TB, n int) {
	raw, err := os.ReadFile(filepath.Join(b.Dir, "server.log"))
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("kafkatest: last %d lines of the own broker's server.log:\n%s", len(lines), strings.Join(lines, "\n"))
}

// processGone waits up to d for pid to exit. A zombie not yet reaped
// counts as gone once it has no other thread left: a JVM's main thread is
// a zombie while its other threads still exit and hold its ports.
func processGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if procState(pid) == "Z" && procThreads(pid) <= 1 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// procState is the one-letter state of pid from /proc/PID/stat (R, S, T
// when stopped, Z for a zombie), "" when unknown.
func procState(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name, in parentheses, may hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 {
		return string(stat[i+2 : i+3])
	}
	return ""
}

// procThreads is the number of threads of pid from /proc/PID/status, 0
// when unknown.
func procThreads(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// scriptEnv is the environment of kafka-local.sh for an own broker: the
// caller's, without any CUSTREAM_KAFKA_* setting meant for the shared
// broker (the log level aside), plus this broker's.
func scriptEnv(base []string, dir string, cfg brokerConfig) []string {
	var env []string
	for _, kv := range base {
		if strings.HasPrefix(kv, "CUSTREAM_KAFKA_") && !strings.HasPrefix(kv, "CUSTREAM_KAFKA_LOG_LEVEL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"CUSTREAM_KAFKA_DIR="+dir,
		"CUSTREAM_KAFKA_HEAP="+cfg.heap,
		"CUSTREAM_KAFKA_START_TIMEOUT="+strconv.Itoa(int(cfg.startTimeout/time.Second)),
		"CUSTREAM_KAFKA_EXTRA_PROPS="+strings.Join(cfg.props, "\n"),
		"CUSTREAM_KAFKA_EXTRA_PROPS_FILE=",
		"CUSTREAM_KAFKA_OWNER_PID="+strconv.Itoa(os.Getpid()),
	)
}

// moduleRoot walks up from the working directory (a test's is its
// package's directory) to the directory that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// missingTools says what is missing to run kafka-local.sh from scriptDir,
// or "" when nothing is: java always, mvn only while the jars are not
// resolved into target/lib yet.
func missingTools(scriptDir string) string {
	var missing []string
	if _, err := exec.LookPath("bash"); err != nil {
		missing = append(missing, "bash")
	}
	if home := os.Getenv("JAVA_HOME"); home == "" || !executable(filepath.Join(home, "bin", "java")) {
		if _, err := exec.LookPath("java"); err != nil {
			missing = append(missing, "java")
		}
	}
	if _, err := os.Stat(filepath.Join(scriptDir, "target", "lib", ".resolved")); err != nil {
		if _, err := exec.LookPath("mvn"); err != nil {
			missing = append(missing, "mvn")
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return strings.Join(missing, " and ") + " not found"
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
