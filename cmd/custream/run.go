package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/embedded"
	"github.com/custream/custream/processor/facade"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
	"github.com/custream/custream/state"
)

// exitDiskFull is the exit status when the state disk stayed full for
// --disk-full-wait.
const exitDiskFull = 3

// embeddedPartitions is the partition count of a topology first created on
// the embedded broker (one member on a laptop).
const embeddedPartitions = 4

// partitionsUsage is --partitions of run and topics: 0 lets existing
// topics decide (processor.EnsureTopics).
var partitionsUsage = fmt.Sprintf("partitions of the topics custream creates, when no topic exists yet (default %d; embedded broker %d); existing input topics decide otherwise, and a count that disagrees with them is refused", processor.DefaultPartitions, embeddedPartitions)

// embeddedPort is where the embedded broker listens, so kcat and friends
// find it at the usual address.
const embeddedPort = 9092

type runFlags struct {
	kafka        kafkaFlags
	stateDir     string
	outputFormat string
	partitions   int
	instanceID   string
	batch        int
	txnTimeout   time.Duration
	cacheMB      int
	memoryLimit  string
	logLevel     string
	registry     registryFlags
	countryCode  string
	programID    int64
	defaultSlab  string
	sessionTO    time.Duration
	stayOnClose  bool
	standbys     int
	diskFullWait time.Duration
	misrouted    string
	maxTaskIdle  time.Duration
	http         httpFlags
	peers        peerFlags
	producers    producerFlags
}

func runRun(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer startEnvCPUProfile(stderr)() // custream bench --cpuprofile (bench_profile.go)
	return runRunCtx(ctx, args, stdout, stderr)
}

// runRunCtx is `custream run` until ctx is done.
func runRunCtx(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.kafka.register(fs)
	fs.StringVar(&f.stateDir, "state-dir", "./data", "Pebble state (and the embedded broker's data)")
	fs.StringVar(&f.outputFormat, "output-format", sink.DefaultFormat.String(), "encoding of output topics: avro (single-object), json, or confluent (Confluent wire format: the schemas registered in --schema-registry)")
	fs.IntVar(&f.partitions, "partitions", 0, partitionsUsage)
	fs.StringVar(&f.instanceID, "instance-id", "", "this member's stable id, naming its transactional id (default: host name and state dir)")
	fs.IntVar(&f.batch, "batch-records", processor.DefaultMaxBatchRecords, "input records per transaction at most")
	fs.DurationVar(&f.txnTimeout, "transaction-timeout", processor.DefaultTransactionTimeout, "broker-side transaction timeout")
	fs.DurationVar(&f.sessionTO, "session-timeout", processor.DefaultSessionTimeout, "how long the group waits for a stopped member; a member restarted within it keeps its tasks")
	fs.BoolVar(&f.stayOnClose, "stay-in-group-on-shutdown", false, "on SIGTERM, do not leave the group (a quick restart then keeps the tasks; a scale-down waits for the session timeout)")
	fs.IntVar(&f.standbys, "standby-replicas", processor.DefaultStandbyReplicas, "standby copies of each task, kept up to date from its changelog on members that do not own it, so a failed member's tasks restore only the tail; the leader's value counts and gives min(N, members-1), so a one-member group has none. Each copy costs the task's state on disk and in the Pebble cache, and the CPU of applying its changelog; 0: none")
	fs.StringVar(&f.memoryLimit, "memory-limit", "", memoryLimitUsage)
	fs.IntVar(&f.cacheMB, "cache-mb", 0, fmt.Sprintf("Pebble's cache in MiB, shared by all tasks; Pebble's memtables are reserved inside it. 0: from --memory-limit (a quarter of it plus the memtables: 256 for 512MiB), or %d with --memory-limit 0", state.DefaultCacheBytes>>20))
	fs.StringVar(&f.misrouted, "misrouted", processor.DefaultMisrouted, "a command on a partition that is not its org's: repartition (forward it to its task through <group>-repartition) or dlq (dead-letter it as misrouted)")
	fs.DurationVar(&f.maxTaskIdle, "max-task-idle", processor.DefaultMaxTaskIdle, "how long a task waits for one of its partitions that has more to come before it applies the others' records without it (records are applied in timestamp order across a task's partitions)")
	fs.DurationVar(&f.diskFullWait, "disk-full-wait", state.DefaultDiskFullWait, "how long processing waits for space when the state disk is full before custream exits with status 3")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	f.registry.register(fs)
	fs.StringVar(&f.countryCode, "default-country-code", "", "country code given to mobile numbers that arrive without one, e.g. 91")
	fs.Int64Var(&f.programID, "loyalty-program-id", customer.DefaultConfig().LoyaltyProgramID, "the org's default loyalty program: embed=points shows it, and every loyalty customer is in it, with zeros until the loyalty engine publishes a balance (docs/points.md)")
	fs.StringVar(&f.defaultSlab, "default-slab", customer.DefaultConfig().DefaultSlab, "the tier the zero shape of the default program shows (currentSlab)")
	f.http.register(fs)
	f.peers.register(fs)
	f.producers.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	log := newLogger(stderr, f.logLevel)
	if f.cacheMB < 0 {
		log.Error("custream cannot start", "err", fmt.Sprintf("--cache-mb %d is negative", f.cacheMB))
		return 2
	}
	budget, err := runBudget(f, os.Getenv, defaultCgroupFiles)
	if err != nil {
		log.Error("custream cannot start", "err", err)
		return 2
	}
	if budget.GoLimit > 0 {
		// Process-wide; put back on return so a test's run leaves no trace.
		prev := debug.SetMemoryLimit(budget.GoLimit)
		defer debug.SetMemoryLimit(prev)
	}
	logBudget(log, budget)
	if err := runProcessor(ctx, f, budget, log, stderr); err != nil {
		log.Error("custream stopped", "err", err)
		return 1
	}
	return 0
}

