package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/custream/custream/processor/customer"
)

// childStopLimit bounds how long a child may take to stop after SIGTERM
// (finish its transaction, flush Pebble, leave the group) before the bench
// kills it and fails.
const childStopLimit = 2 * time.Minute

// readyPoll is how often the bench asks a child's /readyz. Each answer
// costs the child a few tens of µs of CPU: a fraction of a percent of a
// core at this rate.
const readyPoll = 10 * time.Millisecond

// childUsage is what a child process used so far: CPU (user + system, all
// threads) and its peak resident set.
type childUsage struct {
	cpu     time.Duration
	peakRSS int64 // bytes
}

func (u childUsage) peakMiB() float64 { return float64(u.peakRSS) / (1 << 20) }

// childSpec is what one child `custream run` of the bench is pointed at.
type childSpec struct {
	phase      string // names its log file, and its state dir unless stateOf is set
	stateOf    string // another phase whose state dir this child reuses
	tmp        string // the bench's temp dir
	brokers    []string
	kafka      *kafkaFlags // TLS and SASL, as this command was given them
	name       string      // topic prefix and group of the bench's topology
	partitions int32
	batch      int
	cacheMB    int
	cpuProfile string // file for CUSTREAM_CPUPROFILE, or none
}

// benchChild is one `custream run` started by the bench: the real binary
// with run's flags, so its CPU and memory are those of the process an
// operator runs, without the harness's producing and result watching.
type benchChild struct {
	cmd      *exec.Cmd
	phase    string
	logPath  string
	httpAddr string // its facade, for /readyz
	metrics  string // its /metrics listener
	started  time.Time
	exited   chan struct{} // closed once the process has exited and been waited for
	waitErr  error         // cmd.Wait's answer, set before exited is closed
}

// startChild starts this binary as `custream run` against the bench's
// topology, which exists already (the run's own topic check then agrees
// with it). Its stdout and stderr go to <tmp>/<phase>.log.
func startChild(s childSpec) (*benchChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to run as the child: %w", err)
	}
	// Free ports rather than :0, because the bench must know where the
	// child listens; another process taking one in between makes the
	// child fail at start, with the reason in its log.
	httpAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(s.tmp, s.phase+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the child's log: %w", err)
	}
	stateDir := filepath.Join(s.tmp, "state-"+cmp.Or(s.stateOf, s.phase))
	args := []string{"run",
		"--brokers", strings.Join(s.brokers, ","),
		"--topic-prefix", s.name, "--group", s.name,
		// Given, not defaulted: CUSTREAM_SOURCES in the environment would
		// otherwise give the child a topology the bench did not create.
		"--sources", formatSources(customer.DefaultSources()),
		"--partitions", strconv.Itoa(int(s.partitions)),
		// One instance id for every child, as the in-process bench had:
		// each fences the transactions of the one before.
		"--instance-id", "bench",
		"--state-dir", stateDir,
		"--batch-records", strconv.Itoa(s.batch),
		"--cache-mb", strconv.Itoa(s.cacheMB),
		// A loopback facade makes run generate a dev API key in the state
		// dir: nobody queries it but the bench's /readyz, which needs none.
		"--http-addr", httpAddr,
		"--metrics-addr", metricsAddr,
		// CUSTREAM_LOG_LEVEL=debug shows each transaction's timings in
		// the child's log.
		"--log-level", cmp.Or(os.Getenv("CUSTREAM_LOG_LEVEL"), "info"),
	}
	args = append(args, s.kafka.childArgs()...)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = childEnv(os.Environ(), s.cpuProfile)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s run: %w", exe, err)
	}
	c := &benchChild{cmd: cmd, phase: s.phase, logPath: logPath, httpAddr: httpAddr, metrics: metricsAddr,
		started: time.Now(), exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	return c, nil
}

// childEnv is the bench's environment for its child (GOGC, GOMEMLIMIT and
// any CUSTREAM_ setting of a run flag the bench does not give apply to it
// alike), with the profile request set or cleared.
func childEnv(env []string, cpuProfile string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, cpuProfileEnv+"=") {
			out = append(out, kv)
		}
	}
	if cpuProfile != "" {
		out = append(out, cpuProfileEnv+"="+cpuProfile)
	}
	return out
}

// childArgs are run's flags for the same connection to the brokers as
// this command's: TLS and SASL. A SASL password reaches the child as it
// reached this process, by its file or by CUSTREAM_SASL_PASSWORD.
func (k *kafkaFlags) childArgs() []string {
	var args []string
	if k.tls {
		args = append(args, "--kafka-tls")
	}
	if k.tlsCA != "" {
		args = append(args, "--kafka-tls-ca", k.tlsCA)
	}
	if k.saslMech != "" {
		args = append(args, "--sasl-mechanism", k.saslMech, "--sasl-user", k.saslUser)
	}
	if k.saslPassFile != "" {
		args = append(args, "--sasl-password-file", k.saslPassFile)
	}
	if k.plaintextAuth {
		args = append(args, "--kafka-allow-plaintext-auth")
	}
	return args
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port for the child: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// failed is err with what the reader needs to look into the child's side.
func (c *benchChild) failed(err error) error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s child: %w (it exited: %v; its log: %s)", c.phase, err, c.waitErr, c.logPath)
	default:
		return fmt.Errorf("%s child: %w (its log: %s)", c.phase, err, c.logPath)
	}
}

