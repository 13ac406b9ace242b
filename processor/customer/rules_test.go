package customer_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// step is one command of a table test and what it must give. In cmd, a
// negative CustomerID -k means "the createdId of step k" (1-based), so the
// tables do not depend on how the store allocates ids; created uses the
// same convention (0: not checked; -k: equal to step k's; fresh: an id no
// earlier step returned).
type step struct {
	cmd     customer.Command
	ok      bool
	codes   []int // errors and warnings, sorted
	created int64
	fresh   bool
}

type ruleCase struct {
	name  string
	steps []step
}

func runSteps(t *testing.T, cfg customer.Config, st *store, steps []step) []customer.Outcome {
	t.Helper()
	var outs []customer.Outcome
	seenIDs := map[int64]bool{}
	resolve := func(x int64) int64 {
		if x < 0 {
			return outs[-x-1].Result.CreatedID
		}
		return x
	}
	for i, s := range steps {
		cmd := s.cmd
		cmd.CustomerID = resolve(cmd.CustomerID)
		cmd.RequestID = "r" + itoa(int64(i+1))
		out := apply(t, cfg, st, cmd)
		r := out.Result
		if r.Success != s.ok {
			t.Fatalf("step %d (%s): success = %v, want %v; errors %v warnings %v", i+1, cmd.Op, r.Success, s.ok, r.Errors, r.Warnings)
		}
		want := s.codes
		if want == nil {
			want = []int{}
		}
		if got := sortedCodes(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d (%s): codes %v, want %v; errors %v warnings %v", i+1, cmd.Op, got, want, r.Errors, r.Warnings)
		}
		if s.created != 0 && r.CreatedID != resolve(s.created) {
			t.Fatalf("step %d: createdId %d, want %d", i+1, r.CreatedID, resolve(s.created))
		}
		if s.fresh && (r.CreatedID <= 0 || seenIDs[r.CreatedID]) {
			t.Fatalf("step %d: createdId %d is not a fresh id", i+1, r.CreatedID)
		}
		if !r.Success && (len(out.Changed) > 0 || len(out.Merges) > 0) {
			t.Fatalf("step %d: failed command changed %v / merged %v", i+1, out.Changed, out.Merges)
		}
		seenIDs[r.CreatedID] = true
		outs = append(outs, out)
	}
	return outs
}

func runCases(t *testing.T, cases []ruleCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, testConfig(), newStore(t), tc.steps)
		})
	}
}

const (
	in = "INSTORE"
	mj = "MARTJACK"
	wc = "WECHAT"
	fb = "FACEBOOK"
)

var (
	m1 = id("mobile", "919111111111")
	m2 = id("mobile", "919222222222")
	e1 = id("email", "tom@example.com")
	e2 = id("email", "huck@example.com")
)

func withBody(c customer.Command, f func(b *customer.CustomerBody)) customer.Command {
	b := *c.Register
	b.Profiles = append([]customer.ProfileInput(nil), b.Profiles...)
	f(&b)
	c.Register = &b
	return c
}

