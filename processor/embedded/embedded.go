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
	return b, nil
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and flushes its data to disk.
func (b *Broker) Close() { b.c.Close() }
