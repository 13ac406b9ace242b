package state

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/custream/custream/processor/customer"
)

// listEntry is one cached holder list: its raw value, nil when absent.
type listEntry struct{ v []byte }

// Holders is reader.Holders through the batch's list cache.
func (b *Batch) Holders(org int64, id customer.Identifier) ([]customer.Holding, error) {
	idkey := id.Key()
	b.kbuf = appendHoldersKey(b.kbuf[:0], b.task.id, org, id.Type, idkey)
	e, err := b.list(b.kbuf)
	if err == nil {
		var out []customer.Holding
		out, err = parseHoldings(e.v)
		if err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("task %d: holders of %s %q in org %d: %w", b.task.id, id.Type, idkey, org, err)
}

// OwnerInScope is reader.OwnerInScope through the batch's list cache.
func (b *Batch) OwnerInScope(org int64, source, accountID string, id customer.Identifier) (int64, bool, error) {
	idkey := id.Key()
	b.kbuf = appendHoldersKey(b.kbuf[:0], b.task.id, org, id.Type, idkey)
	e, err := b.list(b.kbuf)
	if err != nil {
		return 0, false, fmt.Errorf("task %d: looking up %s %q in org %d %s/%s: %w", b.task.id, id.Type, idkey, org, source, accountID, err)
	}
	owner, ok, err := ownerInList(e.v, source, accountID)
	if err != nil {
		return 0, false, fmt.Errorf("task %d: looking up %s %q in org %d %s/%s: %w", b.task.id, id.Type, idkey, org, source, accountID, err)
	}
	return owner, ok, nil
}

// list returns the cache entry of the holder list at key, reading it
// on first use. Its value is the cache's: replace it, never modify it.
func (b *Batch) list(key []byte) (*listEntry, error) {
	if e := b.lists[string(key)]; e != nil {
		return e, nil
	}
	v, err := b.getFiltered(key)
	if err != nil {
		return nil, fmt.Errorf("reading holder list %x: %w", key, err)
	}
	e := &listEntry{v: v}
	b.lists[string(key)] = e
	return e, nil
}

// PutCustomer stores c, replacing its previous version, and brings the
// holder and search indexes in line: it diffs the index keys
// of the previous version against those of c and writes only the
// difference. c.ID must belong to this task (TaskOf).
func (b *Batch) PutCustomer(c *customer.Customer) error {
	return b.putCustomer(c, nil)
}

// putCustomer is PutCustomer with the document's encoding given (restore
// writes the changelog's bytes as they are), or nil to encode c.
func (b *Batch) putCustomer(c *customer.Customer, enc []byte) error {
	t := b.task
	if owner := TaskOf(c.ID, t.partitions); owner != t.id {
		return fmt.Errorf("task %d: customer %d belongs to task %d", t.id, c.ID, owner)
	}
	old, err := b.doc(c.ID)
	if err != nil {
		return err
	}
	if !sameIndexes(old, c) {
		if err := b.reindex(old, c); err != nil {
			return err
		}
	}

	if enc == nil {
		b.enc = encodeCustomer(b.enc[:0], c)
		enc = b.enc
	}
	b.kbuf = appendInt64(appendTablePrefix(b.kbuf[:0], t.id, tabCustomer), c.ID)
	if err := b.set(b.kbuf, enc); err != nil {
		return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
	}
	// The caller keeps c and may change it, so the cache keeps the bytes
	// (the batch's copy, which lives as long as the cache) and decodes
	// them if read again.
	b.docs[c.ID] = &docEntry{enc: b.over.ops[len(b.over.ops)-1].value}
	return nil
}

// reindex replaces the index entries of old (nil for a new customer) with
// those of c. Search entries hold the customer id in their key, so they
// belong to this customer alone: remove the stale ones, add the new ones.
// Holder entries sort after them (table 08 > 05) and go to editHolders.
func (b *Batch) reindex(old, c *customer.Customer) error {
	t := b.task
	gone, added := diffSorted(t.indexKeys(old), t.indexKeys(c))
	gone, goneH := splitAtTable(gone, tabHolders)
	added, addedH := splitAtTable(added, tabHolders)
	if err := b.editHolders(goneH, addedH); err != nil {
		return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
	}
	for _, k := range gone {
		if err := b.del(k); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}
	for _, k := range added {
		if err := b.set(k, marker); err != nil {
			return fmt.Errorf("task %d: customer %d: %w", t.id, c.ID, err)
		}
	}
	return nil
}

// sameIndexes reports whether a and b (versions of one customer, nil for
// none) have the same index entries, without building them: indexKeys
// makes them of the org, the id, whether the customer is merged away, and
// its profiles' scopes, names and identifiers (customer.SearchTokens reads
// the names and identifiers of conflicting profiles too). A balance, a
// subscription change and an update of fields only leave all of these
// alone, and skip the index work.
func sameIndexes(a, b *customer.Customer) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.ID != b.ID || a.Org != b.Org || a.MergedInto != b.MergedInto {
		return false
	}
	return a.MergedInto != 0 || sameIndexedProfiles(a.Profiles, b.Profiles)
}

