package customer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
	"github.com/custream/custream/state"
)

// Limits that need loops or exact arithmetic; the rest are cases of
// testdata/rules/limits.txt.

// TestProfilesPerCustomer: a customer gains profiles through updates in new
// scopes; the 32nd is accepted, the 33rd refused, and nothing changes.
func TestProfilesPerCustomer(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	c := apply(t, cfg, st, reg(1, in, "", m1)).Result.CreatedID
	for i := 2; i <= customer.MaxProfilesPerCustomer; i++ {
		r := apply(t, cfg, st, upd(1, c, wc, fmt.Sprintf("a%d", i), customer.CustomerBody{})).Result
		if !r.Success {
			t.Fatalf("profile %d refused: %v", i, r.Errors)
		}
	}
	before := st.dump()
	r := apply(t, cfg, st, upd(1, c, wc, "one-too-many", customer.CustomerBody{})).Result
	if r.Success || len(r.Errors) != 1 || r.Errors[0].Code != customer.CodeCustomerFull {
		t.Fatalf("profile %d: %+v, want 8905", customer.MaxProfilesPerCustomer+1, r)
	}
	if st.dump() != before {
		t.Fatal("a refused update changed the state")
	}
	// Growing elsewhere still works: the limit is on profiles, not on the
	// customer being touched.
	if r := apply(t, cfg, st, upd(1, c, in, "", customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom"}}})).Result; !r.Success {
		t.Fatalf("update of an existing profile: %v", r.Errors)
	}
}

// TestProfilesPerCustomerMerge: a merge that would give the survivor more
// than MaxProfilesPerCustomer profiles is refused like any other growth.
func TestProfilesPerCustomerMerge(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	s := apply(t, cfg, st, reg(1, in, "", m1)).Result.CreatedID
	for i := 2; i <= customer.MaxProfilesPerCustomer-1; i++ {
		apply(t, cfg, st, upd(1, s, wc, fmt.Sprintf("a%d", i), customer.CustomerBody{}))
	}
	v := apply(t, cfg, st, reg(1, mj, "", e1)).Result.CreatedID
	apply(t, cfg, st, upd(1, v, fb, "f1", customer.CustomerBody{}))
	// V has 2 profiles and S 31; merging V into S gives 33 (V gains none:
	// the command's scope is one V has).
	r := apply(t, cfg, st, chg(1, v, mj, "", ids(m1), nil)).Result
	if r.Success || sortedCodes(r)[0] != int(customer.CodeCustomerFull) {
		t.Fatalf("merge to 33 profiles: %+v, want 8905", r)
	}
	// With one profile less on V's side the merge fits exactly.
	v2 := apply(t, cfg, st, reg(1, mj, "", e2)).Result.CreatedID
	if r := apply(t, cfg, st, chg(1, v2, mj, "", ids(m1), nil)).Result; !r.Success || r.CreatedID != s {
		t.Fatalf("merge to 32 profiles: %+v", r)
	}
}

// TestCustomerWeightBoundary fills one customer through updates until its
// weight is a few bytes under MaxCustomerWeight, then sends one field that
// takes it one byte over (refused, 8905) and one that lands exactly on the
// limit (accepted).
func TestCustomerWeightBoundary(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	c := apply(t, cfg, st, reg(1, in, "", m1)).Result.CreatedID
	weight := func() int { return st.get(c).Weight() }
	field := func(acct, k, v string) customer.Result {
		src := in
		if acct != "" {
			src = wc
		}
		body := customer.CustomerBody{Profiles: []customer.ProfileInput{{Fields: map[string]string{k: v}}}}
		return apply(t, cfg, st, upd(1, c, src, acct, body)).Result
	}
	// Heavy entries: every "<" counts 6 bytes (\u003c), so one entry
	// weighs 6 + 64×6 + 256×6 = 1926; light ones 6 + 8 + 256 = 270.
	heavyK, heavyV := strings.Repeat("<", customer.MaxFieldKeyLen-3), strings.Repeat("<", customer.MaxFieldValueLen)
	scopes, n := []string{""}, 0
	add := func(k, v string) {
		if n == customer.MaxFields {
			scopes, n = append(scopes, fmt.Sprintf("w%d", len(scopes))), 0
		}
		acct := scopes[len(scopes)-1]
		if r := field(acct, fmt.Sprintf("%03d", n)+k, v); !r.Success {
			t.Fatalf("filling at weight %d: %v", weight(), r.Errors)
		}
		n++
	}
	for customer.MaxCustomerWeight-weight() > 2*1926+512+10*8 {
		add(heavyK, heavyV)
	}
	// Light entries of 14 + v bytes bring the rest to between 100 and
	// 262 bytes, so one last field of up to 256 letters fills it.
	for rest := customer.MaxCustomerWeight - weight(); rest > 262; rest = customer.MaxCustomerWeight - weight() {
		add("light", strings.Repeat("a", max(0, min(customer.MaxFieldValueLen, rest-14-100))))
	}
	if n == customer.MaxFields {
		t.Fatal("the last profile is full: change the filler")
	}
	// One new field "z" with value of m letters in the last scope adds
	// exactly 6 + 1 + m.
	rest := customer.MaxCustomerWeight - weight()
	m := rest - 7
	if m < 0 || m+1 > customer.MaxFieldValueLen {
		t.Fatalf("rest %d: cannot be filled by one field", rest)
	}
	acct := scopes[len(scopes)-1]
	before := st.dump()
	r := field(acct, "z", strings.Repeat("a", m+1))
	if r.Success || len(r.Errors) != 1 || r.Errors[0].Code != customer.CodeCustomerFull {
		t.Fatalf("one byte over: %+v, want 8905", r)
	}
	if st.dump() != before {
		t.Fatal("a refused update changed the state")
	}
	if r := field(acct, "z", strings.Repeat("a", m)); !r.Success {
		t.Fatalf("exactly at the limit: %v", r.Errors)
	}
	if w := weight(); w != customer.MaxCustomerWeight {
		t.Fatalf("weight %d, want exactly %d", w, customer.MaxCustomerWeight)
	}
	// The heaviest customer the limits allow still has small records.
	checkWeight(t, cfg, st, st.get(c))
	// A customer at the limit can still change without growing.
	if r := field(acct, "z", strings.Repeat("b", m)); !r.Success {
		t.Fatalf("same-size change at the limit: %v", r.Errors)
	}
}

// TestWeightBoundsEncodings: Weight is an upper bound of the JSON snapshot,
// the Avro snapshot and the state document, for random customers with
// every kind of awkward text (escaped characters, non-ASCII, line
// separators) and with conflicting profiles.
func TestWeightBoundsEncodings(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	r := rand.New(rand.NewSource(7))
	alphabet := []string{"a", "Z", "7", " ", "<", ">", "&", "\"", "\\", "é", "顧", "👩", "\u2028", "\u2029", "\u200d", "'", "/"}
	text := func(max int) string {
		var b strings.Builder
		for range r.Intn(max + 1) {
			b.WriteString(alphabet[r.Intn(len(alphabet))])
		}
		return b.String()
	}
	fields := func(n, k, v int) map[string]string {
		m := map[string]string{}
		for range r.Intn(n + 1) {
			m[text(k)] = text(v)
		}
		return m
	}
	var profile func(depth int) customer.Profile
	profile = func(depth int) customer.Profile {
		p := customer.Profile{Source: []string{in, mj, wc, fb}[r.Intn(4)], AccountID: text(customer.MaxAccountIDLen),
			FirstName: text(customer.MaxNameLen), LastName: text(customer.MaxNameLen),
			Fields:     fields(customer.MaxFields, customer.MaxFieldKeyLen, customer.MaxFieldValueLen),
			CreateDate: t0.Add(time.Duration(r.Int63n(1 << 50))), ModifiedDate: time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC)}
		for range r.Intn(6) {
			p.Identifiers = append(p.Identifiers, customer.Identifier{Type: "externalId", Value: text(customer.MaxExternalIDLen)})
		}
		for range r.Intn(4) {
			meta := map[string]bool{}
			for range r.Intn(customer.MaxChannelMeta + 1) {
				meta[text(customer.MaxFieldKeyLen)] = r.Intn(2) == 0
			}
			p.CommChannels = append(p.CommChannels, customer.CommChannel{Type: "wechat", Value: text(customer.MaxCommChannelLen), Primary: true, Meta: meta})
		}
		for depth < 1 && r.Intn(3) == 0 {
			p.Conflicting = append(p.Conflicting, profile(depth+1))
		}
		return p
	}
	for i := range 200 {
		c := &customer.Customer{ID: int64(1 + r.Intn(1<<40)), Org: 1, LoyaltyType: []string{"loyalty", "non_loyalty"}[r.Intn(2)],
			ExtendedFields: fields(customer.MaxExtendedFields, customer.MaxFieldKeyLen, customer.MaxFieldValueLen),
			CreateDate:     t0, ModifiedDate: t0.Add(time.Duration(i) * time.Hour)}
		for range 1 + r.Intn(4) {
			c.Profiles = append(c.Profiles, profile(0))
		}
		for range r.Intn(8) {
			c.Subscriptions = append(c.Subscriptions, customer.Subscription{Channel: "SMS", Priority: "BULK", Type: "OPTOUT", AccountID: text(customer.MaxAccountIDLen)})
		}
		checkWeight(t, cfg, st, c)
	}
}

