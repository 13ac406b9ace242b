package customer_test

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor/customer"
)

// The reference model: a deliberately simple, independent statement of the
// rules over maps and sets, sharing no code with Apply. It knows which
// generated values are valid from the generator (not from the normaliser),
// and keys identifiers by their canonical pool entry. Random command
// sequences run through both; every result, and at the end the whole state
// and the query answers, must agree.

type mScope struct{ src, acct string }

type mCust struct {
	id, org, merged int64
	loyalty         string
	scopes          map[mScope]map[string]bool // scope → identifier keys ("type:canonical")
	subs            map[string]string          // "CH|PR|ACCT" → OPTIN/OPTOUT
	// profiles counts the customer's profiles with the conflicting ones a
	// merge leaves: one per scope in scopes, plus every profile of every
	// victim that landed in a scope the survivor already had.
	profiles int
}

// full is the model of the customer limits (limits.go) that generated
// commands can reach: a command may not take a customer past
// MaxIdentifiersPerCustomer or MaxProfilesPerCustomer, or further past
// one (8905). The generator carries no fields or channels, and its
// customers weigh a few kilobytes at most.
func full(idsBefore, idsAfter, profBefore, profAfter int) bool {
	over := func(was, now, max int) bool { return now > max && now > was }
	return over(idsBefore, idsAfter, customer.MaxIdentifiersPerCustomer) || over(profBefore, profAfter, customer.MaxProfilesPerCustomer)
}

func countKeys(scopes map[mScope]map[string]bool) int {
	n := 0
	for _, set := range scopes {
		n += len(set)
	}
	return n
}

type model struct {
	custs map[int64]*mCust
}

// gid is one generated identifier: the raw spelling sent, its canonical
// key, or the code it must be refused with.
type gid struct {
	raw  customer.Identifier
	key  string
	code int
}

type gsub struct {
	s    customer.Subscription
	key  string
	code int
}

// gcmd is a generated command with what the model needs to know about it.
type gcmd struct {
	cmd       customer.Command
	scopeCode int
	sc        mScope
	ids       []gid // register/update identifiers, changeIdentifier adds
	removes   []gid
	loyalty   string // "", "loyalty", "non_loyalty"
	subs      []gsub
}

type mResult struct {
	ok      bool
	codes   []int
	created int64 // -1: a fresh id
	echo    []string
}

func (m *model) live(org, id int64) *mCust {
	c := m.custs[id]
	if c == nil || c.org != org {
		return nil
	}
	return c
}

// holderIn is the live customer holding key in scope sc of org, or nil.
func (m *model) holderIn(org int64, sc mScope, key string) *mCust {
	for _, c := range m.custs {
		if c.org == org && c.merged == 0 && c.scopes[sc][key] {
			return c
		}
	}
	return nil
}

// holdersAny are the live customers of org holding any of keys anywhere.
func (m *model) holdersAny(org int64, keys []string) map[int64]bool {
	out := map[int64]bool{}
	for _, c := range m.custs {
		if c.org != org || c.merged != 0 {
			continue
		}
		for _, set := range c.scopes {
			for _, k := range keys {
				if set[k] {
					out[c.id] = true
				}
			}
		}
	}
	return out
}

func validKeys(g []gid) (keys []string, codes []int) {
	seen := map[string]bool{}
	for _, x := range g {
		if x.code != 0 {
			codes = append(codes, x.code)
			continue
		}
		if !seen[x.key] {
			seen[x.key] = true
			keys = append(keys, x.key)
		}
	}
	return keys, codes
}

func failed(codes ...int) mResult { sort.Ints(codes); return mResult{codes: codes} }