func TestRegister(t *testing.T) {
	runCases(t, []ruleCase{
		{"fresh", []step{{cmd: reg(1, in, "", m1), ok: true, fresh: true}}},
		{"no identifier", []step{{cmd: reg(1, in, ""), codes: []int{8013}}}},
		{"unknown identifier type", []step{{cmd: reg(1, in, "", id("passport", "X1")), codes: []int{8013}}}},
		{"every invalid value reported", []step{{cmd: reg(1, in, "", id("email", "nope"), id("mobile", "12"), id("externalId", "a\x01b")), codes: []int{8055, 8056, 8064}}}},
		{"display-name email", []step{{cmd: reg(1, in, "", id("email", "Tom <tom@example.com>")), codes: []int{8055}}}},
		{"email without dot in domain", []step{{cmd: reg(1, in, "", id("email", "tom@localhost")), codes: []int{8055}}}},
		{"email local part too long", []step{{cmd: reg(1, in, "", id("email", strings.Repeat("a", 65)+"@example.com")), codes: []int{8055}}}},
		{"mobile with letters", []step{{cmd: reg(1, in, "", id("mobile", "91911111111x")), codes: []int{8056}}}},
		{"mobile too long", []step{{cmd: reg(1, in, "", id("mobile", "+1234567890123456")), codes: []int{8056}}}},
		{"externalId too long", []step{{cmd: reg(1, in, "", id("externalId", strings.Repeat("x", 129))), codes: []int{8064}}}},
		{"empty wechat", []step{{cmd: reg(1, wc, "1", id("wechat", "  ")), codes: []int{8013}}}},
		{"deny-listed values", []step{{cmd: reg(1, in, "", id("email", "TEST@test.com"), id("mobile", "000-000-0000"), id("externalId", "null"), id("fbId", "anonymous")), codes: []int{8013, 8055, 8056, 8064}}}},
		{"unknown source", []step{{cmd: reg(1, "POS", "", m1), codes: []int{8012}}}},
		{"ALL is for reads", []step{{cmd: reg(1, "ALL", "", m1), codes: []int{8012}}}},
		{"multi-account without account", []step{{cmd: reg(1, wc, "", m1), codes: []int{8045}}}},
		{"single-account with account", []step{{cmd: reg(1, in, "7", m1), codes: []int{8011}}}},
		{"bad comm channels", []step{{cmd: withBody(reg(1, in, "", m1), func(b *customer.CustomerBody) {
			b.Profiles[0].CommChannels = []customer.CommChannel{{Type: "fax", Value: "1"}, {Type: "email", Value: "x"}, {Type: "mobile", Value: "1"}}
		}), codes: []int{8010, 8057, 8058}}}},
		{"bad createDate", []step{{cmd: withBody(reg(1, in, "", m1), func(b *customer.CustomerBody) {
			b.AttributionV2 = &customer.AttributionInput{CreateDate: "yesterday"}
		}), codes: []int{8902}}}},
		{"same scope duplicate, email case-insensitive", []step{
			{cmd: reg(1, in, "", e1), ok: true, fresh: true},
			{cmd: reg(1, in, "", id("email", " TOM@Example.com ")), codes: []int{8007}},
		}},
		{"same scope duplicate, mobile normalised", []step{
			{cmd: reg(1, in, "", id("mobile", "+91 91111-11111")), ok: true},
			{cmd: reg(1, in, "", id("mobile", "(0)9111111111")), codes: []int{8007}},
			{cmd: reg(1, in, "", id("mobile", "9111111111")), codes: []int{8007}},
		}},
		{"duplicate refuses the whole command", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: reg(1, in, "", e1, m1), codes: []int{8007}},
			{cmd: reg(1, in, "", e1), ok: true, fresh: true},
		}},
		{"join other source", []step{
			{cmd: reg(1, in, "", m1), ok: true, fresh: true},
			{cmd: reg(1, mj, "", m1, e1), ok: true, codes: []int{8050}, created: -1},
			{cmd: reg(1, wc, "22232", e1), ok: true, codes: []int{8050}, created: -1},
		}},
		{"accounts of a multi-account source are separate scopes", []step{
			{cmd: reg(1, wc, "1", id("wechat", "w1")), ok: true},
			{cmd: reg(1, wc, "2", id("wechat", "w1")), ok: true, codes: []int{8050}, created: -1},
			{cmd: reg(1, wc, "1", id("wechat", "w1")), codes: []int{8007}},
		}},
		{"two holders", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: reg(1, in, "", m2), ok: true},
			{cmd: reg(1, mj, "", m1, m2), codes: []int{8053}},
		}},
		{"orgs are separate", []step{
			{cmd: reg(1, in, "", m1), ok: true, fresh: true},
			{cmd: reg(2, in, "", m1), ok: true, fresh: true},
		}},
	})
}

