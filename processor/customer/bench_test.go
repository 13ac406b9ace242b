package customer_test

// Benchmarks of the rules on the real state, on disk. Every benchmark here
// starts from a copy of one preloaded store of benchN customers (1,000,000;
// 50,000 under -short), registered through Apply once per process and
// copied (a file copy, seconds) into each benchmark's b.TempDir(), so a
// write benchmark never changes what the next one reads.
//
//	go test -run XXX -bench . -cpu 1 ./processor/customer/           # 1M customers (load ≈ 1 min)
//	go test -run XXX -bench . -cpu 1 -short ./processor/customer/    # 50k customers, quick
//
// Figures go to docs/benchmarks.md with the command that produced them.

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/state"
)

// The benchmark task: task 3 of 12 partitions, so ids are realistic
// (seq*12+3) and the preloaded customer k has id (k+1)*12+3.
const (
	benchTask, benchOf = 3, 12
	benchOrg           = 1
	benchGroup         = 1000 // commands per batch, as the processor applies
)

func benchN() int {
	if testing.Short() {
		return 50_000
	}
	return 1_000_000
}

func benchID(k int) int64 { return int64(k+1)*benchOf + benchTask }

// benchRegister registers customer k: a mobile, an email and a first name
// (1,000 distinct names, so a name matches n/1000 customers).
func benchRegister(k int, source string) customer.Command {
	c := reg(benchOrg, source, "", id("mobile", fmt.Sprintf("91%010d", 7000000000+k)), id("email", fmt.Sprintf("c%d@example.com", k)))
	c.RequestID = fmt.Sprintf("r-%s-%d", source, k)
	c.Register.Profiles[0].FirstName = fmt.Sprintf("Name%03d", k%1000)
	c.Register.Profiles[0].LastName = fmt.Sprintf("Family%d", k%5000)
	return c
}

// mix makes the commands of the benchmark's workload, from a preloaded
// store of n customers: 70% register (a new customer, or 1 in 10 joining a
// random existing one from another source), 15% update, 10%
// changeIdentifier, 5% subscriptions, each of a random existing customer.
type mix struct {
	rng  *rand.Rand
	n    int // existing customers
	next int // the next new customer's k
	i    int
}

func (m *mix) command() customer.Command {
	m.i++
	var c customer.Command
	existing := m.rng.IntN(m.n)
	switch r := m.i % 20; {
	case r < 14:
		if m.rng.IntN(10) == 0 {
			c = benchRegister(existing, "MARTJACK")
			c.RequestID = fmt.Sprintf("j%d", m.i)
		} else {
			c = benchRegister(m.next, "INSTORE")
			m.next++
		}
	case r < 17:
		c = upd(benchOrg, benchID(existing), "INSTORE", "", customer.CustomerBody{
			Profiles: []customer.ProfileInput{{LastName: "Sawyer"}}, ExtendedFields: map[string]string{"city": "Pune"}})
	case r < 19:
		c = chg(benchOrg, benchID(existing), "WECHAT", "w1", ids(id("wechat", fmt.Sprintf("wx%d", m.i))), nil)
	default:
		c = subs(benchOrg, benchID(existing), "INSTORE", customer.Subscription{Channel: "SMS", Priority: "BULK", Type: []string{"OPTIN", "OPTOUT"}[m.i%2]})
	}
	if c.RequestID == "" {
		c.RequestID = fmt.Sprintf("m%d", m.i)
	}
	c.Time = t0.Add(time.Duration(m.i) * time.Millisecond)
	return c
}

// fixtureDir is the preloaded store, built once per process; TestMain
// removes it.
var fixtureDir string

