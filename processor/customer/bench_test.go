package customer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// benchCommands is a bulk-load mix: 70% register (a new customer, or 1 in
// 10 joining an existing one from another source), 15% update, 10%
// changeIdentifier, 5% subscriptions.
func benchCommands(n int) []customer.Command {
	cmds := make([]customer.Command, 0, n)
	regs := 0
	for i := range n {
		t := t0.Add(time.Duration(i) * time.Millisecond)
		var c customer.Command
		switch r := i % 20; {
		case r < 14 || regs == 0:
			src, acct := "INSTORE", ""
			k := regs
			if regs%10 == 9 {
				src, k = "MARTJACK", regs-5 // joins an earlier customer
			}
			c = reg(1, src, acct, id("mobile", fmt.Sprintf("91%010d", 7000000000+k)), id("email", fmt.Sprintf("c%d@example.com", k)))
			c.Register.Profiles[0].FirstName = fmt.Sprintf("Name%d", k)
			regs++
		case r < 17:
			c = upd(1, int64(1+i%regs), "INSTORE", "", customer.CustomerBody{Profiles: []customer.ProfileInput{{LastName: "Sawyer"}}, ExtendedFields: map[string]string{"city": "Pune"}})
		case r < 19:
			c = chg(1, int64(1+i%regs), "WECHAT", "w1", ids(id("wechat", fmt.Sprintf("wx%d", i))), nil)
		default:
			c = subs(1, int64(1+i%regs), "INSTORE", customer.Subscription{Channel: "SMS", Priority: "BULK", Type: []string{"OPTIN", "OPTOUT"}[i%2]})
		}
		c.Time = t
		cmds = append(cmds, c)
	}
	return cmds
}

// BenchmarkApply measures rule throughput on the map-based test store (the
// Pebble state is not in the tree yet), so it shows the rules' own cost.
func BenchmarkApply(b *testing.B) {
	cfg := testConfig()
	cmds := benchCommands(200_000)
	st := newStore(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%len(cmds) == 0 {
			b.StopTimer()
			st = newStore(b)
			b.StartTimer()
		}
		if _, err := customer.Apply(cfg, st, cmds[i%len(cmds)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

func loadedStore(b *testing.B, n int) (customer.Config, customer.Store) {
	cfg, st := testConfig(), newStore(b)
	for _, c := range benchCommands(n) {
		if _, err := customer.Apply(cfg, st, c); err != nil {
			b.Fatal(err)
		}
	}
	return cfg, st
}

func BenchmarkLookup(b *testing.B) {
	cfg, st := loadedStore(b, 20_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % 10_000
		if k%10 == 9 {
			k-- // the 10th registration of each ten joins an earlier customer
		}
		v, err := customer.Lookup(cfg, st, 1, "ALL", "", "mobile", fmt.Sprintf("+91 %010d", 7000000000+k))
		if err != nil || v.Entity == 0 {
			b.Fatalf("lookup: %v %+v", err, v)
		}
	}
}

// BenchmarkSearch: the map store scans every customer, so this measures
// the query's own work plus a linear scan; Pebble's prefix index replaces
// the scan.
func BenchmarkSearch(b *testing.B) {
	cfg, st := loadedStore(b, 20_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := customer.Search(cfg, st, 1, fmt.Sprintf("name%d", 1+i%9), 10, 0)
		if err != nil || len(v.Data) == 0 {
			b.Fatalf("search: %v %+v", err, v.Pagination)
		}
	}
}
