package customer_test

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// Codes seen in any result or query answer during the run: TestMain fails
// the run when a catalogue code was never produced.
var (
	seenMu sync.Mutex
	seen   = map[customer.Code]bool{}
)

func record(issues ...customer.Issue) {
	seenMu.Lock()
	defer seenMu.Unlock()
	for _, i := range issues {
		seen[i.Code] = true
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if fixtureDir != "" {
		_ = os.RemoveAll(fixtureDir)
	}
	// Only a full run must cover the catalogue; -run selects a subset.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		var missing []string
		for _, e := range customer.Catalogue {
			if !seen[e.Code] {
				missing = append(missing, strconv.Itoa(int(e.Code)))
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: codes of the catalogue never produced by the tests: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}

func testConfig() customer.Config {
	cfg := customer.DefaultConfig()
	cfg.DefaultCountryCode = "91"
	return cfg
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// apply runs one command and records its codes.
func apply(tb testing.TB, cfg customer.Config, st *store, cmd customer.Command) customer.Outcome {
	tb.Helper()
	out, err := st.apply(cfg, cmd)
	if err != nil {
		tb.Fatalf("apply %s %q: %v", cmd.Op, cmd.RequestID, err)
	}
	record(out.Result.Errors...)
	record(out.Result.Warnings...)
	return out
}

func codes(issues []customer.Issue) []int {
	out := []int{}
	for _, i := range issues {
		out = append(out, int(i.Code))
	}
	return out
}

func sortedCodes(r customer.Result) []int {
	c := append(codes(r.Errors), codes(r.Warnings)...)
	sort.Ints(c)
	return c
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func atoi(s string) int64 {
	i, _ := strconv.ParseInt(s, 10, 64)
	return i
}

// Command builders.

func id(t, v string) customer.Identifier { return customer.Identifier{Type: t, Value: v} }

func reg(org int64, source, acct string, ids ...customer.Identifier) customer.Command {
	return customer.Command{Org: org, Op: customer.OpRegister, Source: source, AccountID: acct, Time: t0,
		Register: &customer.CustomerBody{Profiles: []customer.ProfileInput{{Identifiers: ids}}}}
}

func upd(org, cid int64, source, acct string, body customer.CustomerBody) customer.Command {
	return customer.Command{Org: org, Op: customer.OpUpdate, Source: source, AccountID: acct, CustomerID: cid, Time: t0, Update: &body}
}

func chg(org, cid int64, source, acct string, add, remove []customer.Identifier) customer.Command {
	return customer.Command{Org: org, Op: customer.OpChangeIdentifier, Source: source, AccountID: acct, CustomerID: cid, Time: t0,
		ChangeIdentifier: &customer.ChangeIdentifierBody{Add: add, Remove: remove}}
}

func subs(org, cid int64, source string, ss ...customer.Subscription) customer.Command {
	return customer.Command{Org: org, Op: customer.OpSubscriptions, Source: source, CustomerID: cid, Time: t0,
		Subscriptions: &customer.SubscriptionsBody{Subscriptions: ss}}
}

func ids(xs ...customer.Identifier) []customer.Identifier { return xs }

// Query wrappers that record codes.

func lookup(tb testing.TB, cfg customer.Config, st *store, org int64, source, acct, name, value string) customer.LookupView {
	tb.Helper()
	v, err := customer.Lookup(cfg, st.view(), org, source, acct, name, value)
	if err != nil {
		tb.Fatal(err)
	}
	record(v.Errors...)
	record(v.Warnings...)
	return v
}

func fetch(tb testing.TB, cfg customer.Config, st *store, org int64, req customer.FetchRequest) customer.FetchView {
	tb.Helper()
	v, err := customer.Fetch(cfg, st.view(), org, req)
	if err != nil {
		tb.Fatal(err)
	}
	record(v.Errors...)
	record(v.Warnings...)
	return v
}

func search(tb testing.TB, cfg customer.Config, st *store, org int64, q string, limit, offset int) customer.SearchView {
	tb.Helper()
	v, err := customer.Search(cfg, st.view(), org, q, limit, offset)
	if err != nil {
		tb.Fatal(err)
	}
	record(v.Errors...)
	record(v.Warnings...)
	return v
}

func loyaltyDetails(tb testing.TB, cfg customer.Config, st *store, org, cid, program int64) customer.LoyaltyDetailsView {
	tb.Helper()
	v, err := customer.LoyaltyDetails(cfg, st.view(), org, cid, program)
	if err != nil {
		tb.Fatal(err)
	}
	record(v.Errors...)
	return v
}

func subscriptionsOf(tb testing.TB, cfg customer.Config, st *store, org, cid int64) customer.SubscriptionsView {
	tb.Helper()
	v, err := customer.SubscriptionsOf(cfg, st.view(), org, cid)
	if err != nil {
		tb.Fatal(err)
	}
	record(v.Errors...)
	return v
}