func (m *model) step(g gcmd, createdID int64) mResult {
	cmd := g.cmd
	org := cmd.Org
	if g.scopeCode != 0 {
		return failed(g.scopeCode)
	}
	switch cmd.Op {
	case customer.OpRegister:
		keys, codes := validKeys(g.ids)
		if len(codes) > 0 {
			return failed(codes...)
		}
		if len(keys) == 0 {
			return failed(8013)
		}
		for _, k := range keys {
			if m.holderIn(org, g.sc, k) != nil {
				codes = append(codes, 8007)
			}
		}
		if len(codes) > 0 {
			return failed(codes...)
		}
		hs := m.holdersAny(org, keys)
		if len(hs) > 1 {
			return failed(8053)
		}
		for x := range hs {
			c := m.custs[x]
			after := map[string]bool{}
			for k := range c.scopes[g.sc] {
				after[k] = true
			}
			for _, k := range keys {
				after[k] = true
			}
			idsAfter := countKeys(c.scopes) - len(c.scopes[g.sc]) + len(after)
			profAfter := c.profiles
			if c.scopes[g.sc] == nil {
				profAfter++
			}
			if full(countKeys(c.scopes), idsAfter, c.profiles, profAfter) {
				return failed(8905)
			}
			addKeys(c, g.sc, keys)
			c.profiles = profAfter
			return mResult{ok: true, codes: []int{8050}, created: x}
		}
		c := &mCust{id: createdID, org: org, loyalty: "loyalty", scopes: map[mScope]map[string]bool{}, subs: map[string]string{}, profiles: 1}
		if g.loyalty == "non_loyalty" {
			c.loyalty = "non_loyalty"
		}
		for _, ch := range []string{"EMAIL", "SMS"} {
			for _, pr := range []string{"TRANS", "BULK"} {
				c.subs[ch+"|"+pr+"|"] = "OPTIN"
			}
		}
		addKeys(c, g.sc, keys)
		m.custs[createdID] = c
		return mResult{ok: true, codes: []int{}, created: -1}

	case customer.OpUpdate:
		c := m.live(org, cmd.CustomerID)
		if c == nil {
			return failed(8009)
		}
		if c.merged != 0 {
			return failed(8069)
		}
		keys, codes := validKeys(g.ids)
		if g.loyalty == "non_loyalty" && c.loyalty == "loyalty" {
			codes = append(codes, 8018)
		}
		notAdded := false
		for _, k := range keys {
			h := m.holderIn(org, g.sc, k)
			if h != nil && h != c {
				codes = append(codes, 8008)
			}
			if h == nil {
				notAdded = true
			}
		}
		if len(codes) > 0 {
			return failed(codes...)
		}
		if c.scopes[g.sc] == nil {
			if full(0, 0, c.profiles, c.profiles+1) {
				return failed(8905)
			}
			c.profiles++
		}
		addKeys(c, g.sc, nil)
		if g.loyalty == "loyalty" {
			c.loyalty = "loyalty"
		}
		if notAdded {
			return mResult{ok: true, codes: []int{8900}, created: c.id}
		}
		return mResult{ok: true, codes: []int{}, created: c.id}

	case customer.OpChangeIdentifier:
		adds, codes := validKeys(g.ids)
		removes, rcodes := validKeys(g.removes)
		codes = append(codes, rcodes...)
		if len(codes) > 0 {
			return failed(codes...)
		}
		if len(adds)+len(removes) == 0 {
			return failed(8013)
		}
		for _, a := range adds {
			for _, r := range removes {
				if a == r {
					codes = append(codes, 8013)
				}
			}
		}
		if len(codes) > 0 {
			return failed(codes...)
		}
		v := m.live(org, cmd.CustomerID)
		if v == nil {
			return failed(8009)
		}
		if v.merged != 0 {
			return failed(8053)
		}
		for _, r := range removes {
			if m.holderIn(org, g.sc, r) != v {
				codes = append(codes, 8015)
			}
		}
		var toAdd []string
		for _, a := range adds {
			switch h := m.holderIn(org, g.sc, a); {
			case h == v:
			case h != nil:
				codes = append(codes, 8007)
			default:
				toAdd = append(toAdd, a)
			}
		}
		if len(codes) > 0 {
			return failed(codes...)
		}
		others := m.holdersAny(org, toAdd)
		delete(others, v.id)
		if len(others) > 1 {
			return failed(8053)
		}
		// Work on a copy of V's identifiers; commit only on success.
		after := map[mScope]map[string]bool{}
		total := 0
		for sc, set := range v.scopes {
			after[sc] = map[string]bool{}
			for k := range set {
				after[sc][k] = true
			}
		}
		vprof := v.profiles
		if after[g.sc] == nil {
			after[g.sc] = map[string]bool{}
			vprof++ // V gains a profile in the command's scope
		}
		for _, r := range removes {
			delete(after[g.sc], r)
		}
		for _, a := range toAdd {
			after[g.sc][a] = true
		}
		for _, set := range after {
			total += len(set)
		}
		if len(others) == 0 {
			if total == 0 {
				return failed(8901)
			}
			if full(countKeys(v.scopes), total, v.profiles, vprof) {
				return failed(8905)
			}
			v.scopes, v.profiles = after, vprof
			return mResult{ok: true, codes: []int{}, created: v.id}
		}
		var s *mCust
		for x := range others {
			s = m.custs[x]
		}
		// Every profile of V moves to S (as a profile of a new scope, or
		// as a conflicting one); S's scopes gain V's identifiers.
		merged := map[mScope]map[string]bool{}
		for sc, set := range s.scopes {
			merged[sc] = map[string]bool{}
			for k := range set {
				merged[sc][k] = true
			}
		}
		for sc, set := range after {
			if merged[sc] == nil {
				merged[sc] = map[string]bool{}
			}
			for k := range set {
				merged[sc][k] = true
			}
		}
		if full(countKeys(s.scopes), countKeys(merged), s.profiles, s.profiles+vprof) {
			return failed(8905)
		}
		s.profiles += vprof
		for sc, set := range after {
			addKeys(s, sc, keysOf(set))
		}
		for k, t := range v.subs {
			if _, ok := s.subs[k]; !ok {
				s.subs[k] = t
			}
		}
		if v.loyalty == "loyalty" {
			s.loyalty = "loyalty"
		}
		v.merged, v.scopes, v.subs = s.id, nil, nil
		return mResult{ok: true, codes: []int{8051}, created: s.id}

	case customer.OpSubscriptions:
		c := m.live(org, cmd.CustomerID)
		if c == nil {
			return failed(8009)
		}
		if c.merged != 0 {
			return failed(8069)
		}
		var codes []int
		for _, s := range g.subs {
			if s.code != 0 {
				codes = append(codes, s.code)
			}
		}
		if len(codes) > 0 {
			return failed(codes...)
		}
		final := map[string]string{}
		var order []string
		for _, s := range g.subs {
			if _, ok := final[s.key]; !ok {
				order = append(order, s.key)
			}
			final[s.key] = s.s.Type
		}
		var echo []string
		for _, k := range order {
			if c.subs[k] != final[k] {
				c.subs[k] = final[k]
				echo = append(echo, k+"|"+final[k])
			}
		}
		return mResult{ok: true, codes: []int{}, created: c.id, echo: echo}
	}
	panic("unknown op")
}

