package kafkatest

import (
	"context"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOwnBrokerKillRestart: a record produced before a SIGKILL is read back
// after Restart at the same address, the broker takes new records, and the
// extra properties hold on both runs.
func TestOwnBrokerKillRestart(t *testing.T) {
	b := OwnBroker(t, BrokerProps(
		"log.cleaner.backoff.ms=250",
		// Restart after Kill waits out the killed broker's session.
		"broker.session.timeout.ms=3000",
		"broker.heartbeat.interval.ms=500",
	))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr := b.Brokers[0]
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("own broker at %q, want 127.0.0.1:PORT", addr)
	}
	wantBrokerConfig(ctx, t, b, "log.cleaner.backoff.ms", "250")

	adm := b.Admin(t)
	topic := Topic(t, "ownbroker.kill")
	createTopic(ctx, t, adm, topic, 1, nil)
	producer := b.Client(t, kgo.DefaultProduceTopic(topic))
	// acks=all (the default) with one replica: acknowledged means in the
	// leader's log, not yet flushed; Kafka recovers it from the page cache.
	first := &kgo.Record{Key: []byte("k"), Value: []byte("before the kill")}
	if err := producer.ProduceSync(ctx, first).FirstErr(); err != nil {
		t.Fatalf("produce before the kill: %v", err)
	}

	pid := b.Pid()
	b.Kill(t)
	if b.Pid() != 0 {
		t.Fatalf("Pid() = %d after Kill, want 0", b.Pid())
	}
	if !processGone(pid, 10*time.Second) {
		t.Fatalf("broker pid %d alive after Kill", pid)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Kill", addr)
	}

	t0 := time.Now()
	b.Restart(t)
	t.Logf("Restart after Kill took %s", time.Since(t0).Round(100*time.Millisecond))
	if b.Brokers[0] != addr {
		t.Fatalf("address after Restart = %s, want %s", b.Brokers[0], addr)
	}
	if p := b.Pid(); p == 0 || p == pid {
		t.Fatalf("Pid() after Restart = %d (before the kill: %d), want a new process", p, pid)
	}
	wantBrokerConfig(ctx, t, b, "log.cleaner.backoff.ms", "250")

	// The old producer reconnects to the same address by itself.
	second := &kgo.Record{Key: []byte("k"), Value: []byte("after the restart")}
	if err := producer.ProduceSync(ctx, second).FirstErr(); err != nil {
		t.Fatalf("produce after the restart: %v", err)
	}
	got := consumeAll(ctx, t, &b.Cluster, topic, kgo.ReadCommitted(), 2)
	want := []string{"before the kill", "after the restart"}
	if !slices.Equal(got, want) {
		t.Fatalf("after Kill and Restart the topic holds %q, want %q", got, want)
	}
}

// TestOwnBrokerPauseResume: a paused broker lets a bounded request time
// out; resumed, the same client is answered again. The broker is left
// paused at the end of a subtest, whose cleanup must still stop it.
func TestOwnBrokerPauseResume(t *testing.T) {
	var pid int
	var dir string
	t.Run("pause", func(t *testing.T) {
		b := OwnBroker(t)
		pid, dir = b.Pid(), b.Dir
		cl := b.Client(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := metadata(ctx, cl, 10*time.Second); err != nil {
			t.Fatalf("metadata before the pause: %v", err)
		}

		b.Pause(t)
		if st := procState(pid); st != "T" {
			t.Fatalf("broker pid %d in state %q after Pause, want T (stopped)", pid, st)
		}
		t0 := time.Now()
		err := metadata(ctx, cl, 2*time.Second)
		if err == nil {
			t.Fatal("a paused broker answered a metadata request")
		}
		if waited := time.Since(t0); waited < 2*time.Second || waited > 10*time.Second {
			t.Fatalf("request to the paused broker failed after %s (%v), want its 2 s timeout", waited, err)
		}
		t.Logf("paused broker: %v after %s", err, time.Since(t0).Round(10*time.Millisecond))

		b.Resume(t)
		if err := metadata(ctx, cl, 30*time.Second); err != nil {
			t.Fatalf("metadata after Resume: %v", err)
		}

		b.Pause(t) // left paused for the cleanup
	})
	if pid == 0 {
		t.Skip("own broker did not start")
	}
	if !processGone(pid, 10*time.Second) {
		t.Fatalf("broker pid %d (left paused) still alive after its test ended", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("run dir %s still there after the test ended (%v)", dir, err)
	}
}

// metadata sends one metadata request, bounded by timeout.
func metadata(ctx context.Context, cl *kgo.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

// wantBrokerConfig fails t unless broker 1 reports key = value.
func wantBrokerConfig(ctx context.Context, t *testing.T, b *Broker, key, value string) {
	t.Helper()
	rcs, err := b.Admin(t).DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatalf("describe broker configs: %v", err)
	}
	rc, err := rcs.On("1", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe broker 1 configs: %v %v", err, rc.Err)
	}
	if got := configValue(rc.Configs, key); got != value {
		t.Fatalf("broker %s = %q, want %q", key, got, value)
	}
}
