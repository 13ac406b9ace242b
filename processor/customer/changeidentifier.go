package customer

import (
	"fmt"
	"slices"
	"time"
)

// changeIdentifier adds and removes identifiers of customer V in one scope
// (DOMAIN.md, "changeIdentifier"). Removals are checked against V's
// identifiers in the scope (8015) and may not leave V without any
// (CodeRemoveLastIdentifier). An added identifier held by another customer
// in the scope is refused (8007); one held by a customer S in other scopes
// merges V into S (warning 8051, a merge notice, V becomes a tombstone).
// Adds pointing at two or more customers, or a merge into a merged-away
// customer or into V itself, are refused (8053).
func changeIdentifier(cfg Config, st Store, cmd Command) (plan, []Issue, error) {
	sc, iss := checkScope(cfg, cmd.Source, cmd.AccountID, false)
	if iss != nil {
		return fail(*iss)
	}
	// Counts first: a list over its limit is refused without reading it.
	var errs []Issue
	errs = overCount(errs, "identifiers to add", len(cmd.ChangeIdentifier.Add), MaxChangeIdentifiers)
	errs = overCount(errs, "identifiers to remove", len(cmd.ChangeIdentifier.Remove), MaxChangeIdentifiers)
	if len(errs) > 0 {
		return plan{}, errs, nil
	}
	adds, errs := normaliseIdentifiers(cfg, cmd.ChangeIdentifier.Add)
	removes, rerrs := normaliseIdentifiers(cfg, cmd.ChangeIdentifier.Remove)
	errs = append(errs, rerrs...)
	if len(errs) > 0 {
		return plan{}, errs, nil
	}
	if len(adds)+len(removes) == 0 {
		return fail(Issuef(CodeInvalidIdentifier, "Customer identifier is invalid: nothing to add or remove"))
	}
	for _, id := range adds {
		if holds(removes, id) {
			errs = append(errs, Issuef(CodeInvalidIdentifier, "Customer identifier is invalid: %s %q is both added and removed", id.Type, id.Value))
		}
	}
	if len(errs) > 0 {
		return plan{}, errs, nil
	}

	orig, iss, err := loadCustomer(st, cmd.Org, cmd.CustomerID)
	if err != nil || iss != nil {
		return failOrErr(iss, err)
	}
	if orig.MergedInto != 0 {
		s, err := survivor(st, orig.ID)
		if err != nil {
			return plan{}, nil, err
		}
		return fail(Issuef(CodeMergeRefused, "Same identifier is registered on other source. The account is already merged with user id %d: customer %d can no longer change identifiers, use %d", s, orig.ID, s))
	}

	for _, id := range removes {
		owner, ok, err := st.OwnerInScope(cmd.Org, sc.Source, sc.AccountID, id)
		if err != nil {
			return plan{}, nil, fmt.Errorf("looking up %s %q in %s: %w", id.Type, id.Value, sc, err)
		}
		if !ok || owner != orig.ID {
			errs = append(errs, Issuef(CodeNotFoundByIdentifier, "No customer found with the given identifier: customer %d does not hold %s %q in %s", orig.ID, id.Type, id.Value, sc))
		}
	}

	// New identifiers for V's profile in the scope, and the customers
	// holding any of them elsewhere.
	var toAdd []Identifier
	for _, id := range adds {
		owner, ok, err := st.OwnerInScope(cmd.Org, sc.Source, sc.AccountID, id)
		if err != nil {
			return plan{}, nil, fmt.Errorf("looking up %s %q in %s: %w", id.Type, id.Value, sc, err)
		}
		switch {
		case ok && owner == orig.ID:
			// Already held: nothing to do.
		case ok:
			errs = append(errs, Issuef(CodeDuplicateInScope, "Identifier is already registered in the same source: %s %q is held by customer %d in %s", id.Type, id.Value, owner, sc))
		default:
			toAdd = append(toAdd, id)
		}
	}
	if len(errs) > 0 {
		return plan{}, errs, nil
	}
	others, err := holdersElsewhere(st, cmd.Org, toAdd, orig.ID)
	if err != nil {
		return plan{}, nil, err
	}
	if len(others) > 1 {
		return fail(Issuef(CodeMergeRefused, "Each identifier is registered with a different customer in other source. Unable to merge accounts: customers %s", joinIDs(others)))
	}

	now := cmd.Time.UTC()
	v := orig.Clone()
	i := profileIn(v, sc)
	if i < 0 {
		// Adding an identifier in a new scope gives V a profile there.
		i = addProfile(v, Profile{Source: sc.Source, AccountID: sc.AccountID, CreateDate: now})
	}
	p := &v.Profiles[i]
	p.Identifiers = without(p.Identifiers, removes)
	for j := range p.Conflicting {
		p.Conflicting[j].Identifiers = without(p.Conflicting[j].Identifiers, removes)
	}
	p.Identifiers = append(p.Identifiers, toAdd...)
	p.ModifiedDate = now
	v.ModifiedDate = now

	if len(others) == 0 {
		if countIdentifiers(v) == 0 {
			return fail(Issuef(CodeRemoveLastIdentifier, "%s: customer %d would have no identifier left", CodeRemoveLastIdentifier.Message(), v.ID))
		}
		return plan{puts: []*Customer{v}, before: []*Customer{orig}, createdID: v.ID}, nil, nil
	}
	return mergePlan(st, cmd, sc, v, others[0], toAdd)
}

