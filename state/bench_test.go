package state

// Benchmarks. The read benchmarks share one loaded store of benchN
// customers (1,000,000; 50,000 under -short), built once per process on
// real disk, flushed and compacted so reads come from sstables:
//
//	go test -run XXX -bench . -benchtime 200000x ./state/          # 1M customers (~1-2 min to load)
//	go test -run XXX -bench . -short ./state/                       # quick, 50k customers
//
// Figures go to docs/state.md with the command that produced them.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture != nil {
		_ = fixture.db.Close()
		_ = os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// benchCustomer is a typical registered customer: one INSTORE profile with
// mobile, email and external id, names, two custom fields, two comm
// channels and the four default subscriptions.
func benchCustomer(id, org int64, i int) *customer.Customer {
	mobile := fmt.Sprintf("91%010d", i)
	email := fmt.Sprintf("user%d@example.com", i)
	return &customer.Customer{
		ID: id, Org: org, LoyaltyType: "loyalty",
		Profiles: []customer.Profile{{
			Source: "INSTORE", FirstName: firstNames[i%len(firstNames)], LastName: fmt.Sprintf("Family%d", i%5000),
			Fields: map[string]string{"gender": "F", "dob": "1990-01-01"},
			Identifiers: []customer.Identifier{
				{Type: customer.IDMobile, Value: mobile}, {Type: customer.IDEmail, Value: email},
				{Type: customer.IDExternalID, Value: fmt.Sprintf("EXT-%d", i)},
			},
			CommChannels: []customer.CommChannel{
				{Type: "mobile", Value: mobile, Primary: true},
				{Type: "email", Value: email, Primary: true, Meta: map[string]bool{"residence": true}},
			},
			CreateDate: t0, ModifiedDate: t0,
		}},
		Subscriptions: []customer.Subscription{
			{Channel: "EMAIL", Priority: "BULK", Type: "OPTIN"}, {Channel: "EMAIL", Priority: "TRANS", Type: "OPTIN"},
			{Channel: "SMS", Priority: "BULK", Type: "OPTIN"}, {Channel: "SMS", Priority: "TRANS", Type: "OPTIN"},
		},
		CreateDate: t0, ModifiedDate: t0,
	}
}

// 1000 distinct first names, so a full first name matches N/1000 customers.
var firstNames = func() []string {
	out := make([]string, 1000)
	for i := range out {
		out[i] = fmt.Sprintf("name%03dx", i)
	}
	return out
}()

// load registers n customers into task through batches of size, the way
// the processor does (NextID, PutCustomer, Writes, Commit).
func load(tb testing.TB, task *Task, n, size int) {
	for i := 0; i < n; {
		b := task.NewBatch()
		for end := min(n, i+size); i < end; i++ {
			id, err := b.NextID()
			must(tb, err)
			must(tb, b.PutCustomer(benchCustomer(id, org, i)))
		}
		_, err := b.Writes()
		must(tb, err)
		must(tb, task.Apply(b, int64(i)))
	}
}

func BenchmarkPutCustomerBatch1000(b *testing.B) {
	db := mustOpen(b, b.TempDir(), Options{})
	task := db.Task(0, 12)
	i := 0
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		load(b, task, 1000, 1000)
		i += 1000
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "customers/s")
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(i), "ns/customer")
}

type loaded struct {
	db   *DB
	dir  string
	task *Task
	n    int
}

var fixture *loaded

func benchN() int {
	if testing.Short() {
		return 50_000
	}
	return 1_000_000
}

// loadedStore returns the shared read fixture, loading it on first use.
func loadedStore(b *testing.B) *loaded {
	n := benchN()
	if fixture != nil && fixture.n == n {
		return fixture
	}
	dir, err := os.MkdirTemp("", "custream-state-bench")
	must(b, err)
	db, err := Open(dir, Options{})
	must(b, err)
	task := db.Task(3, 12)
	start := time.Now()
	load(b, task, n, 10_000)
	must(b, db.pdb.Flush())
	must(b, db.pdb.Compact(context.Background(), taskStart(task.id), taskEnd(task.id), true))
	b.Logf("loaded and compacted %d customers in %s", n, time.Since(start).Round(time.Millisecond))
	fixture = &loaded{db: db, dir: dir, task: task, n: n}
	return fixture
}

func BenchmarkOwnerInScope(b *testing.B) {
	f := loadedStore(b)
	r := f.task.Reader()
	rng := rand.New(rand.NewPCG(5, 6))
	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			i := rng.IntN(f.n)
			id, ok, err := r.OwnerInScope(org, "INSTORE", "", customer.Identifier{Type: customer.IDMobile, Value: fmt.Sprintf("91%010d", i)})
			if err != nil || !ok || TaskOf(id, 12) != 3 {
				b.Fatalf("customer %d: %d %v %v", i, id, ok, err)
			}
		}
	})
	// A miss is the common case of a bulk load (a new identifier); the
	// bloom filters answer it without reading data blocks.
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			i := f.n + rng.IntN(f.n)
			_, ok, err := r.OwnerInScope(org, "INSTORE", "", customer.Identifier{Type: customer.IDMobile, Value: fmt.Sprintf("91%010d", i)})
			if err != nil || ok {
				b.Fatalf("customer %d: %v %v", i, ok, err)
			}
		}
	})
	b.Run("customer", func(b *testing.B) {
		for b.Loop() {
			id := int64(1+rng.IntN(f.n))*12 + 3
			if _, ok, err := r.Customer(id); err != nil || !ok {
				b.Fatalf("customer %d: %v %v", id, ok, err)
			}
		}
	})
}

func BenchmarkSearch(b *testing.B) {
	f := loadedStore(b)
	r := f.task.Reader()
	for _, tc := range []struct{ name, prefix string }{
		{"mobile-exact", fmt.Sprintf("91%010d", f.n/2)},   // 1 match
		{"firstname", firstNames[7]},                      // n/1000 matches
		{"lastname-prefix", "family123"},                  // family123, family1230..1239: ~11n/5000
		{"email-prefix", fmt.Sprintf("user%d", f.n/1000)}, // ~11 matches
	} {
		b.Run(tc.name, func(b *testing.B) {
			var total int
			for b.Loop() {
				_, n, err := r.Search(org, tc.prefix, 10, 0)
				must(b, err)
				total = n
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
}

func BenchmarkDiskBytesPerCustomer(b *testing.B) {
	f := loadedStore(b)
	var size uint64
	for b.Loop() {
		var err error
		size, err = f.db.pdb.EstimateDiskUsage(taskStart(f.task.id), taskEnd(f.task.id))
		must(b, err)
	}
	b.ReportMetric(float64(size)/float64(f.n), "bytes/customer")
	doc := len(encodeCustomer(nil, benchCustomer(15, org, 12345)))
	b.ReportMetric(float64(doc), "doc-bytes")
}