// preloaded copies the preloaded store of benchN customers into a fresh
// directory and opens it.
func preloaded(b *testing.B) (*state.DB, *state.Task) {
	b.Helper()
	if fixtureDir == "" {
		dir, err := os.MkdirTemp("", "custream-customer-bench")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		db, err := state.Open(dir, state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		task := db.Task(benchTask, benchOf)
		cfg := testConfig()
		for k := 0; k < benchN(); {
			batch := task.NewBatch()
			for end := min(benchN(), k+10_000); k < end; k++ {
				out, err := customer.Apply(cfg, batch, benchRegister(k, "INSTORE"))
				if err != nil || out.Result.CreatedID != benchID(k) {
					b.Fatalf("preloading customer %d: %v %+v", k, err, out.Result)
				}
			}
			if err := task.Apply(batch, -1); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		fixtureDir = dir
		b.Logf("preloaded %d customers in %s", benchN(), time.Since(start).Round(time.Millisecond))
	}
	dir := b.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixtureDir)); err != nil {
		b.Fatal(err)
	}
	db, err := state.Open(dir, state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	task := db.Task(benchTask, benchOf)
	// The processor builds the task's key filter after restore, before the
	// task's first batch; so does the benchmark, outside the timer.
	began := time.Now()
	keys, err := task.Warm()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("key filter of %d keys built in %s", keys, time.Since(began).Round(time.Millisecond))
	return db, task
}

// BenchmarkApplyMix is the bulk-load throughput of one task: the mix above
// through Apply on Pebble on disk, benchN customers preloaded, one batch
// per 1000 commands with its changelog records read (Writes) and
// applied. Run with -cpu 1 for the one-core figure. Command generation
// is outside the timer.
func BenchmarkApplyMix(b *testing.B) { benchApplyMix(b, false, (*mix).command) }

// BenchmarkApplyMixPrefetched is BenchmarkApplyMix with each group's
// reads fetched ahead (state.Task.Prefetch, outside the timer, as the
// processor does on its decoding goroutines) and installed before each
// command: what is left is the serial loop's share of the work, the part
// one task cannot spread over cores.
func BenchmarkApplyMixPrefetched(b *testing.B) { benchApplyMix(b, true, (*mix).command) }

// BenchmarkApplyBalances is BenchmarkApplyMix's loop with every command a
// balance from the loyalty engine for a random preloaded customer, in one
// of three programs, each newer than the last: what a balance costs the
// rules and state (a document rewrite with no index change).
func BenchmarkApplyBalances(b *testing.B) { benchApplyMix(b, false, (*mix).balance) }

// balance is a balance for a random existing customer; the command count
// is its version, so every one is newer than the customer's last.
func (m *mix) balance() customer.Command {
	m.i++
	c := customer.Command{RequestID: fmt.Sprintf("p%d", m.i), Org: benchOrg, Op: customer.OpPoints, CustomerID: benchID(m.rng.IntN(m.n)),
		Time: t0.Add(time.Duration(m.i) * time.Millisecond),
		Balance: &customer.Balance{ProgramID: int64(1 + m.i%3), Version: int64(m.i), LoyaltyPoints: float64(m.i % 5000), LifetimePoints: float64(m.i % 20000),
			CumulativePurchases: float64(m.i), CurrentSlab: "Gold", SlabSNo: 2, SlabExpiryDate: "2117-12-29T23:59:59+05:30", NextSlab: "Platinum", NextSlabSerialNumber: 3}}
	return c
}

func benchApplyMix(b *testing.B, prefetch bool, next func(*mix) customer.Command) {
	_, task := preloaded(b)
	cfg := testConfig()
	m := &mix{rng: rand.New(rand.NewPCG(1, 2)), n: benchN(), next: benchN()}
	cmds := make([]customer.Command, benchGroup)
	pre := make([]*state.Prefetched, benchGroup)
	var batch *state.Batch
	done := 0
	b.ReportAllocs()
	for b.Loop() {
		if done%benchGroup == 0 {
			b.StopTimer()
			for i := range cmds {
				cmds[i] = next(m)
				if prefetch {
					pre[i] = task.Prefetch(cmds[i].Org, customer.ReadsOf(cfg, cmds[i]))
				}
			}
			b.StartTimer()
			batch = task.NewBatch()
		}
		batch.Install(pre[done%benchGroup]) // nil without prefetch: a no-op
		if _, err := customer.Apply(cfg, batch, cmds[done%benchGroup]); err != nil {
			b.Fatal(err)
		}
		if done++; done%benchGroup == 0 {
			applyBench(b, task, batch)
			batch = nil
		}
	}
	if batch != nil {
		applyBench(b, task, batch)
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "cmds/s")
}

func applyBench(b *testing.B, task *state.Task, batch *state.Batch) {
	if _, err := batch.Writes(); err != nil {
		b.Fatal(err)
	}
	if err := task.Apply(batch, -1); err != nil {
		b.Fatal(err)
	}
}

// latencies runs op n times and reports its p50 and p99 latency.
func latencies(b *testing.B, op func(i int)) {
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		op(i)
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkLookup is the facade's lookup by mobile of a random preloaded
// customer, on committed state (Task.Reader), with its p50 and p99.
func BenchmarkLookup(b *testing.B) {
	_, task := preloaded(b)
	cfg, r := testConfig(), task.Reader()
	rng := rand.New(rand.NewPCG(3, 4))
	latencies(b, func(int) {
		k := rng.IntN(benchN())
		v, err := customer.Lookup(cfg, r, benchOrg, "ALL", "", "mobile", fmt.Sprintf("+91 %010d", 7000000000+k))
		if err != nil || v.Entity != benchID(k) {
			b.Fatalf("lookup %d: %v %+v", k, err, v)
		}
	})
}

// BenchmarkSearch is the facade's search (first page of 10) on committed
// state: an exact mobile (1 match), an email prefix (~11 matches) and a
// first name (n/1000 matches, every one read for the exact total).
func BenchmarkSearch(b *testing.B) {
	_, task := preloaded(b)
	cfg, r := testConfig(), task.Reader()
	n := benchN()
	for _, tc := range []struct{ name, q string }{
		{"mobile-exact", fmt.Sprintf("91%010d", 7000000000+n/2)},
		{"email-prefix", fmt.Sprintf("c%d", n/1000)},
		{"firstname", "name007"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			total := 0
			latencies(b, func(int) {
				v, err := customer.Search(cfg, r, benchOrg, tc.q, 10, 0)
				if err != nil || len(v.Data) == 0 {
					b.Fatalf("search %q: %v %+v", tc.q, err, v.Pagination)
				}
				total = v.Pagination.Total
			})
			b.ReportMetric(float64(total), "matches")
		})
	}
}

// BenchmarkDiskBytesPerCustomer reports the preloaded store's size on disk
// (every file: sstables, WAL, manifest) per customer, as Pebble left it
// after the load: not compacted, so it includes what an operator would see.
func BenchmarkDiskBytesPerCustomer(b *testing.B) {
	preloaded(b) // builds the fixture
	var size int64
	for b.Loop() {
		size = 0
		err := filepath.WalkDir(fixtureDir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/float64(benchN()), "bytes/customer")
}
