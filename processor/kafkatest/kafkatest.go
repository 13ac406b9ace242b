package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers names the environment variable that points tests at a running
// broker.
const EnvBrokers = "CUSTREAM_TEST_BROKERS"

// containerImage is the Kafka image testcontainers starts; the module
// requires a confluent-local image.
const containerImage = "confluentinc/confluent-local:7.5.0"

// Backend says which kind of broker a test runs against.
type Backend string

const (
	Real      Backend = "real"           // a running Apache Kafka broker from CUSTREAM_TEST_BROKERS
	Container Backend = "testcontainers" // Kafka in Docker via testcontainers-go
	Fake      Backend = "kfake"          // franz-go's in-process kfake
)

// Choose picks the backend: brokers from the environment win, then Docker
// when its daemon answers, then kfake. dockerHealthy is called only when
// needed, since asking Docker costs a round trip.
func Choose(envBrokers string, dockerHealthy func() bool) Backend {
	if strings.TrimSpace(envBrokers) != "" {
		return Real
	}
	if dockerHealthy != nil && dockerHealthy() {
		return Container
	}
	return Fake
}

// Cluster is the broker a test talks to.
type Cluster struct {
	Backend Backend
	Brokers []string
	// Fake is set for the kfake backend, so a test can force compaction or
	// other fake-only controls; nil otherwise.
	Fake *kfake.Cluster
}

var (
	chooseOnce sync.Once
	chosen     Backend

	containerOnce    sync.Once
	containerBrokers []string
	containerErr     error
)

// Start returns the cluster for t: the shared real or container broker, or
// a fresh kfake cluster that is closed when t ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	chooseOnce.Do(func() { chosen = Choose(os.Getenv(EnvBrokers), dockerHealthy) })
	var c *Cluster
	switch chosen {
	case Real:
		c = &Cluster{Backend: Real, Brokers: splitBrokers(os.Getenv(EnvBrokers))}
	case Container:
		containerOnce.Do(startContainer)
		if containerErr != nil {
			t.Fatalf("kafkatest: starting Kafka in Docker: %v", containerErr)
		}
		c = &Cluster{Backend: Container, Brokers: containerBrokers}
	default:
		fake, err := kfake.NewCluster(kfake.NumBrokers(1)) // kfake listens on 127.0.0.1 only
		if err != nil {
			t.Fatalf("kafkatest: starting kfake: %v", err)
		}
		t.Cleanup(fake.Close)
		c = &Cluster{Backend: Fake, Brokers: fake.ListenAddrs(), Fake: fake}
	}
	t.Logf("kafkatest: %s broker at %s", c.Backend, strings.Join(c.Brokers, ","))
	return c
}

// Client returns a client for the cluster, closed when t ends.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client for the cluster, closed when t ends.
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t))
}

// DeleteAfter deletes topics when the test ends (best effort, bounded), so
// tests on a shared real broker leave nothing behind.
func (c *Cluster) DeleteAfter(t testing.TB, topics ...string) {
	t.Helper()
	adm := c.Admin(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, topics...)
	})
}

// Topic returns a topic name unique to this run, so tests sharing one real
// broker never see each other's records.
func Topic(t testing.TB, base string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("kafkatest: random topic suffix: %v", err)
	}
	return fmt.Sprintf("%s.%s", base, hex.EncodeToString(b[:]))
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// dockerHealthy asks the Docker provider for its health, bounded in time;
// testcontainers panics when no daemon is configured, which also means no.
func dockerHealthy() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := testcontainers.ProviderDocker.GetProvider()
	if err != nil {
		return false
	}
	defer p.Close()
	return p.Health(ctx) == nil
}

// startContainer starts one Kafka container for the whole test binary; the
// testcontainers reaper removes it when the binary exits.
func startContainer() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc, err := tckafka.Run(ctx, containerImage)
	if err != nil {
		containerErr = err
		return
	}
	containerBrokers, containerErr = kc.Brokers(ctx)
}
