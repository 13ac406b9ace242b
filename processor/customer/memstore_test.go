package customer_test

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/custream/custream/processor/customer"
)

// memStore is a map-based customer.Store for tests, used until the Pebble
// state package exists in this tree. It deep-copies documents on the way in
// and out, like a real store serialises them, so a rule that mutates a
// document it read cannot go unnoticed.
type memStore struct {
	docs   map[int64]*customer.Customer
	scope  map[string]int64           // org|source|account|type|key → customer
	holder map[string]map[string]bool // org|type|key → set of "customer|source|account"
	next   int64
}

func newMemStore() *memStore {
	return &memStore{docs: map[int64]*customer.Customer{}, scope: map[string]int64{}, holder: map[string]map[string]bool{}}
}

func scopeKey(org int64, source, account string, id customer.Identifier) string {
	return strings.Join([]string{itoa(org), source, account, id.Type, id.Key()}, "|")
}

func holderKey(org int64, id customer.Identifier) string {
	return strings.Join([]string{itoa(org), id.Type, id.Key()}, "|")
}

func (m *memStore) Customer(id int64) (*customer.Customer, bool, error) {
	c, ok := m.docs[id]
	if !ok {
		return nil, false, nil
	}
	return deepCopy(c), true, nil
}

func deepCopy(c *customer.Customer) *customer.Customer {
	out := *c
	out.ExtendedFields = copyMap(c.ExtendedFields)
	out.Subscriptions = append([]customer.Subscription(nil), c.Subscriptions...)
	out.Profiles = copyProfiles(c.Profiles)
	return &out
}

func copyProfiles(ps []customer.Profile) []customer.Profile {
	if ps == nil {
		return nil
	}
	out := make([]customer.Profile, len(ps))
	for i, p := range ps {
		p.Fields = copyMap(p.Fields)
		p.Identifiers = append([]customer.Identifier(nil), p.Identifiers...)
		chs := make([]customer.CommChannel, len(p.CommChannels))
		for j, ch := range p.CommChannels {
			if ch.Meta != nil {
				meta := map[string]bool{}
				for k, v := range ch.Meta {
					meta[k] = v
				}
				ch.Meta = meta
			}
			chs[j] = ch
		}
		p.CommChannels = chs
		p.Conflicting = copyProfiles(p.Conflicting)
		out[i] = p
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// held lists the (scope, identifier) pairs c holds: primary profiles only.
func held(c *customer.Customer) [][3]string {
	var out [][3]string
	for _, p := range c.Profiles {
		for _, id := range p.Identifiers {
			out = append(out, [3]string{p.Source, p.AccountID, id.Type + "\x00" + id.Value})
		}
	}
	return out
}

func (m *memStore) PutCustomer(c *customer.Customer) error {
	if old, ok, _ := m.Customer(c.ID); ok {
		for _, h := range held(old) {
			id := splitID(h[2])
			// Deliberately naive, like a key-value index: the entry goes
			// whoever holds it now, so write order matters (see Apply).
			delete(m.scope, scopeKey(old.Org, h[0], h[1], id))
			delete(m.holder[holderKey(old.Org, id)], itoa(old.ID)+"|"+h[0]+"|"+h[1])
		}
	}
	for _, h := range held(c) {
		id := splitID(h[2])
		m.scope[scopeKey(c.Org, h[0], h[1], id)] = c.ID
		hk := holderKey(c.Org, id)
		if m.holder[hk] == nil {
			m.holder[hk] = map[string]bool{}
		}
		m.holder[hk][itoa(c.ID)+"|"+h[0]+"|"+h[1]] = true
	}
	m.docs[c.ID] = deepCopy(c)
	return nil
}

func splitID(s string) customer.Identifier {
	t, v, _ := strings.Cut(s, "\x00")
	return customer.Identifier{Type: t, Value: v}
}

func (m *memStore) OwnerInScope(org int64, source, accountID string, id customer.Identifier) (int64, bool, error) {
	c, ok := m.scope[scopeKey(org, source, accountID, id)]
	return c, ok, nil
}

func (m *memStore) Holders(org int64, id customer.Identifier) ([]customer.Holding, error) {
	var out []customer.Holding
	for k := range m.holder[holderKey(org, id)] {
		parts := strings.SplitN(k, "|", 3)
		out = append(out, customer.Holding{CustomerID: atoi(parts[0]), Source: parts[1], AccountID: parts[2]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.CustomerID != b.CustomerID {
			return a.CustomerID < b.CustomerID
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.AccountID < b.AccountID
	})
	return out, nil
}

func (m *memStore) NextID() (int64, error) {
	m.next++
	return m.next, nil
}

// Search scans every document: fine for tests.
func (m *memStore) Search(org int64, prefix string, limit, offset int) ([]int64, int, error) {
	var ids []int64
	for id, c := range m.docs {
		if c.Org != org {
			continue
		}
		for _, t := range customer.SearchTokens(c) {
			if strings.HasPrefix(t, prefix) {
				ids = append(ids, id)
				break
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	total := len(ids)
	if offset >= total {
		return nil, total, nil
	}
	return ids[offset:min(total, offset+limit)], total, nil
}

// dump is every stored document in id order: the bytes replay compares.
func (m *memStore) dump() []byte {
	ids := make([]int64, 0, len(m.docs))
	for id := range m.docs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var b []byte
	for _, id := range ids {
		j, err := json.Marshal(m.docs[id])
		if err != nil {
			panic(err)
		}
		b = append(b, j...)
		b = append(b, '\n')
	}
	return b
}