func TestUpdate(t *testing.T) {
	nonLoyal := customer.CustomerBody{LoyaltyInfo: &customer.LoyaltyInput{LoyaltyType: "non_loyalty"}}
	loyal := customer.CustomerBody{LoyaltyInfo: &customer.LoyaltyInput{LoyaltyType: "loyalty"}}
	withIDs := func(xs ...customer.Identifier) customer.CustomerBody {
		return customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", Identifiers: xs}}}
	}
	runCases(t, []ruleCase{
		{"unknown customer", []step{{cmd: upd(1, 999, in, "", loyal), codes: []int{8009}}}},
		{"other org's customer", []step{
			{cmd: reg(2, in, "", m1), ok: true},
			{cmd: upd(1, -1, in, "", loyal), codes: []int{8009}},
		}},
		{"loyalty cannot become non_loyalty", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: upd(1, -1, in, "", nonLoyal), codes: []int{8018}},
		}},
		{"non_loyalty becomes loyalty", []step{
			{cmd: withBody(reg(1, in, "", m1), func(b *customer.CustomerBody) { b.LoyaltyInfo = nonLoyal.LoyaltyInfo }), ok: true},
			{cmd: upd(1, -1, in, "", nonLoyal), ok: true, created: -1},
			{cmd: upd(1, -1, in, "", loyal), ok: true, created: -1},
			{cmd: upd(1, -1, in, "", nonLoyal), codes: []int{8018}},
		}},
		{"identifier held by another in scope", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: reg(1, in, "", m2), ok: true},
			{cmd: upd(1, -1, in, "", withIDs(m1, m2)), codes: []int{8008}},
		}},
		{"own identifiers ignored, unheld ones warned", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: upd(1, -1, in, "", withIDs(m1)), ok: true, created: -1},
			{cmd: upd(1, -1, in, "", withIDs(m1, e1)), ok: true, codes: []int{8900}, created: -1},
			{cmd: reg(1, in, "", e1), ok: true, fresh: true}, // e1 was not added
		}},
		{"invalid values", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: upd(1, -1, in, "", withIDs(id("email", "x"))), codes: []int{8055}},
			{cmd: upd(1, -1, "NOPE", "", loyal), codes: []int{8012}},
			{cmd: upd(1, -1, fb, "", loyal), codes: []int{8045}},
		}},
		{"new scope gains a profile", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: upd(1, -1, fb, "9", withIDs()), ok: true, created: -1},
		}},
	})
}

func TestChangeIdentifier(t *testing.T) {
	runCases(t, []ruleCase{
		{"unknown customer", []step{{cmd: chg(1, 999, in, "", ids(m1), nil), codes: []int{8009}}}},
		{"nothing to do", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: chg(1, -1, in, "", nil, nil), codes: []int{8013}},
		}},
		{"invalid values", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: chg(1, -1, in, "", ids(id("email", "@x"), id("mobile", "1"), id("externalId", "")), ids(id("gplus", "1"))), codes: []int{8013, 8055, 8056, 8064}},
		}},
		{"added and removed at once", []step{
			{cmd: reg(1, in, "", m1, e1), ok: true},
			{cmd: chg(1, -1, in, "", ids(m1), ids(m1)), codes: []int{8013}},
		}},
		{"add new, add held, remove", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: chg(1, -1, in, "", ids(e1, m1), nil), ok: true, created: -1},
			{cmd: chg(1, -1, in, "", nil, ids(m1)), ok: true, created: -1},
			{cmd: reg(1, in, "", m1), ok: true, fresh: true}, // m1 released
		}},
		{"add held by another in scope", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: reg(1, in, "", m2), ok: true},
			{cmd: chg(1, -2, in, "", ids(m1), nil), codes: []int{8007}},
		}},
		{"remove what the customer does not hold there", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: reg(1, mj, "", e1), ok: true},
			{cmd: chg(1, -1, in, "", nil, ids(e1)), codes: []int{8015}},
			{cmd: chg(1, -1, mj, "", nil, ids(m1)), codes: []int{8015}},
		}},
		{"remove the last identifier", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: chg(1, -1, in, "", nil, ids(m1)), codes: []int{8901}},
			{cmd: chg(1, -1, in, "", ids(e1), ids(m1)), ok: true}, // swap is fine
		}},
		{"merge into the holder in another scope", []step{
			{cmd: reg(1, in, "", m1), ok: true},                      // S
			{cmd: reg(1, wc, "22232", id("wechat", "w1")), ok: true}, // V
			{cmd: chg(1, -2, wc, "22232", ids(m1), nil), ok: true, codes: []int{8051}, created: -1},
			{cmd: upd(1, -2, wc, "22232", customer.CustomerBody{}), codes: []int{8069}},
			{cmd: subs(1, -2, in), codes: []int{8069}},
			{cmd: chg(1, -2, wc, "22232", ids(e1), nil), codes: []int{8053}},
			{cmd: reg(1, wc, "22232", id("wechat", "w1")), codes: []int{8007}}, // w1 moved to S
			{cmd: reg(1, mj, "", id("wechat", "w1")), ok: true, codes: []int{8050}, created: -1},
		}},
		{"adds pointing at two customers", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: reg(1, in, "", m2), ok: true},
			{cmd: reg(1, mj, "", e1), ok: true},
			{cmd: chg(1, -3, mj, "", ids(m1, m2), nil), codes: []int{8053}},
		}},
		{"add identifier the customer holds elsewhere", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: chg(1, -1, mj, "", ids(m1), nil), ok: true, created: -1},
			{cmd: reg(1, mj, "", m1), codes: []int{8007}},
		}},
		{"scope errors", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: chg(1, -1, wc, "", ids(e1), nil), codes: []int{8045}},
			{cmd: chg(1, -1, mj, "x", ids(e1), nil), codes: []int{8011}},
		}},
	})
}

