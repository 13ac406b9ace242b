package facade

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/state"
)

// benchCustomers is the org size of the measurement (30k).
const benchCustomers = 30000

var benchFirst = []string{"Asha", "Arjun", "Anil", "Bela", "Chitra", "Dev", "Esha", "Farah", "Gita", "Hari", "Isha", "Jai", "Kiran", "Lata", "Mira", "Nisha", "Om", "Priya", "Ravi", "Sita"}
var benchLast = []string{"Agarwal", "Bose", "Chopra", "Das", "Iyer", "Joshi", "Kapoor", "Mehta", "Nair", "Rao", "Sharma", "Verma"}

// searchBenchState is an org of benchCustomers customers, each with a
// mobile starting with 9 (so "9" matches them all) and an e-mail.
func searchBenchState(b *testing.B) customer.Reader {
	b.Helper()
	db, err := state.Open("", state.Options{FS: vfs.NewMem(), CacheBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	task := db.Task(processor.TaskOfOrg(orgA, testParts), testParts)
	cfg := customer.DefaultConfig()
	for i := 0; i < benchCustomers; {
		batch := task.NewBatch()
		for end := min(i+1000, benchCustomers); i < end; i++ {
			first, last := benchFirst[i%len(benchFirst)], benchLast[(i/len(benchFirst))%len(benchLast)]
			cmd := customer.Command{RequestID: "r" + strconv.Itoa(i), Org: orgA, Op: customer.OpRegister, Source: "INSTORE", Register: &customer.CustomerBody{
				Profiles: []customer.ProfileInput{{FirstName: first, LastName: last, Identifiers: []customer.Identifier{
					{Type: "mobile", Value: fmt.Sprintf("9190%08d", i)},
					{Type: "email", Value: fmt.Sprintf("c%d@example.com", i)},
				}}},
			}}
			out, err := customer.Apply(cfg, batch, cmd)
			if err != nil || !out.Result.Success {
				b.Fatalf("register %d: %v %v", i, err, out.Result.Errors)
			}
		}
		if err := task.Apply(batch, -1); err != nil {
			b.Fatal(err)
		}
	}
	return task.Reader()
}

// BenchmarkSearchMultiWord is the issue's `q=9 a` (both words match most
// of the org) and a selective two-word query, at 30k customers.
func BenchmarkSearchMultiWord(b *testing.B) {
	r := searchBenchState(b)
	cfg := customer.DefaultConfig()
	for _, q := range []string{"9 a", "a 9", "asha agarwal", "kiran c299"} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				v, err := customer.Search(cfg, r, orgA, q, 10, 0)
				if err != nil || len(v.Errors) > 0 {
					b.Fatal(err, v.Errors)
				}
			}
		})
	}
}