func sameIndexedProfiles(a, b []customer.Profile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		p, q := &a[i], &b[i]
		if p.Source != q.Source || p.AccountID != q.AccountID || p.FirstName != q.FirstName || p.LastName != q.LastName ||
			!slices.Equal(p.Identifiers, q.Identifiers) || !sameIndexedProfiles(p.Conflicting, q.Conflicting) {
			return false
		}
	}
	return true
}

// removeIndexes removes the index entries of customer id's current version.
func (b *Batch) removeIndexes(id int64) error {
	old, err := b.doc(id)
	if err != nil || old == nil {
		return err
	}
	gone, goneH := splitAtTable(b.task.indexKeys(old), tabHolders)
	if err := b.editHolders(goneH, nil); err != nil {
		return err
	}
	for _, k := range gone {
		if err := b.del(k); err != nil {
			return err
		}
	}
	return nil
}

// indexKeys returns the sorted, distinct index keys of c: search keys
// followed by holder entries (appendHolderEntry). A nil or merged-away
// customer has none: its identifiers are released to the survivor. The
// keys share one buffer, so a customer's dozen keys cost two allocations,
// not a dozen.
//
// Only primary profiles are indexed: the identifiers of Conflicting
// profiles are always in the primary profile of the same scope too
// (customer.Reader's contract).
func (t *Task) indexKeys(c *customer.Customer) [][]byte {
	if c == nil || c.MergedInto != 0 {
		return nil
	}
	var kb keyBuf
	for _, p := range c.Profiles {
		for _, id := range p.Identifiers {
			kb.add(appendHolderEntry(kb.start(), t.id, c.Org, id.Type, id.Key(), c.ID, p.Source, p.AccountID))
		}
	}
	for _, tok := range customer.SearchTokens(c) {
		kb.add(appendSearchKey(kb.start(), t.id, c.Org, tok, c.ID))
	}
	return kb.sorted()
}

// keyBuf builds many keys in one buffer: start returns the buffer to append
// a key to, add records where it ended.
type keyBuf struct {
	buf  []byte
	ends []int
}

func (k *keyBuf) start() []byte {
	if k.buf == nil {
		k.buf = make([]byte, 0, 512)
		k.ends = make([]int, 0, 16)
	}
	return k.buf
}

func (k *keyBuf) add(b []byte) {
	k.buf = b
	k.ends = append(k.ends, len(b))
}

// sorted returns the keys, sorted and distinct, as slices of the buffer.
func (k *keyBuf) sorted() [][]byte {
	if len(k.ends) == 0 {
		return nil
	}
	keys := make([][]byte, len(k.ends))
	from := 0
	for i, end := range k.ends {
		keys[i] = k.buf[from:end:end]
		from = end
	}
	slices.SortFunc(keys, bytes.Compare)
	return slices.CompactFunc(keys, bytes.Equal)
}