func runProcessor(ctx context.Context, f runFlags, budget memoryBudget, log *slog.Logger, stderr io.Writer) error {
	format, err := sink.ParseFormat(f.outputFormat)
	if err != nil {
		return err
	}
	strategy, err := schemas.ParseSubjectStrategy(f.registry.strategy)
	if err != nil {
		return err
	}
	srReg, auth, err := f.registry.client(os.Getenv)
	if err != nil {
		return err
	}
	if srReg == nil && format == sink.Confluent {
		return errors.New("--output-format confluent needs --schema-registry")
	}
	// The state dir holds customers' personal data (Pebble, the embedded
	// broker's log, the dev key): nobody but custream's user reads it.
	// The umask makes every file the process creates 0600 and every
	// directory 0700, Pebble's and kfake's included.
	syscall.Umask(0o077)
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state dir: %w", err)
	}
	if err := os.Chmod(f.stateDir, 0o700); err != nil {
		return fmt.Errorf("restricting the state dir to its owner: %w", err)
	}
	keys, err := f.http.keys(f.stateDir, os.Getenv, stderr, log)
	if err != nil {
		return err
	}
	ln, advertise, err := f.http.listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	peers, peerClient, err := f.peers.options(advertise, f.http.tlsCert != "", log)
	if err != nil {
		return err
	}
	metricsLn, err := f.http.listenMetrics()
	if err != nil {
		return err
	}
	if metricsLn != nil {
		defer metricsLn.Close()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), budget.collector())
	topo, sources, err := f.kafka.topology()
	if err != nil {
		return err
	}
	admission, err := f.producers.admission(f.kafka.sources, log)
	if err != nil {
		return err
	}
	clientOpts, err := f.kafka.clientOpts(os.Getenv)
	if err != nil {
		return err
	}
	// franz-go's own client metrics (requests, bytes, errors per broker
	// and topic) for the processor's main client; kprom registers its
	// metrics once per client, so the short-lived admin and restore
	// clients go without.
	sessionOpts := []kgo.Opt{kgo.WithHooks(kprom.NewMetrics("custream_kafka", kprom.Registerer(reg)))}
	brokers := f.kafka.brokerList()
	topics := processor.TopicsConfig{Partitions: int32(f.partitions), ReplicationFactor: -1}
	if len(brokers) == 0 {
		b, err := embedded.Start(filepath.Join(f.stateDir, "kafka"), embeddedPort, log)
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = []string{b.Addr()}
		topics.DefaultPartitions = embeddedPartitions
	}

	adm, closeAdm, err := newAdmin(brokers, clientOpts)
	if err != nil {
		return err
	}
	plan, err := processor.EnsureTopics(ctx, adm, topo, topics)
	closeAdm()
	if err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	log.Info("topics ready", "partitions", plan.Partitions, "partitions_from", plan.From, "created", strings.Join(plan.Created, ","))

	db, err := state.Open(filepath.Join(f.stateDir, "pebble"), state.Options{
		CacheBytes:    budget.CacheBytes,
		MemTableBytes: budget.MemTableBytes,
		Logger:        log,
		DiskFullWait:  f.diskFullWait,
		// Kafka holds every committed change, so leaving is safe; a
		// restart on a disk with room restores the rest (docs/operations.md).
		OnDiskFullGiveUp: func(err error) {
			log.Error("custream exits: the state disk stayed full", "err", err, "exit_status", exitDiskFull)
			os.Exit(exitDiskFull)
		},
	})
	if err != nil {
		return err
	}
	defer db.Close()
	reg.MustRegister(db.Collector())

	domain := customer.DefaultConfig()
	domain.Sources = sources
	domain.DefaultCountryCode = f.countryCode
	domain.LoyaltyProgramID = f.programID
	domain.DefaultSlab = f.defaultSlab

	instance := f.instanceID
	if instance == "" {
		instance = defaultInstanceID(f.stateDir)
	}
	cfg := processor.Config{
		Brokers:            brokers,
		ClientOpts:         clientOpts,
		SessionOpts:        sessionOpts,
		Group:              f.kafka.group,
		InstanceID:         instance,
		Topology:           topo,
		Domain:             domain,
		Admission:          admission,
		OutputFormat:       format,
		Misrouted:          f.misrouted,
		MaxTaskIdle:        f.maxTaskIdle,
		MaxBatchRecords:    f.batch,
		TransactionTimeout: f.txnTimeout,
		SessionTimeout:     f.sessionTO,
		StayInGroupOnClose: f.stayOnClose,
		StandbyReplicas:    f.standbys,
		AdvertiseHTTP:      advertise,
		Metrics:            processor.NewMetrics(reg),
		Logger:             log,
	}
	cfg.SubjectStrategy, cfg.RegistryWait = strategy, f.registry.wait
	if srReg != nil {
		cfg.Confluent = schemas.NewConfluent(srReg)
		cfg.OutputRegistry = srReg
		log.Info("schema registry", "url", f.registry.url, "auth", auth, "output_format", format.String())
	}
	p, err := processor.New(ctx, cfg, db)
	if err != nil {
		return err
	}
	fac, err := facade.New(facade.Options{Tasks: p, Domain: domain, Keys: keys, Logger: log, Registry: reg, Client: peerClient, Peers: peers,
		PerKey: f.http.perKey, PerClient: f.http.perClient})
	if err != nil {
		return err
	}
	log.Info("custream running", "brokers", strings.Join(brokers, ","), "group", cfg.Group, "instance", instance,
		"inputs", strings.Join(topo.InputTopics(), ","), "partitions", p.Partitions(), "state_dir", f.stateDir, "advertise_http", advertise)
	// The facade and the processor stop together: either failing stops both.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() {
		err := f.http.serveFacade(ctx, ln, fac, log)
		cancel()
		httpDone <- err
	}()
	metricsDone := make(chan error, 1)
	if metricsLn != nil {
		go func() {
			err := serveMetrics(ctx, metricsLn, reg, log)
			cancel()
			metricsDone <- err
		}()
	} else {
		metricsDone <- nil
	}
	runErr := p.Run(ctx)
	cancel()
	return errors.Join(runErr, <-httpDone, <-metricsDone)
}

// defaultInstanceID is stable for one state dir on one host, so a restarted
// member fences its own zombie, and differs between members.
func defaultInstanceID(stateDir string) string {
	host, _ := os.Hostname()
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(abs))
	return host + "-" + hex.EncodeToString(sum[:4])
}

func newAdmin(brokers []string, opts []kgo.Opt) (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a Kafka client: %w", err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
