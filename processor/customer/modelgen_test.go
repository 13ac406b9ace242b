package customer_test

import (
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/custream/custream/processor/customer"
)

// The generator.

type poolEntry struct {
	typ, canon string
	spell      []string
}

func idPool() []poolEntry {
	var p []poolEntry
	for i := range 12 {
		n := fmt.Sprintf("98765430%02d", i)
		p = append(p, poolEntry{"mobile", "91" + n, []string{"91" + n, "+91 " + n[:5] + " " + n[5:], n, "(+91) " + n[:5] + "-" + n[5:]}})
	}
	for i := range 12 {
		p = append(p, poolEntry{"email", fmt.Sprintf("user%02d@example.com", i), []string{fmt.Sprintf("user%02d@example.com", i), fmt.Sprintf(" User%02d@Example.COM", i)}})
	}
	for i := range 10 {
		p = append(p, poolEntry{"externalId", fmt.Sprintf("EXT-%02d", i), []string{fmt.Sprintf("EXT-%02d", i), fmt.Sprintf(" EXT-%02d ", i)}})
	}
	for i := range 8 {
		p = append(p, poolEntry{"wechat", fmt.Sprintf("wx%02d", i), []string{fmt.Sprintf("wx%02d", i)}})
	}
	for i := range 4 {
		p = append(p, poolEntry{"fbId", fmt.Sprintf("fb%02d", i), []string{fmt.Sprintf("fb%02d", i)}})
		p = append(p, poolEntry{"martjackId", fmt.Sprintf("mj%02d", i), []string{fmt.Sprintf("mj%02d", i)}})
	}
	return p
}

var invalidPool = []gid{
	{raw: customer.Identifier{Type: "email", Value: "not-an-email"}, code: 8055},
	{raw: customer.Identifier{Type: "email", Value: "test@test.com"}, code: 8055},
	{raw: customer.Identifier{Type: "mobile", Value: "12345"}, code: 8056},
	{raw: customer.Identifier{Type: "mobile", Value: "000-000-0000"}, code: 8056},
	{raw: customer.Identifier{Type: "externalId", Value: "null"}, code: 8064},
	{raw: customer.Identifier{Type: "externalId", Value: "bad\x01id"}, code: 8064},
	{raw: customer.Identifier{Type: "passport", Value: "P1"}, code: 8013},
	{raw: customer.Identifier{Type: "wechat", Value: "anonymous"}, code: 8013},
}

var modelScopes = []struct {
	src, acct string
	code      int
}{
	{"INSTORE", "", 0}, {"MARTJACK", "", 0}, {"WECHAT", "a1", 0}, {"WECHAT", "a2", 0}, {"FACEBOOK", "f1", 0},
}

var badScopes = []struct {
	src, acct string
	code      int
}{
	{"WECHAT", "", 8045}, {"INSTORE", "x", 8011}, {"POS", "", 8012}, {"ALL", "", 8012},
}

type gen struct {
	r     *rand.Rand
	pool  []poolEntry
	m     *model  // read only, to aim removals at held identifiers
	known []int64 // every createdId seen, of every org
	byOrg map[int64][]int64
	i     int
}

// spell returns a random spelling of the pool entry with the given key.
func (g *gen) spell(key string) gid {
	for _, e := range g.pool {
		if e.typ+":"+e.canon == key {
			return gid{raw: customer.Identifier{Type: e.typ, Value: e.spell[g.r.Intn(len(e.spell))]}, key: key}
		}
	}
	panic("no pool entry " + key)
}

func (g *gen) ident() gid {
	if g.r.Intn(25) == 0 {
		return invalidPool[g.r.Intn(len(invalidPool))]
	}
	e := g.pool[g.r.Intn(len(g.pool))]
	return gid{raw: customer.Identifier{Type: e.typ, Value: e.spell[g.r.Intn(len(e.spell))]}, key: e.typ + ":" + e.canon}
}

func (g *gen) idents(min, max int) []gid {
	n := min + g.r.Intn(max-min+1)
	out := make([]gid, n)
	for i := range out {
		out[i] = g.ident()
	}
	return out
}