// diffSorted returns the elements only in a (gone) and only in b (added);
// both inputs are sorted and distinct, and so are the outputs.
func diffSorted(a, b [][]byte) (gone, added [][]byte) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && bytes.Compare(a[i], b[j]) < 0):
			gone = append(gone, a[i])
			i++
		case i == len(a) || bytes.Compare(b[j], a[i]) < 0:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return gone, added
}

// splitAtTable splits sorted keys of one task into those of tables before
// tab and those of tab onwards.
func splitAtTable(keys [][]byte, tab byte) (before, from [][]byte) {
	i, _ := slices.BinarySearchFunc(keys, tab, func(k []byte, tab byte) int {
		return cmp.Compare(k[taskLen], tab)
	})
	return keys[:i], keys[i:]
}

// editHolders applies a customer's holder changes: gone and added are
// sorted holder entries (appendHolderEntry: list key + holding) only in
// the previous version or only in the new one. Each list touched is read
// through the batch, edited and written back (deleted when empty). Every
// holding in gone carries this customer's id, so a list entry is removed
// only while it belongs to this customer: in a merge the survivor's
// holdings of the same identifier stay, whatever the order of the writes.
func (b *Batch) editHolders(gone, added [][]byte) error {
	cur, next, g, a := b.cur, b.next, b.g, b.a
	defer func() { b.cur, b.next, b.g, b.a = cur[:0], next[:0], g[:0], a[:0] }()
	for len(gone) > 0 || len(added) > 0 {
		var key []byte
		var err error
		if len(gone) > 0 {
			key, _, err = splitHolderEntry(gone[0])
		}
		if err == nil && len(added) > 0 {
			var ak []byte
			ak, _, err = splitHolderEntry(added[0])
			if key == nil || bytes.Compare(ak, key) < 0 {
				key = ak
			}
		}
		if err != nil {
			return err
		}
		g, gone = takeList(g[:0], gone, key)
		a, added = takeList(a[:0], added, key)

		e, err := b.list(key)
		if err != nil {
			return err
		}
		v := e.v
		cur, err = splitHoldings(cur, v)
		if err != nil {
			return fmt.Errorf("holder list %x: %w", key, err)
		}
		// Merge cur minus g with a; all three are sorted and distinct.
		next = next[:0]
		size := 0
		i, j := 0, 0
		for i < len(cur) || j < len(a) {
			var h []byte
			switch c := cmpHeads(cur, i, a, j); {
			case c < 0:
				h = cur[i]
				i++
			case c > 0:
				h = a[j]
				j++
			default:
				h = cur[i]
				i++
				j++
			}
			if slices.ContainsFunc(g, func(x []byte) bool { return bytes.Equal(x, h) }) {
				continue
			}
			next = append(next, h)
			size += len(h)
		}
		var nv []byte
		if size > 0 {
			nv = make([]byte, 0, size)
			for _, h := range next {
				nv = append(nv, h...)
			}
		}
		// nv is new memory (Pebble copies it too), so the cache may keep it.
		e.v = nv
		switch {
		case nv != nil:
			err = b.set(key, nv)
		case v != nil:
			err = b.del(key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// cmpHeads compares x[i] with y[j], an exhausted side comparing greater.
func cmpHeads(x [][]byte, i int, y [][]byte, j int) int {
	switch {
	case i == len(x):
		return 1
	case j == len(y):
		return -1
	}
	return bytes.Compare(x[i], y[j])
}

// takeList appends to dst the holdings of the leading holder entries of
// the list key and returns it with the other entries. entries is sorted,
// so those of one list are contiguous.
func takeList(dst, entries [][]byte, key []byte) (holdings, rest [][]byte) {
	n := 0
	for n < len(entries) && len(entries[n]) > len(key) && bytes.Equal(entries[n][:len(key)], key) {
		// The list key is self-delimiting, so a shared prefix of its length
		// is the same list.
		dst = append(dst, entries[n][len(key):])
		n++
	}
	return dst, entries[n:]
}
