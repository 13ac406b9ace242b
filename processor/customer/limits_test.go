package customer_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// Limits that need big inputs; the rest are cases of
// testdata/rules/limits.txt.

// TestHostileBodies: the attacks come back as one small result,
// and refusing them does not read their values.
func TestHostileBodies(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	many := func(n int, f func(i int) customer.Identifier) []customer.Identifier {
		out := make([]customer.Identifier, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		cmd   customer.Command
		codes []int
	}{
		{"110k e-mails", reg(1, in, "", many(110_000, func(i int) customer.Identifier { return id("email", fmt.Sprintf("u%d@example.com", i)) })...), []int{8903}},
		{"25k invalid e-mails", reg(1, in, "", many(25_000, func(i int) customer.Identifier { return id("email", fmt.Sprintf("bad%d", i)) })...), []int{8903}},
		{"300,000-character name", withBody(reg(1, in, "", m1), func(b *customer.CustomerBody) { b.Profiles[0].FirstName = strings.Repeat("x", 300_000) }), []int{8904}},
		{"1 MB identifier", reg(1, in, "", id("externalId", strings.Repeat("x", 1<<20))), []int{8064}},
		{"changeIdentifier of 50k", chg(1, 1, in, "", many(50_000, func(i int) customer.Identifier { return id("wechat", fmt.Sprint(i)) }), nil), []int{8903}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := apply(t, cfg, st, tc.cmd).Result
			if got := sortedCodes(r); fmt.Sprint(got) != fmt.Sprint(tc.codes) {
				t.Fatalf("codes %v, want %v: %v", got, tc.codes, r.Errors)
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 1024 {
				t.Fatalf("result is %d bytes: %s", len(b), b)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