func addKeys(c *mCust, sc mScope, keys []string) {
	if c.scopes[sc] == nil {
		c.scopes[sc] = map[string]bool{}
	}
	for _, k := range keys {
		c.scopes[sc][k] = true
	}
}

func keysOf(set map[string]bool) []string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestReferenceModel runs random sequences through Apply on the real state
// and through the model. One suite, two implementations: two long seeds on
// Pebble over an in-memory filesystem (logic), and one shorter seed on the
// real disk with a realistic task (3 of 12 partitions, so sparse ids) and
// larger batches.
func TestReferenceModel(t *testing.T) {
	n := 12000
	if testing.Short() {
		n = 2000
	}
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint("mem/seed", seed), func(t *testing.T) {
			runModel(t, openStore(t, storeConfig{fs: vfs.NewMem(), task: 0, of: 1, group: 10}), seed, n)
		})
	}
	t.Run("disk/seed3", func(t *testing.T) {
		runModel(t, openStore(t, storeConfig{task: 3, of: 12, group: 100}), 3, n/3)
	})
}

func runModel(t *testing.T, st *store, seed int64, n int) {
	cfg := testConfig()
	m := &model{custs: map[int64]*mCust{}}
	g := &gen{r: rand.New(rand.NewSource(seed)), pool: idPool(), m: m, byOrg: map[int64][]int64{}}
	stats := map[int]int{}
	merges := 0
	for i := range n {
		gc := g.next()
		out := apply(t, cfg, st, gc.cmd)
		r := out.Result
		want := m.step(gc, r.CreatedID)
		got := sortedCodes(r)
		if want.codes == nil {
			want.codes = []int{}
		}
		if r.Success != want.ok || !reflect.DeepEqual(got, want.codes) {
			t.Fatalf("step %d %s org %d cust %d %s/%s ids %+v removes %+v: got success=%v codes=%v (%v %v), model success=%v codes=%v",
				i, gc.cmd.Op, gc.cmd.Org, gc.cmd.CustomerID, gc.cmd.Source, gc.cmd.AccountID, raws(gc.ids), raws(gc.removes), r.Success, got, r.Errors, r.Warnings, want.ok, want.codes)
		}
		if want.ok {
			switch {
			case want.created == -1:
				for _, k := range g.known {
					if k == r.CreatedID {
						t.Fatalf("step %d: fresh customer got an old id %d", i, r.CreatedID)
					}
				}
				g.known = append(g.known, r.CreatedID)
				g.byOrg[gc.cmd.Org] = append(g.byOrg[gc.cmd.Org], r.CreatedID)
			case r.CreatedID != want.created:
				t.Fatalf("step %d %s: createdId %d, model %d", i, gc.cmd.Op, r.CreatedID, want.created)
			}
		}
		if gc.cmd.Op == customer.OpSubscriptions && want.ok {
			var echo []string
			for _, s := range r.Subscriptions {
				echo = append(echo, s.Channel+"|"+s.Priority+"|"+s.AccountID+"|"+s.Type)
			}
			if !reflect.DeepEqual(echo, want.echo) {
				t.Fatalf("step %d: echo %v, model %v", i, echo, want.echo)
			}
		}
		merges += len(out.Merges)
		for _, c := range got {
			stats[c]++
		}
	}
	t.Logf("seed %d: %d commands, %d customers, %d merges, codes %v", seed, n, len(m.custs), merges, stats)
	for c, least := range map[int]int{8007: 20, 8050: 20, 8051: 20, 8053: 20, 8015: 20, 8901: 1, 8905: 1} {
		// Short runs (go test -short) are too few commands to promise
		// every code; the full runs check that the generator still
		// exercises them.
		if n >= 4000 && stats[c] < least {
			t.Errorf("code %d only %d times: the generator no longer exercises it", c, stats[c])
		}
	}
	compareModel(t, cfg, st, m, g.pool)
}

