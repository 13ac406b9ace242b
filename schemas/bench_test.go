package schemas

import (
	"context"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// go test -run='^$' -bench=. -benchmem ./schemas/

func BenchmarkEncodeCommand(b *testing.B) {
	cmd := sampleCommands()[1] // update with a profile, three identifiers, a comm channel
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeCommand(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	data, _ := EncodeCommand(sampleCommands()[1])
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeCommand(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCommandGoavro is the path DecodeCommand took before the
// hand-written decoder (avrodec.go), for comparison.
func BenchmarkDecodeCommandGoavro(b *testing.B) {
	data, _ := EncodeCommand(sampleCommands()[1])
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := goavroDecodeCommand(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeConfluent(b *testing.B) {
	cf := NewConfluent(mapRegistry{})
	if _, err := cf.RegisterCommand(context.Background(), "s"); err != nil {
		b.Fatal(err)
	}
	data, _ := cf.EncodeCommand(sampleCommands()[1])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cf.DecodeCommand(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSONBody(b *testing.B) {
	body := []byte(docUpdate)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeJSONBody(customer.OpUpdate, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSONBodyOld is BenchmarkDecodeJSONBody on the encoding/json
// decoder that DecodeJSONBody replaced (jsonbody_old_test.go): the two
// side by side in one run, on this shared machine.
func BenchmarkDecodeJSONBodyOld(b *testing.B) {
	body := []byte(docUpdate)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeJSONBodyOld(customer.OpUpdate, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSONBodyRegister decodes the API doc's register sample,
// the body most records carry.
func BenchmarkDecodeJSONBodyRegister(b *testing.B) {
	body := []byte(docRegister)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeJSONBody(customer.OpRegister, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeJSONBody encodes the API doc's update sample, as load,
// gen and bench write their records.
func BenchmarkEncodeJSONBody(b *testing.B) {
	cmd, _ := DecodeJSONBody(customer.OpUpdate, []byte(docUpdate))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeJSONBody(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeJSONBodyOld is BenchmarkEncodeJSONBody on the
// encoding/json encoder EncodeJSONBody replaced (jsonenc_old_test.go).
func BenchmarkEncodeJSONBodyOld(b *testing.B) {
	cmd, _ := DecodeJSONBody(customer.OpUpdate, []byte(docUpdate))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := encodeJSONBodyOld(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResult(b *testing.B) {
	r := sampleResult()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeResult(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResult(b *testing.B) {
	data, _ := EncodeResult(sampleResult())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResult(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResultJSON(b *testing.B) {
	r := sampleResult()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeResultJSON(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSnapshot(b *testing.B) {
	c := sampleCustomer()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeSnapshot(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSnapshotV1 encodes the same customer as the v1 snapshot
// (the stored document) did: the cost of v2's fetch view, side by side in
// one run:
//
//	go test -run '^$' -bench EncodeSnapshot -benchmem -count 5 ./schemas/
func BenchmarkEncodeSnapshotV1(b *testing.B) {
	c := sampleCustomer()
	b.ReportAllocs()
	for b.Loop() {
		encodeSnapshotV1(c)
	}
}

// The Goavro benchmarks run the path the output records took before the
// hand-written encoders (avroenc.go), for comparison on the same machine:
//
//	go test -run='^$' -bench='Encode(Result|Merge|Snapshot)' -benchmem -count=6 ./schemas/

func BenchmarkEncodeResultGoavro(b *testing.B) {
	r := sampleResult()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := goavroResult(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMergeGoavro(b *testing.B) {
	m := sampleMerge()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := goavroMerge(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSnapshotGoavro(b *testing.B) {
	c := sampleCustomer()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := goavroSnapshot(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMerge(b *testing.B) {
	m := sampleMerge()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeMerge(m); err != nil {
			b.Fatal(err)
		}
	}
}
