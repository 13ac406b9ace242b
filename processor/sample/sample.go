// Package sample generates realistic customer commands: names, emails,
// E.164 mobiles and external ids, with some customers registered again from
// another source (so joins and merges happen) and a few invalid values (so
// rejections happen). Benchmarks, tools and examples use it; the same seed
// always gives the same commands. With Config.Balances it also gives
// balances from the loyalty engine for the customers those commands
// create (balances.go).
package sample

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/custream/custream/processor/customer"
)

// Mix is the share of each op, in percent; the rest are registrations.
type Mix struct {
	Update, ChangeIdentifier, Subscriptions int
}

// DefaultMix is the realistic mix: 70% register, 15% update, 10%
// changeIdentifier, 5% subscriptions.
var DefaultMix = Mix{Update: 15, ChangeIdentifier: 10, Subscriptions: 5}

// Config shapes the generated load.
type Config struct {
	Seed uint64
	// Orgs are the org ids commands are spread over (default: 1 org, 100).
	Orgs []int64
	// Partitions is the task count, used to guess existing customer ids
	// (seq*P + p) for update, changeIdentifier and subscriptions.
	Partitions int32
	// PartitionOf maps an org to its task (the processor's murmur2 routing).
	PartitionOf func(org int64) int32
	Mix         Mix
	// DuplicatePct is the share of registrations that reuse an earlier
	// customer's identifier from another source (a join). Default 10.
	DuplicatePct int
	// InvalidPct is the share of commands with an invalid value. Default 2.
	InvalidPct int
	// Balances makes the generator follow which customers its commands
	// will create, so that Balance can name them (balances.go). Off, Next
	// keeps no such record; either way it yields the same commands.
	Balances bool
}

// Generator yields commands. Not safe for concurrent use.
type Generator struct {
	cfg        Config
	rnd        *rand.Rand
	n          int
	registered map[int64]int
	people     []person // registered so far, for duplicates
	ids        *idModel // with Config.Balances: the customers the commands create
}

type person struct {
	org         int64
	first, last string
	email       string
	mobile      string
}

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	if len(cfg.Orgs) == 0 {
		cfg.Orgs = []int64{100}
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.PartitionOf == nil {
		cfg.PartitionOf = func(int64) int32 { return 0 }
	}
	if cfg.Mix == (Mix{}) {
		cfg.Mix = DefaultMix
	}
	if cfg.DuplicatePct == 0 {
		cfg.DuplicatePct = 10
	}
	if cfg.InvalidPct == 0 {
		cfg.InvalidPct = 2
	}
	g := &Generator{cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)), registered: map[int64]int{}}
	if cfg.Balances {
		g.ids = newIDModel(cfg)
	}
	return g
}

var (
	firstNames = []string{"Tom", "Huck", "Becky", "Polly", "Joe", "Amy", "Sid", "Mary", "Ben", "Alfred", "Aarav", "Priya", "Wei", "Li", "Fatima", "Omar", "Sofia", "Lucas", "Emma", "Noah"}
	lastNames  = []string{"Sawyer", "Finn", "Thatcher", "Harper", "Temple", "Lawrence", "Rogers", "Sharma", "Patel", "Wang", "Zhang", "Khan", "Silva", "Garcia", "Muller", "Rossi", "Kim", "Nguyen"}
	domains    = []string{"example.com", "mail.example.org", "shop.example.net"}
	countries  = []string{"91", "86", "1", "44", "65"}
	sources    = []struct{ name, account string }{
		{"INSTORE", ""}, {"MARTJACK", ""}, {"WECHAT", "22232"}, {"FACEBOOK", "fb-main"},
	}
)