// compareModel checks the final state and the query answers.
func compareModel(t *testing.T, cfg customer.Config, st *store, m *model, pool []poolEntry) {
	t.Helper()
	r := st.view()
	for id, mc := range m.custs {
		c, ok, err := r.Customer(id)
		if err != nil || !ok {
			t.Fatalf("customer %d missing: %v", id, err)
		}
		if c.MergedInto != mc.merged || c.Org != mc.org {
			t.Fatalf("customer %d: mergedInto %d org %d, model %d %d", id, c.MergedInto, c.Org, mc.merged, mc.org)
		}
		if mc.merged != 0 {
			continue
		}
		got := map[mScope][]string{}
		for _, p := range c.Profiles {
			keys := []string{}
			for _, x := range p.Identifiers {
				keys = append(keys, x.Type+":"+canonical(x))
			}
			sort.Strings(keys)
			got[mScope{p.Source, p.AccountID}] = keys
		}
		want := map[mScope][]string{}
		for sc, set := range mc.scopes {
			want[sc] = append([]string{}, keysOf(set)...)
		}
		if !reflect.DeepEqual(got, want) || c.LoyaltyType != mc.loyalty {
			t.Fatalf("customer %d:\n got %v %s\nwant %v %s", id, got, c.LoyaltyType, want, mc.loyalty)
		}
		if n := profileCount(c.Profiles); n != mc.profiles {
			t.Fatalf("customer %d: %d profiles with conflicting ones, model %d", id, n, mc.profiles)
		}
		subs := map[string]string{}
		for _, s := range c.Subscriptions {
			subs[s.Channel+"|"+s.Priority+"|"+s.AccountID] = s.Type
		}
		if !reflect.DeepEqual(subs, mc.subs) {
			t.Fatalf("customer %d subscriptions %v, model %v", id, subs, mc.subs)
		}
	}
	// Lookups of every pool identifier, in every scope and ALL, every org.
	for org := int64(1); org <= 3; org++ {
		for _, e := range pool {
			key := e.typ + ":" + e.canon
			for _, sc := range append(modelScopes, struct {
				src, acct string
				code      int
			}{"ALL", "", 0}) {
				v := lookup(t, cfg, st, org, sc.src, sc.acct, e.typ, e.spell[len(e.spell)-1])
				var want int64
				for _, c := range m.custs {
					if c.org != org || c.merged != 0 {
						continue
					}
					for s, set := range c.scopes {
						if set[key] && (sc.src == "ALL" || s == (mScope{sc.src, sc.acct})) {
							want = c.id
						}
					}
				}
				if v.Entity != want {
					t.Fatalf("lookup org %d %s/%s %s: %d (%v), model %d", org, sc.src, sc.acct, key, v.Entity, v.Errors, want)
				}
			}
		}
		// Search by a few prefixes: exact totals and newest-first order.
		for _, q := range []string{"9187", "user0", "ext-0", "wx", "fb01", "mj"} {
			v := search(t, cfg, st, org, q, 100, 0)
			var want []int64
			for _, c := range m.custs {
				if c.org != org || c.merged != 0 {
					continue
				}
				if modelMatches(c, q) {
					want = append(want, c.id)
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i] > want[j] })
			var got []int64
			for _, h := range v.Data {
				got = append(got, h.UserID)
			}
			if v.Pagination.Total != len(want) || !reflect.DeepEqual(got, want[:min(len(want), 100)]) {
				t.Fatalf("search org %d %q: total %d %v, model %d %v", org, q, v.Pagination.Total, got, len(want), want)
			}
		}
	}
}

func profileCount(ps []customer.Profile) int {
	n := len(ps)
	for _, p := range ps {
		n += profileCount(p.Conflicting)
	}
	return n
}

// canonical is the model's key of a stored identifier: emails compare
// lower-case; everything else as stored.
func canonical(x customer.Identifier) string {
	if x.Type == "email" {
		return strings.ToLower(x.Value)
	}
	return x.Value
}

func modelMatches(c *mCust, q string) bool {
	if strings.HasPrefix("tom", q) || strings.HasPrefix("sawyer", q) {
		return true
	}
	for _, set := range c.scopes {
		for k := range set {
			_, v, _ := strings.Cut(k, ":")
			if strings.HasPrefix(strings.ToLower(v), q) {
				return true
			}
		}
	}
	return false
}
