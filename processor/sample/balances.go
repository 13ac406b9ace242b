package sample

import (
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/custream/custream/processor/customer"
)

// Balances: the loyalty engine's figures for customers the generated
// commands register. A balance must name a customer that exists when the
// processor applies it, or it is refused (8009), and custream, not the
// generator, hands out customer ids: seq*P + p, seq counting the fresh
// customers task p created, in the order it applied the registrations. So
// with Config.Balances the generator follows, command by command, what the
// rules will make of its commands where that decides who exists: which
// registrations create a customer (valid, and holding no identifier some
// customer of the org holds already: else 8007, a join or 8053), which
// changeIdentifier adds succeed, and which merge a customer away. That is
// the ids, org and loyalty type of every customer, assuming the processor
// applies each task's commands in the order Next yielded them (custream
// bench gives its records increasing timestamps for that).
//
// The follow is of the rules as they stand (register.go,
// changeidentifier.go) and of this generator's commands only: its
// changeIdentifiers add and never remove, its updates carry no
// identifiers, and its customers stay far below the document limits.
// cmd/custream's TestBenchBacklogBalances runs a backlog through the real
// rules and state to hold it to that.

// balancePrograms are the loyalty programs balances are for: a few, so a
// customer has balances in several and most balances replace one.
var balancePrograms = []int64{1, 2, 1223}

// Balance returns a balance from the loyalty engine for a loyalty
// customer the commands yielded so far have created (a customer merged
// away since included: its balance moves the survivor's, 8909), with the
// next version of that (customer, program), so the processor applies it.
// Its RequestID is empty: the processor names it by its figure
// (schemas.BalanceRequestID). ok is false when the generator was not made
// with Config.Balances or no such customer exists yet. Balance draws from
// a random source of its own: Next yields the same commands whether or
// not balances are asked for between them.
func (g *Generator) Balance() (cmd customer.Command, ok bool) {
	m := g.ids
	if m == nil {
		return customer.Command{}, false
	}
	var orgs []int64
	for _, org := range g.cfg.Orgs {
		if len(m.loyal[org]) > 0 {
			orgs = append(orgs, org)
		}
	}
	if len(orgs) == 0 {
		return customer.Command{}, false
	}
	org := orgs[m.rnd.IntN(len(orgs))]
	ids := m.loyal[org]
	id := ids[m.rnd.IntN(len(ids))]
	program := balancePrograms[m.rnd.IntN(len(balancePrograms))]
	k := [2]int64{id, program}
	m.versions[k]++
	slab := m.rnd.IntN(len(slabs))
	b := &customer.Balance{
		ProgramID: program, Version: m.versions[k],
		LoyaltyPoints: float64(m.rnd.IntN(5000)), LifetimePoints: float64(m.rnd.IntN(20000)),
		Redeemed: float64(m.rnd.IntN(3000)), Expired: float64(m.rnd.IntN(200)), Returned: float64(m.rnd.IntN(400)) + 0.25,
		CumulativePurchases: float64(m.rnd.IntN(100_000)),
		CurrentSlab:         slabs[slab], SlabSNo: int64(slab + 1), SlabExpiryDate: "2027-12-31T23:59:59+05:30",
		NextSlabSerialNumber: -1,
	}
	if slab+1 < len(slabs) {
		b.NextSlab, b.NextSlabSerialNumber, b.NextSlabDescription = slabs[slab+1], int64(slab+2), slabs[slab+1]+" tier"
	}
	return customer.Command{Op: customer.OpPoints, Org: org, CustomerID: id, Balance: b}, true
}

var slabs = []string{"Base", "Silver", "Gold"}

// scope is where a customer holds an identifier: a source and account.
type scope struct{ source, account string }

// idKey is an identifier in one org's identity space.
type idKey struct {
	org      int64
	typ, key string
}

// holding is one scope in which a customer holds an identifier.
type holding struct {
	customer int64
	scope    scope
}

// created is a customer the commands create, as far as balances care.
type created struct {
	org        int64
	loyalty    bool
	mergedInto int64
	// held is what it holds where, moved to the survivor on a merge.
	held []heldID
}

type heldID struct {
	id    idKey
	scope scope
}

// idModel follows the commands' effect on who exists and who holds which
// identifier.
type idModel struct {
	partitions  int32
	partitionOf func(org int64) int32
	seq         map[int32]int64 // per task, the fresh customers created so far
	customers   map[int64]*created
	holders     map[idKey][]holding
	loyal       map[int64][]int64  // per org, its loyalty customers in creation order
	versions    map[[2]int64]int64 // (customer, program) → the last version Balance gave
	rnd         *rand.Rand         // Balance's, apart from the commands'
}

func newIDModel(cfg Config) *idModel {
	return &idModel{
		partitions: cfg.Partitions, partitionOf: cfg.PartitionOf,
		seq: map[int32]int64{}, customers: map[int64]*created{}, holders: map[idKey][]holding{},
		loyal: map[int64][]int64{}, versions: map[[2]int64]int64{},
		rnd: rand.New(rand.NewPCG(cfg.Seed^0xba1a, cfg.Seed)),
	}
}