// checkWeight checks that c's JSON snapshot, Avro snapshot and state
// document each take at most c.Weight() bytes.
func checkWeight(t *testing.T, cfg customer.Config, st *store, c *customer.Customer) {
	t.Helper()
	w := c.Weight()
	js, err := json.Marshal(customer.Snapshot(c))
	if err != nil {
		t.Fatal(err)
	}
	avro, err := schemas.EncodeSnapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) > w || len(avro) > w {
		t.Fatalf("customer %d weighs %d, but its JSON snapshot is %d bytes and Avro %d", c.ID, w, len(js), len(avro))
	}
	if err := st.open().PutCustomer(c); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, kv := range st.pending() {
		if d, err := state.DecodeCustomer(kv.Value); err == nil && d.ID == c.ID {
			found = true
			if len(kv.Value) > w {
				t.Fatalf("customer %d weighs %d, but its state document is %d bytes", c.ID, w, len(kv.Value))
			}
		}
	}
	if !found {
		t.Fatalf("customer %d: no state document in the batch", c.ID)
	}
	st.batch.Close()
	st.batch = nil
}

// TestGrownBeforeTheLimits: a customer stored before the limits existed
// (here: written straight to the store) may still change where it does not
// grow, and cannot grow further where it is over.
func TestGrownBeforeTheLimits(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	b := st.open()
	id, err := b.NextID()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for i := range customer.MaxFields + 10 {
		fields[fmt.Sprintf("f%d", i)] = "x"
	}
	legacy := &customer.Customer{ID: id, Org: 1, LoyaltyType: "loyalty", CreateDate: t0, ModifiedDate: t0, Subscriptions: customer.DefaultSubscriptions(),
		Profiles: []customer.Profile{{Source: in, FirstName: strings.Repeat("x", 300_000), Fields: fields,
			Identifiers: []customer.Identifier{m1}, CreateDate: t0, ModifiedDate: t0}}}
	if err := b.PutCustomer(legacy); err != nil {
		t.Fatal(err)
	}
	st.flush()
	if w := legacy.Weight(); w <= customer.MaxCustomerWeight {
		t.Fatalf("legacy customer weighs only %d", w)
	}
	// An opt-out never grows a customer (subscription states weigh the
	// same), so it works even on one over the weight limit.
	if r := apply(t, cfg, st, subs(1, id, in, customer.Subscription{Channel: "SMS", Priority: "BULK", Type: "OPTOUT"})).Result; !r.Success {
		t.Fatalf("opt-out of a legacy customer: %v", r.Errors)
	}
	for _, grow := range []customer.ProfileInput{
		{Fields: map[string]string{"new": "y"}}, // more fields than 50: over, and more than before
		{LastName: "Sawyer"},                    // heavier, while over the weight limit
	} {
		body := customer.CustomerBody{Profiles: []customer.ProfileInput{grow}}
		if r := apply(t, cfg, st, upd(1, id, in, "", body)).Result; r.Success || r.Errors[0].Code != customer.CodeCustomerFull {
			t.Fatalf("growing update %+v of a legacy customer: %+v, want 8905", grow, r)
		}
	}
	// Changes that do not grow it are fine, and bring it back in bounds.
	rename := customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", Fields: map[string]string{"f1": "y"}}}}
	if r := apply(t, cfg, st, upd(1, id, in, "", rename)).Result; !r.Success {
		t.Fatalf("shrinking update of a legacy customer: %v", r.Errors)
	}
	if w := st.get(id).Weight(); w > customer.MaxCustomerWeight {
		t.Fatalf("renamed legacy customer still weighs %d", w)
	}
}

