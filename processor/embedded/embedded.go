// Package embedded runs the broker `custream run` starts when no brokers are
// configured: franz-go's kfake, an in-process Kafka-protocol broker that
// speaks transactions and consumer groups and persists to a data directory.
//
// It is for trying custream out: one node, no replication, no security.
// Production points --brokers at a real Kafka cluster.
package embedded

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running embedded broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// Start starts the broker on 127.0.0.1:port with its data in dir; a restart
// with the same dir finds every topic, record and committed offset again.
// Records are fsynced on segment roll and shutdown, like Kafka's default.
func Start(dir string, port int, log *slog.Logger) (*Broker, error) {
	if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		return nil, fmt.Errorf("embedded broker: port %d is taken (another custream or Kafka running?): %w", port, err)
	} else {
		ln.Close()
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(dir),
		kfake.BrokerConfigs(map[string]string{
			// Compact the snapshots and changelog topics every minute
			// rather than hourly, so a demo shows compaction at work.
			"log.cleaner.backoff.ms": "60000",
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: starting kfake on 127.0.0.1:%d with data in %s: %w", port, dir, err)
	}
	b := &Broker{c: c, addr: c.ListenAddrs()[0]}
	log.Warn("started the EMBEDDED broker: for trying custream out only (one node, no replication, no security); use --brokers for a real Kafka cluster",
		"addr", b.addr, "data", dir)
	log.Warn(memoryNote, "compaction_bytes_per_customer", compactionBytesPerCustomer)
	return b, nil
}

// compactionBytesPerCustomer is what the embedded broker's compaction
// passes add to the process's RSS per customer in the state, above
// --memory-limit: 206 and 234 bytes measured at 1M and 2M loaded lines
// (docs/benchmarks.md, "Memory budget"), rounded up to plan with. kfake
// keeps records in its data dir and only a small index per batch in
// memory, but its compaction of a compacted topic (the changelog, the
// snapshots) decodes the whole partition and holds every key and every
// surviving batch at once. Retention would not help: it is honoured
// (retention.ms, retention.bytes, DeleteRecords), but it frees disk, and
// the changelog, the durable state, must never have it.
const compactionBytesPerCustomer = 250

// memoryNote is said at every start, so nobody sizes a machine for the
// embedded broker by the budget alone.
const memoryNote = "the embedded broker shares this process's memory but not its budget: each compaction pass (every minute) briefly holds a whole changelog partition in memory beyond --memory-limit, compaction_bytes_per_customer bytes of RSS per customer in the state; records themselves stay on disk (README, Start here)"

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and flushes its data to disk.
func (b *Broker) Close() { b.c.Close() }
