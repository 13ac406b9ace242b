package customer_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/custream/custream/processor/customer"
)

func TestLookupErrors(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	a := apply(t, cfg, st, reg(1, wc, "22232", m1)).Result.CreatedID
	cases := []struct {
		src, acct, name, val string
		entity               int64
		code                 customer.Code
	}{
		{wc, "22232", "mobile", "919111111111", a, 0},
		{"wechat", "22232", "mobile", "+91 (911) 111-1111", a, 0},
		{"ALL", "", "mobile", "9111111111", a, 0},
		{"ALL", "", "mobile", "919222222222", 0, customer.CodeNotFoundByIdentifier},
		{wc, "1", "mobile", "919111111111", 0, customer.CodeNotFoundInSource},
		{in, "", "mobile", "919111111111", 0, customer.CodeNotFoundInSource},
		{in, "", "passport", "1", 0, customer.CodeInvalidIdentifier},
		{in, "", "email", "x@", 0, customer.CodeInvalidEmail},
		{wc, "", "mobile", "919111111111", 0, customer.CodeMissingAccountID},
		{in, "3", "mobile", "919111111111", 0, customer.CodeInvalidSourceAccount},
		{"POS", "", "mobile", "919111111111", 0, customer.CodeInvalidSource},
	}
	for _, c := range cases {
		v := lookup(t, cfg, st, 1, c.src, c.acct, c.name, c.val)
		var code customer.Code
		if len(v.Errors) > 0 {
			code = v.Errors[0].Code
		}
		if v.Entity != c.entity || code != c.code {
			t.Errorf("lookup %+v = %+v", c, v)
		}
	}
	// Another org's customer does not exist for this org.
	if v := lookup(t, cfg, st, 2, "ALL", "", "mobile", "919111111111"); v.Entity != 0 {
		t.Errorf("org 2 sees org 1's customer: %+v", v)
	}
}

func TestFetch(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	r := reg(1, wc, "22232", m1)
	r.Register.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: "non_loyalty"}
	a := apply(t, cfg, st, r).Result.CreatedID
	b := apply(t, cfg, st, reg(1, in, "", m2)).Result.CreatedID

	errCode := func(v customer.FetchView) customer.Code {
		if len(v.Errors) == 0 {
			return 0
		}
		return v.Errors[0].Code
	}
	for _, c := range []struct {
		req  customer.FetchRequest
		org  int64
		code customer.Code
	}{
		{customer.FetchRequest{ID: a, Source: "ALL"}, 1, 0},
		{customer.FetchRequest{ID: a, Source: wc, AccountID: "22232"}, 1, 0},
		{customer.FetchRequest{ID: a, Source: in}, 1, customer.CodeNotFoundInSource},
		{customer.FetchRequest{ID: a, Source: wc}, 1, customer.CodeMissingAccountID},
		{customer.FetchRequest{ID: a, Source: "NOPE"}, 1, customer.CodeInvalidSource},
		{customer.FetchRequest{ID: 12345, Source: "ALL"}, 1, customer.CodeNoSuchCustomer},
		{customer.FetchRequest{ID: a, Source: "ALL"}, 2, customer.CodeNoSuchCustomer},
	} {
		if got := errCode(fetch(t, cfg, st, c.org, c.req)); got != c.code {
			t.Errorf("fetch %+v in org %d: code %d, want %d", c.req, c.org, got, c.code)
		}
	}

	// Embeds: a non-loyalty customer has no points (warning 8089).
	v := fetch(t, cfg, st, 1, customer.FetchRequest{ID: a, Source: "ALL", Embed: `"points",mlp,subscriptions`})
	if v.PointsSummary != nil || v.LoyaltyProgramDetails != nil || len(v.Warnings) != 2 || v.SubscriptionInfo == nil {
		t.Fatalf("non-loyalty embeds: %+v", v)
	}
	v = fetch(t, cfg, st, 1, customer.FetchRequest{ID: b, Source: in, Embed: "points,mlp"})
	if v.PointsSummary == nil || v.PointsSummary.LoyaltyID != b || len(v.LoyaltyProgramDetails) != 1 || v.LoyaltyProgramDetails[0].ProgramID != cfg.LoyaltyProgramID {
		t.Fatalf("loyalty embeds: %+v", v)
	}

	if d := loyaltyDetails(t, cfg, st, 1, a, 0); len(d.Errors) != 1 || d.Errors[0].Code != customer.CodeNotInLoyaltyProgram {
		t.Fatalf("loyaltyDetails of a non-loyalty customer: %+v", d)
	}
	if d := loyaltyDetails(t, cfg, st, 1, b, 999); len(d.Errors) != 1 || d.Errors[0].Code != customer.CodeNotInLoyaltyProgram {
		t.Fatalf("loyaltyDetails of another program: %+v", d)
	}
	if d := loyaltyDetails(t, cfg, st, 1, b, cfg.LoyaltyProgramID); len(d.Errors) != 0 || len(d.Data) != 1 {
		t.Fatalf("loyaltyDetails: %+v", d)
	}
	if d := loyaltyDetails(t, cfg, st, 1, 777, 0); len(d.Errors) != 1 || d.Errors[0].Code != customer.CodeNoSuchCustomer {
		t.Fatalf("loyaltyDetails of nobody: %+v", d)
	}
	if s := subscriptionsOf(t, cfg, st, 2, b); len(s.Errors) != 1 || s.Errors[0].Code != customer.CodeNoSuchCustomer {
		t.Fatalf("subscriptions of another org's customer: %+v", s)
	}
}