// observe takes one command Next yielded; invalid says it carries a value
// the rules refuse.
func (m *idModel) observe(cmd customer.Command, invalid bool) {
	switch cmd.Op {
	case customer.OpRegister:
		if !invalid {
			m.register(cmd)
		}
	case customer.OpChangeIdentifier:
		m.changeIdentifier(cmd)
	}
}

func (m *idModel) keys(org int64, ids []customer.Identifier) []idKey {
	out := make([]idKey, len(ids))
	for i, id := range ids {
		out[i] = idKey{org: org, typ: id.Type, key: id.Key()}
	}
	return out
}

// inScope is who holds k in sc, if anyone.
func (m *idModel) inScope(k idKey, sc scope) (int64, bool) {
	for _, h := range m.holders[k] {
		if h.scope == sc {
			return h.customer, true
		}
	}
	return 0, false
}

// others are the customers other than except holding any of keys, in any
// scope (register's and changeIdentifier's holdersElsewhere).
func (m *idModel) others(keys []idKey, except int64) []int64 {
	var out []int64
	for _, k := range keys {
		for _, h := range m.holders[k] {
			if h.customer != except && !slices.Contains(out, h.customer) {
				out = append(out, h.customer)
			}
		}
	}
	return out
}

func (m *idModel) hold(id int64, k idKey, sc scope) {
	if c, ok := m.inScope(k, sc); ok && c == id {
		return
	}
	m.holders[k] = append(m.holders[k], holding{customer: id, scope: sc})
	c := m.customers[id]
	c.held = append(c.held, heldID{id: k, scope: sc})
}

// register: refused if an identifier is held in its scope (8007) or by
// two customers elsewhere (8053), a join to the one customer holding them
// elsewhere (8050), else a fresh customer with the task's next id.
func (m *idModel) register(cmd customer.Command) {
	sc := scope{cmd.Source, cmd.AccountID}
	var keys []idKey
	for _, p := range cmd.Register.Profiles {
		keys = append(keys, m.keys(cmd.Org, p.Identifiers)...)
	}
	for _, k := range keys {
		if _, ok := m.inScope(k, sc); ok {
			return
		}
	}
	others := m.others(keys, 0)
	switch len(others) {
	case 0:
	case 1:
		for _, k := range keys {
			m.hold(others[0], k, sc)
		}
		return
	default:
		return
	}
	p := m.partitionOf(cmd.Org)
	m.seq[p]++
	id := m.seq[p]*int64(m.partitions) + int64(p)
	loyalty := cmd.Register.LoyaltyInfo == nil || !strings.EqualFold(strings.TrimSpace(cmd.Register.LoyaltyInfo.LoyaltyType), customer.NonLoyalty)
	m.customers[id] = &created{org: cmd.Org, loyalty: loyalty}
	if loyalty {
		m.loyal[cmd.Org] = append(m.loyal[cmd.Org], id)
	}
	for _, k := range keys {
		m.hold(id, k, sc)
	}
}

// changeIdentifier: refused for a customer that does not exist in the org
// (8009) or was merged away (8053), or for an identifier another customer
// holds in the scope (8007) or two hold elsewhere (8053); else the
// customer holds the added identifiers, and when one customer S holds
// them elsewhere it is merged into S, which then holds all it held and
// becomes a loyalty customer if either was.
func (m *idModel) changeIdentifier(cmd customer.Command) {
	v, ok := m.customers[cmd.CustomerID]
	if !ok || v.org != cmd.Org || v.mergedInto != 0 {
		return
	}
	sc := scope{cmd.Source, cmd.AccountID}
	var add []idKey
	for _, k := range m.keys(cmd.Org, cmd.ChangeIdentifier.Add) {
		holder, ok := m.inScope(k, sc)
		switch {
		case ok && holder == cmd.CustomerID:
		case ok:
			return
		default:
			add = append(add, k)
		}
	}
	others := m.others(add, cmd.CustomerID)
	if len(others) > 1 {
		return
	}
	for _, k := range add {
		m.hold(cmd.CustomerID, k, sc)
	}
	if len(others) == 0 {
		return
	}
	sid := others[0]
	s := m.customers[sid]
	if s.mergedInto != 0 {
		return // not reached: a merged-away customer holds nothing
	}
	for _, h := range v.held {
		m.holders[h.id] = slices.DeleteFunc(m.holders[h.id], func(x holding) bool {
			return x == holding{customer: cmd.CustomerID, scope: h.scope}
		})
		m.hold(sid, h.id, h.scope)
	}
	v.held, v.mergedInto = nil, sid
	if v.loyalty && !s.loyalty {
		s.loyalty = true
		m.loyal[cmd.Org] = append(m.loyal[cmd.Org], sid)
	}
}
