package processor_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// TestRepeatedRequestID: a command sent again with the same requestId gets
// its first result again, marked as a duplicate, and changes nothing.
func TestRepeatedRequestID(t *testing.T) {
	skipShort(t)
	h := newHarness(t, 2)
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)

	reg := customer.Command{RequestID: "same-1", Org: 1000, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}}}
	h.produce(t, []customer.Command{reg})
	first := h.readTopic(t, h.topo.Results, 1, time.Minute)
	// The same requestId again, even with another body: the first result
	// comes back and nothing is registered.
	again := reg
	again.Register = &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Huck",
		Identifiers: []customer.Identifier{{Type: "mobile", Value: "919222222222"}}}}}
	h.produce(t, []customer.Command{again, reg})
	all := h.readTopic(t, h.topo.Results, 3, time.Minute)
	if len(first) != 1 || len(all) != 3 {
		t.Fatalf("%d then %d results, want 1 then 3", len(first), len(all))
	}
	want, _ := schemas.DecodeResult(all[0].Value)
	if !want.Success || want.CreatedID == 0 {
		t.Fatalf("first result %+v, want a registration", want.Result)
	}
	for _, r := range all[1:] {
		got, err := schemas.DecodeResult(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Result, want.Result) {
			t.Errorf("repeat got %+v, want the first result %+v", got.Result, want.Result)
		}
		if got.Origin == want.Origin {
			t.Errorf("repeat names the first record's origin %+v; it should name its own", got.Origin)
		}
		dup := false
		for _, x := range r.Headers {
			dup = dup || (x.Key == "custream.duplicate" && string(x.Value) == "true")
		}
		if !dup {
			t.Errorf("repeat at offset %d lacks the custream.duplicate header", r.Offset)
		}
	}
	if snaps := h.readTopic(t, h.topo.Snapshots, -1, 30*time.Second); len(snaps) != 1 {
		t.Errorf("%d snapshots, want 1: the repeats must change nothing", len(snaps))
	}
}

// TestRetentionIgnoresProducerTimestamps: a record stamped far in the
// future between two sends of one requestId does not expire the remembered
// id: the resend still gets the first result and changes nothing.
func TestRetentionIgnoresProducerTimestamps(t *testing.T) {
	skipShort(t)
	// Kafka 4 refuses timestamps over an hour ahead by default; older
	// brokers, and topics configured so, take any.
	h := newHarness(t, 2, topicConfig{func(t processor.Topology) string { return t.Inputs[0].Topic },
		map[string]string{"message.timestamp.after.max.ms": "9223372036854775807"}})
	m := h.startMember(t, "m1", t.TempDir())
	defer m.stop(t)

	reg := customer.Command{RequestID: "keep-1", Org: 1000, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919111111111"}}}}}}
	h.produce(t, []customer.Command{reg})
	h.readTopic(t, h.topo.Results, 1, time.Minute)

	// Another org of the same task, stamped 2100-01-01 by its producer.
	var other int64 = 1001
	for processor.TaskOfOrg(other, h.partitions) != processor.TaskOfOrg(reg.Org, h.partitions) {
		other++
	}
	future := customer.Command{RequestID: "future-1", Org: other, Source: "INSTORE", Op: customer.OpRegister,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Huck",
			Identifiers: []customer.Identifier{{Type: "mobile", Value: "919222222222"}}}}}}
	r := h.record(t, future)
	r.Timestamp = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := h.producer.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.readTopic(t, h.topo.Results, 2, time.Minute)

	h.produce(t, []customer.Command{reg})
	all := h.readTopic(t, h.topo.Results, 3, time.Minute)
	if len(all) != 3 {
		t.Fatalf("%d results, want 3", len(all))
	}
	first, _ := schemas.DecodeResult(all[0].Value)
	again, _ := schemas.DecodeResult(all[2].Value)
	if !isDuplicate(all[2]) || !reflect.DeepEqual(first.Result, again.Result) {
		t.Fatalf("resend after a far-future record got %+v (duplicate %v), want the first result %+v again", again.Result, isDuplicate(all[2]), first.Result)
	}
	h.check(t, all, 2)
}
