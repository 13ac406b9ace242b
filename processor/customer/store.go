package customer

// Store is what the rules need of state. The state package implements it
// over a plain Pebble batch plus an overlay of its own writes, so reads see
// the writes made earlier in the same batch, and nothing is durable until
// the batch is applied, after its Kafka transaction commits.
//
// Identifiers handed to and returned by a Store are normalised (see
// Identifier.Key); the store keeps its indexes in line with the customers it
// is given, using Identifier.Key and SearchTokens, so the rules never write
// an index entry by hand.
type Store interface {
	Reader
	// PutCustomer stores c, replacing its previous version, and updates the
	// identifier, cross-scope and search indexes to match: index entries of
	// the previous version that c no longer has are removed.
	PutCustomer(c *Customer) error
	// NextID allocates a new customer id, unique across tasks.
	NextID() (int64, error)
}

// Reader is the read-only part of Store that queries use. The rules hold
// an identifier in a scope through the primary profile of that scope
// (Profile.Identifiers); the identifiers of Conflicting profiles are always
// also in the primary profile, so indexing them too changes nothing.
type Reader interface {
	// Customer returns the customer with the given id, or ok=false when
	// there is none (in this org or any other).
	Customer(id int64) (c *Customer, ok bool, err error)
	// OwnerInScope returns the customer holding the identifier in one
	// source/account scope of an org.
	OwnerInScope(org int64, source, accountID string, id Identifier) (customerID int64, ok bool, err error)
	// Holders returns every scope in which some customer of the org holds
	// the identifier, ordered by (CustomerID, Source, AccountID).
	Holders(org int64, id Identifier) ([]Holding, error)
	// Search returns the ids of live customers of the org having a search
	// token that starts with prefix (already lower-cased), newest (highest
	// id) first, skipping offset and returning at most limit, plus the exact
	// number of matching customers.
	Search(org int64, prefix string, limit, offset int) (ids []int64, total int, err error)
}

// Holding is one scope in which a customer holds an identifier.
type Holding struct {
	CustomerID int64
	Source     string
	AccountID  string
}
