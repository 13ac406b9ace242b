package processor_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/schemas/registrytest"
	"github.com/custream/custream/sink"
)

// TestRegistryDownWhileRunning: while the schema registry is down, a
// Confluent-encoded command whose schema id the member has not cached is
// not dead-lettered: its batch is aborted and retried with backoff (the
// member stays up, custream_schema_registry_errors_total{op="fetch"}
// counts the attempts), and once the registry is back the command gets
// its one result. The outputs are in the Confluent form too, registered
// through the same registry at start.
func TestRegistryDownWhileRunning(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 1)
	reg := registrytest.Start(t)
	front := reg.Later(t)
	front.Up(t)
	srReg := schemas.NewSRRegistry(reg.Client(t, sr.URLs(front.URL)))
	h.tune = func(c *processor.Config) {
		c.OutputFormat = sink.Confluent
		c.OutputRegistry = srReg
		c.Confluent = schemas.NewConfluent(srReg)
	}
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)

	// A producer registers the command schema straight with the registry,
	// while the member's way to it is down.
	front.Down(t)
	producer := schemas.NewConfluent(schemas.NewSRRegistry(reg.Client(t)))
	topic := h.inputTopic("INSTORE")
	if _, err := producer.RegisterCommand(context.Background(), topic+"-value"); err != nil {
		t.Fatal(err)
	}
	v, err := producer.EncodeCommand(customer.Command{RequestID: "while-down", Org: 7, Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("7"), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	fetchErrors := func() float64 {
		return m.counter(t, "custream_schema_registry_errors_total", map[string]string{"op": "fetch"})
	}
	deadline := time.Now().Add(90 * time.Second)
	for fetchErrors() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two retried batches within 90s (fetch errors %v)", fetchErrors())
		}
		select {
		case err := <-m.done:
			t.Fatalf("the member stopped while the registry was down: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	front.Up(t)
	results := h.readTopic(t, h.topo.Results, 1, 2*time.Minute)
	soe, err := schemas.SingleObjectFromConfluent(results[0].Value, schemas.KindResult)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := schemas.DecodeResult(soe)
	if err != nil || rr.RequestID != "while-down" || !rr.Success {
		t.Fatalf("result %+v, %v: want a success for while-down", rr, err)
	}
	if n := m.counter(t, "custream_dlq_total", nil); n != 0 {
		t.Errorf("%v records went to the DLQ while the registry was down", n)
	}
	t.Logf("batches retried while the registry was down: %v", fetchErrors())
}