func raws(gs []gid) []customer.Identifier {
	var out []customer.Identifier
	for _, x := range gs {
		out = append(out, x.raw)
	}
	return out
}

func (g *gen) next() gcmd {
	g.i++
	var c gcmd
	c.cmd.Org = int64(1 + g.r.Intn(3))
	c.cmd.RequestID = fmt.Sprintf("m%d", g.i)
	c.cmd.Time = t0.Add(time.Duration(g.i) * time.Second)
	sc := modelScopes[g.r.Intn(len(modelScopes))]
	if g.r.Intn(40) == 0 {
		sc = badScopes[g.r.Intn(len(badScopes))]
	}
	c.cmd.Source, c.cmd.AccountID, c.scopeCode = sc.src, sc.acct, sc.code
	c.sc = mScope{sc.src, sc.acct}
	// Mostly a customer of the command's org (live or merged away),
	// sometimes one of another org.
	if own := g.byOrg[c.cmd.Org]; len(own) > 0 && g.r.Intn(10) > 0 {
		c.cmd.CustomerID = own[g.r.Intn(len(own))]
	} else if len(g.known) > 0 {
		c.cmd.CustomerID = g.known[g.r.Intn(len(g.known))]
	}
	if g.r.Intn(30) == 0 {
		c.cmd.CustomerID = 999_999_999
	}
	switch r := g.r.Intn(100); {
	case r < 40 || len(g.known) == 0:
		c.cmd.Op = customer.OpRegister
		c.ids = g.idents(0, 3)
		if g.r.Intn(5) == 0 {
			c.loyalty = "non_loyalty"
		}
		body := &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: "Tom", Identifiers: raws(c.ids)}}}
		if c.loyalty != "" {
			body.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: c.loyalty}
		}
		c.cmd.Register = body
	case r < 55:
		c.cmd.Op = customer.OpUpdate
		c.ids = g.idents(0, 2)
		c.loyalty = []string{"", "", "loyalty", "non_loyalty"}[g.r.Intn(4)]
		body := &customer.CustomerBody{Profiles: []customer.ProfileInput{{LastName: "Sawyer", Identifiers: raws(c.ids)}}}
		if c.loyalty != "" {
			body.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: c.loyalty}
		}
		c.cmd.Update = body
	case r < 90:
		c.cmd.Op = customer.OpChangeIdentifier
		c.ids = g.idents(0, 2)
		c.removes = g.idents(0, 1)
		if mc := g.m.custs[c.cmd.CustomerID]; mc != nil && g.r.Intn(2) == 0 {
			// Usually remove something the customer holds in the scope,
			// so identifiers are freed and 8901 happens.
			if held := keysOf(mc.scopes[c.sc]); len(held) > 0 {
				c.removes = []gid{g.spell(held[g.r.Intn(len(held))])}
			}
		}
		c.cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{Add: raws(c.ids), Remove: raws(c.removes)}
	default:
		c.cmd.Op = customer.OpSubscriptions
		if c.scopeCode == 8045 || c.scopeCode == 8011 {
			c.scopeCode = 0 // subscriptions checks the source only
		}
		body := &customer.SubscriptionsBody{}
		for range 1 + g.r.Intn(3) {
			s := customer.Subscription{
				Channel:  []string{"SMS", "EMAIL", "WECHAT", "sms"}[g.r.Intn(4)],
				Priority: []string{"TRANS", "BULK"}[g.r.Intn(2)],
				Type:     []string{"OPTIN", "OPTOUT"}[g.r.Intn(2)],
			}
			if g.r.Intn(4) == 0 {
				s.AccountID = "a1"
			}
			gs := gsub{s: s, key: strings.ToUpper(s.Channel) + "|" + s.Priority + "|" + s.AccountID}
			if g.r.Intn(30) == 0 {
				gs.s.Channel, gs.code = "FAX", 8010
			}
			body.Subscriptions = append(body.Subscriptions, gs.s)
			c.subs = append(c.subs, gs)
		}
		c.cmd.Subscriptions = body
	}
	return c
}