// TestHostileBodies: the issue's attacks come back as one small result,
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
		{"1 MB accountId", reg(1, wc, strings.Repeat("7", 1<<20), m1), []int{8011}},
		{"1 MB source", reg(1, strings.Repeat("S", 1<<20), "", m1), []int{8012}},
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

// TestResultSizeBound: the largest result a command can produce: the most
// errors a result lists, each quoting the longest echo of the worst
// characters, plus the longest request id and accountId.
func TestResultSizeBound(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	worst := strings.Repeat("\U0010FFFF", 1000) // quoted as \U0010ffff
	var idents []customer.Identifier
	for range customer.MaxIdentifiersPerBody {
		idents = append(idents, id("externalId", worst))
	}
	cmd := withBody(reg(1, wc, strings.Repeat("a", customer.MaxAccountIDLen), idents...), func(b *customer.CustomerBody) {
		b.Profiles[0].FirstName, b.Profiles[0].LastName = worst, worst
	})
	cmd.RequestID = strings.Repeat("r", customer.MaxRequestIDLen)
	r := apply(t, cfg, st, cmd).Result
	if len(r.Errors) != customer.MaxIssues || r.Errors[customer.MaxIssues-1].Code != customer.CodeMoreIssues {
		t.Fatalf("%d errors, last %+v", len(r.Errors), r.Errors[len(r.Errors)-1])
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 32<<10 {
		t.Fatalf("worst result is %d bytes", len(b))
	}
	t.Logf("worst result: %d bytes", len(b))
}

func TestCheckRequestID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"", true},
		{"req-2 ✓ 顧客", true},
		{strings.Repeat("r", customer.MaxRequestIDLen), true},
		{strings.Repeat("顧", customer.MaxRequestIDLen/3), true},
		{strings.Repeat("r", customer.MaxRequestIDLen+1), false},
		{strings.Repeat("顧", customer.MaxRequestIDLen/3+1), false}, // 258 bytes: the limit is in bytes
		{"a\x00b", false},
		{"a\tb", false},
		{"a\xffb", false},
	} {
		err := customer.CheckRequestID(tc.id)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, customer.ErrBadRequestID)) {
			t.Errorf("CheckRequestID(%.20q…, %d bytes) = %v, want ok=%v", tc.id, len(tc.id), err, tc.ok)
		}
		if err != nil && len(err.Error()) > 100+4*customer.MaxEchoLen {
			t.Errorf("error of %d bytes", len(err.Error()))
		}
		_, aerr := customer.Apply(testConfig(), nil, customer.Command{RequestID: tc.id, Op: customer.OpRegister})
		if !tc.ok && !errors.Is(aerr, customer.ErrBadCommand) {
			t.Errorf("Apply with request id %.20q: %v, want ErrBadCommand", tc.id, aerr)
		}
	}
}

// TestLimitTable: the documented table is complete and consistent.
func TestLimitTable(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range customer.LimitTable {
		if l.Value <= 0 || l.Name == "" || seen[l.Name] {
			t.Errorf("limit %+v: want a positive value and a unique name", l)
		}
		seen[l.Name] = true
		if l.Code != 0 && l.Code.Message() == fmt.Sprintf("error %d", int(l.Code)) {
			t.Errorf("limit %q: code %d is not in the catalogue", l.Name, l.Code)
		}
		if l.Unit != "" && l.Unit != "bytes" && l.Unit != "characters" {
			t.Errorf("limit %q: unit %q", l.Name, l.Unit)
		}
	}
}

// TestLimitsDocumented holds docs/wire.md's table of command limits to
// LimitTable, row by row: the code owns the limits, the doc shows them.
func TestLimitsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/wire.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range customer.LimitTable {
		if row := customer.LimitRow(l); !strings.Contains(string(doc), row+"\n") {
			t.Errorf("docs/wire.md lacks the row\n%s", row)
		}
	}
}
