package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/sink"
)

// Config is everything a Processor needs; cmd/custream fills it from flags.
type Config struct {
	// Brokers are the seed brokers.
	Brokers []string
	// ClientOpts are extra franz-go options every client of the processor
	// gets: TLS, SASL, logging.
	ClientOpts []kgo.Opt
	// SessionOpts are options for the long-lived transactional client only,
	// e.g. metrics hooks that must not be registered once per short-lived
	// admin or restore client.
	SessionOpts []kgo.Opt
	// Group is the consumer group; it also names the changelog topic.
	Group string
	// InstanceID names this member's transactional id (Group + "-" +
	// InstanceID). It must be stable across restarts of one member, so a
	// restarted process fences its own zombie, and unique among members.
	InstanceID string
	// AdvertiseHTTP is the address other members use to reach this
	// member's HTTP facade; it travels in the group's join metadata.
	AdvertiseHTTP string
	// Topology names the topics.
	Topology Topology
	// Domain configures the rules.
	Domain customer.Config
	// Admission says which orgs each source may act for, and which
	// sources must sign their commands (admit.go). The zero value admits
	// every org on every source, as a deployment without it did.
	Admission Admission
	// OutputFormat is the encoding of the output topics. Default
	// sink.DefaultFormat (Avro single-object). sink.Confluent needs
	// OutputRegistry: New registers the output schemas there before
	// anything is produced.
	OutputFormat sink.Format
	// Confluent decodes input values in the Confluent wire format; nil
	// when no schema registry is configured (such values then go to the
	// DLQ as no-registry).
	Confluent *schemas.Confluent
	// OutputRegistry is the schema registry the output schemas are
	// registered in with the Confluent output format; nil otherwise.
	OutputRegistry schemas.OutputRegistry
	// SubjectStrategy names the subjects of the output value schemas
	// (keys are always "<topic>-key"). Default
	// schemas.DefaultSubjectStrategy ("<topic>-value").
	SubjectStrategy schemas.SubjectStrategy
	// RegistryWait bounds how long New retries a schema registry that
	// does not answer (or answers 5xx) while it registers the output
	// schemas, with backoff from RegistryBackoffMin to RegistryBackoffMax;
	// a registry that refuses a schema ends New at once. Longer rides out
	// a registry restarted beside custream; shorter fails a deployment
	// with a wrong URL sooner. Default DefaultRegistryWait.
	RegistryWait time.Duration
	// Misrouted says what happens to a command on a partition that is not
	// its org's task: MisroutedRepartition forwards it to
	// that task through the repartition topic, as Kafka Streams does;
	// MisroutedDLQ dead-letters it as misrouted, for deployments whose
	// producers must partition by murmur2 of the org. Default
	// DefaultMisrouted.
	Misrouted string
	// MaxTaskIdle bounds how long a task waits for a partition that has
	// nothing buffered but more to come before it applies its other
	// partitions' records without it (order.go; Kafka Streams'
	// max.task.idle.ms). Longer keeps a backlog in timestamp order across
	// partitions through slow fetches; shorter keeps latency low when one
	// partition is slow. Default DefaultMaxTaskIdle.
	MaxTaskIdle time.Duration
	// MaxBatchRecords bounds the input records of one transaction. Larger
	// batches amortise the commit; smaller ones keep transactions short and
	// latency low. Default DefaultMaxBatchRecords.
	MaxBatchRecords int
	// TransactionTimeout is the broker-side timeout of a transaction; a
	// member that dies mid-transaction blocks its task's next owner at most
	// this long. Default DefaultTransactionTimeout.
	TransactionTimeout time.Duration
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating. Members are static (their InstanceID is the group
	// instance id), so a member restarted within this time gets its tasks
	// back without a rebalance. Default DefaultSessionTimeout.
	SessionTimeout time.Duration
	// StayInGroupOnClose keeps a cleanly stopped member in the group until
	// its session times out, for restarts that should not move tasks.
	// Default false: Run leaves the group when it stops, so the remaining
	// members take over at once.
	StayInGroupOnClose bool
	// StandbyReplicas is how many standby copies of each task the group
	// keeps, when this member leads it: the leader gives each task
	// min(StandbyReplicas, members-1) copies on members that do not own
	// it, so a one-member group has none. A standby replicates its task's
	// changelog into this member's state, read_committed, and never
	// processes input or writes to Kafka; when its task's owner fails, the
	// task moves to the standby, which restores only the tail. Each copy
	// costs the task's state on disk and in the Pebble cache, and the CPU
	// of applying its changelog. The zero value keeps none;
	// cmd/custream's flag defaults to DefaultStandbyReplicas.
	StandbyReplicas int
	// RequestRetention is how long a requestId is remembered for
	// idempotency, by the processor's clock (Now) from when the command
	// was processed: record timestamps are the producer's to set, and one
	// far in the future would otherwise expire every remembered id.
	// Default DefaultRequestRetention.
	RequestRetention time.Duration
	// Now is the processor's clock, used only for request-id retention.
	// Default time.Now; tests move it.
	Now func() time.Time
	// Logger receives operator-facing events. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the processor's counters; nil keeps them in a
	// private registry.
	Metrics *Metrics
}

// The values of Config.Misrouted.
const (
	MisroutedRepartition = "repartition"
	MisroutedDLQ         = "dlq"
)

// The defaults of Config, stated once: ensureDefaults fills a zero field
// with them, and cmd/custream's flags show them as their defaults.
const (
	DefaultMisrouted          = MisroutedRepartition
	DefaultMaxBatchRecords    = 5000
	DefaultTransactionTimeout = 30 * time.Second
	DefaultSessionTimeout     = 45 * time.Second
	DefaultRequestRetention   = 7 * 24 * time.Hour
	DefaultMaxTaskIdle        = 2 * time.Second
	DefaultRegistryWait       = 5 * time.Minute
	DefaultStandbyReplicas    = 1
)

// The backoff between attempts to reach a schema registry that does not
// answer: at start (registering the output schemas) and while decoding
// (a batch whose Confluent input needs a schema id not cached yet).
const (
	RegistryBackoffMin = 500 * time.Millisecond
	RegistryBackoffMax = 30 * time.Second
)

func (c *Config) ensureDefaults() {
	if c.Misrouted == "" {
		c.Misrouted = DefaultMisrouted
	}
	if c.MaxTaskIdle <= 0 {
		c.MaxTaskIdle = DefaultMaxTaskIdle
	}
	if c.MaxBatchRecords <= 0 {
		c.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RequestRetention <= 0 {
		c.RequestRetention = DefaultRequestRetention
	}
	if c.SubjectStrategy == "" {
		c.SubjectStrategy = schemas.DefaultSubjectStrategy
	}
	if c.RegistryWait <= 0 {
		c.RegistryWait = DefaultRegistryWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("no brokers")
	case c.Group == "":
		return errors.New("no consumer group")
	case c.InstanceID == "":
		return errors.New("no instance id")
	case len(c.Topology.CommandInputs()) == 0:
		return errors.New("no command topics (no sources)")
	case c.Misrouted != MisroutedRepartition && c.Misrouted != MisroutedDLQ:
		return fmt.Errorf("misrouted %q: want %s or %s", c.Misrouted, MisroutedRepartition, MisroutedDLQ)
	case c.StandbyReplicas < 0:
		return fmt.Errorf("standby replicas %d: want 0 or more", c.StandbyReplicas)
	case c.Topology.Repartition == "":
		return errors.New("no repartition topic")
	case c.OutputFormat == sink.Confluent && c.OutputRegistry == nil:
		return errors.New("the confluent output format needs a schema registry (--schema-registry)")
	}
	if _, err := schemas.ParseSubjectStrategy(string(c.SubjectStrategy)); err != nil {
		return err
	}
	if err := c.Admission.validate(c.Topology); err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	if err := c.Domain.Validate(); err != nil {
		return fmt.Errorf("domain config: %w", err)
	}
	return nil
}