// Next returns the next command; RequestID is "gen-<seed>-<n>".
func (g *Generator) Next() customer.Command {
	g.n++
	org := g.cfg.Orgs[g.rnd.IntN(len(g.cfg.Orgs))]
	src := sources[g.rnd.IntN(len(sources))]
	cmd := customer.Command{
		RequestID: "gen-" + strconv.FormatUint(g.cfg.Seed, 10) + "-" + strconv.Itoa(g.n),
		Org:       org, Source: src.name, AccountID: src.account,
	}
	invalid := g.rnd.IntN(100) < g.cfg.InvalidPct
	x := g.rnd.IntN(100)
	m := g.cfg.Mix
	switch {
	case g.registered[org] == 0 || x >= m.Update+m.ChangeIdentifier+m.Subscriptions:
		g.register(&cmd, invalid)
	case x < m.Update:
		cmd.Op, cmd.CustomerID = customer.OpUpdate, g.existingID(org)
		p := customer.ProfileInput{FirstName: g.pick(firstNames)}
		if g.rnd.IntN(2) == 0 {
			p.CommChannels = []customer.CommChannel{{Type: "email", Value: g.email(p.FirstName, g.pick(lastNames)), Primary: true}}
		}
		cmd.Update = &customer.CustomerBody{Profiles: []customer.ProfileInput{p},
			ExtendedFields: map[string]string{"city": g.pick([]string{"Bangalore", "Shanghai", "London", "Singapore"})}}
	case x < m.Update+m.ChangeIdentifier:
		cmd.Op, cmd.CustomerID = customer.OpChangeIdentifier, g.existingID(org)
		add := customer.Identifier{Type: "externalId", Value: fmt.Sprintf("ext-%d-%d", org, g.rnd.IntN(1_000_000))}
		if len(g.people) > 0 && g.rnd.IntN(5) == 0 {
			// An identifier someone else holds in another source: a merge.
			p := g.people[g.rnd.IntN(len(g.people))]
			add = customer.Identifier{Type: "mobile", Value: p.mobile}
		}
		cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{Add: []customer.Identifier{add}}
	default:
		cmd.Op, cmd.CustomerID = customer.OpSubscriptions, g.existingID(org)
		cmd.Subscriptions = &customer.SubscriptionsBody{CommunicationID: -1, CampaignID: -1, Reason: "preference centre",
			Subscriptions: []customer.Subscription{{Channel: g.pick([]string{"SMS", "EMAIL"}), Priority: g.pick([]string{"TRANS", "BULK"}), Type: g.pick([]string{"OPTIN", "OPTOUT"})}}}
	}
	if g.ids != nil {
		g.ids.observe(cmd, invalid)
	}
	return cmd
}

func (g *Generator) register(cmd *customer.Command, invalid bool) {
	cmd.Op = customer.OpRegister
	var p person
	if len(g.people) > 0 && g.rnd.IntN(100) < g.cfg.DuplicatePct {
		// The same person, seen again by another source.
		p = g.people[g.rnd.IntN(len(g.people))]
		cmd.Org = p.org
	} else {
		p = person{org: cmd.Org, first: g.pick(firstNames), last: g.pick(lastNames)}
		p.email = g.email(p.first, p.last)
		p.mobile = g.pick(countries) + strconv.Itoa(7_000_000_000 + g.rnd.IntN(2_999_999_999))[:9]
		if len(g.people) < 200_000 {
			g.people = append(g.people, p)
		}
	}
	g.registered[cmd.Org]++
	ids := []customer.Identifier{{Type: "mobile", Value: p.mobile}, {Type: "email", Value: p.email}}
	if invalid {
		ids[0].Value = "12" // too short: 8056
	}
	cmd.Register = &customer.CustomerBody{
		Profiles: []customer.ProfileInput{{
			FirstName: p.first, LastName: p.last, Identifiers: ids,
			Fields:       map[string]string{"Favorite Color": g.pick([]string{"Green", "Blue", "Red"})},
			CommChannels: []customer.CommChannel{{Type: "mobile", Value: p.mobile, Primary: true, Verified: g.rnd.IntN(2) == 0}},
		}},
		LoyaltyInfo:    &customer.LoyaltyInput{LoyaltyType: g.pick([]string{"loyalty", "loyalty", "non_loyalty"})},
		ExtendedFields: map[string]string{"gender": g.pick([]string{"Male", "Female"})},
	}
}

func (g *Generator) email(first, last string) string {
	return fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), g.rnd.IntN(100_000), g.pick(domains))
}

// existingID guesses an id of a customer the org probably has: ids are
// seq*P + p, and the org registered at most registered[org] customers.
func (g *Generator) existingID(org int64) int64 {
	seq := 1 + g.rnd.IntN(g.registered[org])
	return int64(seq)*int64(g.cfg.Partitions) + int64(g.cfg.PartitionOf(org))
}

func (g *Generator) pick(s []string) string { return s[g.rnd.IntN(len(s))] }