// sample is the child's CPU and peak RSS so far.
func (c *benchChild) sample() (childUsage, error) { return sampleChild(c.cmd.Process.Pid) }

// stop ends the child as an orchestrator would, with SIGTERM, and returns
// the CPU of its whole life (rusage) and its peak RSS, shutdown included.
//
// The peak is the child's own VmHWM, read before the signal and every
// 10 ms until it exits, not ru_maxrss: Go starts a child with vfork
// semantics (CLONE_VM), so until its exec the child runs in the bench's
// memory, and Linux keeps that high-water mark in the child's ru_maxrss.
// A bench holding a large backlog made a 342 MiB restore child report
// 846 MiB that way.
func (c *benchChild) stop() (childUsage, error) {
	select {
	case <-c.exited:
		return childUsage{}, c.failed(errors.New("exited before the bench stopped it"))
	default:
	}
	var peak atomic.Int64
	if u, err := c.sample(); err == nil {
		peak.Store(u.peakRSS)
	}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-c.exited:
				return
			case <-tick.C:
				if u, err := c.sample(); err == nil && u.peakRSS > peak.Load() {
					peak.Store(u.peakRSS)
				}
			}
		}
	}()
	defer func() { <-sampled }()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return childUsage{}, c.failed(fmt.Errorf("sending SIGTERM: %w", err))
	}
	timer := time.NewTimer(childStopLimit)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		c.kill()
		return childUsage{}, c.failed(fmt.Errorf("still running %s after SIGTERM: killed", childStopLimit))
	}
	if c.waitErr != nil {
		return childUsage{}, c.failed(errors.New("stopped with a failure"))
	}
	u, err := exitedUsage(c.cmd.ProcessState)
	if err != nil {
		return childUsage{}, c.failed(err)
	}
	<-sampled
	if p := peak.Load(); p > 0 {
		u.peakRSS = p
	}
	return u, nil
}

// kill ends the child at once if it still runs: the cleanup of a bench
// that failed half way. It waits for the exit, so no child outlives the
// bench.
func (c *benchChild) kill() {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// readiness is when a child's /readyz said what.
type readiness struct {
	// restoring is when it first answered that it restores tasks (zero
	// if no answer caught the restore), usage its CPU and RSS then.
	restoring      time.Time
	restoringUsage childUsage
	// ready is when it first answered 200: in the group and every task
	// it owns restored from the changelog (processor.Ready, the test of
	// a Kubernetes readiness probe).
	ready      time.Time
	readyUsage childUsage
}

// awaitReady asks the child's /readyz until it answers 200, for at most
// limit, and fails at once if the child exits.
func (c *benchChild) awaitReady(limit time.Duration) (readiness, error) {
	var r readiness
	client := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + c.httpAddr + "/readyz"
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	last := "no answer yet"
	for {
		status, reason, err := getReadyz(client, url)
		now := time.Now()
		switch {
		case err != nil:
			// Refused until the child listens: it is still starting.
			last = err.Error()
		case status == http.StatusOK:
			r.ready = now
			u, err := c.sample()
			if err != nil {
				return r, c.failed(err)
			}
			r.readyUsage = u
			return r, nil
		default:
			last = fmt.Sprintf("%d %s", status, reason)
			if r.restoring.IsZero() && strings.HasPrefix(reason, "restoring") {
				r.restoring = now
				u, err := c.sample()
				if err != nil {
					return r, c.failed(err)
				}
				r.restoringUsage = u
			}
		}
		if now.After(deadline) {
			return r, c.failed(fmt.Errorf("not ready after %s: /readyz said %s", limit, last))
		}
		select {
		case <-c.exited:
			return r, c.failed(errors.New("exited before it was ready"))
		case <-tick.C:
		}
	}
}

func getReadyz(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, "", fmt.Errorf("reading /readyz: %w", err)
	}
	return resp.StatusCode, body.Reason, nil
}

// restoredRecords is the child's custream_restore_records_total summed
// over its tasks: the changelog records its restores applied. The
// changelog's end offsets count more, its transaction markers.
func (c *benchChild) restoredRecords() (int64, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		return 0, c.failed(fmt.Errorf("reading its metrics: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, c.failed(fmt.Errorf("reading its metrics: %s", resp.Status))
	}
	// The text exposition format: `name{labels} value` per line.
	var total float64
	seen := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "custream_restore_records_total{") && !strings.HasPrefix(line, "custream_restore_records_total ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, c.failed(fmt.Errorf("metrics line %q: %w", line, err))
		}
		total += v
		seen = true
	}
	if err := sc.Err(); err != nil {
		return 0, c.failed(fmt.Errorf("reading its metrics: %w", err))
	}
	if !seen {
		return 0, c.failed(errors.New("its metrics have no custream_restore_records_total: no task restored anything"))
	}
	return int64(total), nil
}