func TestSearch(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	var made []int64
	for i := range 25 {
		r := reg(1, in, "", id("externalId", fmt.Sprintf("EXT-%02d", i)))
		r.Register.Profiles[0].FirstName = "Tom"
		r.Register.Profiles[0].LastName = fmt.Sprintf("Sawyer%d", i%2)
		made = append(made, apply(t, cfg, st, r).Result.CreatedID)
	}
	apply(t, cfg, st, reg(2, in, "", id("externalId", "tom-other-org")))

	v := search(t, cfg, st, 1, "TOM", 0, 0)
	if v.Pagination != (customer.Pagination{Limit: 10, Offset: 0, Total: 25}) || len(v.Data) != 10 || v.Data[0].UserID != made[24] {
		t.Fatalf("first page: %+v", v.Pagination)
	}
	if want := []customer.Match{{IDType: "firstName", IDValue: "Tom", Source: in}}; !reflect.DeepEqual(v.Data[0].MatchedIdentifiers, want) {
		t.Fatalf("matched %+v", v.Data[0].MatchedIdentifiers)
	}
	if v := search(t, cfg, st, 1, "tom", 1000, 20); v.Pagination.Limit != 100 || len(v.Data) != 5 || v.Data[4].UserID != made[0] {
		t.Fatalf("last page: %+v %d", v.Pagination, len(v.Data))
	}
	if v := search(t, cfg, st, 1, "tom sawyer1", 100, 0); v.Pagination.Total != 12 {
		t.Fatalf("two words: total %d, want 12", v.Pagination.Total)
	}
	if v := search(t, cfg, st, 1, "ext-0", 10, 0); v.Pagination.Total != 10 || v.Data[0].MatchedIdentifiers[0].IDType != "externalId" {
		t.Fatalf("identifier prefix: %+v", v)
	}
	if v := search(t, cfg, st, 1, "  ", 10, 0); v.Pagination.Total != 0 || v.Data == nil {
		t.Fatalf("empty query: %+v", v)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := customer.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := map[string]func(c *customer.Config){
		"no sources":       func(c *customer.Config) { c.Sources = nil },
		"lower-case name":  func(c *customer.Config) { c.Sources = append(c.Sources, customer.Source{Name: "pos"}) },
		"ALL as a source":  func(c *customer.Config) { c.Sources = append(c.Sources, customer.Source{Name: "ALL"}) },
		"duplicate source": func(c *customer.Config) { c.Sources = append(c.Sources, customer.Source{Name: "INSTORE"}) },
		"country code":     func(c *customer.Config) { c.DefaultCountryCode = "+91" },
		"subscription":     func(c *customer.Config) { c.DefaultSubscriptions = []customer.Subscription{{Channel: "FAX"}} },
		"program":          func(c *customer.Config) { c.LoyaltyProgramID = 0 },
	}
	for name, f := range bad {
		c := customer.DefaultConfig()
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// TestCountryCode: national numbers take the default country code only
// when one is configured.
func TestCountryCode(t *testing.T) {
	for _, c := range []struct {
		cc, in, want string
		code         customer.Code
	}{
		{"91", "9111111111", "919111111111", 0},
		{"91", "09111111111", "919111111111", 0},
		{"91", "+44 20 7946 0958", "442079460958", 0},
		{"91", "0044 20 7946 0958", "442079460958", 0},
		{"", "9111111111", "9111111111", 0},
		{"", "09111111111", "", customer.CodeInvalidMobile},
		{"91", "123", "", customer.CodeInvalidMobile},
	} {
		cfg := customer.DefaultConfig()
		cfg.DefaultCountryCode = c.cc
		st := newStore(t)
		out := apply(t, cfg, st, reg(1, in, "", id("mobile", c.in)))
		if c.code != 0 {
			if len(out.Result.Errors) != 1 || out.Result.Errors[0].Code != c.code {
				t.Errorf("%+v: %+v", c, out.Result)
			}
			continue
		}
		v := fetch(t, cfg, st, 1, customer.FetchRequest{ID: out.Result.CreatedID, Source: "ALL"})
		if got := v.Profiles[0].Identifiers[0].Value; got != c.want {
			t.Errorf("%+v: stored %q", c, got)
		}
	}
}

// TestSearchCandidateCap: a query of several words reads at most
// MaxSearchCandidates customers, those of its most selective word; past
// the cap the answer warns 8907 and counts the matches among them.
func TestSearchCandidateCap(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	n := customer.MaxSearchCandidates + 20
	var made []int64
	for i := range n {
		r := reg(1, in, "", id("externalId", fmt.Sprintf("EXT-%05d", i)))
		r.Register.Profiles[0].FirstName = "Tom"
		r.Register.Profiles[0].LastName = "Sawyer"
		made = append(made, apply(t, cfg, st, r).Result.CreatedID)
	}
	// Under the cap through the selective word: exact, no warning.
	v := search(t, cfg, st, 1, "tom ext-0001", 100, 0)
	if v.Pagination.Total != 10 || len(v.Warnings) != 0 {
		t.Fatalf("selective word: total %d, warnings %v; want 10, none", v.Pagination.Total, v.Warnings)
	}
	// Both words match more than the cap: the newest MaxSearchCandidates
	// of one are checked (and all match), the older 20 are not.
	v = search(t, cfg, st, 1, "tom sawyer", 10, 0)
	if len(v.Warnings) != 1 || v.Warnings[0].Code != customer.CodeSearchCapped {
		t.Fatalf("capped search warnings %v, want one 8907", v.Warnings)
	}
	if want := customer.MaxSearchCandidates; v.Pagination.Total != want {
		t.Errorf("capped total %d, want %d (the matches among the candidates read)", v.Pagination.Total, want)
	}
	if v.Data[0].UserID != made[n-1] {
		t.Errorf("capped search does not start with the newest: %d", v.Data[0].UserID)
	}
	if !strings.Contains(v.Warnings[0].Message, fmt.Sprint(customer.MaxSearchCandidates)) {
		t.Errorf("warning does not say the cap: %q", v.Warnings[0].Message)
	}
}
