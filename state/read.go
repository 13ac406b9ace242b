package state

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/custream/custream/processor/customer"
)

// ErrReadOnly is returned by the write methods of a View.
var ErrReadOnly = errors.New("state view is read-only")

// reader implements customer.Reader over a source: a Batch (reads see the
// batch's writes) or the DB (a View).
type reader struct {
	src  source
	task *Task
}

// source is where a reader's keys come from.
type source interface {
	// view calls fn with the value of key, valid only during the call,
	// and reports whether the key exists (fn is not called when it does
	// not).
	view(key []byte, fn func(v []byte) error) (found bool, err error)
	// scan calls fn for every key with the given prefix; key and value
	// are valid only during the call.
	scan(prefix []byte, fn func(key, value []byte) error) error
}

// get returns a copy of the value of key, or nil when it is absent.
func (r reader) get(key []byte) ([]byte, error) {
	var out []byte
	_, err := r.src.view(key, func(v []byte) error {
		out = bytes.Clone(v)
		if out == nil {
			out = []byte{}
		}
		return nil
	})
	return out, err
}

// view is the source's view: it saves get's copy when the caller decodes
// the value anyway.
func (r reader) view(key []byte, fn func(v []byte) error) (bool, error) {
	return r.src.view(key, fn)
}

// dbSource reads the applied state.
type dbSource struct{ db *pebble.DB }

func (s dbSource) view(key []byte, fn func(v []byte) error) (found bool, err error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = fn(v)
	if cerr := closer.Close(); err == nil {
		err = cerr
	}
	return true, err
}

// scan visits the keys under prefix in key order.
func (s dbSource) scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.scanRange(prefix, prefixEnd(prefix), fn)
}

// scanRange visits the keys in [lower, upper) in key order.
func (s dbSource) scanRange(lower, upper []byte, fn func(key, value []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// Customer returns the customer with the given id, or ok=false when the
// task holds none (customers of other tasks are never here).
func (r reader) Customer(id int64) (*customer.Customer, bool, error) {
	var kb [16]byte
	return r.customerAt(appendInt64(appendTablePrefix(kb[:0], r.task.id, tabCustomer), id), id)
}

// customerAt is Customer with the key built by the caller
// (customerKey(task, id)).
func (r reader) customerAt(key []byte, id int64) (*customer.Customer, bool, error) {
	var c *customer.Customer
	found, err := r.view(key, func(v []byte) error {
		// The decoder copies every string out of v.
		var err error
		if c, err = decodeCustomer(v); err != nil {
			return fmt.Errorf("decoding: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("task %d: reading customer %d: %w", r.task.id, id, err)
	}
	return c, found, nil
}

// OwnerInScope returns the customer holding the identifier in one
// source/account scope of org: the holding of that scope in the
// identifier's holder list, one point read.
func (r reader) OwnerInScope(org int64, source, accountID string, id customer.Identifier) (int64, bool, error) {
	idkey := id.Key()
	var kb [64]byte
	var owner int64
	var found bool
	_, err := r.view(appendHoldersKey(kb[:0], r.task.id, org, id.Type, idkey), func(v []byte) error {
		var err error
		owner, found, err = ownerInList(v, source, accountID)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("task %d: looking up a %s in org %d %s/%s: %w", r.task.id, id.Type, org, source, accountID, err)
	}
	return owner, found, nil
}

// ownerInList finds the holding of one scope in a holder list value (nil:
// no holders). A scope has at most one holder once a command is done; in
// the middle of a merge the survivor's and the victim's holdings of a
// scope may both be listed, and the lower id (first in the list) is
// returned.
func ownerInList(v []byte, source, accountID string) (int64, bool, error) {
	var hb [4][]byte
	hs, err := splitHoldings(hb[:0], v)
	if err != nil {
		return 0, false, err
	}
	for _, h := range hs {
		// A holding is id str(source) str(account) (keys.go); splitHoldings
		// checked its shape.
		src, n, err := strEqual(h[8:], source)
		if err != nil {
			return 0, false, err
		}
		acc, _, err := strEqual(h[8+n:], accountID)
		if err != nil {
			return 0, false, err
		}
		if src && acc {
			return readInt64(h), true, nil
		}
	}
	return 0, false, nil
}

// Holders returns every scope in which a customer of org holds the
// identifier, ordered by (CustomerID, Source, AccountID): the order of the
// identifier's holder list, one point read.
func (r reader) Holders(org int64, id customer.Identifier) ([]customer.Holding, error) {
	idkey := id.Key()
	var kb [64]byte
	out, err := r.holders(appendHoldersKey(kb[:0], r.task.id, org, id.Type, idkey))
	if err != nil {
		return nil, fmt.Errorf("task %d: holders of a %s in org %d: %w", r.task.id, id.Type, org, err)
	}
	return out, nil
}

func (r reader) holders(key []byte) ([]customer.Holding, error) {
	var out []customer.Holding
	_, err := r.view(key, func(v []byte) error {
		var err error
		out, err = parseHoldings(v)
		return err
	})
	return out, err
}

// parseHoldings decodes a holder list value (nil: no holders). The
// holdings own their strings.
func parseHoldings(v []byte) ([]customer.Holding, error) {
	if v == nil {
		return nil, nil
	}
	var hb [4][]byte
	hs, err := splitHoldings(hb[:0], v)
	if err != nil {
		return nil, err
	}
	out := make([]customer.Holding, len(hs))
	for i, h := range hs {
		cid, source, account, err := parseHolding(h)
		if err != nil {
			return nil, err
		}
		out[i] = customer.Holding{CustomerID: cid, Source: source, AccountID: account}
	}
	return out, nil
}

// Search returns the ids of live customers of org with a search token
// starting with prefix, highest id first, after skipping offset, at most
// limit of them, and the exact number of matches. It scans every index
// entry under the prefix (the exact total needs them all), so its cost
// grows with the number of matches: a one-letter prefix in a large org
// reads many entries.
func (r reader) Search(org int64, prefix string, limit, offset int) ([]int64, int, error) {
	seen := map[int64]struct{}{}
	err := r.scan(searchPrefix(r.task.id, org, prefix), func(key, _ []byte) error {
		// The customer id is the key's last 8 bytes (keys.go).
		seen[readInt64(key[len(key)-8:])] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("task %d: searching org %d: %w", r.task.id, org, err)
	}
	ids := make([]int64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	total := len(ids)
	offset = max(offset, 0)
	if offset >= total || limit <= 0 {
		return nil, total, nil
	}
	return ids[offset:min(total, offset+limit)], total, nil
}

// scan is the source's scan.
func (r reader) scan(prefix []byte, fn func(key, value []byte) error) error {
	return r.src.scan(prefix, fn)
}

// View is a read-only customer.Store over a task's applied state, for the
// HTTP facade. It holds no resources: reads go to the DB, so each call sees
// the state as of that call.
type View struct {
	reader
}

// PutCustomer fails: a View is read-only.
func (*View) PutCustomer(*customer.Customer) error { return ErrReadOnly }

// NextID fails: a View is read-only.
func (*View) NextID() (int64, error) { return 0, ErrReadOnly }

var (
	_ customer.Store = (*View)(nil)
	_ customer.Store = (*Batch)(nil)
)
