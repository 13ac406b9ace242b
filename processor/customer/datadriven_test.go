package customer_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/custream/custream/processor/customer"
)

// TestRules runs the scripts in testdata/rules (-rewrite regenerates the
// expected output; review the diff). Each file starts from an empty store
// with testConfig(). Customers are named c1, c2, … in the order they are
// first created, so scripts do not depend on how ids are allocated.
//
//	register org=1 source=WECHAT [account=22232] [loyalty=non_loyalty]
//	mobile 919111111111          (identifier lines: <type> <value>)
//	update org=1 customer=c1 source=INSTORE [loyalty=…]   (same lines)
//	change org=1 customer=c1 source=INSTORE
//	add email tom@example.com
//	remove mobile 919111111111
//	subscriptions org=1 customer=c1 [source=INSTORE]
//	SMS BULK OPTOUT [account]
//	lookup org=1 source=ALL [account=…] name=mobile value=…
//	fetch org=1 customer=c1 [source=ALL] [account=…]
//	search org=1 q=tom [limit=10] [offset=0]
func TestRules(t *testing.T) {
	datadriven.Walk(t, "testdata/rules", func(t *testing.T, path string) {
		d := &driver{cfg: testConfig(), st: newStore(t), names: map[int64]string{}, ids: map[string]int64{}}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return d.run(t, td)
		})
	})
}

type driver struct {
	cfg   customer.Config
	st    *store
	names map[int64]string
	ids   map[string]int64
	n     int
	step  int
}

func (d *driver) name(id int64) string {
	if id == 0 {
		return "0"
	}
	if n, ok := d.names[id]; ok {
		return n
	}
	d.n++
	n := fmt.Sprintf("c%d", d.n)
	d.names[id], d.ids[n] = n, id
	return n
}

func (d *driver) arg(td *datadriven.TestData, key, def string) string {
	if a, ok := td.Arg(key); ok {
		return strings.Join(a.Vals, ",")
	}
	return def
}

func (d *driver) customerArg(t *testing.T, td *datadriven.TestData) int64 {
	c := d.arg(td, "customer", "")
	if id, ok := d.ids[c]; ok {
		return id
	}
	return atoi(c) // an unknown number, e.g. customer=999
}

func (d *driver) run(t *testing.T, td *datadriven.TestData) string {
	org := atoi(d.arg(td, "org", "1"))
	src, acct := d.arg(td, "source", "INSTORE"), d.arg(td, "account", "")
	d.step++
	cmd := customer.Command{RequestID: td.Pos, Org: org, Source: src, AccountID: acct, Time: t0.Add(time.Duration(d.step) * time.Second)}
	lines := strings.Split(strings.TrimSpace(td.Input), "\n")
	pairs := func(prefix string) []customer.Identifier {
		var out []customer.Identifier
		for _, l := range lines {
			f := strings.Fields(l)
			if prefix != "" {
				if len(f) == 0 || f[0] != prefix {
					continue
				}
				f = f[1:]
			}
			if len(f) >= 2 {
				out = append(out, customer.Identifier{Type: f[0], Value: strings.Join(f[1:], " ")})
			}
		}
		return out
	}
	body := func() *customer.CustomerBody {
		b := &customer.CustomerBody{Profiles: []customer.ProfileInput{{FirstName: d.arg(td, "first", ""), Identifiers: pairs("")}}}
		if l := d.arg(td, "loyalty", ""); l != "" {
			b.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: l}
		}
		return b
	}
	switch td.Cmd {
	case "register":
		cmd.Op, cmd.Register = customer.OpRegister, body()
	case "update":
		cmd.Op, cmd.CustomerID, cmd.Update = customer.OpUpdate, d.customerArg(t, td), body()
	case "change":
		cmd.Op, cmd.CustomerID = customer.OpChangeIdentifier, d.customerArg(t, td)
		cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{Add: pairs("add"), Remove: pairs("remove")}
	case "subscriptions":
		cmd.Op, cmd.CustomerID = customer.OpSubscriptions, d.customerArg(t, td)
		cmd.Subscriptions = &customer.SubscriptionsBody{}
		for _, l := range lines {
			f := append(strings.Fields(l), "", "", "", "")
			cmd.Subscriptions.Subscriptions = append(cmd.Subscriptions.Subscriptions, customer.Subscription{Channel: f[0], Priority: f[1], Type: f[2], AccountID: f[3]})
		}
	case "lookup":
		v := lookup(t, d.cfg, d.st, org, src, acct, d.arg(td, "name", ""), d.arg(td, "value", ""))
		if len(v.Errors) > 0 {
			return issues("error", v.Errors)
		}
		return "entity=" + d.name(v.Entity) + "\n"
	case "fetch":
		v := fetch(t, d.cfg, d.st, org, customer.FetchRequest{ID: d.customerArg(t, td), Source: d.arg(td, "source", "ALL"), AccountID: acct})
		return d.fetchText(v)
	case "search":
		v := search(t, d.cfg, d.st, org, d.arg(td, "q", ""), int(atoi(d.arg(td, "limit", "0"))), int(atoi(d.arg(td, "offset", "0"))))
		var hits []string
		for _, h := range v.Data {
			hits = append(hits, d.name(h.UserID))
		}
		return fmt.Sprintf("total=%d limit=%d hits=%s\n", v.Pagination.Total, v.Pagination.Limit, strings.Join(hits, ","))
	default:
		t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	}
	out := apply(t, d.cfg, d.st, cmd)
	r := out.Result
	if !r.Success {
		return issues("error", r.Errors)
	}
	s := "ok createdId=" + d.name(r.CreatedID)
	for _, w := range r.Warnings {
		s += fmt.Sprintf(" warning=%d", w.Code)
	}
	for _, m := range out.Merges {
		s += fmt.Sprintf(" merged %s into %s by %s %s", d.name(m.VictimID), d.name(m.SurvivorID), m.Identifier.Type, m.Identifier.Value)
	}
	for _, x := range r.Subscriptions {
		s += fmt.Sprintf(" changed=%s/%s/%s%s", x.Channel, x.Priority, x.Type, strings.TrimRight("/"+x.AccountID, "/"))
	}
	return s + "\n"
}

func issues(kind string, is []customer.Issue) string {
	var b strings.Builder
	for _, i := range is {
		fmt.Fprintf(&b, "%s %d: %s\n", kind, i.Code, i.Message)
	}
	return b.String()
}

// fetchText is a compact rendering of a fetch: one line per profile with
// its identifiers, conflicting profiles indented.
func (d *driver) fetchText(v customer.FetchView) string {
	if len(v.Errors) > 0 {
		return issues("error", v.Errors)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", d.name(v.ID), v.LoyaltyInfo.LoyaltyType)
	var prof func(p customer.ProfileView, indent string)
	prof = func(p customer.ProfileView, indent string) {
		var ids []string
		for _, x := range p.Identifiers {
			ids = append(ids, x.Type+"="+x.Value)
		}
		sort.Strings(ids)
		fmt.Fprintf(&b, "%s%s/%s %s\n", indent, p.Source, p.AccountID, strings.Join(ids, " "))
		for _, c := range p.ConflictingProfileList {
			prof(c, indent+"  conflicting ")
		}
	}
	for _, p := range v.Profiles {
		prof(p, "  ")
	}
	return b.String()
}
