package customer

import (
	"fmt"
	"slices"
	"strings"
)

// register creates a customer, or joins the registration to the one
// customer already holding its identifiers in other scopes (DOMAIN.md,
// "register"):
//
//   - no identifier: 8013; any identifier held in the same scope: 8007;
//   - identifiers held in other scopes by one customer X: X gains the
//     profile, createdId = X, warning 8050;
//   - held by two or more customers: 8053;
//   - otherwise a fresh customer.
func register(cfg Config, st Store, cmd Command) (plan, []Issue, error) {
	sc, iss := checkScope(cfg, cmd.Source, cmd.AccountID, false)
	if iss != nil {
		return fail(*iss)
	}
	in, errs := readBody(cfg, cmd.Register)
	if len(in.Identifiers) == 0 && len(errs) == 0 {
		errs = append(errs, Issuef(CodeInvalidIdentifier, "Customer identifier is invalid: register needs at least one identifier"))
	}
	if len(errs) > 0 {
		return plan{}, errs, nil
	}

	for _, id := range in.Identifiers {
		owner, ok, err := st.OwnerInScope(cmd.Org, sc.Source, sc.AccountID, id)
		if err != nil {
			return plan{}, nil, fmt.Errorf("looking up %s %q in %s: %w", id.Type, id.Value, sc, err)
		}
		if ok {
			errs = append(errs, Issuef(CodeDuplicateInScope, "Identifier is already registered in the same source: %s %q is held by customer %d in %s", id.Type, id.Value, owner, sc))
		}
	}
	if len(errs) > 0 {
		return plan{}, errs, nil
	}

	others, err := holdersElsewhere(st, cmd.Org, in.Identifiers, 0)
	if err != nil {
		return plan{}, nil, err
	}
	switch len(others) {
	case 0:
		return registerFresh(cfg, cmd, sc, in)
	case 1:
		return registerJoin(st, cmd, sc, in, others[0])
	default:
		return fail(Issuef(CodeMergeRefused, "Each identifier is registered with a different customer in other source. Unable to merge accounts: customers %s", joinIDs(others)))
	}
}

// holdersElsewhere returns, in increasing order, the customers other than
// except that hold any of ids in any scope. They are all live: a
// merged-away customer's tombstone holds nothing (its identifiers moved to
// the survivor), so the index never names it.
func holdersElsewhere(st Reader, org int64, ids []Identifier, except int64) ([]int64, error) {
	// Usually nobody or one customer holds the identifiers: a slice
	// searched linearly, then sorted, is cheaper than a set.
	var out []int64
	for _, id := range ids {
		hs, err := st.Holders(org, id)
		if err != nil {
			return nil, fmt.Errorf("looking up holders of %s %q: %w", id.Type, id.Value, err)
		}
		for _, h := range hs {
			if h.CustomerID != except && !slices.Contains(out, h.CustomerID) {
				out = append(out, h.CustomerID)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// registerFresh plans a new customer; Apply gives it its id once the
// limits pass (plan.newID).
func registerFresh(cfg Config, cmd Command, sc scope, in input) (plan, []Issue, error) {
	now := cmd.Time.UTC()
	created := now
	if !in.CreateDate.IsZero() {
		created = in.CreateDate
	}
	loyalty := Loyalty
	if in.LoyaltyType == NonLoyalty {
		loyalty = NonLoyalty
	}
	p := newProfile(sc, in, created, now)
	p.Identifiers = in.Identifiers // see input: no copy needed
	c := &Customer{
		Org:            cmd.Org,
		LoyaltyType:    loyalty,
		Profiles:       []Profile{p},
		ExtendedFields: in.ExtendedFields,
		Subscriptions:  sortedSubscriptions(append([]Subscription(nil), cfg.DefaultSubscriptions...)),
		CreateDate:     created,
		ModifiedDate:   now,
	}
	return plan{puts: []*Customer{c}, newID: true}, nil, nil
}

// registerJoin adds the registration to customer x. Register does not
// update customer details (the API doc says so), so where x already has a
// profile in the scope, or a loyalty type and extended fields, x's values
// win and the registration only fills what is missing and adds its
// identifiers.
func registerJoin(st Store, cmd Command, sc scope, in input, xid int64) (plan, []Issue, error) {
	orig, ok, err := st.Customer(xid)
	if err != nil {
		return plan{}, nil, fmt.Errorf("reading customer %d: %w", xid, err)
	}
	if !ok {
		return plan{}, nil, fmt.Errorf("index names customer %d, which does not exist", xid)
	}
	x := orig.Clone()
	now := cmd.Time.UTC()
	i := profileIn(x, sc)
	if i < 0 {
		created := now
		if !in.CreateDate.IsZero() {
			created = in.CreateDate
		}
		i = addProfile(x, newProfile(sc, in, created, now))
	} else {
		p := &x.Profiles[i]
		if p.FirstName == "" {
			p.FirstName = in.FirstName
		}
		if p.LastName == "" {
			p.LastName = in.LastName
		}
		fillMap(&p.Fields, in.Fields)
		fillChannels(p, in.Channels)
		p.ModifiedDate = now
	}
	p := &x.Profiles[i]
	for _, id := range in.Identifiers {
		if !holds(p.Identifiers, id) {
			p.Identifiers = append(p.Identifiers, id)
		}
	}
	fillMap(&x.ExtendedFields, in.ExtendedFields)
	x.ModifiedDate = now
	w := NewIssue(CodeJoined, "")
	return plan{puts: []*Customer{x}, before: []*Customer{orig}, createdID: x.ID, warnings: []Issue{w}}, nil, nil
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}