// mergePlan merges victim v (already changed by the command) into sid.
func mergePlan(st Store, cmd Command, sc scope, v *Customer, sid int64, added []Identifier) (plan, []Issue, error) {
	if sid == v.ID {
		return fail(Issuef(CodeMergeRefused, "Unable to merge accounts: customer %d cannot be merged into itself", v.ID))
	}
	orig, ok, err := st.Customer(sid)
	if err != nil {
		return plan{}, nil, fmt.Errorf("reading customer %d: %w", sid, err)
	}
	if !ok || orig.Org != v.Org {
		return plan{}, nil, fmt.Errorf("index names customer %d, which does not exist in org %d", sid, v.Org)
	}
	if orig.MergedInto != 0 {
		return fail(Issuef(CodeMergeRefused, "Unable to merge accounts: customer %d is itself merged into user id %d", sid, orig.MergedInto))
	}
	// The identifier that triggered the merge: the first added one that S
	// holds somewhere.
	var trigger Identifier
	for _, id := range added {
		hs, err := st.Holders(cmd.Org, id)
		if err != nil {
			return plan{}, nil, fmt.Errorf("looking up holders of %s %q: %w", id.Type, id.Value, err)
		}
		for _, h := range hs {
			if h.CustomerID == sid {
				trigger = id
				break
			}
		}
		if trigger.Type != "" {
			break
		}
	}
	now := cmd.Time.UTC()
	s := orig.Clone()
	mergeInto(s, v, now)
	// The tombstone keeps v's balances: a later balance for v moves s by
	// its difference from these (points.go).
	tomb := &Customer{ID: v.ID, Org: v.Org, MergedInto: s.ID, ModifiedDate: now, Points: slices.Clone(v.Points)}
	m := Merge{
		Org:        cmd.Org,
		SurvivorID: s.ID,
		VictimID:   v.ID,
		Identifier: trigger,
		Source:     sc.Source,
		AccountID:  sc.AccountID,
		RequestID:  cmd.RequestID,
		Time:       now,
		Balances:   slices.Clone(v.Points),
	}
	w := Issuef(CodeMerged, "Same identifier found in other source. Merging into the account with user id %d", s.ID)
	return plan{
		puts:      []*Customer{tomb, s}, // tombstone first: see Apply
		before:    []*Customer{nil, orig},
		merges:    []Merge{m},
		createdID: s.ID,
		warnings:  []Issue{w},
	}, nil, nil
}

// mergeInto moves v's profiles, identifiers, subscriptions, extended
// fields and balances (mergePoints) to s. Where both have a profile in one scope, s's stays primary and
// gains v's identifiers (so s holds them in that scope), and v's profile is
// listed in its Conflicting. s's values win everywhere else; s becomes a
// loyalty customer if either was one (a merge must not take a membership
// away).
func mergeInto(s, v *Customer, now time.Time) {
	for _, vp := range v.Profiles {
		i := profileIn(s, scope{vp.Source, vp.AccountID})
		if i < 0 {
			addProfile(s, vp)
			continue
		}
		sp := &s.Profiles[i]
		for _, id := range vp.Identifiers {
			if !holds(sp.Identifiers, id) {
				sp.Identifiers = append(sp.Identifiers, id)
			}
		}
		nested := vp.Conflicting
		vp.Conflicting = nil
		sp.Conflicting = append(sp.Conflicting, vp)
		sp.Conflicting = append(sp.Conflicting, nested...)
		sp.ModifiedDate = now
	}
	have := map[subsKey]bool{}
	for _, sub := range s.Subscriptions {
		have[subKey(sub)] = true
	}
	for _, sub := range v.Subscriptions {
		if !have[subKey(sub)] {
			s.Subscriptions = append(s.Subscriptions, sub)
		}
	}
	sortedSubscriptions(s.Subscriptions)
	fillMap(&s.ExtendedFields, v.ExtendedFields)
	mergePoints(s, v)
	if v.LoyaltyType == Loyalty {
		s.LoyaltyType = Loyalty
	}
	s.ModifiedDate = now
}

// without returns ids minus those in drop (by type and key).
func without(ids, drop []Identifier) []Identifier {
	out := ids[:0:0]
	for _, id := range ids {
		if !holds(drop, id) {
			out = append(out, id)
		}
	}
	return out
}