func TestSubscriptionsCommand(t *testing.T) {
	sub := func(ch, pr, ty, acct string) customer.Subscription {
		return customer.Subscription{Channel: ch, Priority: pr, Type: ty, AccountID: acct}
	}
	runCases(t, []ruleCase{
		{"unknown customer", []step{{cmd: subs(1, 42, in, sub("SMS", "BULK", "OPTOUT", "")), codes: []int{8009}}}},
		{"bad entries", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: subs(1, -1, in, sub("FAX", "BULK", "OPTIN", ""), sub("SMS", "NOW", "OPTIN", ""), sub("SMS", "BULK", "MAYBE", ""), sub("SMS", "BULK", "OPTIN", "a\nb")), codes: []int{8010, 8010, 8010, 8011}},
			{cmd: subs(1, -1, "ALL", sub("SMS", "BULK", "OPTIN", "")), codes: []int{8012}},
		}},
		{"no-op and change", []step{
			{cmd: reg(1, in, "", m1), ok: true},
			{cmd: subs(1, -1, in, sub("sms", "bulk", "optin", "")), ok: true, created: -1},
			{cmd: subs(1, -1, wc, sub("SMS", "BULK", "OPTOUT", ""), sub("WECHAT", "TRANS", "OPTIN", "22232")), ok: true},
		}},
	})

	cfg, st := testConfig(), newStore(t)
	c := apply(t, cfg, st, reg(1, in, "", m1)).Result.CreatedID
	out := apply(t, cfg, st, subs(1, c, in, sub("SMS", "BULK", "OPTIN", ""), sub("EMAIL", "BULK", "OPTOUT", ""), sub("SMS", "TRANS", "OPTOUT", "123")))
	want := []customer.Subscription{sub("EMAIL", "BULK", "OPTOUT", ""), sub("SMS", "TRANS", "OPTOUT", "123")}
	if !reflect.DeepEqual(out.Result.Subscriptions, want) {
		t.Fatalf("echo %+v, want %+v", out.Result.Subscriptions, want)
	}
	out = apply(t, cfg, st, subs(1, c, in, sub("EMAIL", "BULK", "OPTOUT", "")))
	if len(out.Result.Subscriptions) != 0 || len(out.Changed) != 0 {
		t.Fatalf("no-op changed something: %+v", out)
	}
	got := subscriptionsOf(t, cfg, st, 1, c).Subscriptions
	if len(got) != 5 || got[0] != (customer.SubscriptionView{Channel: "EMAIL", Priority: "TRANS", Type: "OPTIN"}) {
		t.Fatalf("subscriptions %+v", got)
	}
}
