package processor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the processor's Prometheus metrics. Every name starts with
// custream_; the package doc lists them, docs/operations.md with their
// labels and what to do about them.
type Metrics struct {
	recordsIn        *prometheus.CounterVec
	results          *prometheus.CounterVec
	dlq              *prometheus.CounterVec
	repartitioned    *prometheus.CounterVec
	merges           prometheus.Counter
	txns             *prometheus.CounterVec
	txnSeconds       prometheus.Histogram
	pebbleSeconds    prometheus.Histogram
	batchRecords     prometheus.Histogram
	restored         *prometheus.CounterVec
	remaining        *prometheus.GaugeVec
	restoreWaiting   *prometheus.GaugeVec
	tasks            *prometheus.GaugeVec
	restoreSeconds   prometheus.Histogram
	notProcessing    *prometheus.CounterVec
	lag              *prometheus.GaugeVec
	orderWaits       prometheus.Counter
	orderIdleExpired prometheus.Counter
	registryErrors   *prometheus.CounterVec
	rebalances       *prometheus.CounterVec
	taskMoves        *prometheus.CounterVec
	standbyLag       *prometheus.GaugeVec
	standbyTasks     prometheus.Gauge
}

// NewMetrics registers the processor's metrics with reg (nil: a private
// registry, so tests and tools need not care).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_records_in_total",
			Help: "Input records processed in committed transactions."}, []string{"topic"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_results_total",
			Help: "Results committed, by op and code (ok, or the first error code)."}, []string{"op", "code"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_dlq_total",
			Help: "Input records sent to the DLQ in committed transactions, by reason (error.code)."}, []string{"reason"}),
		repartitioned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_repartitioned_records_total",
			Help: "Misrouted input records forwarded to the repartition topic in committed transactions, by the topic they arrived on: the producers of these topics partition otherwise than by murmur2 of the org."}, []string{"topic"}),
		merges: prometheus.NewCounter(prometheus.CounterOpts{Name: "custream_merges_total",
			Help: "Merge notices committed."}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_transactions_total",
			Help: "Transactions ended, by outcome (committed, aborted)."}, []string{"outcome"}),
		txnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "custream_transaction_seconds",
			Help: "Duration of committed transactions, from begin to the end of the commit.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		pebbleSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "custream_pebble_apply_seconds",
			Help: "Duration of writing a committed transaction's state to Pebble (in the background, while the next batch is processed).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 12)}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "custream_batch_records",
			Help: "Input records per transaction.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		restored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_restore_records_total",
			Help: "Changelog records applied by restores, by task."}, []string{"task"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custream_restore_remaining",
			Help: "Changelog offsets a running restore has left to read, by task (0 when none runs)."}, []string{"task"}),
		restoreWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custream_restore_waiting",
			Help: "1 while the task's restore waits for a broker that does not answer (it goes on when the broker does), else 0."}, []string{"task"}),
		tasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custream_tasks",
			Help: "Tasks of this member by state: assigned, restoring, ready."}, []string{"state"}),
	}
	m.orderWaits = prometheus.NewCounter(prometheus.CounterOpts{Name: "custream_order_waits_total",
		Help: "Times a task held back its records because one of its partitions had nothing buffered but more to come (records are applied in timestamp order across a task's partitions)."})
	m.orderIdleExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "custream_order_idle_expired_total",
		Help: "Times a task applied records after waiting --max-task-idle in vain for a lagging partition: the order across its partitions may then differ from their timestamps."})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custream_input_lag",
		Help: "Input records behind the partition's high watermark, as of the last poll that returned records of it."}, []string{"topic", "partition"})
	m.registryErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_schema_registry_errors_total",
		Help: "Attempts that found the schema registry unavailable, by op: register (the output schemas at start, retried with backoff) or fetch (a writer schema by id while decoding Confluent input: the batch is aborted and retried with backoff, nothing goes to the DLQ)."}, []string{"op"})
	m.restoreSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "custream_task_restore_seconds",
		Help: "Duration of a task's restore on assignment, from its start to the task being ready (key filter, waiting for open transactions, replaying the changelog).", Buckets: prometheus.ExponentialBuckets(0.01, 3, 12)})
	m.notProcessing = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_task_not_processing_seconds_total",
		Help: "Seconds this member held the task without processing it: from its assignment (or a rewind) until the loop processes it, or until it is revoked. Restores and the wait behind them; added when the wait ends."}, []string{"task"})
	reg.MustRegister(m.restoreSeconds, m.notProcessing)
	m.rebalances = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_rebalances_total",
		Help: "Group generations this member took part in, by cause as the leader read it: member_joined, member_left, other (also any v1 leader), started (this process's first generation, also a static rejoin that rebalanced nothing)."}, []string{"cause"})
	m.taskMoves = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custream_task_moves_total",
		Help: "Tasks this member gained or lost from one generation to the next, by direction (gained, lost)."}, []string{"direction"})
	m.standbyLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custream_standby_lag",
		Help: "Changelog records a standby copy of the task is behind the partition's end as its last fetch saw it, by task (present only while this member holds the standby)."}, []string{"task"})
	m.standbyTasks = prometheus.NewGauge(prometheus.GaugeOpts{Name: "custream_standby_tasks",
		Help: "Standby copies this member keeps up to date (tasks it does not own; --standby-replicas)."})
	reg.MustRegister(m.standbyLag, m.standbyTasks)
	reg.MustRegister(m.rebalances, m.taskMoves, m.registryErrors, m.orderWaits, m.orderIdleExpired, m.lag, m.recordsIn, m.results, m.dlq, m.repartitioned, m.merges, m.txns, m.txnSeconds, m.pebbleSeconds, m.batchRecords, m.restored, m.remaining, m.restoreWaiting, m.tasks)
	return m
}
