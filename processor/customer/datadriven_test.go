package customer_test

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
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
//	         [first=…] [last=…] [profiles=N] [request=…]
//	mobile 919111111111          (identifier lines: <type> <value>)
//	field Color Green            (custom field: field <key> [value])
//	ext gender Male              (extended field: ext <key> [value])
//	channel email tom@example.com [meta=residence,office]
//	update org=1 customer=c1 source=INSTORE [loyalty=…]   (same lines)
//	change org=1 customer=c1 source=INSTORE
//	add email tom@example.com
//	remove mobile 919111111111
//	subscriptions org=1 customer=c1 [source=INSTORE]
//	SMS BULK OPTOUT [account]
//	lookup org=1 source=ALL [account=…] name=mobile value=…
//	fetch org=1 customer=c1 [source=ALL] [account=…]
//	search org=1 q=tom [limit=10] [offset=0]
//
// In arguments and lines, {s*N} is s repeated N times, a line with {a..b}
// stands for one line per number from a to b, and backslash escapes
// (\t, \x00, \u2028) are Go's; so limits read as what they are:
// first={a*128}, "email u{1..21}@example.com". profiles=N gives the body
// N-1 more, empty profiles.
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
		return expand(strings.Join(a.Vals, ","))
	}
	return def
}

var (
	repeatRE = regexp.MustCompile(`\{([^{}*]*)\*(\d+)\}`)
	rangeRE  = regexp.MustCompile(`\{(\d+)\.\.(\d+)\}`)
)

// expand applies {s*N} and backslash escapes to one value.
func expand(s string) string {
	s = repeatRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := repeatRE.FindStringSubmatch(m)
		return strings.Repeat(sub[1], int(atoi(sub[2])))
	})
	if strings.Contains(s, `\`) {
		if u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`); err == nil {
			s = u
		}
	}
	return s
}

// expandLines turns a script's input into lines, a {a..b} line into b-a+1.
func expandLines(input string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(input), "\n") {
		m := rangeRE.FindStringSubmatchIndex(l)
		if m == nil {
			out = append(out, l)
			continue
		}
		from, to := atoi(l[m[2]:m[3]]), atoi(l[m[4]:m[5]])
		for i := from; i <= to; i++ {
			out = append(out, expandLines(l[:m[0]]+itoa(i)+l[m[1]:])...)
		}
	}
	return out
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
	cmd := customer.Command{RequestID: d.arg(td, "request", td.Pos), Org: org, Source: src, AccountID: acct, Time: t0.Add(time.Duration(d.step) * time.Second)}
	lines := expandLines(td.Input)
	keyword := map[string]bool{"field": true, "ext": true, "channel": true}
	pairs := func(prefix string) []customer.Identifier {
		var out []customer.Identifier
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) > 0 && keyword[f[0]] {
				continue
			}
			if prefix != "" {
				if len(f) == 0 || f[0] != prefix {
					continue
				}
				f = f[1:]
			}
			if len(f) >= 2 {
				out = append(out, customer.Identifier{Type: f[0], Value: expand(strings.Join(f[1:], " "))})
			}
		}
		return out
	}
	// fields reads "field <key> [value]" (or ext) lines; nil when none.
	fields := func(kind string) map[string]string {
		var m map[string]string
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != kind {
				continue
			}
			if m == nil {
				m = map[string]string{}
			}
			m[expand(f[1])] = expand(strings.Join(f[2:], " "))
		}
		return m
	}
	channels := func() []customer.CommChannel {
		var out []customer.CommChannel
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) < 3 || f[0] != "channel" {
				continue
			}
			ch := customer.CommChannel{Type: f[1], Value: expand(f[2])}
			for _, o := range f[3:] {
				if ks, ok := strings.CutPrefix(o, "meta="); ok {
					ch.Meta = map[string]bool{}
					for _, k := range strings.Split(ks, ",") {
						ch.Meta[expand(k)] = true
					}
				}
			}
			out = append(out, ch)
		}
		return out
	}
	body := func() *customer.CustomerBody {
		b := &customer.CustomerBody{Profiles: []customer.ProfileInput{{
			FirstName: d.arg(td, "first", ""), LastName: d.arg(td, "last", ""),
			Identifiers: pairs(""), Fields: fields("field"), CommChannels: channels(),
		}}, ExtendedFields: fields("ext")}
		for range atoi(d.arg(td, "profiles", "1")) - 1 {
			b.Profiles = append(b.Profiles, customer.ProfileInput{})
		}
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
			if l == "" {
				continue
			}
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
		if len(v.Errors) > 0 {
			return issues("error", v.Errors)
		}
		var hits []string
		for _, h := range v.Data {
			hits = append(hits, d.name(h.UserID))
		}
		return fmt.Sprintf("total=%d limit=%d hits=%s\n", v.Pagination.Total, v.Pagination.Limit, strings.Join(hits, ","))
	default:
		t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	}
	out, err := d.st.apply(d.cfg, cmd)
	if err != nil {
		// A command the decoder should have refused (ErrBadCommand).
		return "bad command: " + err.Error() + "\n"
	}
	record(out.Result.Errors...)
	record(out.Result.Warnings...)
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
